"""Tests of tf_realnvp/data/registry.py: the datasets by name."""

import dataclasses

import pytest

from tf_realnvp import data
from tf_realnvp.data.registry import Family


@pytest.mark.parametrize("name, image_size, expected", [
    ("fashion_mnist", None, (Family.FIXED, (28, 28, 1), False, "train",
                             "test")),
    ("cifar10", 32, (Family.FIXED, (32, 32, 3), True, "train", "test")),
    ("imagenet_resized/64x64", None, (Family.FIXED, (64, 64, 3), False,
                                      "train", "validation")),
    ("celeb_a", None, (Family.CELEB_A, (64, 64, 3), True, "train", "test")),
    ("lsun/tower", 32, (Family.LSUN, (32, 32, 3), True, "train",
                        "validation")),
    ("lsun/cat", None, (Family.LSUN, (64, 64, 3), True, "train[:99%]",
                        "train[99%:]")),
    ("folder:/x", None, (Family.FOLDER, (32, 32, 3), False, "train", "test")),
])
def test_dataset_spec(name, image_size, expected):
  spec = data.dataset_spec(name, image_size)
  assert dataclasses.astuple(spec) == (name,) + expected


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
