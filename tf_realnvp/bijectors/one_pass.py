"""Base class for bijectors that compute a transform and its log-det together."""

import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import cache_util

__all__ = ["CONDITIONAL_INPUT", "OnePassBijector"]

tfb = tfp.bijectors


class OnePassBijector(tfb.Bijector):
  """A `tfb.Bijector` on `[N, H, W, C]` images whose log-det comes for free.

  A coupling's log-determinant is the sum of the log-scales it has just
  computed to transform its input, and a batch norm's comes from the
  statistics it has just used. Computing the log-det separately would run the
  scale network (or update the running statistics) a second time. Subclasses
  therefore implement

      _forward_and_log_det(x) -> (y, log|det dy/dx|)   # latent -> pixels
      _inverse_and_log_det(y) -> (x, log|det dx/dy|)   # pixels -> latent

  on `[N, H, W, C]` batches, with log-dets of shape `[N]`, and this class
  accepts any batch shape (`[H, W, C]`, `[N, H, W, C]`, `[S, N, H, W, C]`:
  flattened to one batch axis and back), checks the event shape (a
  `ValueError` naming expected and received shapes), and stores the log-det
  in TFP's bijector cache next to the result (the pattern of TFP's own
  `tfb.FFJORD`), so `log_prob`, which asks for the inverse and then for the
  inverse log-det at the same `y`, runs each layer once.

  The event shape `[H, W, C]` is the same in both directions.

  Conditional bijectors take TFP's keyword `conditional_input`, condition
  vectors `[..., dim]` whose batch shape broadcasts against the input's:
  both are broadcast and flattened together (`conditional_input` anywhere in
  nested keyword dicts, as a `FactorOut` passes them to its inner chain), so
  subclasses see `[N, dim]` beside `[N, H, W, C]`. Keyword arguments are
  part of TFP's cache key.
  """

  _cache = cache_util.BijectorCacheWithGreedyAttrs(
      forward_name="_augmented_forward", inverse_name="_augmented_inverse")

  def __init__(self, event_shape, parameters, name, dtype=tf.float32,
               validate_args=False):
    self._event_shape = tuple(int(d) for d in event_shape)
    super().__init__(
        forward_min_event_ndims=3,
        inverse_min_event_ndims=3,
        is_constant_jacobian=False,
        validate_args=validate_args,
        dtype=None if dtype is None else tf.as_dtype(dtype),
        parameters=parameters,
        name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  @property
  def event_shape(self):
    """The `(H, W, C)` this bijector acts on."""
    return self._event_shape

  def _augmented_forward(self, x, **kwargs):
    y, fldj = self._on_flat_batch(self._forward_and_log_det, x, kwargs)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, **kwargs):
    x, ildj = self._on_flat_batch(self._inverse_and_log_det, y, kwargs)
    return x, {"ildj": ildj, "fldj": -ildj}

  def _on_flat_batch(self, transform_and_log_det, inputs, kwargs):
    """Applies `transform_and_log_det` to `inputs` reshaped to `[N, H, W, C]`."""
    shape = inputs.shape
    if shape.rank is not None and (shape.rank < 3 or not shape[-3:].is_compatible_with(self._event_shape)):
      raise ValueError(
          f"{self.name}: expected images of event shape "
          f"{list(self._event_shape)} (inputs [..., H, W, C]), received shape "
          f"{shape}.")
    batch_shape = tf.shape(inputs)[:-3]
    if _has_condition(kwargs):
      batch_shape = tf.broadcast_dynamic_shape(
          batch_shape, tf.shape(_first_condition(kwargs))[:-1])
      inputs = tf.broadcast_to(
          inputs, tf.concat([batch_shape, self._event_shape], 0))
      kwargs = _flatten_conditions(kwargs, batch_shape)
    outputs, log_det = transform_and_log_det(
        tf.reshape(inputs, (-1,) + self._event_shape), **kwargs)
    return (tf.reshape(outputs, tf.concat([batch_shape, self._event_shape], 0)),
            tf.reshape(log_det, batch_shape))

  def _forward(self, x, **kwargs):
    return self._augmented_forward(x, **kwargs)[0]

  def _inverse(self, y, **kwargs):
    return self._augmented_inverse(y, **kwargs)[0]

  def _forward_log_det_jacobian(self, x, **kwargs):
    self.forward(x, **kwargs)  # Fills the cache attributes of `x`, once.
    return self._cache.forward_attributes(x, **kwargs)["fldj"]

  def _inverse_log_det_jacobian(self, y, **kwargs):
    self.inverse(y, **kwargs)  # Fills the cache attributes of `y`, once.
    return self._cache.inverse_attributes(y, **kwargs)["ildj"]


CONDITIONAL_INPUT = "conditional_input"


def _conditions(kwargs):
  """Every `conditional_input` in nested keyword dicts."""
  for key, value in kwargs.items():
    if isinstance(value, dict):
      yield from _conditions(value)
    elif key == CONDITIONAL_INPUT and value is not None:
      yield value


def _has_condition(kwargs):
  return any(True for _ in _conditions(kwargs))


def _first_condition(kwargs):
  return tf.convert_to_tensor(next(_conditions(kwargs)))


def _flatten_conditions(kwargs, batch_shape):
  """`kwargs` with every condition `[..., dim]` broadcast to `batch_shape`
  and flattened to `[N, dim]`."""
  def flatten(key, value):
    if isinstance(value, dict):
      return _flatten_conditions(value, batch_shape)
    if key != CONDITIONAL_INPUT or value is None:
      return value
    value = tf.convert_to_tensor(value)
    dim = tf.shape(value)[-1:]
    return tf.reshape(tf.broadcast_to(value, tf.concat([batch_shape, dim], 0)),
                      tf.concat([[-1], dim], 0))
  return {key: flatten(key, value) for key, value in kwargs.items()}
