"""Conditions for a conditional flow: routed by name, or bound."""

import tensorflow_probability as tfp

from tf_realnvp.bijectors.coupling import AffineCoupling
from tf_realnvp.bijectors.factor_out import FactorOut
from tf_realnvp.bijectors.one_pass import CONDITIONAL_INPUT
from tf_realnvp.bijectors.one_pass import OnePassBijector

__all__ = ["Conditioned", "conditional_kwargs"]

tfb = tfp.bijectors


def conditional_kwargs(bijector, condition):
  """The keyword arguments that give every coupling of `bijector` `condition`.

  TFP routes keyword arguments through a `tfb.Chain` by its bijectors'
  names: `chain.forward(x, **kwargs)` passes `kwargs[b.name]` to `b`.
  This walks `bijector` (a chain of `multiscale_bijectors`, with the
  `FactorOut`s' inner chains) and returns the nested dict that reaches every
  `AffineCoupling`:

      {"scale0_checkerboard0": {"conditional_input": c}, ...,
       "scale0_factor_out": {"scale1_checkerboard0": {...}, ...}, ...}

  so that `bijector.forward(x, **conditional_kwargs(bijector, c))`, or
  `dist.log_prob(y, bijector_kwargs=conditional_kwargs(dist.bijector, c))`,
  computes with condition vectors `c` `[..., dim]`.

  Returns:
    A dict, empty if `bijector` has no coupling.
  """
  if isinstance(bijector, AffineCoupling):
    return {CONDITIONAL_INPUT: condition}
  if isinstance(bijector, FactorOut):
    return conditional_kwargs(bijector.bijector, condition)
  # `tfb.Chain(...)` of Keras-holding bijectors is a `_Chain`, not a
  # `tfb.Chain`; both are compositions.
  if isinstance(bijector, tfb.Composition):
    routed = {b.name: conditional_kwargs(b, condition)
              for b in bijector.bijectors}
    return {name: kwargs for name, kwargs in routed.items() if kwargs}
  return {}


class Conditioned(OnePassBijector):
  """`bijector` with condition vectors `c` bound to every coupling.

  `forward(x) = bijector.forward(x, **conditional_kwargs(bijector, c))`, and
  the same for `inverse` and the log-determinants, so that a conditional
  flow can be used where TFP expects a plain bijector (a
  `tfd.TransformedDistribution` with the condition bound). `c` `[..., dim]`
  broadcasts against the inputs' batch shape `[...]`: conditions `[N, dim]`
  give log-dets `[..., N]`; both are flattened together before `bijector`
  sees them (`OnePassBijector`), so every coupling, also inside a
  `FactorOut`, gets one condition per image.

  Args:
    bijector: a bijector on `[..., H, W, C]` events (`event_shape`), e.g. a
      chain of `multiscale_bijectors`.
    condition: condition vectors `[..., dim]`.
    event_shape: `(H, W, C)`.
    name: name of the bijector.
  """

  def __init__(self, bijector, condition, event_shape, name="conditioned"):
    parameters = dict(locals())
    self._bijector = bijector
    self._kwargs = conditional_kwargs(bijector, condition)
    super().__init__(event_shape, parameters=parameters, name=name,
                     dtype=bijector.dtype)

  @property
  def bijector(self):
    return self._bijector

  def _augmented_forward(self, x):
    return super()._augmented_forward(x, **self._kwargs)

  def _augmented_inverse(self, y):
    return super()._augmented_inverse(y, **self._kwargs)

  def _forward_and_log_det(self, z, **kwargs):
    return (self._bijector.forward(z, **kwargs),
            self._bijector.forward_log_det_jacobian(z, event_ndims=3,
                                                    **kwargs))

  def _inverse_and_log_det(self, y, **kwargs):
    return (self._bijector.inverse(y, **kwargs),
            self._bijector.inverse_log_det_jacobian(y, event_ndims=3,
                                                    **kwargs))
