"""Factoring out half of the dimensions (paper, section 3.6, equation 13)."""

import tensorflow as tf

from tf_realnvp.bijectors.one_pass import OnePassBijector

__all__ = ["FactorOut"]


class FactorOut(OnePassBijector):
  r"""Applies `bijector` to the last half of the channels only.

  For an event `[H, W, C]` split into channel halves `(y_1, y_2)`:

  $$\mathrm{inverse}(y_1, y_2) = (y_1, g^{-1}(y_2)), \qquad
    \log\left|\det\frac{\partial z}{\partial y}\right|
      = \log\left|\det\frac{\partial g^{-1}(y_2)}{\partial y_2}\right|,$$

  so `y_1` leaves the flow at this scale as part of the latent (Gaussianised
  by the layers before it) and `g`, the rest of the multi-scale flow, works on
  `[H, W, C/2]` (paper equation 13: `z_1 = h_1`, the rest recurses).

  Keyword arguments (TFP's `bijector_kwargs` routing) go to `g` as given:
  `factor_out.inverse(y, **kwargs)` calls `g.inverse(y_2, **kwargs)`, so for
  a `tfb.Chain` `g` they are keyed by its bijectors' names.

  Args:
    bijector: a bijector on events `[H, W, C/2]`.
    event_shape: `(H, W, C)`, `C` even.
    name: name of the bijector.
  """

  def __init__(self, bijector, event_shape, name="factor_out"):
    parameters = dict(locals())
    if event_shape[-1] % 2:
      raise ValueError("FactorOut needs an even number of channels, received "
                       f"event shape {tuple(event_shape)}.")
    self._bijector = bijector
    super().__init__(
        event_shape, parameters=parameters, name=name, dtype=bijector.dtype)

  @property
  def bijector(self):
    return self._bijector

  def _inverse_and_log_det(self, y, **kwargs):
    kept, rest = tf.split(y, 2, axis=-1)
    z_rest = self._bijector.inverse(rest, **kwargs)
    return (tf.concat([kept, z_rest], axis=-1),
            self._bijector.inverse_log_det_jacobian(rest, event_ndims=3,
                                                    **kwargs))

  def _forward_and_log_det(self, z, **kwargs):
    kept, rest = tf.split(z, 2, axis=-1)
    y_rest = self._bijector.forward(rest, **kwargs)
    return (tf.concat([kept, y_rest], axis=-1),
            self._bijector.forward_log_det_jacobian(rest, event_ndims=3,
                                                    **kwargs))
