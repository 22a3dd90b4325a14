"""The pixel preprocessing of Real NVP as a bijector (paper, section 4.1)."""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp.pixels import NUM_BINS

__all__ = ["PixelLogit"]

tfb = tfp.bijectors


class PixelLogit(tfb.Bijector):
  r"""Maps logit space to dequantised pixels `[0, 256)`, elementwise.

  In the data-to-latent direction (`inverse`), a pixel `y` in `[0, 256)`
  becomes

  $$x = \operatorname{logit}\left(\alpha + (1 - 2\alpha) \frac{y}{256}\right),$$

  which is the transform of the original Real NVP code (the paper's text
  writes `alpha + (1 - alpha) y/256`; the symmetric form used here keeps the
  image of `[0, 256]` inside `[alpha, 1 - alpha]` on both sides). `forward`
  is `y = 256 (sigmoid(x) - alpha) / (1 - 2 alpha)` and

  $$\log\left|\frac{dy}{dx}\right| = \log\frac{256}{1 - 2\alpha}
      + \log\sigma(x) + \log\sigma(-x).$$

  Because this bijector sits inside the flow, the flow's density is a density
  on pixel space and `-log p(y) / (D ln 2)` is bits/dim with no correction.

  `forward` maps all of R onto `(-256 alpha / (1 - 2 alpha),
  256 (1 - alpha) / (1 - 2 alpha))`, about (-14.2, 270.2) for alpha = 0.05:
  samples must be clipped to `[0, 256)` (`RealNVP.sample` does). `inverse`
  of pixels outside `[-256 alpha / (1 - 2 alpha), ...]` is NaN and NaN
  pixels give NaN; pixels in `[0, 256]` are always finite.

  Args:
    alpha: in `(0, 0.5)`, keeps the logit away from 0 and 1.
    dtype: float dtype of the pixels.
    name: name of the bijector.
  """

  def __init__(self, alpha=0.05, dtype=tf.float32, name="pixel_logit"):
    parameters = dict(locals())
    if not 0.0 < alpha < 0.5:
      raise ValueError(f"alpha must be in (0, 0.5), received {alpha!r}.")
    self._alpha = float(alpha)
    super().__init__(
        forward_min_event_ndims=0,
        dtype=tf.as_dtype(dtype),
        parameters=parameters,
        name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  @property
  def alpha(self):
    return self._alpha

  def _forward(self, x):
    return (tf.sigmoid(x) - self._alpha) * (NUM_BINS / (1.0 - 2.0 * self._alpha))

  def _inverse(self, y):
    p = self._alpha + (1.0 - 2.0 * self._alpha) * (y / NUM_BINS)
    return tf.math.log(p) - tf.math.log1p(-p)

  def _forward_log_det_jacobian(self, x):
    return (math.log(NUM_BINS / (1.0 - 2.0 * self._alpha)) +
            tf.math.log_sigmoid(x) + tf.math.log_sigmoid(-x))
