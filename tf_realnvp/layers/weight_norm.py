"""Weight-normalised 2-D convolution (Salimans & Kingma, 2016)."""

import keras
import tensorflow as tf

__all__ = ["WeightNormConv2D"]


@keras.saving.register_keras_serializable(package="tf_realnvp")
class WeightNormConv2D(keras.layers.Layer):
  r"""A 'SAME' 2-D convolution whose kernel is `w = g * v / ||v||`.

  For each output channel `o`, the kernel slice `w[..., o]` is the direction
  `v[..., o] / ||v[..., o]||_2` times the learned scale `g[o]`. The paper
  (section 4.1) puts an L2 penalty on the scales `g` (`gain_regularizer`).

  Shapes: inputs `[N, H, W, C_in]` -> outputs `[N, H, W, filters]`; `v` is
  `[k, k, C_in, filters]`, `g` and the bias are `[filters]`.

  Under a mixed precision policy (e.g. `"mixed_bfloat16"`) the kernel is
  normalised in the variable dtype (float32) and cast once to the compute
  dtype, in which the convolution runs.

  Args:
    filters: number of output channels, `> 0`.
    kernel_size: odd int, the side of the square kernel.
    gain_initializer: initialiser of `g`; `"zeros"` makes the layer output
      exactly its bias (used for the last convolution of a coupling network,
      so that a fresh coupling is the identity).
    gain_regularizer: regulariser of `g`, e.g. `keras.regularizers.L2(5e-5)`.
    direction_initializer: initialiser of `v`.
    **kwargs: `keras.layers.Layer` arguments.
  """

  def __init__(self,
               filters,
               kernel_size=3,
               gain_initializer="ones",
               gain_regularizer=None,
               direction_initializer=None,
               **kwargs):
    super().__init__(**kwargs)
    if int(filters) <= 0:
      raise ValueError(f"filters must be positive, received {filters!r}.")
    if int(kernel_size) <= 0 or int(kernel_size) % 2 == 0:
      raise ValueError(
          f"kernel_size must be a positive odd int, received {kernel_size!r}.")
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.gain_initializer = keras.initializers.get(gain_initializer)
    self.gain_regularizer = keras.regularizers.get(gain_regularizer)
    self.direction_initializer = keras.initializers.get(
        direction_initializer or keras.initializers.RandomNormal(stddev=0.05))

  def build(self, input_shape):
    in_channels = int(input_shape[-1])
    self.direction = self.add_weight(
        shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
        initializer=self.direction_initializer, name="direction",
        autocast=False)
    self.gain = self.add_weight(
        shape=(self.filters,), initializer=self.gain_initializer,
        regularizer=self.gain_regularizer, name="gain", autocast=False)
    self.bias = self.add_weight(
        shape=(self.filters,), initializer="zeros", name="bias")

  def kernel(self):
    """`g * v / ||v||` in the variable dtype, normalised over all axes but the
    output channel."""
    direction = tf.convert_to_tensor(self.direction)
    return direction * (self.gain * tf.math.rsqrt(
        tf.reduce_sum(tf.square(direction), axis=(0, 1, 2))))

  def call(self, inputs):
    outputs = tf.nn.conv2d(inputs, tf.cast(self.kernel(), inputs.dtype),
                           strides=1, padding="SAME")
    # TF 2.21's oneDNN Conv2D gives an empty batch the wrong channel count
    # ([0, H, W, C_in] instead of [0, H, W, filters]); the reshape, free
    # otherwise, restores the right shape.
    outputs = tf.reshape(
        outputs, tf.concat([tf.shape(inputs)[:-1], [self.filters]], axis=0))
    return tf.nn.bias_add(outputs, self.bias)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update(
        filters=self.filters,
        kernel_size=self.kernel_size,
        gain_initializer=keras.initializers.serialize(self.gain_initializer),
        gain_regularizer=keras.regularizers.serialize(self.gain_regularizer),
        direction_initializer=keras.initializers.serialize(
            self.direction_initializer))
    return config
