"""Tests of tf_realnvp/data/sources.py: folders of images (and their
preprocessing and class sub-folders), datasets that are not prepared."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import data
from tests import images


def test_folder_files_are_the_images_below_the_folder_sorted(tmp_path):
  written = images.write_images(tmp_path, ["b/2.png", "a.jpg", "c/d/1.png"])
  (tmp_path / "notes.txt").write_text("not an image")
  assert data.folder_files(str(tmp_path)) == written


def test_folder_dataset_splits_crops_and_resizes(image_folder):
  spec = data.dataset_spec(image_folder, image_size=8)
  train, test = (list(data.load_images(image_folder, split, image_size=8)
                      .as_numpy_iterator())
                 for split in (spec.train_split, spec.test_split))
  assert (len(train), len(test)) == (10, 2)  # files 0 and 10 of 12 are test
  assert all(x.shape == (8, 8, 3) and x.dtype == np.uint8
             for x in train + test)
  # The first file, a solid colour, stays that colour through crop + resize.
  np.testing.assert_array_equal(test[0], np.broadcast_to(images.SOLID_COLOUR,
                                                         (8, 8, 3)))
  greys = [x for x in train if np.all(x[..., 0] == x[..., 1])]
  assert len(greys) == 3  # the grey PNGs decode to 3 equal channels
  batch = next(iter(data.train_dataset(image_folder, 5, seed=0,
                                       image_size=8)))
  assert batch.shape == (5, 8, 8, 3) and batch.dtype == tf.float32


# Each returns (the folder, the path the error must name).
def _corrupt_file(folder):
  """One good PNG and one corrupt JPEG."""
  images.write_images(folder, ["good.png"])
  return folder, images.write_broken_image(os.path.join(folder, "broken.jpg"))


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
  images.write_images(folder, ["only.png"])
  return folder, folder


def _small_for_the_celeb_a_crop(folder):
  """Images of 218x178 and one of 150x140 (narrower than 148)."""
  images.write_images(folder, ["a.png", "b.png"], size=(218, 178))
  images.write_images(folder, ["c.png"], size=(150, 140))
  return folder, os.path.join(folder, "c.png")


def _check_folder(name):
  data.check_folder(name)


def _check_folder_celeb_a_crop(name):
  data.check_folder(name, image_size=8, folder_crop="celeb_a")


def _train_dataset(name):
  data.train_dataset(name, 2, seed=0)


@pytest.mark.parametrize("make, check, message", [
    (_corrupt_file, _check_folder, "Cannot read image file"),
    (_small_for_the_celeb_a_crop, _check_folder_celeb_a_crop,
     "needs images of at least 148x148"),
    (_empty_folder, _train_dataset, "holds no"),
    (_empty_folder, _check_folder, "holds no"),
    (_missing_folder, _train_dataset, "does not exist"),
    (_single_image, _train_dataset, "too few"),
])
def test_bad_image_folders_are_value_errors_naming_the_path(
    tmp_path, make, check, message):
  folder, named = make(str(tmp_path))
  with pytest.raises(ValueError, match=message) as error:
    check(data.FOLDER_PREFIX + folder)
  assert named in str(error.value)


def test_folder_opens_without_reading_its_files(tmp_path):
  images.write_images(tmp_path, 4, size=(8, 8))
  broken = images.write_broken_image(str(tmp_path / "9_broken.png"))
  name = data.FOLDER_PREFIX + str(tmp_path)
  stream = data.train_dataset(name, 2, seed=0)  # Lists; decodes nothing.
  with pytest.raises(tf.errors.InvalidArgumentError):
    for _ in stream.take(3):  # An epoch of train files holds the broken one.
      pass
  with pytest.raises(ValueError, match=re.escape(repr(broken))):
    data.check_folder(name)


def test_folder_crops(tmp_path):
  rng = np.random.default_rng(0)
  face = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
  tf.io.write_file(str(tmp_path / "a" / "face.png"), tf.io.encode_png(face))
  tf.io.write_file(str(tmp_path / "b" / "face.png"), tf.io.encode_png(face))
  name = data.FOLDER_PREFIX + str(tmp_path)
  expected = {
      None: data.resize_uint8(face[20:20 + 178], 16, 16),  # central square
      "square": data.resize_uint8(face[20:20 + 178], 16, 16),
      "celeb_a": data.resize_uint8(face[35:35 + 148, 15:15 + 148], 16, 16),
      "none": data.resize_uint8(face, 16, 16),
  }
  for crop, image in expected.items():
    (test,) = data.load_images(name, "test", image_size=16,
                               folder_crop=crop).as_numpy_iterator()
    np.testing.assert_array_equal(test, image.numpy(), err_msg=str(crop))
  # The paper's crop of a folder is CelebA's preprocessing.
  celeb_a = data.dataset_spec("celeb_a", 16)
  np.testing.assert_array_equal(
      expected["celeb_a"], data.preprocessing.preprocess(celeb_a, face))


def _loose_images(folder):
  """Images in class sub-folders and one directly in the folder."""
  images.write_images(folder, ["a/0.png", "b/0.png", "loose.png"])
  return folder, "outside any sub-folder"


def _no_sub_folders(folder):
  images.write_images(folder, 3)
  return folder, "outside any sub-folder"


def _one_sub_folder(folder):
  images.write_images(folder, ["only/0.png", "only/deeper/1.png"])
  return folder, "1 class sub-folder(s) ['only']"


@pytest.mark.parametrize("make", [_loose_images, _no_sub_folders,
                                  _one_sub_folder])
def test_folders_without_classes_are_value_errors_naming_the_path(
    tmp_path, make):
  folder, problem = make(str(tmp_path))
  name = data.FOLDER_PREFIX + folder
  for function in (data.condition_spec, lambda n: data.train_dataset(
      n, 2, seed=0, conditional=True), lambda n: data.train_dataset(
          n, 2, seed=0, classes=[0])):
    with pytest.raises(ValueError, match=re.escape(problem)) as error:
      function(name)
    assert repr(folder) in str(error.value)


def test_pipelines_refuse_a_dataset_that_is_not_prepared(tmp_path):
  with pytest.raises(data.DatasetUnavailableError, match="prepare"):
    data.train_dataset("cifar10", 8, seed=0, data_dir=str(tmp_path))
