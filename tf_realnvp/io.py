"""Small I/O shared by the package: atomic files, PNG grids, one-line errors,
TCP reachability.

Everything the package writes for users (workdir files, sample grids,
figures, flags) goes through `write_atomically`, so a reader (or a killed
run) never sees half a file. Image grids are what sample grids, figures and
the README's gallery show: tiles separated by `GAP` pixels of `GAP_VALUE`,
enlarged by nearest neighbour until a tile is at least `MIN_TILE_SIDE`
pixels, so that 28x28 images can be seen on a screen.
"""

import math
import os
import socket

import numpy as np
import tensorflow as tf

__all__ = ["GAP", "GAP_VALUE", "MIN_TILE_SIDE", "connection_error",
           "display_scale", "image_grid", "one_line", "square_tiles",
           "write_atomically", "write_png", "write_text"]

GAP = 1
GAP_VALUE = 128
MIN_TILE_SIDE = 112
_MAX_MESSAGE = 500


def write_atomically(path, content, mode="w"):
  """Writes `content` to a temporary file next to `path`, then renames it.

  Creates the parent folder. `mode` is `"w"` (text) or `"wb"` (bytes).
  """
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  temporary = f"{path}.tmp-{os.getpid()}"
  try:
    with open(temporary, mode) as f:
      f.write(content)
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  write_atomically(path, text)


def write_png(path, image):
  """Writes a uint8 `[H, W, C]` image as PNG, atomically."""
  write_atomically(path, tf.io.encode_png(image).numpy(), mode="wb")


def display_scale(height, width):
  """The integer enlargement that makes an `height x width` tile at least
  `MIN_TILE_SIDE` pixels on its longer side (1 for large images)."""
  return max(1, math.ceil(MIN_TILE_SIDE / max(height, width)))


def square_tiles(images):
  """Arranges uint8 images `[N, H, W, C]` in a near-square `[R, K, H, W, C]`
  (`K = ceil(sqrt(N))` columns, row by row); cells after the last image are
  `GAP_VALUE`."""
  images = np.asarray(images)
  n = images.shape[0]
  cols = max(1, math.ceil(math.sqrt(n)))
  rows = max(1, math.ceil(n / cols))
  tiles = np.full((rows * cols,) + images.shape[1:], GAP_VALUE, np.uint8)
  tiles[:n] = images
  return tiles.reshape((rows, cols) + images.shape[1:])


def image_grid(tiles, scale=None):
  """The uint8 image of tiles `[R, K, H, W, C]` (uint8), for a PNG.

  Each tile is enlarged `scale` times by nearest neighbour (default
  `display_scale(H, W)`), and tiles are separated by `GAP` pixels of
  `GAP_VALUE`: the result is `[R (s H + GAP) - GAP, K (s W + GAP) - GAP, C]`.
  """
  tiles = np.asarray(tiles)
  if tiles.ndim != 5 or tiles.dtype != np.uint8:
    raise ValueError(f"image_grid expects uint8 tiles [rows, cols, H, W, C], "
                     f"received {tiles.dtype} of shape {tiles.shape}.")
  rows, cols, height, width, channels = tiles.shape
  scale = display_scale(height, width) if scale is None else int(scale)
  tiles = tiles.repeat(scale, axis=2).repeat(scale, axis=3)
  height, width = height * scale, width * scale
  grid = np.full((rows * (height + GAP) - GAP, cols * (width + GAP) - GAP,
                  channels), GAP_VALUE, np.uint8)
  for r in range(rows):
    for c in range(cols):
      top, left = r * (height + GAP), c * (width + GAP)
      grid[top:top + height, left:left + width] = tiles[r, c]
  return grid


def one_line(error):
  """An exception as one line for a message: the first non-empty line of its
  text, whitespace collapsed, at most 500 characters; else its type's name.

  TensorFlow's errors carry stack traces and graph dumps after their first
  line.
  """
  lines = [" ".join(line.split()) for line in str(error).splitlines()]
  text = next((line for line in lines if line), "")
  if not text:
    return type(error).__name__
  return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def connection_error(host, port, timeout):
  """`None` if `host:port` accepts a TCP connection within `timeout`
  seconds, else why not (a short string)."""
  try:
    socket.create_connection((host, int(port)), timeout=timeout).close()
    return None
  except OSError as error:
    return str(error) or type(error).__name__
