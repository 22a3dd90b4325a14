"""Tests of tf_realnvp/data/pipelines.py (and the preprocessing it applies):
the training stream and evaluation passes on the real Fashion-MNIST, on a
folder of images, and on TFDS's mock examples of the other datasets; with
conditions (`conditional=True`) on the same; restricted to some classes
(`classes`); perturbed (`perturb`, `perturbation_rate`)."""

import functools
import re

import numpy as np
import pytest
from scipy import stats
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp.data import pipelines
from tf_realnvp.data import sources
from tests.conftest import MOCK_EXAMPLES

FASHION = "fashion_mnist"
# Datasets that cannot be downloaded here, run on TFDS's random mock examples.
MOCK_DATASETS = ["cifar10", "mnist", "celeb_a", "imagenet_resized/32x32",
                 "imagenet_resized/64x64", "lsun/bedroom"]
# Sides of the random LSUN mock images are 5..50 pixels: a small output side
# keeps the search over all crop windows cheap.
LSUN_TEST_SIZE = 16


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
    # TFDS's mock CIFAR-10 examples of some classes, a split whose size
    # tf.data does not know (counted): a later epoch, mid-block.
    ("mock_classes", 3, 3, 3),
])
def test_train_dataset_resumes_exactly_at_start_step(
    request, dataset, batch_size, shuffle_buffer, step):
  classes = None
  if dataset == "fashion":
    name, data_dir = FASHION, request.getfixturevalue("fashion_dir")
  elif dataset == "folder":
    name, data_dir = request.getfixturevalue("image_folder"), None
  else:
    request.getfixturevalue("mock_tfds")
    name, data_dir = "cifar10", None
    labels = _mock_conditions(name, "train")
    classes = sorted(set(labels[1:3]))
    assert 1 < np.sum(np.isin(labels, classes)) < MOCK_EXAMPLES

  def batches(start_step, count):
    return _batches(data.train_dataset(
        name, batch_size, seed=7, data_dir=data_dir, start_step=start_step,
        shuffle_buffer=shuffle_buffer, classes=classes), count)
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


def _conditional_batches(make, count=None):
  """`(pixels, conditions)` of the first `count` batches of
  `make(conditional=True)`, concatenated, after checking that its pixels are
  bit-identical to those of `make(conditional=False)`."""
  labelled = _batches(make(conditional=True), count)
  plain = _batches(make(conditional=False), count)
  assert len(labelled) == len(plain) > 0
  for (pixels, condition), expected in zip(labelled, plain):
    np.testing.assert_array_equal(pixels, expected)
    assert len(condition) == len(pixels)
  return tuple(np.concatenate(parts) for parts in zip(*labelled))


def _fashion_records(fashion_dir, split):
  """TFDS's images and labels of a Fashion-MNIST split, in order."""
  records = tfds.load(FASHION, split=split, data_dir=fashion_dir,
                      download=False, batch_size=-1)
  return records["image"].numpy(), records["label"].numpy()


def test_fashion_mnist_conditional_train_labels_are_their_images_labels(
    fashion_dir):
  # Steps 5-8 of shard 1 of 2 lie in the first shuffle block of 500 examples.
  images, labels = _fashion_records(fashion_dir, "train[:500]")
  label_of = {image.tobytes(): label for image, label in zip(images, labels)}
  pixels, conditions = _conditional_batches(functools.partial(
      data.train_dataset, FASHION, 32, seed=3, data_dir=fashion_dir,
      start_step=5, shuffle_buffer=500, num_shards=2, shard_index=1), 4)
  assert conditions.dtype == np.int32 and conditions.shape == (64,)
  expected = [label_of[np.floor(x).astype(np.uint8).tobytes()]
              for x in pixels]
  np.testing.assert_array_equal(conditions, expected)
  assert len(set(conditions)) > 1


def test_fashion_mnist_conditional_eval_and_load_images_follow_tfds(
    fashion_dir):
  count = 200
  images, labels = _fashion_records(fashion_dir, f"test[:{count}]")
  _, conditions = _conditional_batches(functools.partial(
      data.eval_dataset, FASHION, 64, data_dir=fashion_dir,
      max_examples=count))
  np.testing.assert_array_equal(conditions, labels)
  loaded = _batches(data.load_images(FASHION, "test", fashion_dir,
                                     conditional=True).take(count))
  np.testing.assert_array_equal(np.stack([x for x, _ in loaded]), images)
  assert [y for _, y in loaded] == list(labels)
  assert 0 <= labels.min() and labels.max() < 10 and len(set(labels)) > 1


def _mock_conditions(name, split):
  """The conditions of TFDS's mock examples of a split, as we expect them:
  `label`, or the `attributes` in sorted name order as 0/1."""
  records = tfds.load(name, split=split,
                      decoders={"image": tfds.decode.SkipDecoding()})
  if name == "celeb_a":
    return np.array([[float(r["attributes"][k]) for k in sorted(
        r["attributes"])] for r in records.as_numpy_iterator()], np.float32)
  return np.array([r["label"] for r in records.as_numpy_iterator()], np.int32)


@pytest.mark.usefixtures("mock_tfds")
@pytest.mark.parametrize("name, image_size", [("cifar10", None),
                                              ("celeb_a", 16)])
def test_conditional_pipelines_on_tfds_mock_data(name, image_size):
  spec = data.dataset_spec(name)
  train, test = (_mock_conditions(name, split)
                 for split in (spec.train_split, spec.test_split))
  # shuffle_buffer=1 keeps the source order: example g is source g % N.
  _, conditions = _conditional_batches(functools.partial(
      data.train_dataset, name, 4, seed=0, image_size=image_size,
      shuffle_buffer=1), 3)
  np.testing.assert_array_equal(conditions, np.resize(train, conditions.shape))
  _, conditions = _conditional_batches(functools.partial(
      data.eval_dataset, name, 4, image_size=image_size))
  np.testing.assert_array_equal(conditions, test)
  condition_spec = data.condition_spec(name)
  if condition_spec.condition_shape:
    assert conditions.dtype == np.float32
    assert conditions.shape == (MOCK_EXAMPLES,) + condition_spec.condition_shape
    assert set(np.unique(conditions)) == {0., 1.}
  else:
    assert conditions.dtype == np.int32 and conditions.shape == (
        MOCK_EXAMPLES,)


def _colour_labels(pixels, colours):
  """The label of each solid-colour dequantised image, by its colour."""
  labels = []
  for x in np.floor(pixels).astype(int):
    (colour,) = np.unique(x.reshape(-1, x.shape[-1]), axis=0)
    labels.append(colours.index(tuple(colour)))
  return labels


def test_folder_conditions_are_the_sub_folders_of_their_images(class_folder):
  name, colours = class_folder
  # Shuffle blocks of 4 of the 10 train images mix classes (3 ant, 3 bee, 4
  # cow).
  pixels, conditions = _conditional_batches(functools.partial(
      data.train_dataset, name, 4, seed=2, image_size=4, start_step=3,
      shuffle_buffer=4, num_shards=2, shard_index=1), 4)
  assert conditions.dtype == np.int32
  np.testing.assert_array_equal(conditions, _colour_labels(pixels, colours))
  assert len(set(conditions)) > 1
  pixels, conditions = _conditional_batches(functools.partial(
      data.eval_dataset, name, 4, image_size=4))
  np.testing.assert_array_equal(conditions, [0, 2])  # ant/0, cow/deep/0
  np.testing.assert_array_equal(conditions, _colour_labels(pixels, colours))
  image, label = next(iter(data.load_images(name, "test", image_size=4,
                                            conditional=True)))
  assert (image.dtype, image.shape, label.dtype, label.shape) == (
      tf.uint8, (4, 4, 3), tf.int32, ())


@pytest.mark.parametrize("make", [
    functools.partial(data.train_dataset, batch_size=4, seed=0),
    functools.partial(data.eval_dataset, batch_size=4),
    functools.partial(data.load_images, split="train"),
])
def test_conditional_pipelines_refuse_lsun(tmp_path, make):
  with pytest.raises(ValueError, match=re.escape(
      "Dataset 'lsun/bedroom' has no labels; it cannot be used with "
      "--conditional.")):
    make("lsun/bedroom", data_dir=str(tmp_path), conditional=True)


def test_class_counts_count_the_training_labels(fashion_dir, class_folder):
  np.testing.assert_array_equal(
      data.class_counts(FASHION, data_dir=fashion_dir), [6000] * 10)
  name, colours = class_folder
  counts = data.class_counts(name)
  labels = [int(c) for _, c in data.load_images(
      name, "train", image_size=8, conditional=True)]
  np.testing.assert_array_equal(counts, np.bincount(labels,
                                                    minlength=len(colours)))
  with pytest.raises(ValueError, match="has no class labels"):
    data.class_counts("celeb_a")


# --- Classes -----------------------------------------------------------------


def test_fashion_mnist_classes_keep_their_examples_and_labels(fashion_dir):
  classes, count = [5, 3], 200
  batches = _batches(data.train_dataset(
      FASHION, 32, seed=1, data_dir=fashion_dir, shuffle_buffer=500,
      conditional=True, classes=classes), 4)
  # The labels stay the dataset's.
  assert set(np.concatenate([y for _, y in batches])) == set(classes)
  images, labels = _fashion_records(fashion_dir, "test")
  kept = np.isin(labels, classes)
  pixels, conditions = _conditional_batches(functools.partial(
      data.eval_dataset, FASHION, 64, data_dir=fashion_dir,
      max_examples=count, classes=classes))
  np.testing.assert_array_equal(conditions, labels[kept][:count])
  assert all(_came_from(y, x[np.newaxis])[0]
             for y, x in zip(pixels, images[kept][:count]))


def test_folder_classes_keep_the_files_of_their_sub_folders(class_folder):
  name, colours = class_folder
  # One batch is one epoch: ant's 3 and cow's 4 training images.
  pixels, conditions = _conditional_batches(functools.partial(
      data.train_dataset, name, 7, seed=0, image_size=4, classes=[2, 0]), 2)
  np.testing.assert_array_equal(conditions, _colour_labels(pixels, colours))
  assert sorted(conditions[:7]) == [0] * 3 + [2] * 4
  _, conditions = _conditional_batches(functools.partial(
      data.eval_dataset, name, 4, image_size=4, classes=[2]))
  np.testing.assert_array_equal(conditions, [2])  # cow/deep/0
  with pytest.raises(ValueError, match=re.escape(
      f"The 'test' split of {name!r} has no image of classes [1].")):
    data.eval_dataset(name, 4, classes=[1])


def test_a_split_of_some_classes_counts_their_examples(fashion_dir,
                                                       class_folder):
  spec = data.dataset_spec(FASHION)
  encoded, _ = sources.source(spec, "test", fashion_dir, classes=[3, 5])
  assert encoded.cardinality() == tf.data.UNKNOWN_CARDINALITY
  _, labels = _fashion_records(fashion_dir, "test")
  assert sources.num_examples(encoded, spec, "test") == np.sum(
      np.isin(labels, [3, 5]))
  assert sources.num_examples(encoded, spec, "test", up_to=2) == 2
  name, _ = class_folder
  spec = data.dataset_spec(name)
  encoded, _ = sources.source(spec, "train", None, classes=[0, 2])
  assert sources.num_examples(encoded, spec, "train") == np.sum(
      data.class_counts(name)[[0, 2]])


@pytest.mark.usefixtures("mock_tfds")
def test_classes_without_a_training_example_are_refused():
  # Not an endless stream of empty epochs.
  absent = min(set(range(10)) - set(_mock_conditions("cifar10", "train")))
  with pytest.raises(ValueError, match=re.escape(
      "Split 'train' of 'cifar10' has no examples (of the chosen classes")):
    data.train_dataset("cifar10", 4, seed=0, classes=[absent])


@pytest.mark.parametrize("name, classes, message", [
    (FASHION, [10], "Class 10 is out of range: dataset 'fashion_mnist' has 10 "
     "classes, [0, 10) (classes=[10])."),
    (FASHION, [0, -1], "Class -1 is out of range"),
    (FASHION, [], "classes must hold at least one class index"),
    (FASHION, [3, 4, 3], "classes must be distinct, received [3, 4, 3] "
     "(repeating 3)."),
    (FASHION, [1.5], "classes must be class indices (ints), received 1.5"),
    (FASHION, "3", "classes must be a sequence of class indices"),
    ("celeb_a", [0], "Dataset 'celeb_a' has no class labels"),
    ("lsun/bedroom", [0], "Dataset 'lsun/bedroom' has no class labels"),
])
@pytest.mark.parametrize("make", [
    functools.partial(data.train_dataset, batch_size=4, seed=0),
    functools.partial(data.eval_dataset, batch_size=4),
    functools.partial(data.load_images, split="train"),
], ids=["train", "eval", "load_images"])
def test_bad_classes_are_refused(tmp_path, name, classes, message, make):
  with pytest.raises(ValueError, match=re.escape(message)):
    make(name, data_dir=str(tmp_path), classes=classes)


# --- Perturbation (background models) ----------------------------------------


def _perturbed(image, rate, seed=(1, 2)):
  return pipelines.perturb(tf.constant(image), rate,
                           tf.constant(seed, tf.int64)).numpy()


def test_perturb_replaces_about_rate_of_the_entries_uniformly():
  image = np.full((200, 200, 3), 7, np.uint8)
  rate = 0.3
  perturbed = _perturbed(image, rate)
  assert perturbed.dtype == np.uint8 and perturbed.shape == image.shape
  changed = perturbed != image
  # A replacement draws the old value back with probability 1/256.
  assert np.mean(changed) == pytest.approx(rate * 255 / 256, abs=0.005)
  counts = np.bincount(perturbed[changed], minlength=256)
  assert counts[7] == 0 and np.all(np.delete(counts, 7) > 0)
  assert stats.chisquare(np.delete(counts, 7)).pvalue > 1e-3
  np.testing.assert_array_equal(_perturbed(image, rate), perturbed)
  assert not np.array_equal(_perturbed(image, rate, seed=(1, 3)), perturbed)
  everything = _perturbed(image, 1.0)
  assert np.mean(everything != image) == pytest.approx(255 / 256, abs=0.002)


def test_perturb_at_rate_zero_is_the_identity():
  image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), np.uint8)
  np.testing.assert_array_equal(_perturbed(image, 0.0), image)


def test_perturbation_rate_changes_the_stream_deterministically(fashion_dir):
  def first_batches(rate):
    return np.stack(_batches(data.train_dataset(
        FASHION, 16, seed=5, data_dir=fashion_dir, shuffle_buffer=100,
        perturbation_rate=rate), 2))
  plain, perturbed = first_batches(0.0), first_batches(0.2)
  np.testing.assert_array_equal(first_batches(0.2), perturbed)
  assert perturbed.min() >= 0 and perturbed.max() < 256
  changed = np.floor(perturbed) != np.floor(plain)
  assert np.mean(changed) == pytest.approx(0.2 * 255 / 256, abs=0.015)
  # The same examples, crops and noise: only the replaced entries differ.
  np.testing.assert_array_equal(perturbed[~changed], plain[~changed])


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_bad_perturbation_rates_are_refused(tmp_path, rate):
  with pytest.raises(ValueError, match=re.escape(
      "perturbation_rate must be in [0, 1], received")):
    data.train_dataset(FASHION, 4, seed=0, data_dir=str(tmp_path),
                       perturbation_rate=rate)
