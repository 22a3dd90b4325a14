"""Where a split's encoded examples come from: a prepared TFDS dataset, or
the image files of a folder.

A folder dataset holds every `.png/.jpg/.jpeg/.bmp/.gif` file below the
folder (sorted by path, decoded to 3 channels, the first frame of a GIF);
every file is decoded once when a folder dataset is opened, so that an
unreadable file is a `ValueError` naming it, before any training starts.
File 0, 10, 20, ... in sorted order is the test split, the rest the train
split.

With `conditional=True` each encoded example comes with its condition (see
`registry.condition_spec`): TFDS's `label` (int32) or `celeb_a`'s
`attributes` (float32 `[40]`, sorted names) read from the same records, or a
folder file's sub-folder label (int32).
"""

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.data import registry
from tf_realnvp.data.registry import Family

__all__ = ["DatasetUnavailableError", "folder_files", "num_examples",
           "source"]

_FOLDER_TEST_EVERY = 10


class DatasetUnavailableError(RuntimeError):
  """The dataset is not prepared locally and cannot be downloaded now."""


def _decode_file(path):
  """Reads and decodes an image file: scalar string -> uint8 `[h, w, 3]`."""
  image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                             expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def _check_decodable(files):
  """Decodes every file once; a ValueError names the first that fails."""
  for f in files:
    try:
      _decode_file(tf.constant(f))
    except tf.errors.OpError as e:
      raise ValueError(f"Cannot read image file {f!r}: {e.message}") from e


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
  files = registry.folder_image_files(path)
  _check_decodable(files)
  return files


def _folder_split(spec, split, conditional):
  """Encoded examples of a folder split: file paths (string), with their
  sub-folder labels (int32) if `conditional`."""
  if split not in (spec.train_split, spec.test_split):
    raise ValueError(f"A folder dataset has splits {spec.train_split!r} and "
                     f"{spec.test_split!r}, not {split!r}.")
  files = registry.folder_image_files(spec.folder)
  if conditional:  # Refuse a folder without classes before decoding it.
    _, labels = registry.folder_labels(spec.folder, files)
  _check_decodable(files)
  is_test = split == spec.test_split
  chosen = [i for i in range(len(files))
            if (i % _FOLDER_TEST_EVERY == 0) == is_test]
  if not chosen:
    raise ValueError(f"{spec.name!r} has {len(files)} image file(s): too few "
                     f"for a {split!r} split (need at least 2).")
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


def source(spec, split, data_dir, conditional=False):
  """Encoded examples of `split` in a fixed order, and how to decode them.

  Args:
    spec: the `DatasetSpec`.
    split: a split of the dataset.
    data_dir: TFDS data directory (ignored by `folder:` datasets).
    conditional: whether each example comes with its condition (see
      `registry.condition_spec`).

  Returns:
    `(encoded, decode)`: a `tf.data.Dataset` of scalar strings (encoded images,
    or file paths for a folder), or with `conditional` of `(string,
    condition)` tuples (condition: int32 scalar, or float32 `[40]` for
    `celeb_a`), and a function from one such string to a decoded uint8
    `[h, w, c]` image.

  Raises:
    DatasetUnavailableError: if a TFDS dataset is not prepared in `data_dir`.
    ValueError: if `conditional` and the dataset has no labels.
  """
  if conditional:
    registry.condition_spec(spec.name)  # A ValueError if there are none.
  if spec.family is Family.FOLDER:
    return _folder_split(spec, split, conditional), _decode_file
  builder = tfds.builder(spec.name, data_dir=data_dir)
  if not builder.is_prepared():
    raise DatasetUnavailableError(
        f"Dataset {spec.name!r} is not prepared in {builder.data_dir}: call "
        f"tf_realnvp.data.prepare({spec.name!r}, data_dir=...) first.")
  records = builder.as_dataset(
      split=split, shuffle_files=False,
      decoders={"image": tfds.decode.SkipDecoding()})
  if conditional:
    encoded = records.map(
        lambda example: (example["image"], _tfds_condition(spec, example)))
  else:
    encoded = records.map(lambda example: example["image"])
  return encoded, builder.info.features["image"].decode_example


def num_examples(encoded, spec, split):
  """The (known, positive) number of examples in `encoded`."""
  count = int(encoded.cardinality())
  if count < 1:
    raise ValueError(f"Split {split!r} of {spec.name!r} has no examples or an "
                     f"unknown number of them (cardinality {count}).")
  return count
