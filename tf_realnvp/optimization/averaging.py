"""Weight averaging: an exponential moving average of a model's weights."""

import tensorflow as tf

__all__ = ["WeightAverage", "decay_at"]


def decay_at(decay, updates):
  r"""The decay of the average's update number `updates` (from 1 on).

      d_t = min(decay, (1 + t) / (10 + t))

  as `tf.train.ExponentialMovingAverage(num_updates=...)`: early updates
  follow the weights closely, so that the average of a short run is not
  dominated by the random initialisation.
  """
  updates = tf.cast(updates, tf.float32)
  return tf.minimum(tf.constant(decay, tf.float32),
                    (1.0 + updates) / (10.0 + updates))


class WeightAverage:
  r"""Keeps `average`, a model of the same architecture as `model`, at the
  exponential moving average of `model`'s weights (Polyak averaging):

      a <- d_t a + (1 - d_t) w        after every applied update t,

  with `d_t = decay_at(decay, t)`, for every float weight: the trainable
  ones and the batch-norm running statistics alike (whose average is what
  the averaged networks' own statistics would be, to first order). The
  optimizer keeps updating `model`; evaluations, samples and exports read
  `average`. Integer weights are copied.

  Args:
    model: the trained model.
    average: a model built like `model` (same weights, same order), e.g.
      another `RealNVP` of the same config; its values are overwritten.
    decay: in `[0, 1)`; the average covers about the last `1 / (1 - decay)`
      updates.
  """

  def __init__(self, model, average, decay):
    if not 0.0 <= decay < 1.0:
      raise ValueError(f"decay must be in [0, 1), received {decay!r}.")
    shapes = [tuple(w.shape) for w in model.weights]
    if shapes != [tuple(w.shape) for w in average.weights]:
      raise ValueError("average must have the weights of model (another "
                       "model of the same architecture).")
    self.model = model
    self.average = average
    self.decay = float(decay)

  def reset(self):
    """Sets the average to the model's current weights."""
    for average, weight in zip(self.average.weights, self.model.weights):
      average.assign(weight)

  def update(self, updates):
    """One averaging step, the `updates`-th (a scalar, from 1 on); call it
    in cross-replica context after the optimizer's update."""
    decay = decay_at(self.decay, updates)
    for average, weight in zip(self.average.weights, self.model.weights):
      if tf.as_dtype(average.dtype).is_floating:
        d = tf.cast(decay, average.dtype)
        average.assign(d * average + (1.0 - d) * weight)
      else:
        average.assign(weight)
