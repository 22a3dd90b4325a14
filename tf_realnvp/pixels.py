"""Pixel-space conventions shared by the model, the data pipelines and export.

The flow's density lives on dequantised pixel space `[0, 256)^D`: an 8-bit
image `x in {0, ..., 255}^D` becomes `y = x + u` with `u ~ U[0, 1)^D`
(uniform dequantisation, Theis et al. 2016; paper section 4.1). Under this
convention `-log p(y) / (D ln 2)` is the bits/dim reported everywhere.
"""

import numpy as np
import tensorflow as tf

__all__ = ["MAX_PIXEL", "NUM_BINS", "bin_centres", "dequantize", "in_bin",
           "to_uint8"]

NUM_BINS = 256
# The largest float32 strictly below 256: the top of `[0, 256)`.
MAX_PIXEL = float(np.nextafter(np.float32(NUM_BINS), np.float32(0)))


def dequantize(images, seed):
  """Uniformly dequantises 8-bit images: `y = x + u`, `u ~ U[0, 1)`.

  Args:
    images: uint8 `Tensor` of any shape, e.g. `[N, H, W, C]`.
    seed: stateless seed, a shape `[2]` integer `Tensor` (see
      `tf.random.stateless_uniform`); the same seed gives the same noise.

  Returns:
    float32 `Tensor` of the same shape with values in `[0, 256)`, each in its
    own bin: `to_uint8(dequantize(x, seed)) == x`.
  """
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    raise ValueError(
        f"dequantize expects uint8 images, received dtype {images.dtype.name}.")
  noise = tf.random.stateless_uniform(tf.shape(images), seed, dtype=tf.float32)
  return in_bin(tf.cast(images, tf.float32), noise)


def in_bin(bins, offsets):
  """`bins + offsets` for offsets in `[0, 1]`, kept in `[bins, bins + 1)`.

  `x + u` can round up to `x + 1` in float32 when `u` is within an ulp of 1
  (or is 1): every value stays strictly inside its own bin.
  """
  return tf.minimum(bins + offsets, tf.math.nextafter(bins + 1.0, bins))


def bin_centres(images, dtype=tf.float32):
  """`y = x + 0.5` of uint8 images `x`: the centres of their pixel bins.

  The deterministic dequantisation, for what must not be random: served
  densities (`tf_realnvp.export`) and figures.
  """
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    raise ValueError(f"expected uint8 images, received dtype "
                     f"{images.dtype.name}.")
  return tf.cast(images, dtype) + tf.constant(0.5, dtype)


def to_uint8(pixels):
  """Quantises float pixels in `[0, 256)` to uint8 by flooring (clipped)."""
  pixels = tf.clip_by_value(pixels, 0.0, MAX_PIXEL)
  return tf.cast(tf.floor(pixels), tf.uint8)
