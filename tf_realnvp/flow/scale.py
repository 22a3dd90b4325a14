"""`Scale`: one scale of the multi-scale flow (paper, section 3.6)."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp.bijectors.factor_out import FactorOut
from tf_realnvp.bijectors.squeeze import Squeeze as SqueezeBijector
from tf_realnvp.layers.squeeze import Squeeze

__all__ = ["Scale"]

tfb = tfp.bijectors


class Scale(keras.layers.Layer):
  """The steps of one scale, its squeeze and its factor-out.

  In the data-to-latent direction, scale `i` (not the last) maps its input
  `[N, h, w, c]` by its checkerboard steps, squeezes it to
  `[N, h/2, w/2, 4c]`, applies its channel-wise steps, then keeps the first
  half of the channels as its latent piece (`latent_shape`) and passes the
  second half, `[N, h/2, w/2, 2c]`, to scale `i + 1`. The last scale has
  checkerboard steps only, and its whole output is its piece. In the flow's
  latent `z` (the image's shape) each piece is put back in place by
  un-squeezing, so `split` / `merge` move between the two layouts.

  Args:
    spec: its `tf_realnvp.flow.ScaleSpec`.
    make_step: builds the step layer of a `StepSpec`.
    **kwargs: `keras.layers.Layer` arguments (`dtype`: the flow's).
  """

  def __init__(self, spec, make_step, **kwargs):
    super().__init__(name=f"scale{spec.index}", **kwargs)
    self.spec = spec
    # Tuples: Keras 3 and tf.train.Checkpoint both track a tuple's layers.
    self.checkerboard_steps = tuple(make_step(s) for s in spec.checkerboard)
    self.squeeze = None if spec.is_last else Squeeze(
        dtype=self.dtype_policy, name=f"scale{spec.index}_squeeze")
    self.channel_steps = tuple(make_step(s) for s in spec.channel)

  @property
  def steps(self):
    """The scale's steps in data-to-latent order."""
    return self.checkerboard_steps + self.channel_steps

  @property
  def is_last(self):
    return self.spec.is_last

  def build(self, input_shape=None):
    for step in self.steps:
      step.build()
    if self.squeeze is not None:
      self.squeeze.build((None,) + self.spec.event_shape)

  def _squeeze_bijector(self):
    return SqueezeBijector(self.squeeze, self.spec.event_shape,
                           name=f"{self.name}_squeeze")

  def head_bijectors(self, training=False, recompute=False):
    """The scale's own bijectors up to its factor-out, data-to-latent: the
    checkerboard steps', the squeeze, the channel steps'. They map the
    scale's input to its squeezed output, whose first channel half is the
    latent piece (the whole output at the last scale)."""
    steps = [b for step in self.checkerboard_steps
             for b in step.bijectors(training, recompute)]
    if self.is_last:
      return steps
    steps.append(tfb.Invert(self._squeeze_bijector()))
    return steps + [b for step in self.channel_steps
                    for b in step.bijectors(training, recompute)]

  def bijectors(self, inner, training=False, recompute=False):
    """All of the scale's bijectors, data-to-latent: `head_bijectors`, then
    (not at the last scale) the factor-out applying `inner`, the rest of the
    flow, to the second channel half, and the un-squeeze that puts the
    latent back into the input's layout.

    Args:
      inner: a bijector on `[h/2, w/2, 2c]` (the next scales); `None` at the
        last scale.
    """
    steps = self.head_bijectors(training, recompute)
    if self.is_last:
      return steps
    return steps + [FactorOut(inner, self.spec.squeezed_shape,
                              name=f"{self.name}_factor_out"),
                    self._squeeze_bijector()]

  def factor_out_name(self):
    """The name of the factor-out bijector (TFP routes keyword arguments
    to the next scales through it)."""
    return f"{self.name}_factor_out"

  def conditional_kwargs(self, condition):
    """TFP's keyword arguments of `bijectors` that give this scale's steps
    `condition` (the next scales' are added by the flow)."""
    kwargs = {}
    for step in self.steps:
      kwargs.update(step.conditional_kwargs(condition))
    return kwargs

  def split(self, z):
    """`(piece, rest)` of latents `z` `[N, h, w, c]` in the scale's input
    layout: the squeezed first channel half, and the second half for the next
    scales (`None` at the last scale, whose piece is `z`)."""
    if self.is_last:
      return z, None
    piece, rest = tf.split(self.squeeze(z), 2, axis=-1)
    return piece, rest

  def merge(self, piece, rest):
    """The inverse of `split`."""
    if self.is_last:
      return piece
    return self.squeeze.unsqueeze(tf.concat([piece, rest], axis=-1))

  def initialize(self, x, condition=None):
    """Data-dependent initialisation of the scale's steps, in order, from
    the scale's input `x` `[N, h, w, c]` (evaluation mode; `condition`
    vectors `[N, dim]` for a conditional flow). Returns the input of the
    next scale (`None` after the last)."""
    for step in self.checkerboard_steps:
      x = _initialized(step, x, condition)
    if self.is_last:
      return None
    x = self.squeeze(x)
    for step in self.channel_steps:
      x = _initialized(step, x, condition)
    return tf.split(x, 2, axis=-1)[1]


def _initialized(step, x, condition):
  """Initialises `step` from its input `x`; returns its output."""
  step.initialize(x)
  return tfb.Chain(step.bijectors(training=False)).inverse(
      x, **step.conditional_kwargs(condition))
