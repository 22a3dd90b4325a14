"""Activation normalisation (Kingma & Dhariwal, Glow, NeurIPS 2018, 3.1)."""

import keras
import tensorflow as tf

__all__ = ["ActNorm"]


@keras.saving.register_keras_serializable(package="tf_realnvp")
class ActNorm(keras.layers.Layer):
  r"""A learned per-channel affine map with data-dependent initialisation.

  For `x` `[N, H, W, C]` (the data-to-latent direction of a flow):

  $$z = (x + b) \odot e^{s}, \qquad
    \log\left|\det\frac{\partial z}{\partial x}\right| = H W \sum_c s_c,$$

  with `b, s` `[C]` trainable. `initialize(x)` sets them once from a batch,
  `b = -mean(x)`, `s = -log(std(x) + eps)` per channel, so that the first
  batch comes out with zero mean and unit variance; before that the layer is
  the identity. Unlike batch normalisation it has no minibatch statistics in
  training: after initialisation it is an ordinary affine layer.

  `initialized` (a non-trainable bool weight) records the initialisation, so
  a checkpointed layer is never re-initialised.

  Args:
    epsilon: added to the standard deviation, `> 0`.
    **kwargs: `keras.layers.Layer` arguments.
  """

  def __init__(self, epsilon=1e-6, **kwargs):
    super().__init__(**kwargs)
    if not epsilon > 0:
      raise ValueError(f"epsilon must be > 0, received {epsilon!r}.")
    self.epsilon = float(epsilon)

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[-1] is None:
      raise ValueError("ActNorm expects [N, H, W, C] inputs with a known C, "
                       f"received shape {tuple(input_shape)}.")
    channels = int(input_shape[-1])
    self.bias = self.add_weight(shape=(channels,), initializer="zeros",
                                name="bias", autocast=False)
    self.log_scale = self.add_weight(shape=(channels,), initializer="zeros",
                                     name="log_scale", autocast=False)
    self.initialized = self.add_weight(
        shape=(), initializer="zeros", dtype="bool", trainable=False,
        name="initialized")

  def initialize(self, inputs):
    """Sets `b` and `s` from the batch `inputs` `[N, H, W, C]`, unless done
    before. Call in eager mode (or in cross-replica context under a
    `tf.distribute` strategy, with the same batch on every worker)."""
    if bool(self.initialized.numpy()):
      return
    mean, variance = tf.nn.moments(tf.cast(inputs, self.variable_dtype),
                                   axes=(0, 1, 2))
    self.bias.assign(-mean)
    self.log_scale.assign(-tf.math.log(tf.sqrt(variance) + self.epsilon))
    self.initialized.assign(True)

  def call(self, inputs):
    """`z = (x + b) exp(s)` `[N, H, W, C]`."""
    return ((inputs + tf.cast(self.bias, inputs.dtype)) *
            tf.cast(tf.exp(self.log_scale), inputs.dtype))

  def invert(self, outputs):
    """`x = z exp(-s) - b`, the inverse of `call`."""
    return (outputs * tf.cast(tf.exp(-self.log_scale), outputs.dtype) -
            tf.cast(self.bias, outputs.dtype))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(epsilon=self.epsilon)
    return config
