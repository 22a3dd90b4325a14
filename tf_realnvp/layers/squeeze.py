"""Squeeze: trade spatial resolution for channels (paper, section 3.6)."""

import keras
import tensorflow as tf

__all__ = ["Squeeze"]

# Order of the four pixels of each 2x2 block, as (row, column) offsets, in the
# squeezed channel axis. The two halves of the channels are the two colours of
# a checkerboard, so that factoring out half of the channels after a squeeze
# keeps a spatially uniform half of the pixels.
BLOCK_ORDER = ((0, 0), (1, 1), (0, 1), (1, 0))
# `tf.nn.space_to_depth` stores offset (dy, dx) at block index 2 * dy + dx.
_TO_SQUEEZED = [2 * dy + dx for dy, dx in BLOCK_ORDER]
_FROM_SQUEEZED = [_TO_SQUEEZED.index(i) for i in range(4)]


def _permute_blocks(x, order):
  """Reorders the 4 blocks of C channels of `x` `[N, h, w, 4C]`."""
  shape = tf.shape(x)
  channels = x.shape[-1] // 4
  blocks = tf.reshape(x, tf.concat([shape[:3], [4, channels]], axis=0))
  return tf.reshape(tf.gather(blocks, order, axis=3), shape)


@keras.saving.register_keras_serializable(package="tf_realnvp")
class Squeeze(keras.layers.Layer):
  """Reshapes `[N, H, W, C]` to `[N, H/2, W/2, 4C]`; `unsqueeze` undoes it.

  Each 2x2xC block of the input becomes one 1x1x4C pixel. Channel
  `k * C + c` of the output holds channel `c` of the block's pixel at offset
  `BLOCK_ORDER[k]`, i.e. the order (0,0), (1,1), (0,1), (1,0): the first `2C`
  channels are the pixels with `dy + dx` even, the last `2C` those with
  `dy + dx` odd. A permutation: its Jacobian log-determinant is 0.

  `H` and `W` must be even.
  """

  def build(self, input_shape):
    if len(input_shape) != 4:
      raise ValueError(
          f"Squeeze expects [N, H, W, C] inputs, received {tuple(input_shape)}.")
    height, width = input_shape[1], input_shape[2]
    if (height is not None and height % 2) or (width is not None and width % 2):
      raise ValueError("Squeeze needs an even height and width, received "
                       f"shape {tuple(input_shape)}.")

  def call(self, inputs):
    return _permute_blocks(tf.nn.space_to_depth(inputs, 2), _TO_SQUEEZED)

  def unsqueeze(self, inputs):
    """The inverse: `[N, h, w, 4C]` -> `[N, 2h, 2w, C]`."""
    return tf.nn.depth_to_space(_permute_blocks(inputs, _FROM_SQUEEZED), 2)

  def compute_output_shape(self, input_shape):
    n, h, w, c = input_shape
    return (n, None if h is None else h // 2, None if w is None else w // 2,
            4 * c)
