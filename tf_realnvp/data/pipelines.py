"""Input pipelines: a dataset's splits as dequantised pixels.

Elements: with `conditional=False` (the default) the pixels alone; with
`conditional=True` a tuple `(pixels, condition)`, the condition of every
example (`registry.condition_spec`): int32 `[B]` class labels (TFDS's `label`
of `fashion_mnist`, `mnist`, `cifar10`, `imagenet_resized/*`; a folder's
sub-folder index), or float32 `[B, 40]` 0/1 attributes (`celeb_a`, sorted
attribute names). `lsun/*` has no labels: a ValueError. Conditions travel with
their images through every step below; the pixels are the same either way.

Classes: with `classes` (a sequence of class indices, `registry.check_classes`)
a split holds only the examples of those classes, in the order they have in
the whole split, with their original labels (e.g. `classes=[3]`: Fashion-MNIST's
dresses alone, for one-class anomaly detection). Everything below applies to
this filtered split as it would to a whole one; without `classes` nothing
changes. Datasets without class labels (`celeb_a`, `lsun/*`) refuse `classes`.

Determinism of `train_dataset`: every random choice is a stateless function of
`seed` and a position, never of the global or an op-level seed:
* the order: each epoch reads the split (filtered by `classes`) in its fixed
  on-disk order, cuts it into consecutive blocks of `shuffle_buffer` encoded
  examples and permutes each block with a key of `(seed, epoch, block)` (TFDS
  already stores examples in a hash-shuffled order; the block shuffle
  reorders within a block only);
* the crop, the flip, the perturbation (`perturbation_rate`) and the
  dequantisation noise of the example at global position
  `g = step * batch_size + j` use keys of `(seed, g)`.
So the batch at step `s` is the same whether a pipeline started at step 0 and
ran `s` batches or was created with `start_step=s`. Resuming skips the
`(s * batch_size) % num_examples` examples already seen in the current epoch:
it reads (but does not decode) up to one epoch of encoded records: measured
here about 3-5 s for Fashion-MNIST's 60000 (~70 us a record), so expect
minutes for LSUN bedroom's 3 million. Resuming on a TFDS split filtered by
`classes` first reads the whole split once more, to count its examples
(`sources.num_examples`).
"""

import tensorflow as tf

from tf_realnvp import checks
from tf_realnvp import io
from tf_realnvp import pixels
from tf_realnvp.data import preprocessing
from tf_realnvp.data import registry
from tf_realnvp.data import sources

__all__ = ["DEFAULT_SHUFFLE_BUFFER", "check_folder", "class_counts",
           "eval_dataset", "load_images", "perturb", "train_dataset"]

DEFAULT_SHUFFLE_BUFFER = 10_000

# Streams of stateless randomness, the second half of every key.
_SHUFFLE, _CROP, _FLIP, _NOISE, _EVAL_NOISE, _PERTURB = range(6)


def _key(seed, stream, *indices):
  """A stateless seed (int64 `[2]`) for `stream`, keyed on seed and indices."""
  key = tf.constant([seed, stream], tf.int64)
  for index in indices:
    key = tf.random.experimental.stateless_fold_in(key,
                                                   tf.cast(index, tf.int64))
  return key


def _deterministic(dataset):
  """Makes the whole pipeline deterministic (in order, whatever the timing)."""
  options = tf.data.Options()
  options.deterministic = True
  return dataset.with_options(options)


def _with_image(element, function):
  """`element` (an image, or an `(image, condition)` tuple) with `function`
  applied to its image."""
  image, *condition = element if isinstance(element, tuple) else (element,)
  image = function(image)
  return (image, *condition) if condition else image


def _finish(dataset):
  """Prefetches and makes the whole pipeline deterministic."""
  return _deterministic(dataset.prefetch(tf.data.AUTOTUNE))


def load_images(name, split, data_dir=None, image_size=None,
                conditional=False, classes=None, folder_crop=None):
  """The preprocessed images of one split, in a fixed order.

  LSUN takes the central crop here (`train_dataset` a random one).

  Args:
    name: a name from `known_names()`.
    split: a split of the dataset, e.g. `dataset_spec(name).test_split`.
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    image_size: see `dataset_spec`.
    conditional: whether each image comes with its condition.
    classes: if given, only the images of these classes (see the module
      docstring).
    folder_crop: see `dataset_spec`.

  Returns:
    A finite `tf.data.Dataset` of uint8 `[H, W, C]` images, or with
    `conditional` of `(image, condition)`: int32 scalar or float32 `[A]`.

  Raises:
    ValueError: if `conditional` and the dataset has no labels, or for bad
      `classes` (`registry.check_classes`).
  """
  spec = registry.dataset_spec(name, image_size, folder_crop)
  encoded, decode = sources.source(spec, split, data_dir, conditional,
                                   classes)
  images = encoded.map(
      lambda *element: _with_image(
          element, lambda e: preprocessing.preprocess(spec, decode(e))),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _deterministic(images)


def perturb(image, rate, seed):
  """Replaces each entry of uint8 `image` by a uniform value with
  probability `rate`.

  Ren et al. (NeurIPS 2019, "Likelihood ratios for out-of-distribution
  detection", section 3.1): a model trained on such inputs learns the local
  statistics the images share with any other images but not their
  semantics, and serves as the background model of a likelihood-ratio
  anomaly score (`tf_realnvp.anomaly`).

  Args:
    image: uint8 `Tensor` of any shape, e.g. `[H, W, C]`.
    rate: the probability `mu` in `[0, 1]` that an entry is replaced.
    seed: stateless seed `[2]`; the same seed, the same perturbation.

  Returns:
    uint8, `image`'s shape: entry `i` is `image[i]` with probability
    `1 - mu`, else uniform on `{0, ..., 255}`.
  """
  image = tf.convert_to_tensor(image)
  replace_seed, value_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  replaced = tf.random.stateless_uniform(tf.shape(image), replace_seed) < rate
  values = tf.random.stateless_uniform(tf.shape(image), value_seed, minval=0,
                                       maxval=256, dtype=tf.int32)
  return tf.where(replaced, tf.cast(values, tf.uint8), image)


def _shuffled_epoch(encoded, seed, epoch, block_size):
  """One epoch of `encoded`, each block of `block_size` permuted by its key.

  Every component of an element (image, condition) is permuted alike.
  """
  def permute(block_index, block):
    size = tf.shape(tf.nest.flatten(block)[0])[0]
    order = tf.random.experimental.stateless_shuffle(
        tf.range(size), _key(seed, _SHUFFLE, epoch, block_index))
    return tf.nest.map_structure(lambda x: tf.gather(x, order), block)
  return encoded.batch(block_size).enumerate().map(permute).unbatch()


def train_dataset(name, batch_size, seed, data_dir=None, image_size=None,
                  start_step=0, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
                  num_shards=1, shard_index=0, output_batch_size=None,
                  conditional=False, perturbation_rate=0.0, classes=None,
                  folder_crop=None):
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
    conditional: whether each example comes with its condition.
    perturbation_rate: if positive, each 8-bit entry is replaced by a
      uniform value with this probability before dequantisation (`perturb`:
      the training data of a background model).
    classes: if given, train on the examples of these classes only (see the
      module docstring).
    folder_crop: see `dataset_spec`.

  Returns:
    A `tf.data.Dataset` of float32 `[output_batch_size, H, W, C]` dequantised
    pixels in `[0, 256)`, or with `conditional` of `(pixels, condition)`:
    int32 `[output_batch_size]` or float32 `[output_batch_size, A]`. With the
    defaults, whole global batches; sharded, the union over shards of the
    batches of one step is exactly the global batch of that step, so any
    number of replicas sees the same data.

  Raises:
    ValueError: for bad sizes or sharding, if `conditional` and the dataset
      has no labels, or for bad `classes` (`registry.check_classes`) or
      classes without a training example.
  """
  checks.check_int(1, batch_size=batch_size, shuffle_buffer=shuffle_buffer,
                   num_shards=num_shards)
  checks.check_int(0, start_step=start_step, shard_index=shard_index)
  if not 0.0 <= perturbation_rate <= 1.0:
    raise ValueError(f"perturbation_rate must be in [0, 1], received "
                     f"{perturbation_rate!r}.")
  if batch_size % num_shards or shard_index >= num_shards:
    raise ValueError(
        f"batch_size {batch_size} cannot be split into {num_shards} equal "
        f"shards (shard_index {shard_index}).")
  part = batch_size // num_shards
  output_batch_size = output_batch_size or part
  if part % output_batch_size:
    raise ValueError(f"A shard of {part} examples cannot be batched by "
                     f"{output_batch_size}.")
  spec = registry.dataset_spec(name, image_size, folder_crop)
  encoded, decode = sources.source(spec, spec.train_split, data_dir,
                                   conditional, classes)
  first = int(start_step) * int(batch_size)
  # At step 0 it is enough to know that there are examples (counting a split
  # filtered by `classes` reads all of it).
  epoch, offset = divmod(first, sources.num_examples(
      encoded, spec, spec.train_split, up_to=None if first else 1))
  stream = tf.data.Dataset.counter(epoch).flat_map(
      lambda e: _shuffled_epoch(encoded, seed, e, shuffle_buffer))

  def example(index, element):
    def dequantised(encoded_image):
      image = preprocessing.preprocess(spec, decode(encoded_image),
                                       crop_seed=_key(seed, _CROP, index))
      if spec.horizontal_flips:
        image = tf.image.stateless_random_flip_left_right(
            image, _key(seed, _FLIP, index))
      if perturbation_rate:
        image = perturb(image, perturbation_rate, _key(seed, _PERTURB, index))
      return pixels.dequantize(image, _key(seed, _NOISE, index))
    return _with_image(element, dequantised)

  examples = stream.skip(offset).enumerate(start=first)
  if num_shards > 1:
    examples = examples.filter(
        lambda index, _: (index % batch_size) // part == shard_index)
  examples = examples.map(
      example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _finish(examples.batch(output_batch_size, drop_remainder=True))


def eval_dataset(name, batch_size, data_dir=None, image_size=None, split=None,
                 seed=0, max_examples=None, conditional=False, classes=None,
                 folder_crop=None):
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
    conditional: whether each example comes with its condition.
    classes: if given, only the examples of these classes (see the module
      docstring); `max_examples` counts those.
    folder_crop: see `dataset_spec`.

  Returns:
    A finite `tf.data.Dataset` of float32 `[<= batch_size, H, W, C]`
    dequantised pixels in `[0, 256)`, or with `conditional` of `(pixels,
    condition)`: int32 `[<= batch_size]` or float32 `[<= batch_size, A]`; the
    last batch may be smaller.

  Raises:
    ValueError: if `conditional` and the dataset has no labels, or for bad
      `classes` (`registry.check_classes`).
  """
  checks.check_int(1, batch_size=batch_size)
  if max_examples is not None:
    checks.check_int(1, max_examples=max_examples)
  spec = registry.dataset_spec(name, image_size, folder_crop)
  images = load_images(name, split or spec.test_split, data_dir, image_size,
                       conditional, classes, folder_crop)
  if max_examples is not None:
    images = images.take(max_examples)
  noisy = images.enumerate().map(
      lambda i, element: _with_image(element, lambda image: pixels.dequantize(
          image, _key(seed, _EVAL_NOISE, i))),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return _finish(noisy.batch(batch_size))


def check_folder(name, image_size=None, folder_crop=None):
  """Reads every image of a `folder:` dataset as the pipelines do (decoded,
  cropped, resized), in parallel; a ValueError names the first that fails.

  The pipelines read a folder's files only when they reach them, so that
  a large folder starts at once; when one fails there (a TensorFlow error
  without the file's name), this finds it. Takes about as long as one pass
  over the folder.

  Args:
    name: a `folder:` name.
    image_size: see `dataset_spec`.
    folder_crop: see `dataset_spec`.

  Raises:
    ValueError: naming the first file (in sorted order) that cannot be read,
      decoded or cropped, with TensorFlow's reason; or a missing or empty
      folder.
  """
  spec = registry.dataset_spec(name, image_size, folder_crop)
  files = sources.folder_files(spec.folder)

  def read(index, path):  # The image is returned, so it is computed.
    return index, preprocessing.preprocess(spec, sources.decode_file(path))

  paths = tf.data.Dataset.from_tensor_slices(files).enumerate()
  readable = paths.map(read, num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=False).ignore_errors()
  good = {int(index) for index, _ in readable.as_numpy_iterator()}
  for index, path in enumerate(files):
    if index not in good:
      try:
        read(index, tf.constant(path))  # Again, eagerly, for the reason.
      except tf.errors.OpError as error:
        raise ValueError(f"Cannot read image file {path!r}: "
                         f"{io.one_line(error.message)}") from None


def class_counts(name, data_dir=None, image_size=None):
  """Examples per class `[K]` (int64 numpy) of the training split of a
  dataset with class labels (`condition_spec(name).num_classes`).

  Reads the labels only: no image is decoded.

  Raises:
    ValueError: if the dataset has no class labels.
  """
  condition = registry.condition_spec(name)
  if not condition.num_classes:
    raise ValueError(f"Dataset {name!r} has no class labels (its condition "
                     f"is a vector of shape {condition.condition_shape}).")
  spec = registry.dataset_spec(name, image_size)
  encoded, _ = sources.source(spec, spec.train_split, data_dir,
                              conditional=True)
  counts = tf.zeros([condition.num_classes], tf.int64)
  for labels in encoded.map(lambda _, label: label).batch(8192):
    counts += tf.math.bincount(labels, minlength=condition.num_classes,
                               maxlength=condition.num_classes,
                               dtype=tf.int64)
  return counts.numpy()
