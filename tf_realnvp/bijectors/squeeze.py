"""Squeeze as a bijector (paper, section 3.6)."""

import tensorflow as tf
import tensorflow_probability as tfp

__all__ = ["Squeeze"]

tfb = tfp.bijectors


class Squeeze(tfb.Bijector):
  """`forward`: `[..., H, W, C]` -> `[..., H/2, W/2, 4C]`; `inverse` undoes it.

  Wraps a `tf_realnvp.layers.Squeeze` layer (which documents the channel
  order). A permutation of the event's entries, so the log-det is 0. In the
  multi-scale flow it is used as `tfb.Invert(Squeeze(...))` where the paper
  squeezes on the data-to-latent path.

  Args:
    layer: a `tf_realnvp.layers.Squeeze`.
    event_shape: `(H, W, C)` of the unsqueezed event; `H`, `W` even.
    name: name of the bijector.
  """

  def __init__(self, layer, event_shape, name="squeeze"):
    parameters = dict(locals())
    height, width, channels = (int(d) for d in event_shape)
    if height % 2 or width % 2:
      raise ValueError(f"Squeeze needs an even height and width, received "
                       f"event shape {tuple(event_shape)}.")
    self._layer = layer
    self._unsqueezed = (height, width, channels)
    self._squeezed = (height // 2, width // 2, 4 * channels)
    super().__init__(
        forward_min_event_ndims=3,
        inverse_min_event_ndims=3,
        is_constant_jacobian=True,
        dtype=tf.as_dtype(layer.compute_dtype),
        parameters=parameters,
        name=name)

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _forward(self, x):
    return _on_images(self._layer, x, self._unsqueezed, self._squeezed)

  def _inverse(self, y):
    return _on_images(self._layer.unsqueeze, y, self._squeezed,
                      self._unsqueezed)

  def _forward_log_det_jacobian(self, x):
    return tf.zeros(tf.shape(x)[:-3], dtype=x.dtype)

  def _forward_event_shape(self, input_shape):
    return input_shape[:-3].concatenate(self._squeezed)

  def _forward_event_shape_tensor(self, input_shape):
    return tf.concat([input_shape[:-3], self._squeezed], axis=0)

  def _inverse_event_shape(self, output_shape):
    return output_shape[:-3].concatenate(self._unsqueezed)

  def _inverse_event_shape_tensor(self, output_shape):
    return tf.concat([output_shape[:-3], self._unsqueezed], axis=0)


def _on_images(fn, x, in_event_shape, out_event_shape):
  """Applies an `[N, H, W, C]` function to `x` of any batch shape."""
  batch_shape = tf.shape(x)[:-3]
  out = fn(tf.reshape(x, (-1,) + in_event_shape))
  return tf.reshape(out, tf.concat([batch_shape, out_event_shape], axis=0))
