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
