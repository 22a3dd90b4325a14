"""Glow's per-pixel channel maps as bijectors: actnorm and the invertible
1x1 convolution."""

import tensorflow as tf

from tf_realnvp.bijectors.one_pass import OnePassBijector

__all__ = ["ActNormBijector", "InvertibleConv1x1Bijector"]


class _PerPixelLinear(OnePassBijector):
  """A map applied to every pixel's channels alike, by a Keras layer whose
  `call` is the data-to-latent direction (`inverse`) and `invert` the other,
  with a log-det per pixel of `layer.log_scale`'s sum: `H W sum(log_scale)`
  per image."""

  def __init__(self, layer, event_shape, name):
    parameters = dict(locals())
    self._layer = layer
    super().__init__(event_shape, parameters=parameters, name=name,
                     dtype=layer.variable_dtype)

  def _log_det(self, x):
    height, width, _ = self.event_shape
    per_image = height * width * tf.reduce_sum(
        tf.cast(self._layer.log_scale, x.dtype))
    return tf.fill(tf.shape(x)[:1], per_image)

  def _inverse_and_log_det(self, y):
    return self._layer(y), self._log_det(y)

  def _forward_and_log_det(self, z):
    return self._layer.invert(z), -self._log_det(z)


class ActNormBijector(_PerPixelLinear):
  r"""`tf_realnvp.layers.ActNorm` as a bijector.

  `inverse` (pixels side `y` -> `z`): `z = (y + b) e^s`, log-det
  `H W sum(s)`; `forward`: `y = z e^{-s} - b`. Events `[H, W, C]`.

  Args:
    layer: a built `ActNorm`.
    event_shape: `(H, W, C)`.
    name: name of the bijector.
  """

  def __init__(self, layer, event_shape, name="actnorm"):
    super().__init__(layer, event_shape, name)


class InvertibleConv1x1Bijector(_PerPixelLinear):
  r"""`tf_realnvp.layers.InvertibleConv1x1` as a bijector.

  `inverse` (pixels side `y` -> `z`): `z = W y` per pixel, log-det
  `H W log|det W| = H W sum(s)`; `forward`: `y = W^{-1} z`. Events
  `[H, W, C]`.

  Args:
    layer: a built `InvertibleConv1x1`.
    event_shape: `(H, W, C)`.
    name: name of the bijector.
  """

  def __init__(self, layer, event_shape, name="invertible_conv1x1"):
    super().__init__(layer, event_shape, name)
