"""Tests of tf_realnvp/data/registry.py: the datasets by name and their
conditions."""

import dataclasses
import re

import pytest
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp.data.registry import Family


@pytest.mark.parametrize("name, image_size, expected", [
    ("fashion_mnist", None, (Family.FIXED, (28, 28, 1), False, "train",
                             "test", None)),
    ("cifar10", 32, (Family.FIXED, (32, 32, 3), True, "train", "test", None)),
    ("imagenet_resized/64x64", None, (Family.FIXED, (64, 64, 3), False,
                                      "train", "validation", None)),
    ("celeb_a", None, (Family.CELEB_A, (64, 64, 3), True, "train", "test",
                       None)),
    ("lsun/tower", 32, (Family.LSUN, (32, 32, 3), True, "train",
                        "validation", None)),
    ("lsun/cat", None, (Family.LSUN, (64, 64, 3), True, "train[:99%]",
                        "train[99%:]", None)),
    ("folder:/x", None, (Family.FOLDER, (32, 32, 3), False, "train", "test",
                         "square")),
])
def test_dataset_spec(name, image_size, expected):
  spec = data.dataset_spec(name, image_size)
  assert dataclasses.astuple(spec) == (name,) + expected


@pytest.mark.parametrize("name, crop, message", [
    ("folder:/x", "centre", "folder_crop must be one of square, celeb_a, none"),
    ("celeb_a", "celeb_a", "applies to folder: datasets only, not to "
     "'celeb_a'"),
])
def test_bad_folder_crops_are_refused(name, crop, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    data.dataset_spec(name, folder_crop=crop)
  assert data.dataset_spec("folder:/x", folder_crop="none").folder_crop == (
      "none")


def test_folder_spec_names_its_folder():
  assert data.dataset_spec("folder:/data/a=b").folder == "/data/a=b"


def test_every_known_name_has_a_spec():
  names = data.known_names()
  assert "fashion_mnist" in names and "lsun/bedroom" in names
  for name in names:
    assert data.dataset_spec(name).name == name


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


@pytest.mark.parametrize("name, num_classes, condition_shape, first, last", [
    ("fashion_mnist", 10, None, "T-shirt/top", "Ankle boot"),
    ("mnist", 10, None, "0", "9"),
    ("cifar10", 10, None, "airplane", "truck"),
    ("imagenet_resized/32x32", 1000, None, "0", "999"),
    ("imagenet_resized/64x64", 1000, None, "0", "999"),
    ("celeb_a", None, (40,), "5_o_Clock_Shadow", "Young"),
])
def test_condition_spec(name, num_classes, condition_shape, first, last):
  spec = data.condition_spec(name)
  assert (spec.num_classes, spec.condition_shape) == (num_classes,
                                                      condition_shape)
  assert len(spec.names) == (num_classes or condition_shape[0])
  assert (spec.names[0], spec.names[-1]) == (first, last)


@pytest.mark.parametrize("name", ["fashion_mnist", "mnist", "cifar10",
                                  "imagenet_resized/64x64", "celeb_a"])
def test_condition_spec_agrees_with_the_tfds_features(name):
  features = tfds.builder(name).info.features
  spec = data.condition_spec(name)
  if spec.condition_shape:  # celeb_a
    assert spec.names == tuple(sorted(features["attributes"].keys()))
  else:
    assert spec.num_classes == features["label"].num_classes
  if name in ("fashion_mnist", "mnist"):  # Names TFDS knows unprepared.
    assert list(spec.names) == features["label"].names


def test_condition_spec_of_a_folder_is_its_sub_folders(class_folder):
  name, colours = class_folder
  assert data.condition_spec(name) == data.ConditionSpec(
      len(colours), None, ("ant", "bee", "cow"))


@pytest.mark.parametrize("name", ["lsun/bedroom", "lsun/cat"])
def test_lsun_has_no_condition(name):
  with pytest.raises(ValueError, match=re.escape(
      f"Dataset {name!r} has no labels; it cannot be used with "
      "--conditional.")):
    data.condition_spec(name)
