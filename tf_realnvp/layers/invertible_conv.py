"""The invertible 1x1 convolution of Glow (Kingma & Dhariwal 2018, 3.2)."""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["InvertibleConv1x1"]


@keras.saving.register_keras_serializable(package="tf_realnvp")
class InvertibleConv1x1(keras.layers.Layer):
  r"""A learned invertible channel mixing, `z[n, h, w] = W x[n, h, w]`.

  `W` `[C, C]` is kept in LU form (Glow, section 3.2):

  $$W = P L (U + \mathrm{diag}(\sigma \odot e^{s})), \qquad
    \log\left|\det\frac{\partial z}{\partial x}\right| = H W \sum_c s_c,$$

  with `P` a fixed permutation, `L` unit lower triangular and `U` strictly
  upper triangular (their free entries trainable, `lower` and `upper`), `s`
  trainable (`log_scale`) and `sigma` fixed signs. The log-determinant
  costs `O(C)` instead of `O(C^3)`. At build time `W` is a random rotation
  (`keras.initializers.Orthogonal`, seeded by Keras's global seed), whose
  LU decomposition gives `P`, `sigma` and the initial values.

  Args:
    **kwargs: `keras.layers.Layer` arguments.
  """

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[-1] is None:
      raise ValueError("InvertibleConv1x1 expects [N, H, W, C] inputs with a "
                       f"known C, received shape {tuple(input_shape)}.")
    channels = int(input_shape[-1])
    rotation = np.asarray(keras.initializers.Orthogonal()(
        (channels, channels), dtype="float64"))
    lu, order = tf.linalg.lu(tf.constant(rotation))
    lu, order = lu.numpy(), order.numpy()
    # `tf.linalg.lu` factors the rows `rotation[order]`: W = P L U with
    # P = one_hot(order)^T.
    permutation = np.eye(channels)[order].T
    diagonal = np.diag(lu)
    self.permutation = self._constant(permutation, "permutation")
    self.sign = self._constant(np.sign(diagonal), "sign")
    self.lower = self.add_weight(
        shape=(channels, channels), name="lower", autocast=False,
        initializer=keras.initializers.Constant(np.tril(lu, -1)))
    self.upper = self.add_weight(
        shape=(channels, channels), name="upper", autocast=False,
        initializer=keras.initializers.Constant(np.triu(lu, 1)))
    self.log_scale = self.add_weight(
        shape=(channels,), name="log_scale", autocast=False,
        initializer=keras.initializers.Constant(np.log(np.abs(diagonal))))
    self._lower_mask = np.tril(np.ones((channels, channels)), -1)

  def _constant(self, value, name):
    return self.add_weight(
        shape=value.shape, name=name, trainable=False, autocast=False,
        initializer=keras.initializers.Constant(value))

  def kernel(self):
    """`W` `[C, C]` in the variable dtype."""
    mask = tf.constant(self._lower_mask, self.variable_dtype)
    lower = self.lower * mask + tf.eye(mask.shape[0], dtype=mask.dtype)
    upper = (self.upper * tf.transpose(mask) +
             tf.linalg.diag(self.sign * tf.exp(self.log_scale)))
    return tf.matmul(self.permutation, tf.matmul(lower, upper))

  def call(self, inputs):
    """`z = W x` per pixel, `[N, H, W, C]`."""
    return _mix(inputs, self.kernel())

  def invert(self, outputs):
    """`x = W^{-1} z` per pixel, the inverse of `call`."""
    return _mix(outputs, tf.linalg.inv(self.kernel()))

  def compute_output_shape(self, input_shape):
    return input_shape


def _mix(x, matrix):
  """`matrix @ x[n, h, w]` for every pixel of `x` `[N, H, W, C]`."""
  return tf.einsum("dc,nhwc->nhwd", tf.cast(matrix, x.dtype), x)
