"""Where a split's encoded examples come from: a prepared TFDS dataset, or
the image files of a folder.

A folder dataset holds every `.png/.jpg/.jpeg/.bmp/.gif` file below the
folder (sorted by path, decoded to 3 channels, the first frame of a GIF);
every file is decoded once when a folder dataset is opened, so that an
unreadable file is a `ValueError` naming it, before any training starts.
File 0, 10, 20, ... in sorted order is the test split, the rest the train
split.
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.data.registry import Family

__all__ = ["DatasetUnavailableError", "folder_files", "num_examples",
           "source"]

_FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_FOLDER_TEST_EVERY = 10


class DatasetUnavailableError(RuntimeError):
  """The dataset is not prepared locally and cannot be downloaded now."""


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
  files = folder_files(spec.folder)
  is_test = split == spec.test_split
  chosen = [f for i, f in enumerate(files)
            if (i % _FOLDER_TEST_EVERY == 0) == is_test]
  if not chosen:
    raise ValueError(f"{spec.name!r} has {len(files)} image file(s): too few "
                     f"for a {split!r} split (need at least 2).")
  return tf.data.Dataset.from_tensor_slices(chosen)


def source(spec, split, data_dir):
  """Encoded examples of `split` in a fixed order, and how to decode them.

  Returns:
    `(encoded, decode)`: a `tf.data.Dataset` of scalar strings (encoded images,
    or file paths for a folder) and a function from one such string to a
    decoded uint8 `[h, w, c]` image.

  Raises:
    DatasetUnavailableError: if a TFDS dataset is not prepared in `data_dir`.
  """
  if spec.family is Family.FOLDER:
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


def num_examples(encoded, spec, split):
  """The (known, positive) number of examples in `encoded`."""
  count = int(encoded.cardinality())
  if count < 1:
    raise ValueError(f"Split {split!r} of {spec.name!r} has no examples or an "
                     f"unknown number of them (cardinality {count}).")
  return count
