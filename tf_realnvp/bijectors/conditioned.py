"""A conditional flow with its condition bound."""

from tf_realnvp.bijectors.one_pass import OnePassBijector

__all__ = ["Conditioned"]


class Conditioned(OnePassBijector):
  """`bijector` with fixed keyword arguments that carry a condition.

  `forward(x) = bijector.forward(x, **kwargs)`, and the same for `inverse`
  and the log-determinants, so that a conditional flow can be used where TFP
  expects a plain bijector (a `tfd.TransformedDistribution` with the
  condition bound). `kwargs` is TFP's nested routing of `conditional_input`
  values by bijector name (e.g. `MultiScaleFlow.conditional_kwargs(c)`);
  the conditions `c` `[..., dim]` broadcast against the inputs' batch shape
  `[...]`: conditions `[N, dim]` give log-dets `[..., N]`. Inputs and
  conditions are flattened together before `bijector` sees them
  (`OnePassBijector`), so every coupling, also inside a `FactorOut`, gets
  one condition per image.

  Args:
    bijector: a bijector on `[..., H, W, C]` events (`event_shape`).
    kwargs: the nested keyword arguments to bind.
    event_shape: `(H, W, C)`.
    name: name of the bijector.
  """

  def __init__(self, bijector, kwargs, event_shape, name="conditioned"):
    parameters = dict(locals())
    self._bijector = bijector
    self._kwargs = kwargs
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
