"""Batch normalisation as a bijector (paper, section 3.7 and appendix E)."""

import tensorflow as tf

from tf_realnvp.bijectors.one_pass import OnePassBijector

__all__ = ["BatchNorm"]


class BatchNorm(OnePassBijector):
  r"""Wraps a `tf_realnvp.layers.BatchNormalization` layer as a bijector.

  In the data-to-latent direction (`inverse`, pixels side `y` -> `z`):

  $$z = \gamma \frac{y - \tilde\mu}{\sqrt{\tilde\sigma^2 + \epsilon}} + \beta,
    \qquad \log\left|\det\frac{\partial z}{\partial y}\right|
      = H W \sum_c \left(\log|\gamma_c|
        - \tfrac12 \log(\tilde\sigma_c^2 + \epsilon)\right),$$

  with `(mu~, sigma~^2)` the minibatch moments of `y` when `training=True`
  (the layer's `call`, which also updates its running averages: once per
  evaluation of `inverse`, and `log_prob` evaluates it once per `y`, the
  log-det coming with it; see the layer for the appendix E option) and
  the running averages otherwise. `forward` (latent -> pixels, sampling)
  always de-normalises with the running averages: the minibatch statistics
  of the `y` being generated are not known before it exists. In evaluation
  mode the two directions are therefore exact inverses; in training mode
  `inverse` is the training-time normalisation of the data.

  Args:
    layer: a built `tf_realnvp.layers.BatchNormalization`.
    event_shape: `(H, W, C)`, with `C` the layer's channels.
    training: Python bool: minibatch statistics in `inverse`.
    name: name of the bijector.
  """

  def __init__(self, layer, event_shape, training=False, name="batch_norm"):
    parameters = dict(locals())
    self._layer = layer
    self._training = bool(training)
    super().__init__(
        event_shape, parameters=parameters, name=name,
        dtype=layer.compute_dtype)

  def _log_det(self, log_scale):
    """`H * W * sum_c log_scale_c`, the log-det of one image."""
    height, width, _ = self.event_shape
    return height * width * tf.reduce_sum(log_scale)

  def _inverse_and_log_det(self, y):
    z, log_scale = self._layer(y, training=self._training,
                               return_log_scale=True)
    return z, tf.fill(tf.shape(y)[:1], self._log_det(log_scale))

  def _forward_and_log_det(self, z):
    y, log_scale = self._layer.denormalize(z)
    return y, tf.fill(tf.shape(z)[:1], -self._log_det(log_scale))
