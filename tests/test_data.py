"""Tests for tf_realnvp.data and tf_realnvp.fashion_mnist_offline."""

import dataclasses
import gzip
import os
import socket
import time
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp import fashion_mnist_offline

FASHION = "fashion_mnist"
# Datasets that cannot be downloaded here, run on TFDS's random mock examples.
MOCK_DATASETS = ["cifar10", "mnist", "celeb_a", "imagenet_resized/32x32",
                 "imagenet_resized/64x64", "lsun/bedroom"]
MOCK_EXAMPLES = 6
# Sides of the random LSUN mock images are 5..50 pixels: a small output side
# keeps the search over all crop windows cheap.
LSUN_TEST_SIZE = 16
SOLID_COLOUR = (10, 200, 30)


def _idx_bytes(name, header_bytes):
  """The data bytes of one of Debian's idx files (uint8 vector)."""
  path = os.path.join(fashion_mnist_offline.DEBIAN_DIR, name)
  with gzip.open(path, "rb") as f:
    return np.frombuffer(f.read(), np.uint8, offset=header_bytes)


def _rows(images, labels):
  """Sorted `bytes` of each (image, label) pair: compares as multisets."""
  flat = np.concatenate(
      [images.reshape(len(images), -1), labels.reshape(-1, 1)], axis=1)
  return sorted(map(bytes, flat.astype(np.uint8)))


def _batches(dataset, count=None):
  """The first `count` (all if None) batches of `dataset` as numpy arrays."""
  return list(dataset.take(count or -1).as_numpy_iterator())


def _windows(image, size):
  """All `size x size` windows of uint8 `[h, w, c]`: `[K, size, size, c]`."""
  windows = np.lib.stride_tricks.sliding_window_view(
      image, (size, size, image.shape[-1]))
  return windows.reshape((-1, size, size, image.shape[-1]))


def _came_from(pixels, candidates):
  """Whether dequantised `[H, W, C]` pixels are each candidate plus [0, 1]."""
  diff = pixels[np.newaxis].astype(np.float64) - candidates
  return np.all((diff >= 0) & (diff <= 1), axis=(1, 2, 3))


def _write_images(folder, names):
  """Writes one random image per file name (PNG, JPEG or grey PNG).

  Returns the paths, sorted.
  """
  rng = np.random.default_rng(0)
  paths = []
  for i, name in enumerate(names):
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shape = (12 + 3 * i, 20 - i, 1 if "grey" in name else 3)
    image = tf.constant(rng.integers(0, 256, shape, dtype=np.uint8))
    encode = tf.io.encode_jpeg if name.endswith(".jpg") else tf.io.encode_png
    tf.io.write_file(path, encode(image))
    paths.append(path)
  return sorted(paths)


def _write_solid_png(path, size=(15, 9)):
  """Writes a PNG of `SOLID_COLOUR`."""
  image = tf.broadcast_to(tf.constant(SOLID_COLOUR, tf.uint8), size + (3,))
  tf.io.write_file(path, tf.io.encode_png(image))


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
  """`folder:` name of 12 images: a solid PNG first, JPEGs, grey PNGs."""
  folder = tmp_path_factory.mktemp("images")
  _write_solid_png(os.path.join(folder, "a_solid.png"))
  names = [f"{d}/img{i}.{ext}" for i, (d, ext) in enumerate(
      [("b", "png"), ("b", "jpg"), ("c", "grey.png")] * 3 + [("d", "png")] * 2)]
  _write_images(folder, names)
  return data.FOLDER_PREFIX + str(folder)


@pytest.fixture
def mock_tfds():
  """TFDS returns random examples with each dataset's real features.

  mock_data points builders at a data_dir that does not exist, so also report
  them as prepared (the pipelines refuse unprepared datasets).
  """
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES), mock.patch.object(
      tfds.core.DatasetBuilder, "is_prepared", return_value=True):
    yield


@pytest.fixture
def dead_proxy(monkeypatch):
  """Routes downloads through a loopback port nobody listens on.

  Both our probe and TFDS's downloader (requests) use this proxy, so any
  download is refused whatever network the machine has.
  Yields `"127.0.0.1:port"`.
  """
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  proxy = f"http://127.0.0.1:{port}"
  for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    monkeypatch.setenv(var, proxy)
  for var in ("NO_PROXY", "no_proxy"):
    monkeypatch.delenv(var, raising=False)
  yield f"127.0.0.1:{port}"


def test_fashion_mnist_prepared_offline_loads_through_plain_tfds(fashion_dir):
  builder = tfds.builder(FASHION, data_dir=fashion_dir)
  assert builder.is_prepared()
  assert str(builder.version) == str(tfds.builder(FASHION).version)
  splits = tfds.load(FASHION, data_dir=fashion_dir, download=False,
                     batch_size=-1)
  sizes = {"train": 60000, "test": 10000}
  prefixes = {"train": "train", "test": "t10k"}
  for split, size in sizes.items():
    images = splits[split]["image"].numpy()
    labels = splits[split]["label"].numpy()
    assert images.shape == (size, 28, 28, 1) and images.dtype == np.uint8
    expected_images = _idx_bytes(f"{prefixes[split]}-images-idx3-ubyte.gz", 16)
    expected_labels = _idx_bytes(f"{prefixes[split]}-labels-idx1-ubyte.gz", 8)
    assert _rows(images, labels) == _rows(
        expected_images.reshape(size, 28, 28), expected_labels)


def test_prepare_again_keeps_the_prepared_dataset(fashion_dir):
  # Writing again would raise: TFDS refuses to store over a prepared dataset.
  data.prepare(FASHION, fashion_dir)
  assert tfds.builder(FASHION, data_dir=fashion_dir).is_prepared()


def test_fashion_mnist_load_images_is_the_tfds_test_split_in_order(
    fashion_dir):
  images = np.concatenate(_batches(
      data.load_images(FASHION, "test", data_dir=fashion_dir).batch(4096)))
  expected = tfds.load(FASHION, split="test", data_dir=fashion_dir,
                       download=False, batch_size=-1)["image"].numpy()
  assert images.dtype == np.uint8
  np.testing.assert_array_equal(images, expected)


def test_fashion_mnist_train_batches_are_dequantised_pixels(fashion_dir):
  batches = _batches(data.train_dataset(FASHION, 32, seed=0,
                                        data_dir=fashion_dir), 3)
  for batch in batches:
    assert batch.shape == (32, 28, 28, 1) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() < 256
  # Real pixels: mostly-dark clothes, not noise around a constant.
  assert 0 < np.mean(np.floor(np.stack(batches)) == 0) < 1


def test_train_dataset_is_determined_by_the_seed(fashion_dir):
  def first_batches(seed):
    return np.stack(_batches(data.train_dataset(
        FASHION, 16, seed=seed, data_dir=fashion_dir, shuffle_buffer=100), 3))
  np.testing.assert_array_equal(first_batches(3), first_batches(3))
  assert not np.array_equal(np.floor(first_batches(3)),
                            np.floor(first_batches(4)))


@pytest.mark.parametrize("dataset, batch_size, shuffle_buffer, step", [
    # Within the first epoch, past two shuffle blocks.
    ("fashion", 32, 500, 40),
    # 10 training images: step 7 starts in the 3rd epoch, mid-block.
    ("folder", 4, 3, 7),
])
def test_train_dataset_resumes_exactly_at_start_step(
    request, dataset, batch_size, shuffle_buffer, step):
  if dataset == "fashion":
    name, data_dir = FASHION, request.getfixturevalue("fashion_dir")
  else:
    name, data_dir = request.getfixturevalue("image_folder"), None

  def batches(start_step, count):
    return _batches(data.train_dataset(
        name, batch_size, seed=7, data_dir=data_dir, start_step=start_step,
        shuffle_buffer=shuffle_buffer), count)
  fresh = batches(0, step + 2)[step:]
  resumed = batches(step, 2)
  np.testing.assert_array_equal(np.stack(fresh), np.stack(resumed))


@pytest.mark.parametrize("num_shards, output_batch_size", [(2, None), (2, 2),
                                                          (4, None)])
def test_shards_of_each_step_together_are_the_global_batch(
    image_folder, num_shards, output_batch_size):
  """What every replica of a strategy gets, joined, is the one-device batch."""
  batch_size, steps = 8, 3
  kwargs = dict(seed=3, start_step=2, shuffle_buffer=4)
  whole = _batches(data.train_dataset(image_folder, batch_size, **kwargs),
                   steps)
  part = batch_size // num_shards
  per_step = part // (output_batch_size or part)  # Batches a shard gives a step.
  shards = [_batches(data.train_dataset(
      image_folder, batch_size, num_shards=num_shards, shard_index=i,
      output_batch_size=output_batch_size, **kwargs), steps * per_step)
            for i in range(num_shards)]
  for step in range(steps):
    joined = np.concatenate([
        b for shard in shards
        for b in shard[step * per_step:(step + 1) * per_step]])
    np.testing.assert_array_equal(joined, whole[step])


@pytest.mark.parametrize("kwargs", [dict(num_shards=3), dict(
    num_shards=2, shard_index=2), dict(num_shards=2, output_batch_size=3)])
def test_bad_sharding_is_refused(image_folder, kwargs):
  with pytest.raises(ValueError, match="batch"):
    data.train_dataset(image_folder, 8, seed=0, **kwargs)


@pytest.mark.parametrize("shuffle_buffer", [10, 4])
def test_each_epoch_permutes_each_shuffle_block_anew(image_folder,
                                                     shuffle_buffer):
  sources = np.stack(_batches(data.load_images(image_folder, "train")))
  num_epochs = 3
  # One batch per epoch: the folder has 10 training images (no flips).
  epochs = _batches(data.train_dataset(image_folder, len(sources), seed=1,
                                       shuffle_buffer=shuffle_buffer),
                    num_epochs)
  orders = [[int(np.flatnonzero(_came_from(y, sources))[0]) for y in epoch]
            for epoch in epochs]
  positions = np.arange(len(sources))
  for order in orders:
    assert sorted(order) == list(positions)
    np.testing.assert_array_equal(np.array(order) // shuffle_buffer,
                                  positions // shuffle_buffer)
  assert len({tuple(order) for order in orders}) == num_epochs


def test_eval_dataset_has_fixed_noise_and_keeps_the_last_batch(fashion_dir):
  def evaluation(seed):
    return _batches(data.eval_dataset(FASHION, 4, data_dir=fashion_dir,
                                      seed=seed, max_examples=10))
  first, second = evaluation(0), evaluation(0)
  assert [b.shape for b in first] == [(4, 28, 28, 1)] * 2 + [(2, 28, 28, 1)]
  for a, b in zip(first, second):
    np.testing.assert_array_equal(a, b)
  images = _batches(data.load_images(FASHION, "test", fashion_dir).take(10))
  assert all(_came_from(y, x[np.newaxis])[0]
             for y, x in zip(np.concatenate(first), images))
  assert not np.array_equal(np.concatenate(first),
                            np.concatenate(evaluation(1)))


def _lsun_resized(name, spec):
  """The train split decoded and resized as LSUN crops expect (no crop)."""
  # Short side 1.5 x the crop side (paper: 96 for 64x64 crops).
  decode = tfds.builder(name).info.features["image"].decode_example
  records = tfds.load(name, split=spec.train_split,
                      decoders={"image": tfds.decode.SkipDecoding()})
  return [data.resize_short_side(decode(r["image"]),
                                 int(1.5 * spec.image_shape[0])).numpy()
          for r in records]


def _mock_image_size(name):
  return LSUN_TEST_SIZE if name.startswith("lsun/") else None


@pytest.mark.usefixtures("mock_tfds")
@pytest.mark.parametrize("name", MOCK_DATASETS)
def test_train_pipeline_on_tfds_mock_data(name):
  image_size = _mock_image_size(name)
  spec = data.dataset_spec(name, image_size)
  # shuffle_buffer=1 keeps the source order: example g is source g % N.
  batch_size, num_batches = 4, 3
  train = np.concatenate(_batches(data.train_dataset(
      name, batch_size, seed=0, image_size=image_size, shuffle_buffer=1),
                                  num_batches))
  assert train.shape == (batch_size * num_batches,) + spec.image_shape
  assert train.dtype == np.float32 and train.min() >= 0 and train.max() < 256
  centred = _batches(data.load_images(name, spec.train_split,
                                      image_size=image_size))
  is_lsun = name.startswith("lsun/")
  sources = _lsun_resized(name, spec) if is_lsun else centred
  plain, flipped, off_centre = 0, 0, 0
  for g, pixels in enumerate(train):
    source, centre = sources[g % len(sources)], centred[g % len(sources)]
    size = spec.image_shape[0]
    is_plain = _came_from(pixels, _windows(source, size)).any()
    is_flipped = _came_from(pixels, _windows(source[:, ::-1], size)).any()
    assert is_plain or is_flipped, f"example {g} is no crop of its source"
    plain += is_plain
    flipped += is_flipped
    centres = np.stack([centre, centre[:, ::-1]])
    off_centre += not _came_from(pixels, centres).any()
  assert plain > 0
  assert (flipped > 0) == spec.horizontal_flips
  # Only LSUN crops at random; the rest is cropped as in evaluation.
  assert (off_centre > 0) == is_lsun


@pytest.mark.usefixtures("mock_tfds")
@pytest.mark.parametrize("name", MOCK_DATASETS)
def test_eval_pipeline_on_tfds_mock_data(name):
  first = next(iter(data.load_images(name, data.dataset_spec(name).test_split)))
  assert first.dtype == tf.uint8
  assert tuple(first.shape) == data.dataset_spec(name).image_shape

  image_size = _mock_image_size(name)
  spec = data.dataset_spec(name, image_size)
  evaluation = _batches(data.eval_dataset(name, 4, image_size=image_size))
  assert [b.shape for b in evaluation] == [(4,) + spec.image_shape,
                                           (2,) + spec.image_shape]
  test_images = _batches(data.load_images(name, spec.test_split,
                                          image_size=image_size))
  assert all(_came_from(y, x[np.newaxis])[0]  # no flips in evaluation
             for y, x in zip(np.concatenate(evaluation), test_images))


def test_folder_dataset_splits_crops_and_resizes(image_folder):
  spec = data.dataset_spec(image_folder, image_size=8)
  train = _batches(data.load_images(image_folder, spec.train_split,
                                    image_size=8))
  test = _batches(data.load_images(image_folder, spec.test_split,
                                   image_size=8))
  assert (len(train), len(test)) == (10, 2)  # files 0 and 10 of 12 are test
  assert all(x.shape == (8, 8, 3) and x.dtype == np.uint8
             for x in train + test)
  # The first file, a solid colour, stays that colour through crop + resize.
  np.testing.assert_array_equal(test[0], np.broadcast_to(SOLID_COLOUR,
                                                         (8, 8, 3)))
  greys = [x for x in train if np.all(x[..., 0] == x[..., 1])]
  assert len(greys) == 3  # the grey PNGs decode to 3 equal channels
  batch = next(iter(data.train_dataset(image_folder, 5, seed=0,
                                       image_size=8)))
  assert batch.shape == (5, 8, 8, 3) and batch.dtype == tf.float32


# Each returns (the folder, the path the error must name).
def _corrupt_file(folder):
  """One good PNG and one corrupt JPEG."""
  _write_solid_png(os.path.join(folder, "good.png"))
  bad = os.path.join(folder, "broken.jpg")
  with open(bad, "wb") as f:
    f.write(b"this is not a JPEG")
  return folder, bad


def _empty_folder(folder):
  """Only a non-image file."""
  with open(os.path.join(folder, "notes.txt"), "w") as f:
    f.write("no images here")
  return folder, folder


def _missing_folder(folder):
  missing = os.path.join(folder, "does-not-exist")
  return missing, missing


def _single_image(folder):
  """Too few images for both a train and a test split."""
  _write_solid_png(os.path.join(folder, "only.png"))
  return folder, folder


@pytest.mark.parametrize("make, message", [
    (_corrupt_file, "Cannot read image file"),
    (_empty_folder, "holds no"),
    (_missing_folder, "does not exist"),
    (_single_image, "too few"),
])
def test_bad_image_folders_are_value_errors_naming_the_path(
    tmp_path, make, message):
  folder, named = make(str(tmp_path))
  with pytest.raises(ValueError, match=message) as error:
    data.train_dataset(data.FOLDER_PREFIX + folder, 2, seed=0)
  assert named in str(error.value)


@pytest.mark.parametrize("name, image_size, expected", [
    ("fashion_mnist", None, ((28, 28, 1), False, "train", "test")),
    ("cifar10", 32, ((32, 32, 3), True, "train", "test")),
    ("imagenet_resized/64x64", None, ((64, 64, 3), False, "train",
                                      "validation")),
    ("celeb_a", None, ((64, 64, 3), True, "train", "test")),
    ("lsun/tower", 32, ((32, 32, 3), True, "train", "validation")),
    ("lsun/cat", None, ((64, 64, 3), True, "train[:99%]", "train[99%:]")),
    ("folder:/x", None, ((32, 32, 3), False, "train", "test")),
])
def test_dataset_spec(name, image_size, expected):
  spec = data.dataset_spec(name, image_size)
  assert dataclasses.astuple(spec) == (name,) + expected


def test_unknown_dataset_is_a_value_error_listing_known_ones():
  with pytest.raises(ValueError, match="'imagenet'") as error:
    data.dataset_spec("imagenet")
  for known in ("fashion_mnist", "cifar10", "celeb_a", "lsun/bedroom",
                "lsun/tv-monitor", "imagenet_resized/32x32", "folder:"):
    assert known in str(error.value)


@pytest.mark.parametrize("name, image_size", [
    ("mnist", 32), ("celeb_a", 0), ("lsun/bedroom", 64.0)])
def test_bad_image_size_is_a_value_error(name, image_size):
  with pytest.raises(ValueError, match="image_size"):
    data.dataset_spec(name, image_size)


def test_pipelines_refuse_a_dataset_that_is_not_prepared(tmp_path):
  with pytest.raises(data.DatasetUnavailableError, match="prepare"):
    data.train_dataset("cifar10", 8, seed=0, data_dir=str(tmp_path))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, advice", [
    ("cifar10", "cifar-10-binary.tar.gz"),
    ("celeb_a", "img_align_celeba.zip"),
    # Fashion-MNIST without its Debian files falls back to downloading.
    (FASHION, "apt-get install dataset-fashion-mnist"),
])
def test_undownloadable_dataset_fails_at_once_with_advice(
    tmp_path, monkeypatch, dead_proxy, name, advice):
  monkeypatch.setenv(fashion_mnist_offline.SOURCE_DIR_ENV, str(tmp_path))
  start = time.monotonic()
  with pytest.raises(data.DatasetUnavailableError) as error:
    data.prepare(name, data_dir=str(tmp_path / "tfds"))
  assert time.monotonic() - start < data.CONNECT_TIMEOUT_SECONDS
  for part in (repr(name), dead_proxy, advice):
    assert part in str(error.value)


@pytest.mark.timeout(60)
def test_silent_download_host_times_out(tmp_path, monkeypatch):
  # A listener whose one-slot backlog is full: further SYNs go unanswered,
  # as behind a firewall that drops packets.
  with socket.socket() as server, socket.socket() as filler:
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler.connect(server.getsockname())
    proxy = "http://127.0.0.1:%d" % server.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setattr(data, "CONNECT_TIMEOUT_SECONDS", 1.0)
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailableError, match="timed out"):
      data.prepare("cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 5
