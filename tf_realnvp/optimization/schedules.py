"""The learning rate of a training job: warm-up, then constant or cosine."""

import math

import keras
import tensorflow as tf

from tf_realnvp import checks

__all__ = ["LR_SCHEDULES", "LearningRate"]

LR_SCHEDULES = ("constant", "cosine")


@keras.saving.register_keras_serializable(package="tf_realnvp")
class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
  r"""Linear warm-up to `learning_rate`, then constant or a cosine decay.

  At optimizer step `t` (`optimizer.iterations`: the updates applied so far,
  so a step skipped for a non-finite gradient does not advance it):

      warm(t)   = min(1, (t + 1) / warmup_steps)     (1 if warmup_steps = 0)
      decay(t)  = 1                                             (constant)
                = (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2
                                                                  (cosine)
      lr(t)     = learning_rate * warm(t) * decay(t)

  The cosine decay (Loshchilov & Hutter 2017, without restarts) reaches 0 at
  `decay_steps`, the job's `train_steps`. With `warmup_steps = 0` and
  `"constant"` the rate is the paper's constant `learning_rate`.

  Args:
    learning_rate: the peak rate, `> 0`.
    warmup_steps: steps of the linear warm-up, an int `>= 0`.
    schedule: `"constant"` or `"cosine"`.
    decay_steps: steps of the cosine decay, an int `>= 1` (unused by
      `"constant"`).
  """

  def __init__(self, learning_rate, warmup_steps=0, schedule="constant",
               decay_steps=1):
    if not learning_rate > 0:
      raise ValueError(f"learning_rate must be positive, received "
                       f"{learning_rate!r}.")
    checks.check_int(0, warmup_steps=warmup_steps)
    if schedule not in LR_SCHEDULES:
      raise ValueError(f"schedule must be one of {LR_SCHEDULES}, received "
                       f"{schedule!r}.")
    checks.check_int(1, decay_steps=decay_steps)
    self.learning_rate = float(learning_rate)
    self.warmup_steps = int(warmup_steps)
    self.schedule = schedule
    self.decay_steps = int(decay_steps)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    rate = tf.constant(self.learning_rate, tf.float32)
    if self.warmup_steps:
      rate *= tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
    if self.schedule == "cosine":
      progress = tf.minimum(step, float(self.decay_steps)) / self.decay_steps
      rate *= 0.5 * (1.0 + tf.cos(math.pi * progress))
    return rate

  def get_config(self):
    return dict(learning_rate=self.learning_rate,
                warmup_steps=self.warmup_steps, schedule=self.schedule,
                decay_steps=self.decay_steps)
