"""Folders of image files for the tests of `folder:` datasets."""

import os

import numpy as np
import tensorflow as tf

# A colour for solid images (`write_images(..., colour=SOLID_COLOUR)`): no
# two channels equal, none 0 or 255.
SOLID_COLOUR = (10, 200, 30)


def write_images(folder, names, size=None, seed=0, colour=None):
  """Writes one image per file name below `folder`.

  A name ending in `.jpg` is a JPEG, any other a PNG; a name containing
  `grey` has one channel, the others three. Sub-folders are created.

  Args:
    folder: where to write.
    names: file names relative to `folder`, or a count `n` for
      `0.png ... n-1.png`.
    size: `(height, width)` of every image; by default image `i` is
      `(12 + 3 i) x (20 - i)`, so sizes and aspect ratios differ.
    seed: of the random pixels.
    colour: a solid RGB colour instead of random pixels (3 channels).

  Returns:
    The paths written, sorted.
  """
  if isinstance(names, int):
    names = [f"{i}.png" for i in range(names)]
  rng = np.random.default_rng(seed)
  paths = []
  for i, name in enumerate(names):
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    height, width = size or (12 + 3 * i, 20 - i)
    if colour is not None:
      image = np.broadcast_to(np.asarray(colour, np.uint8), (height, width, 3))
    else:
      channels = 1 if "grey" in name else 3
      image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    encode = tf.io.encode_jpeg if name.endswith(".jpg") else tf.io.encode_png
    tf.io.write_file(path, encode(tf.constant(image)))
    paths.append(path)
  return sorted(paths)


def write_broken_image(path):
  """Writes a file with an image's name and bytes that are no image.

  Returns `path`.
  """
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "wb") as f:
    f.write(b"this is not an image")
  return path
