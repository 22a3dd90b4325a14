"""What the figure tests expect of a figure's PNG."""

import tensorflow as tf

from tf_realnvp import io
from tf_realnvp.figures import panels


def tiles(figure, options, num_scales):
  """`(rows, cols)` of the tiles of `figure` for a model of `num_scales`."""
  blocks = len(panels.resampling_rows(num_scales))  # Rows per scales image.
  return {"samples": (len(options.temperatures), options.num_samples),
          "manifold": (options.grid_size, options.grid_size),
          "scales": (blocks * options.num_images, 1 + options.num_samples),
          "interpolate": (options.num_images, options.grid_size),
          "reconstruct": (2, options.num_images)}[figure]


def png_shape(figure, options, image_shape, num_scales):
  """The `[H, W, C]` of the PNG of `figure`: its tiles enlarged by
  `io.display_scale`, `io.GAP` pixels apart."""
  rows, cols = tiles(figure, options, num_scales)
  height, width, channels = image_shape
  scale = io.display_scale(height, width)
  return (rows * (scale * height + io.GAP) - io.GAP,
          cols * (scale * width + io.GAP) - io.GAP, channels)


def read_png(path):
  """The pixels of a PNG file, uint8 `[H, W, C]`."""
  return tf.io.decode_png(tf.io.read_file(str(path))).numpy()
