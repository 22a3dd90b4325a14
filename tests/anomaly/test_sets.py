"""Tests of tf_realnvp/anomaly/sets.py: image sets by name, in the model's
shape (scikit-learn's digits, folders of files, TFDS datasets: the real
Fashion-MNIST of `fashion_dir`, tests/conftest.py)."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.anomaly import sets
from tests import images

FASHION_SHAPE = (28, 28, 1)
NUM_DIGITS = 1797  # scikit-learn's bundled digits.


def _digits_uint8():
  """scikit-learn's digits `[1797, 8, 8]` (0-16) as uint8 grey levels."""
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  return np.round(datasets.load_digits().images * (255.0 / 16.0)).astype(
      np.uint8)


def _write_png(path, pixels):
  """Writes uint8 `pixels` `[h, w, c]` as a PNG file; returns `path`."""
  tf.io.write_file(str(path), tf.io.encode_png(np.asarray(pixels, np.uint8)))
  return str(path)


def _no_data_dir(tmp_path):
  """A TFDS data_dir holding nothing: loading any dataset from it fails."""
  return str(tmp_path / "no_tfds")


# --- scikit-learn's digits --------------------------------------------------


def test_sklearn_digits_are_every_digit_at_the_model_s_side():
  """8x8x1: nothing to resize, so exactly scikit-learn's images, scaled from
  17 grey levels to 0..255, white strokes on black."""
  digits = sets.load_set(sets.SKLEARN_DIGITS, (8, 8, 1))
  assert digits.name == sets.SKLEARN_DIGITS
  assert digits.images.dtype == np.uint8
  assert digits.images.shape == (NUM_DIGITS, 8, 8, 1)
  expected = _digits_uint8()
  np.testing.assert_array_equal(digits.images[..., 0], expected)
  assert digits.images.max() == 255 and digits.images.min() == 0


@pytest.mark.parametrize("shape", [FASHION_SHAPE, (16, 16, 3)],
                         ids=["grey", "rgb"])
def test_sklearn_digits_are_resized_white_on_black(shape):
  digits = sets.load_set(sets.SKLEARN_DIGITS, shape, max_examples=20).images
  assert digits.dtype == np.uint8 and digits.shape == (20,) + shape
  # Each channel the same grey (grey -> RGB).
  np.testing.assert_array_equal(digits, np.repeat(digits[..., :1],
                                                  shape[-1], axis=-1))
  height = shape[0]
  border = np.concatenate([digits[:, :height // 8].ravel(),
                           digits[:, -(height // 8):].ravel()])
  centre = digits[:, height // 4:-(height // 4),
                  height // 4:-(height // 4)].ravel()
  assert border.mean() + 50 < centre.mean()
  # The first digit is a 0: dark in its middle, bright around it.
  zero = digits[0, ..., 0].astype(float)
  middle = height // 2
  assert zero[middle, middle] < zero[middle, middle // 2] - 100


# --- Folders -----------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
  """A folder of 3 image files written out of order, of other sizes and
  channels than the model's, each one grey level where its central square
  is (`{file name: level}`):

  - `b.png`, 12x20 RGB: level 200 in the central 12x12 square, black on
    its left and right (not in the square);
  - `a.jpg`, 16x16 RGB: a JPEG, level 90;
  - `sub/c_grey.png`, 30x10 grey: level 30.
  """
  folder = tmp_path / "images"
  os.makedirs(folder / "sub")
  wide = np.zeros((12, 20, 3), np.uint8)
  wide[:, 4:16] = 200
  _write_png(folder / "b.png", wide)
  _write_png(folder / "sub" / "c_grey.png", np.full((30, 10, 1), 30))
  images.write_images(folder, ["a.jpg"], size=(16, 16), colour=(90, 90, 90))
  return str(folder), {"a.jpg": 90, "b.png": 200, "sub/c_grey.png": 30}


@pytest.mark.parametrize("shape", [(8, 8, 1), (6, 6, 3)], ids=["grey",
                                                               "rgb"])
def test_folder_files_are_converted_to_the_model_shape_in_sorted_order(
    image_folder, shape):
  folder, levels = image_folder
  loaded = sets.load_set(f"folder:{folder}", shape)
  assert loaded.name == f"folder:{folder}"
  assert loaded.images.dtype == np.uint8
  assert loaded.images.shape == (3,) + shape
  expected = np.stack([np.full(shape, levels[name], np.uint8)
                       for name in sorted(levels)])
  difference = np.abs(loaded.images.astype(int) - expected)
  assert difference.max() <= 1  # The JPEG's level may be off by one.
  np.testing.assert_array_equal(loaded.images[1:], expected[1:])  # PNGs.

  first_two = sets.load_set(f"folder:{folder}", shape, max_examples=2).images
  np.testing.assert_array_equal(first_two, loaded.images[:2])


def test_folder_with_a_file_that_does_not_decode_names_it(image_folder):
  folder, _ = image_folder
  broken = images.write_broken_image(os.path.join(folder, "sub", "d.png"))
  with pytest.raises(ValueError, match=f"Cannot read image file '{broken}'"):
    sets.load_set(f"folder:{folder}", (8, 8, 1))


def test_empty_or_missing_folder_is_refused(tmp_path):
  empty = tmp_path / "empty"
  os.makedirs(empty / "sub")
  with open(empty / "notes.txt", "w") as f:
    f.write("no image here")
  with pytest.raises(ValueError, match=f"Image folder '{empty}' holds no "):
    sets.load_set(f"folder:{empty}", (8, 8, 1))
  with pytest.raises(ValueError, match="does not exist"):
    sets.load_set(f"folder:{tmp_path / 'missing'}", (8, 8, 1))


# --- Datasets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion_test(fashion_dir):
  """`(images, labels)`: the real Fashion-MNIST test split as TFDS reads
  it, in order."""
  examples = tfds.as_numpy(tfds.builder("fashion_mnist", data_dir=fashion_dir)
                           .as_dataset(split="test", batch_size=-1))
  return examples["image"], examples["label"]


def test_dataset_classes_are_those_test_images_in_order(fashion_dir,
                                                        fashion_test):
  test_images, labels = fashion_test
  shirts = sets.load_set("fashion_mnist:test@0", FASHION_SHAPE, fashion_dir)
  assert shirts.name == "fashion_mnist:test@0"
  assert shirts.images.dtype == np.uint8
  np.testing.assert_array_equal(shirts.images, test_images[labels == 0])
  assert len(shirts.images) == 1000

  # The test split by default; several classes; the first few only.
  some = sets.load_set("fashion_mnist@3,5", FASHION_SHAPE, fashion_dir,
                       max_examples=7).images
  np.testing.assert_array_equal(some,
                                test_images[np.isin(labels, [3, 5])][:7])


def test_dataset_split_slices_and_max_examples(fashion_dir, fashion_test):
  test_images, _ = fashion_test
  second_half = sets.load_set("fashion_mnist:test[50%:]", FASHION_SHAPE,
                              fashion_dir, max_examples=5).images
  np.testing.assert_array_equal(second_half, test_images[5000:5005])


def test_dataset_of_another_shape_is_refused_before_loading(tmp_path):
  """A data_dir without the dataset: loading it would be another error."""
  with pytest.raises(ValueError) as error:
    sets.load_set("cifar10:test", FASHION_SHAPE, _no_data_dir(tmp_path))
  message = str(error.value)
  assert message.startswith("The images of 'cifar10:test' are 32x32x3, the "
                            "model's 28x28x1"), message


@pytest.mark.parametrize("name, message", [
    ("nope", "Unknown image set 'nope' (expected sklearn_digits, "
     "folder:/path or NAME[:SPLIT][@CLASSES]): "),
    ("nope:test@0", "Unknown image set 'nope:test@0'"),
    ("fashion_mnist:test@x", "Bad classes 'x' in 'fashion_mnist:test@x': "
     "expected comma-separated class indices."),
    ("fashion_mnist@0,shoe", "Bad classes '0,shoe' in 'fashion_mnist@0,shoe'"),
    ("fashion_mnist:test@0,10", "10"),
], ids=["unknown", "unknown_with_classes", "classes_not_ints",
        "classes_one_not_int", "class_out_of_range"])
def test_bad_dataset_names_are_refused(tmp_path, name, message):
  with pytest.raises(ValueError) as error:
    sets.load_set(name, FASHION_SHAPE, _no_data_dir(tmp_path))
  assert message in str(error.value)
