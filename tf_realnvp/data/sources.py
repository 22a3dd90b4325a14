"""Where a split's encoded examples come from: a prepared TFDS dataset, or
the image files of a folder.

A folder dataset holds every `.png/.jpg/.jpeg/.bmp/.gif` file below the
folder (sorted by path, decoded to 3 channels, the first frame of a GIF).
Opening one lists the files and reads none (a folder of CelebA's 202,599
faces opens in about a second); each file is decoded when the pipeline
reaches it, so an unreadable file fails there, as a TensorFlow error;
`pipelines.check_folder` then finds and names it. File 0, 10, 20, ... in
sorted order is the test split, the rest the train split.

With `conditional=True` each encoded example comes with its condition (see
`registry.condition_spec`): TFDS's `label` (int32) or `celeb_a`'s
`attributes` (float32 `[40]`, sorted names) read from the same records, or a
folder file's sub-folder label (int32).

With `classes` (`registry.check_classes`) a split keeps only the examples
whose class label (TFDS's `label`, a folder file's sub-folder label) is one of
`classes`, in the same fixed order; the labels stay the dataset's own.
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.data import registry
from tf_realnvp.data.registry import Family

__all__ = ["DatasetUnavailableError", "decode_file", "folder_files",
           "num_examples", "source"]

_FOLDER_TEST_EVERY = 10
_COUNT_BATCH = 8192  # Encoded examples per batch when counting them.


class DatasetUnavailableError(RuntimeError):
  """The dataset is not prepared locally and cannot be downloaded now."""


def decode_file(path):
  """Reads and decodes an image file: scalar string -> uint8 `[h, w, 3]`."""
  image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                             expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def folder_files(path):
  """The image files below `path` (any depth), sorted; none is read.

  Args:
    path: a folder.

  Returns:
    A sorted list of file paths (`str`).

  Raises:
    ValueError: naming the path if it is missing or holds no image file.
  """
  return registry.folder_image_files(path)


def _folder_split(spec, split, conditional, classes):
  """Encoded examples of a folder split: file paths (string), with their
  sub-folder labels (int32) if `conditional`; with `classes` (a tuple of int)
  only the files of those sub-folder labels."""
  if split not in (spec.train_split, spec.test_split):
    raise ValueError(f"A folder dataset has splits {spec.train_split!r} and "
                     f"{spec.test_split!r}, not {split!r}.")
  files = registry.folder_image_files(spec.folder)
  if conditional or classes is not None:
    _, labels = registry.folder_labels(spec.folder, files)
  is_test = split == spec.test_split
  chosen = [i for i in range(len(files))
            if (i % _FOLDER_TEST_EVERY == 0) == is_test]
  if not chosen:
    raise ValueError(f"{spec.name!r} has {len(files)} image file(s): too few "
                     f"for a {split!r} split (need at least 2).")
  if classes is not None:
    chosen = [i for i in chosen if labels[i] in classes]
    if not chosen:
      raise ValueError(f"The {split!r} split of {spec.name!r} has no image of "
                       f"classes {list(classes)}.")
  paths = [files[i] for i in chosen]
  if conditional:
    return tf.data.Dataset.from_tensor_slices(
        (paths, tf.constant([labels[i] for i in chosen], tf.int32)))
  return tf.data.Dataset.from_tensor_slices(paths)


def _tfds_condition(spec, example):
  """The condition of a TFDS example: int32 label or float32 `[40]`."""
  if spec.family is Family.CELEB_A:
    return tf.stack([tf.cast(example["attributes"][a], tf.float32)
                     for a in registry.CELEB_A_ATTRIBUTES])
  return tf.cast(example["label"], tf.int32)


def source(spec, split, data_dir, conditional=False, classes=None):
  """Encoded examples of `split` in a fixed order, and how to decode them.

  Args:
    spec: the `DatasetSpec`.
    split: a split of the dataset.
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    conditional: whether each example comes with its condition (see
      `registry.condition_spec`).
    classes: if given, a sequence of class indices (`registry.check_classes`):
      only the examples of these classes, in the same order (the number of
      examples becomes unknown to `tf.data` for a TFDS dataset: see
      `num_examples`).

  Returns:
    `(encoded, decode)`: a `tf.data.Dataset` of scalar strings (encoded images,
    or file paths for a folder), or with `conditional` of `(string,
    condition)` tuples (condition: int32 scalar, or float32 `[40]` for
    `celeb_a`), and a function from one such string to a decoded uint8
    `[h, w, c]` image.

  Raises:
    DatasetUnavailableError: if a TFDS dataset is not prepared in `data_dir`.
    ValueError: if `conditional` and the dataset has no labels, or for bad
      `classes` (see `registry.check_classes`).
  """
  if conditional:
    registry.condition_spec(spec.name)  # A ValueError if there are none.
  if classes is not None:
    classes = registry.check_classes(spec.name, classes)
  if spec.family is Family.FOLDER:
    return _folder_split(spec, split, conditional, classes), decode_file
  builder = tfds.builder(spec.name, data_dir=data_dir)
  if not builder.is_prepared():
    raise DatasetUnavailableError(
        f"Dataset {spec.name!r} is not prepared in {builder.data_dir}: call "
        f"tf_realnvp.data.prepare({spec.name!r}, data_dir=...) first.")
  records = builder.as_dataset(
      split=split, shuffle_files=False,
      decoders={"image": tfds.decode.SkipDecoding()})
  if classes is not None:
    wanted = tf.constant(classes, tf.int64)
    records = records.filter(lambda example: tf.reduce_any(
        tf.equal(tf.cast(example["label"], tf.int64), wanted)))
  if conditional:
    encoded = records.map(
        lambda example: (example["image"], _tfds_condition(spec, example)))
  else:
    encoded = records.map(lambda example: example["image"])
  return encoded, builder.info.features["image"].decode_example


def num_examples(encoded, spec, split, up_to=None):
  """The (positive) number of examples in `encoded`, a `source`; with
  `up_to`, the smaller of it and `up_to`.

  Its cardinality if `tf.data` knows it; else (a TFDS split filtered by
  `classes`) counted by reading the encoded examples (the first `up_to`
  only), without decoding any image: the whole split takes about as long as
  `tf.data` takes to read its records (seconds for Fashion-MNIST's 60000).

  Raises:
    ValueError: if there is no example (or their number is infinite).
  """
  count = int(encoded.cardinality())
  if count == tf.data.UNKNOWN_CARDINALITY:
    counted = encoded if up_to is None else encoded.take(up_to)
    count = int(counted.batch(_COUNT_BATCH).reduce(
        tf.constant(0, tf.int64),
        lambda total, batch: total + tf.shape(
            tf.nest.flatten(batch)[0], out_type=tf.int64)[0]))
  if count < 1:
    raise ValueError(f"Split {split!r} of {spec.name!r} has no examples (of "
                     f"the chosen classes, if any) or an infinite number of "
                     f"them (cardinality {count}).")
  return count if up_to is None else min(count, up_to)
