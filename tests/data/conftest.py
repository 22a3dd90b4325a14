"""Fixtures of the data tests."""

import os

import pytest

from tf_realnvp import data
from tests import images


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
  """`folder:` name of 12 images: a PNG of `images.SOLID_COLOUR` first,
  JPEGs, grey PNGs.

  Files 0 and 10 (the solid PNG and `d/img10.png`) are the test split.
  """
  folder = tmp_path_factory.mktemp("images")
  images.write_images(folder, ["a_solid.png"], size=(15, 9),
                      colour=images.SOLID_COLOUR)
  names = [f"{d}/img{i}.{ext}" for i, (d, ext) in enumerate(
      [("b", "png"), ("b", "jpg"), ("c", "grey.png")] * 3 + [("d", "png")] * 2)]
  images.write_images(folder, names)
  return data.FOLDER_PREFIX + os.fspath(folder)


# The solid colour of each class of `class_folder`, in label order.
CLASS_COLOURS = ((10, 200, 30), (200, 30, 10), (30, 10, 200))


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
  """`(name, colours)`: a `folder:` dataset of 12 solid-colour PNGs in 3
  class sub-folders, and the colour of each class in label order.

  `ant/` (4 images), `bee/` (3), `cow/` (5, two in `cow/deep/`); files 0
  and 10, `ant/0.png` and `cow/deep/0.png`, are the test split.
  """
  folder = tmp_path_factory.mktemp("classes")
  layout = {"ant": ["0", "1", "2", "3"], "bee": ["0", "1", "2"],
            "cow": ["0", "1", "2", "deep/0", "deep/1"]}
  for (name, files), colour in zip(layout.items(), CLASS_COLOURS):
    images.write_images(folder / name, [f"{f}.png" for f in files],
                        colour=colour)
  return data.FOLDER_PREFIX + os.fspath(folder), CLASS_COLOURS
