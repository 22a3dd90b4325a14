"""Input pipelines: TFDS datasets and image folders as dequantised pixels.

Datasets by name (`known_names()` lists them; S is `image_size`):

* `fashion_mnist` (the default), `mnist`: 28x28x1; no flips; train / test.
* `cifar10`: 32x32x3; flips; train / test.
* `imagenet_resized/32x32`, `imagenet_resized/64x64`: 32x32x3 / 64x64x3; no
  flips; train / validation.
* `celeb_a`: SxSx3, S=64 by default: the central 148x148 crop of the 218x178
  aligned faces, resized to S; flips; train / test.
* `lsun/<category>`, every category TFDS has: SxSx3, S=64 by default: resized
  so that the short side is 1.5 S (96 for S=64), then a random S x S crop for
  training and the central one otherwise; flips. Scene categories: train /
  validation; object categories have no validation split in TFDS, so their
  last 1% is held out: train[:99%] / train[99%:].
* `folder:/path`: SxSx3, S=32 by default: the central square crop, resized to
  S; no flips (nothing is known about the content); file 0, 10, 20, ... in
  sorted order is the test split, the rest the train split.

Flips follow the paper (section 4.1: CIFAR-10, CelebA, LSUN).
Resizing is bilinear with antialiasing on float pixels, then rounded back to
uint8. A folder dataset holds every `.png/.jpg/.jpeg/.bmp/.gif` file below the
folder (sorted by path, decoded to 3 channels, the first frame of a GIF); every
file is decoded once when a folder dataset is created, so that an unreadable
file is a `ValueError` naming it, before any training starts.

Pipelines never download: `prepare` does, once (Fashion-MNIST from Debian's
package `dataset-fashion-mnist` without network, see `fashion_mnist_offline`).

Determinism of `train_dataset`: every random choice is a stateless function of
`seed` and a position, never of the global or an op-level seed:
* the order: each epoch reads the split in its fixed on-disk order, cuts it
  into consecutive blocks of `shuffle_buffer` encoded examples and permutes
  each block with a key of `(seed, epoch, block)` (TFDS already stores examples
  in a hash-shuffled order; the block shuffle reorders within a block only);
* the crop, the flip and the dequantisation noise of the example at global
  position `g = step * batch_size + j` use keys of `(seed, g)`.
So the batch at step `s` is the same whether a pipeline started at step 0 and
ran `s` batches or was created with `start_step=s`. Resuming skips the
`(s * batch_size) % num_examples` examples already seen in the current epoch:
it reads (but does not decode) up to one epoch of encoded records: measured
here about 3-5 s for Fashion-MNIST's 60000 (~70 us a record), so expect
minutes for LSUN bedroom's 3 million.
"""

import dataclasses
import numbers
import os
import socket
import threading
import time
import urllib.parse

import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp import fashion_mnist_offline
from tf_realnvp import pixels

DEFAULT_NAME = "fashion_mnist"
FOLDER_PREFIX = "folder:"
DEFAULT_SHUFFLE_BUFFER = 10_000
# How long `prepare` waits for a TCP connection to a download host (or the
# HTTP(S) proxy) before it declares the dataset unavailable.
CONNECT_TIMEOUT_SECONDS = 5.0

# name -> (image_shape, horizontal_flips, train_split, test_split)
_FIXED_SIZE = {
    "fashion_mnist": ((28, 28, 1), False, "train", "test"),
    "mnist": ((28, 28, 1), False, "train", "test"),
    "cifar10": ((32, 32, 3), True, "train", "test"),
    "imagenet_resized/32x32": ((32, 32, 3), False, "train", "validation"),
    "imagenet_resized/64x64": ((64, 64, 3), False, "train", "validation"),
}
_CELEB_A = "celeb_a"
_LSUN_PREFIX = "lsun/"
# family -> default output side S.
_DEFAULT_SIZE = {_CELEB_A: 64, "lsun": 64, "folder": 32}
_CELEB_A_CROP = 148
# LSUN: the short side is resized to 1.5 S before the S x S crop (96 -> 64).
_LSUN_SHORT_SIDE_RATIO = 1.5
# TFDS's LSUN scene categories, which come with a validation split.
_LSUN_SCENES = frozenset([
    "bedroom", "bridge", "church_outdoor", "classroom", "conference_room",
    "dining_room", "kitchen", "living_room", "restaurant", "tower"])
_FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_FOLDER_TEST_EVERY = 10
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}

# Streams of stateless randomness, the second half of every key.
_SHUFFLE, _CROP, _FLIP, _NOISE, _EVAL_NOISE = range(5)


class DatasetUnavailableError(RuntimeError):
  """The dataset is not prepared locally and cannot be downloaded now."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a dataset looks like after preprocessing.

  Attributes:
    name: our name, e.g. `"celeb_a"` or `"folder:/path"`.
    image_shape: `(H, W, C)` of the preprocessed uint8 images.
    horizontal_flips: whether training examples are flipped at random.
    train_split: TFDS split (or folder split) used for training.
    test_split: TFDS split (or folder split) used for evaluation.
  """
  name: str
  image_shape: tuple
  horizontal_flips: bool
  train_split: str
  test_split: str


def lsun_categories():
  """The LSUN categories TFDS offers, e.g. `["classroom", "bedroom", ...]`."""
  return list(tfds.builder_cls("lsun").builder_configs)


def known_names():
  """Every name `dataset_spec` accepts (`folder:` takes any path)."""
  return (list(_FIXED_SIZE) + [_CELEB_A]
          + [_LSUN_PREFIX + c for c in lsun_categories()]
          + [FOLDER_PREFIX + "/path/to/images"])


def _family(name):
  """`"fixed"`, `"celeb_a"`, `"lsun"` or `"folder"`; ValueError if unknown."""
  if name in _FIXED_SIZE:
    return "fixed"
  if name == _CELEB_A:
    return _CELEB_A
  if name.startswith(_LSUN_PREFIX) and (
      name[len(_LSUN_PREFIX):] in lsun_categories()):
    return "lsun"
  if name.startswith(FOLDER_PREFIX) and len(name) > len(FOLDER_PREFIX):
    return "folder"
  raise ValueError(f"Unknown dataset {name!r}. Known datasets: "
                   f"{', '.join(known_names())}.")


def dataset_spec(name, image_size=None):
  """Describes dataset `name` (see the module docstring for the table).

  Args:
    name: a name from `known_names()`.
    image_size: output side S for `celeb_a`, `lsun/*` and `folder:*` (defaults
      64, 64 and 32); for the other datasets `None` or their native side.

  Returns:
    A `DatasetSpec`.

  Raises:
    ValueError: naming an unknown dataset and listing the known ones, or a bad
      `image_size`.
  """
  family = _family(name)
  if image_size is not None:
    _check_positive(image_size=image_size)
  if family == "fixed":
    shape, flips, train_split, test_split = _FIXED_SIZE[name]
    if image_size not in (None, shape[0]):
      raise ValueError(f"Dataset {name!r} has {shape[0]}x{shape[1]} images; "
                       f"image_size={image_size} is not supported.")
    return DatasetSpec(name, shape, flips, train_split, test_split)
  size = int(image_size or _DEFAULT_SIZE[family])
  shape = (size, size, 3)
  if family == _CELEB_A:
    return DatasetSpec(name, shape, True, "train", "test")
  if family == "lsun":
    if name[len(_LSUN_PREFIX):] in _LSUN_SCENES:
      return DatasetSpec(name, shape, True, "train", "validation")
    return DatasetSpec(name, shape, True, "train[:99%]", "train[99%:]")
  return DatasetSpec(name, shape, False, "train", "test")


def resize_uint8(image, height, width):
  """Resizes uint8 `[h, w, c]` to uint8 `[height, width, c]`.

  Bilinear with antialiasing on float pixels, then rounded to the nearest
  integer.
  """
  resized = tf.image.resize(tf.cast(image, tf.float32), [height, width],
                            method="bilinear", antialias=True)
  return tf.cast(tf.round(tf.clip_by_value(resized, 0., 255.)), tf.uint8)


def resize_short_side(image, short_side):
  """Resizes uint8 `[h, w, c]` so that `min(h, w) == short_side`.

  The aspect ratio is kept (the long side is rounded). Returns uint8
  `[h', w', c]`.
  """
  hw = tf.cast(tf.shape(image)[:2], tf.float32)
  new_hw = tf.cast(tf.round(hw * short_side / tf.reduce_min(hw)), tf.int32)
  new_hw = tf.maximum(new_hw, short_side)
  return resize_uint8(image, new_hw[0], new_hw[1])


def _central_crop(image, height, width):
  """The central `[height, width, c]` window of `[h, w, c]` (h >= height)."""
  top = (tf.shape(image)[0] - height) // 2
  left = (tf.shape(image)[1] - width) // 2
  return image[top:top + height, left:left + width]


def _preprocess(spec, image, crop_seed=None):
  """Decoded uint8 `[h, w, c]` -> uint8 `spec.image_shape`.

  Args:
    spec: the `DatasetSpec`.
    image: uint8 `[h, w, c]`, as decoded.
    crop_seed: `None` for the central LSUN crop, else the stateless seed of a
      random one. Other datasets crop deterministically and ignore it.
  """
  family = _family(spec.name)
  size = spec.image_shape[0]
  if family == _CELEB_A:
    image = resize_uint8(_central_crop(image, _CELEB_A_CROP, _CELEB_A_CROP),
                         size, size)
  elif family == "lsun":
    image = resize_short_side(image, round(_LSUN_SHORT_SIDE_RATIO * size))
    if crop_seed is None:
      image = _central_crop(image, size, size)
    else:
      image = tf.image.stateless_random_crop(image, spec.image_shape, crop_seed)
  elif family == "folder":
    side = tf.reduce_min(tf.shape(image)[:2])
    image = resize_uint8(_central_crop(image, side, side), size, size)
  return tf.ensure_shape(image, spec.image_shape)


def _key(seed, stream, *indices):
  """A stateless seed (int64 `[2]`) for `stream`, keyed on seed and indices."""
  key = tf.constant([seed, stream], tf.int64)
  for index in indices:
    key = tf.random.experimental.stateless_fold_in(key,
                                                   tf.cast(index, tf.int64))
  return key


def _decode_file(path):
  """Reads and decodes an image file: scalar string -> uint8 `[h, w, 3]`."""
  image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                             expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def folder_files(path):
  """The image files below `path`, sorted, each checked to decode.

  Reads every file once.

  Args:
    path: a folder.

  Returns:
    A sorted list of file paths (`str`).

  Raises:
    ValueError: naming the path if it is missing or holds no image file, or
      naming the first file that cannot be read or decoded.
  """
  if not os.path.isdir(path):
    raise ValueError(f"Image folder {path!r} does not exist or is not a "
                     "folder.")
  files = sorted(
      os.path.join(root, f) for root, _, names in os.walk(path)
      for f in names if f.lower().endswith(_FOLDER_EXTENSIONS))
  if not files:
    raise ValueError(f"Image folder {path!r} holds no "
                     f"{'/'.join(_FOLDER_EXTENSIONS)} file.")
  for f in files:
    try:
      _decode_file(tf.constant(f))
    except tf.errors.OpError as e:
      raise ValueError(f"Cannot read image file {f!r}: {e.message}") from e
  return files


def _folder_split(spec, split):
  """Encoded examples of a folder split: a dataset of file paths (string)."""
  if split not in (spec.train_split, spec.test_split):
    raise ValueError(f"A folder dataset has splits {spec.train_split!r} and "
                     f"{spec.test_split!r}, not {split!r}.")
  files = folder_files(spec.name[len(FOLDER_PREFIX):])
  is_test = split == spec.test_split
  chosen = [f for i, f in enumerate(files)
            if (i % _FOLDER_TEST_EVERY == 0) == is_test]
  if not chosen:
    raise ValueError(f"{spec.name!r} has {len(files)} image file(s): too few "
                     f"for a {split!r} split (need at least 2).")
  return tf.data.Dataset.from_tensor_slices(chosen)


def _source(spec, split, data_dir):
  """Encoded examples of `split` in a fixed order, and how to decode them.

  Returns:
    `(encoded, decode)`: a `tf.data.Dataset` of scalar strings (encoded images,
    or file paths for a folder) and a function from one such string to a
    decoded uint8 `[h, w, c]` image.

  Raises:
    DatasetUnavailableError: if a TFDS dataset is not prepared in `data_dir`.
  """
  if _family(spec.name) == "folder":
    return _folder_split(spec, split), _decode_file
  builder = tfds.builder(spec.name, data_dir=data_dir)
  if not builder.is_prepared():
    raise DatasetUnavailableError(
        f"Dataset {spec.name!r} is not prepared in {builder.data_dir}: call "
        f"tf_realnvp.data.prepare({spec.name!r}, data_dir=...) first.")
  records = builder.as_dataset(
      split=split, shuffle_files=False,
      decoders={"image": tfds.decode.SkipDecoding()})
  return (records.map(lambda example: example["image"]),
          builder.info.features["image"].decode_example)


def _num_examples(encoded, spec, split):
  """The (known, positive) number of examples in `encoded`."""
  count = int(encoded.cardinality())
  if count < 1:
    raise ValueError(f"Split {split!r} of {spec.name!r} has no examples or an "
                     f"unknown number of them (cardinality {count}).")
  return count


def _deterministic(dataset):
  """Makes the whole pipeline deterministic (in order, whatever the timing)."""
  options = tf.data.Options()
  options.deterministic = True
  return dataset.with_options(options)


def _finish(dataset):
  """Prefetches and makes the whole pipeline deterministic."""
  return _deterministic(dataset.prefetch(tf.data.AUTOTUNE))


def _check_int(minimum, **values):
  """ValueError naming the first argument that is not an int >= minimum."""
  for arg, value in values.items():
    if not isinstance(value, numbers.Integral) or value < minimum:
      raise ValueError(f"{arg} must be an int >= {minimum}, received "
                       f"{value!r}.")


def _check_positive(**values):
  """ValueError naming the first argument that is not a positive int."""
  _check_int(1, **values)


def load_images(name, split, data_dir=None, image_size=None):
  """The preprocessed images of one split, in a fixed order.

  LSUN takes the central crop here (`train_dataset` a random one).

  Args:
    name: a name from `known_names()`.
    split: a split of the dataset, e.g. `dataset_spec(name).test_split`.
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    image_size: see `dataset_spec`.

  Returns:
    A finite `tf.data.Dataset` of uint8 `[H, W, C]` images.
  """
  spec = dataset_spec(name, image_size)
  encoded, decode = _source(spec, split, data_dir)
  images = encoded.map(lambda e: _preprocess(spec, decode(e)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _deterministic(images)


def _shuffled_epoch(encoded, seed, epoch, block_size):
  """One epoch of `encoded`, each block of `block_size` permuted by its key."""
  def permute(block_index, block):
    return tf.random.experimental.stateless_shuffle(
        block, _key(seed, _SHUFFLE, epoch, block_index))
  return encoded.batch(block_size).enumerate().map(permute).unbatch()


def train_dataset(name, batch_size, seed, data_dir=None, image_size=None,
                  start_step=0, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
                  num_shards=1, shard_index=0, output_batch_size=None):
  """The infinite training stream, deterministic given `(seed, start_step)`.

  See the module docstring for how order, crops, flips and noise are keyed,
  and for what resuming at `start_step > 0` costs.

  Args:
    name: a name from `known_names()`.
    batch_size: examples per batch (positive int).
    seed: int; the same seed gives the same stream.
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    image_size: see `dataset_spec`.
    start_step: the global step of the first batch (>= 0).
    shuffle_buffer: examples per shuffle block; memory holds about two blocks of
      encoded (compressed) images.
    num_shards: split every global batch into this many equal consecutive
      parts (one per input pipeline of a `tf.distribute` strategy) ...
    shard_index: ... and keep only part `shard_index`; the examples of the
      other parts are skipped before decoding.
    output_batch_size: batch the kept examples by this many (a replica's
      batch); default `batch_size // num_shards`.

  Returns:
    A `tf.data.Dataset` of float32 `[output_batch_size, H, W, C]` dequantised
    pixels in `[0, 256)`. With the defaults, whole global batches; sharded,
    the union over shards of the batches of one step is exactly the global
    batch of that step, so any number of replicas sees the same data.
  """
  _check_positive(batch_size=batch_size, shuffle_buffer=shuffle_buffer,
                  num_shards=num_shards)
  _check_int(0, start_step=start_step, shard_index=shard_index)
  if batch_size % num_shards or shard_index >= num_shards:
    raise ValueError(
        f"batch_size {batch_size} cannot be split into {num_shards} equal "
        f"shards (shard_index {shard_index}).")
  part = batch_size // num_shards
  output_batch_size = output_batch_size or part
  if part % output_batch_size:
    raise ValueError(f"A shard of {part} examples cannot be batched by "
                     f"{output_batch_size}.")
  spec = dataset_spec(name, image_size)
  encoded, decode = _source(spec, spec.train_split, data_dir)
  first = int(start_step) * int(batch_size)
  epoch, offset = divmod(first, _num_examples(encoded, spec, spec.train_split))
  stream = tf.data.Dataset.counter(epoch).flat_map(
      lambda e: _shuffled_epoch(encoded, seed, e, shuffle_buffer))

  def example(index, encoded_image):
    image = _preprocess(spec, decode(encoded_image),
                        crop_seed=_key(seed, _CROP, index))
    if spec.horizontal_flips:
      image = tf.image.stateless_random_flip_left_right(
          image, _key(seed, _FLIP, index))
    return pixels.dequantize(image, _key(seed, _NOISE, index))

  examples = stream.skip(offset).enumerate(start=first)
  if num_shards > 1:
    examples = examples.filter(
        lambda index, _: (index % batch_size) // part == shard_index)
  examples = examples.map(
      example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _finish(examples.batch(output_batch_size, drop_remainder=True))


def eval_dataset(name, batch_size, data_dir=None, image_size=None, split=None,
                 seed=0, max_examples=None):
  """One pass over the test split with fixed dequantisation noise.

  The noise of the `i`-th example is keyed on `(seed, i)`, so every pass (and
  every evaluation of a run) sees the same pixels. No flips; LSUN takes the
  central crop.

  Args:
    name: a name from `known_names()`.
    batch_size: examples per batch (positive int).
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    image_size: see `dataset_spec`.
    split: defaults to `dataset_spec(name).test_split`.
    seed: int keying the noise.
    max_examples: if given, only the first `max_examples` examples.

  Returns:
    A finite `tf.data.Dataset` of float32 `[<= batch_size, H, W, C]`
    dequantised pixels in `[0, 256)`; the last batch may be smaller.
  """
  _check_positive(batch_size=batch_size)
  if max_examples is not None:
    _check_positive(max_examples=max_examples)
  spec = dataset_spec(name, image_size)
  images = load_images(name, split or spec.test_split, data_dir, image_size)
  if max_examples is not None:
    images = images.take(max_examples)
  noisy = images.enumerate().map(
      lambda i, image: pixels.dequantize(image, _key(seed, _EVAL_NOISE, i)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _finish(noisy.batch(batch_size))


def _endpoint(url):
  """`(host, port)` a download of `url` connects to first (maybe a proxy).

  Proxies are taken from the environment as `requests` (TFDS's downloader)
  does, honouring `no_proxy`.
  """
  proxy = requests.utils.select_proxy(url,
                                      requests.utils.get_environ_proxies(url))
  target = urllib.parse.urlsplit(
      requests.utils.prepend_scheme_if_needed(proxy, "http") if proxy else url)
  return target.hostname, target.port or _DEFAULT_PORTS.get(target.scheme, 80)


def unreachable_endpoints(urls, timeout):
  """The download endpoints that do not accept a TCP connection in time.

  All endpoints are probed in parallel, in daemon threads, so a slow DNS
  lookup cannot hold the caller past `timeout` either.

  Args:
    urls: iterable of download URLs.
    timeout: seconds to wait for all connections.

  Returns:
    A sorted list of `"host:port (reason)"` strings, empty if all connected.
  """
  endpoints = sorted({_endpoint(url) for url in urls})
  errors = {}

  def probe(endpoint):
    try:
      socket.create_connection(endpoint, timeout=timeout).close()
      errors[endpoint] = None
    except OSError as e:
      errors[endpoint] = str(e) or type(e).__name__

  threads = [threading.Thread(target=probe, args=(e,), daemon=True)
             for e in endpoints]
  for thread in threads:
    thread.start()
  deadline = time.monotonic() + timeout
  for thread in threads:
    thread.join(max(0., deadline - time.monotonic()))
  failures = {e: errors.get(e, "timed out") for e in endpoints}
  return [f"{host}:{port} ({reason})"
          for (host, port), reason in failures.items() if reason is not None]


def _source_files(name, builder):
  """The file names TFDS looks for in `manual_dir` when preparing `name`."""
  files = sorted(
      {info.filename for info in (builder.url_infos or {}).values()})
  if name.startswith(_LSUN_PREFIX):
    category = name[len(_LSUN_PREFIX):]
    stems = {category, f"{category}_train_lmdb", f"{category}_val_lmdb"}
    return [f for f in files if f.split(".")[0] in stems]
  if name.startswith("imagenet_resized/"):
    prefix = f"Imagenet{name.split('/')[1].split('x')[0]}_"
    return [f for f in files if f.startswith(prefix)]
  return files


def _unavailable_help(name, builder):
  """What to do when `name` cannot be downloaded here."""
  if name == fashion_mnist_offline.NAME:
    return ("Install Debian's package dataset-fashion-mnist (apt-get install "
            "dataset-fashion-mnist), or put Zalando's four .gz files in a "
            f"folder named by ${fashion_mnist_offline.SOURCE_DIR_ENV}, and "
            "call prepare again.")
  return (f"Either prepare it where the network is reachable and copy "
          f"<data_dir>/{builder.name}/ here, or download "
          f"{', '.join(_source_files(name, builder))} yourself (see the "
          f"homepage {builder.info.homepage}) into a folder M and call "
          f"tf_realnvp.data.prepare({name!r}, data_dir=..., manual_dir=M).")


def prepare(name, data_dir=None, manual_dir=None):
  """Makes sure dataset `name` is available locally, downloading if needed.

  * `folder:` datasets: checks that every file decodes.
  * Already prepared in `data_dir`: nothing to do.
  * `fashion_mnist`: from Debian's package `dataset-fashion-mnist` if it is
    installed (no network; about 20 s), see `fashion_mnist_offline`.
  * Otherwise TFDS's `download_and_prepare`, with files found in `manual_dir`
    used instead of downloads. Without `manual_dir`, the download hosts (or the
    proxy) are first probed for `CONNECT_TIMEOUT_SECONDS`, so that a machine
    without network fails at once instead of in TFDS's retries (minutes).

  Args:
    name: a name from `known_names()`.
    data_dir: TFDS data directory; `None` for TFDS's default.
    manual_dir: optional folder with the dataset's source files, named as in
      the TFDS checksums (the error message lists them).

  Raises:
    DatasetUnavailableError: naming the dataset and what to do, if it is not
      prepared and cannot be downloaded.
    ValueError: for an unknown name or a bad image folder.
  """
  if _family(name) == "folder":
    folder_files(name[len(FOLDER_PREFIX):])
    return
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return
  if name == fashion_mnist_offline.NAME and fashion_mnist_offline.available():
    fashion_mnist_offline.store(data_dir)
    return
  if manual_dir is None:
    failures = unreachable_endpoints(builder.url_infos or {},
                                     CONNECT_TIMEOUT_SECONDS)
    if failures:
      raise DatasetUnavailableError(
          f"Dataset {name!r} is not prepared in {builder.data_dir} and cannot "
          f"be downloaded: no connection to {', '.join(failures)} within "
          f"{CONNECT_TIMEOUT_SECONDS:g} s. {_unavailable_help(name, builder)}")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
