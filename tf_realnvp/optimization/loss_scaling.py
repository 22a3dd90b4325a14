"""Dynamic loss scaling for float16 s/t networks (`mixed_float16`)."""

import tensorflow as tf

from tf_realnvp import checks

__all__ = ["DynamicLossScale"]


class DynamicLossScale(tf.Module):
  r"""The loss scale `S` of training with float16 s/t networks.

  float16's smallest positive number is 6e-8 (normal: 6.1e-5): the
  gradients that flow back through the networks' float16 activations
  underflow to 0 long before float32's would. The trainer differentiates
  `S * loss` instead of `loss`, so that those gradients are `S` times
  larger, and divides the float32 gradients of the weights by `S`:

      grads = d(S * loss)/dw / S

  `S` follows Keras's `keras.optimizers.LossScaleOptimizer` rule, applied
  after each step (in cross-replica context, once per step):

  - the gradients are not finite (float16 overflowed): the step is skipped
    by the trainer and `S <- max(S / 2, 1)`, the count of good steps -> 0;
  - the gradients are finite: the count of good steps grows by 1, and after
    `growth_steps` of them in a row `S <- 2 S` and the count -> 0.

  Keras's optimizer wrapper itself is not used (by `TrainStep`, the step of
  `train.py` and `RealNVP.fit`): its `apply` runs a `cond` with the inner
  optimizer's `merge_call` inside a replica context, which the step's own
  cross-replica guard of non-finite steps cannot contain.

  The two variables are checkpointed with `train.py`'s trainer
  (`loss_scale`), so a resumed run continues with the same scale and stays
  bit-identical.

  Args:
    initial_scale: `S` at step 0 (Keras's default `2**15`: a too high scale
      is lowered in a few skipped steps, a too low one rises slowly).
    growth_steps: finite steps in a row before `S` doubles.
  """

  def __init__(self, initial_scale=2.0**15, growth_steps=2000):
    super().__init__(name="loss_scale")
    if not initial_scale >= 1:
      raise ValueError(f"initial_scale must be >= 1, received "
                       f"{initial_scale!r}.")
    checks.check_int(1, growth_steps=growth_steps)
    self.growth_steps = int(growth_steps)
    self.scale = tf.Variable(float(initial_scale), dtype=tf.float32,
                             trainable=False, name="scale")
    self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                  name="good_steps")

  def scale_loss(self, loss):
    """`S * loss`, in `loss`'s dtype."""
    return loss * tf.cast(self.scale, loss.dtype)

  def unscale(self, grads):
    """`grads / S` (float32 gradients of float32 weights)."""
    inverse = 1.0 / self.scale
    return [g * tf.cast(inverse, g.dtype) for g in grads]

  def at_floor(self):
    """Whether `S` is 1: an overflow there is not the scale's doing."""
    return self.scale <= 1.0

  def adjust(self, grads_finite):
    """Halves `S` after an overflow, doubles it after `growth_steps` finite
    steps in a row (see the class docstring); returns the op."""
    grow = tf.logical_and(grads_finite,
                          self.good_steps + 1 >= self.growth_steps)
    new_scale = tf.where(
        grads_finite, tf.where(grow, 2.0 * self.scale, self.scale),
        tf.maximum(0.5 * self.scale, 1.0))
    new_count = tf.where(tf.logical_and(grads_finite, tf.logical_not(grow)),
                         self.good_steps + 1, tf.zeros_like(self.good_steps))
    return tf.group(self.scale.assign(new_scale),
                    self.good_steps.assign(new_count))
