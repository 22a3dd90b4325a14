"""Affine coupling layers with checkerboard and channel-wise masks."""

import numpy as np
import tensorflow as tf

from tf_realnvp.bijectors.one_pass import OnePassBijector
from tf_realnvp.recompute import recompute_gradients

__all__ = ["AffineCoupling", "CHANNEL", "CHECKERBOARD", "CouplingMask",
           "MASK_TYPES", "checkerboard"]

CHECKERBOARD = "checkerboard"
CHANNEL = "channel"
MASK_TYPES = (CHECKERBOARD, CHANNEL)


def checkerboard(height, width, parity, dtype=np.float32):
  """The spatial mask `b[h, w] = 1` where `(h + w + parity)` is even.

  Returns a numpy array of shape `[1, height, width, 1]`; ones mark the
  conditioning (unchanged) half.
  """
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  return ((rows + cols + parity) % 2 == 0).astype(dtype)[None, :, :, None]


class CouplingMask:
  """Which half of an `[N, H, W, C]` event conditions and which is transformed.

  - `checkerboard`: the pixels with `(h + w + parity)` even condition the
    others (all channels); the network sees the masked image `b * y` and the
    mask `b` itself as an extra channel (so that it can tell a masked zero from
    a pixel of value 0), and its output is multiplied by `1 - b`.
  - `channel`: with parity 0 the first `C/2` channels condition the last
    `C/2`; parity 1 swaps the halves. `C` must be even.

  `split` returns `(network input, transformed part)`; `merge` reassembles
  the event from the untouched input and the transformed part; `restrict`
  zeroes the scale and shift outside the transformed part.
  """

  def __init__(self, mask_type, parity, event_shape):
    if mask_type not in MASK_TYPES:
      raise ValueError(f"mask_type must be one of {MASK_TYPES}, received "
                       f"{mask_type!r}.")
    if parity not in (0, 1):
      raise ValueError(f"parity must be 0 or 1, received {parity!r}.")
    height, width, channels = event_shape
    if mask_type == CHANNEL and channels % 2:
      raise ValueError("A channel-wise mask needs an even number of channels, "
                       f"received event shape {tuple(event_shape)}.")
    self.mask_type = mask_type
    self.parity = parity
    self.event_shape = tuple(int(d) for d in event_shape)
    self._checkerboard = checkerboard(height, width, parity)

  @property
  def network_input_channels(self):
    channels = self.event_shape[-1]
    return channels + 1 if self.mask_type == CHECKERBOARD else channels // 2

  @property
  def transformed_channels(self):
    channels = self.event_shape[-1]
    return channels if self.mask_type == CHECKERBOARD else channels // 2

  def split(self, x):
    """`x` `[N, H, W, C]` -> (network input, part to transform)."""
    if self.mask_type == CHECKERBOARD:
      mask = tf.cast(self._checkerboard, x.dtype)
      batch_mask = tf.broadcast_to(mask, tf.concat([tf.shape(x)[:3], [1]], 0))
      return tf.concat([x * mask, batch_mask], axis=-1), x
    first, second = tf.split(x, 2, axis=-1)
    return (first, second) if self.parity == 0 else (second, first)

  def restrict(self, tensor):
    """Zeroes `tensor` (a scale or shift) where the event is not transformed."""
    if self.mask_type == CHECKERBOARD:
      return tensor * tf.cast(1.0 - self._checkerboard, tensor.dtype)
    return tensor

  def merge(self, x, transformed):
    """Reassembles the event from the input `x` and its transformed part."""
    if self.mask_type == CHECKERBOARD:
      return transformed  # Scale and shift vanish on the conditioning half.
    first, second = tf.split(x, 2, axis=-1)
    halves = [first, transformed] if self.parity == 0 else [transformed, second]
    return tf.concat(halves, axis=-1)


class AffineCoupling(OnePassBijector):
  r"""The affine coupling layer of Real NVP (paper, equations 4-6).

  With `b` the mask of the conditioning half (see `CouplingMask`) and `s, t`
  the outputs of `network` on the conditioning half, in the paper's
  data-to-latent direction (this bijector's `inverse`, pixels `y` -> `z`):

  $$z = b \odot y + (1 - b) \odot \left(y \odot e^{s(b \odot y)}
        + t(b \odot y)\right),
    \qquad \log\left|\det \frac{\partial z}{\partial y}\right|
        = \sum_j \left((1 - b) \odot s(b \odot y)\right)_j,$$

  and in the latent-to-data direction (`forward`, used for sampling):

  $$y = b \odot z + (1 - b) \odot \left(z - t(b \odot z)\right)
        \odot e^{-s(b \odot z)}.$$

  Both directions cost one evaluation of `network`; the Jacobian is
  triangular, so the log-determinant is the sum of the log-scales. Shapes:
  events `[H, W, C]`, inputs `[..., H, W, C]`, log-dets `[...]`.

  Conditional couplings (a network built with `condition_dim > 0`) compute
  `s(b \odot y, c)` and `t(b \odot y, c)` from a condition vector `c`
  `[..., condition_dim]`, which leaves the Jacobian triangular: the
  formulas above hold for every `c`. `c` comes with TFP's keyword,
  `coupling.forward(z, conditional_input=c)` (or is bound by
  `tf_realnvp.bijectors.Conditioned`); its batch shape broadcasts against
  the input's (`OnePassBijector`).

  Args:
    network: a built Keras layer, `network(inputs, training=...) -> (s, t)`,
      with `inputs` `[N, H, W, mask.network_input_channels]` and `s, t`
      `[N, H, W, mask.transformed_channels]` (e.g. `CouplingResNet`), in the
      network's variable dtype (the dtype of this bijector) whatever its
      compute dtype.
    mask: a `CouplingMask`.
    training: Python bool, the mode of the network's batch normalisation
      (never the direction of the flow).
    recompute: Python bool, recompute the network's activations in the
      backward pass instead of storing them (`tf_realnvp.recompute`).
    name: name of the bijector.
  """

  def __init__(self, network, mask, training=False, recompute=False,
               name="affine_coupling"):
    parameters = dict(locals())
    self._mask = mask
    self._training = bool(training)
    self._network = lambda inputs, condition=None: network(
        inputs, condition=condition, training=self._training)
    if recompute:
      self._network = recompute_gradients(self._network)
    super().__init__(
        mask.event_shape,
        parameters=parameters,
        name=name,
        dtype=network.variable_dtype)

  @property
  def mask(self):
    return self._mask

  def _log_scale_and_shift(self, x, conditional_input=None):
    """`(s, t)` restricted to the transformed part, from the untouched part
    (and the condition `[N, dim]`, if any)."""
    network_input, transformed = self._mask.split(x)
    if conditional_input is None:
      log_scale, shift = self._network(network_input)
    else:
      log_scale, shift = self._network(
          network_input, tf.cast(conditional_input, x.dtype))
    return (self._mask.restrict(log_scale), self._mask.restrict(shift),
            transformed)

  def _inverse_and_log_det(self, y, conditional_input=None):
    log_scale, shift, transformed = self._log_scale_and_shift(
        y, conditional_input)
    z = self._mask.merge(y, transformed * tf.exp(log_scale) + shift)
    return z, _sum_event(log_scale)

  def _forward_and_log_det(self, z, conditional_input=None):
    log_scale, shift, transformed = self._log_scale_and_shift(
        z, conditional_input)
    y = self._mask.merge(z, (transformed - shift) * tf.exp(-log_scale))
    return y, -_sum_event(log_scale)


def _sum_event(tensor):
  """Sums an `[N, H, W, C]` tensor over its event axes: `[N]`."""
  return tf.reduce_sum(tensor, axis=(-3, -2, -1))

