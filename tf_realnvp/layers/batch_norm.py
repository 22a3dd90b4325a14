"""Batch normalisation with running statistics, usable as a flow layer."""

import contextlib
import threading

import keras
import tensorflow as tf

__all__ = ["BatchNormalization", "frozen_running_averages"]

_AXES = (0, 1, 2)  # NHWC: statistics per channel over batch and space.
_FROZEN = threading.local()


@contextlib.contextmanager
def frozen_running_averages():
  """Within this context, training mode leaves the running averages alone.

  Used when the backward pass recomputes a forward pass
  (`tf_realnvp.recompute`): the minibatch statistics are computed again, but
  the running averages were already updated once by the first pass.
  """
  previous = getattr(_FROZEN, "value", False)
  _FROZEN.value = True
  try:
    yield
  finally:
    _FROZEN.value = previous


@keras.saving.register_keras_serializable(package="tf_realnvp")
class BatchNormalization(keras.layers.Layer):
  r"""Per-channel batch normalisation of NHWC feature maps.

  For `x` of shape `[N, H, W, C]` and per-channel statistics `mu, var` (shape
  `[C]`) the layer computes

  $$\hat x = \gamma \frac{x - \mu}{\sqrt{\mathrm{var} + \epsilon}} + \beta,$$

  whose Jacobian is diagonal with log-determinant per example
  `H * W * sum_c (log|gamma_c| - 0.5 log(var_c + eps))` (paper, section 3.7;
  `call(..., return_log_scale=True)` returns the per-channel log-slopes). `gamma` and `beta` are learned when `scale` and
  `center` are set.

  Which statistics are used:
  - `training=False`: the running averages `moving_mean`, `moving_variance`.
  - `training=True`: the minibatch moments `(mu_b, var_b)` (biased variance),
    and the running averages are updated as
    `moving <- momentum * moving + (1 - momentum) * batch`.
  - `training=True` with `average_in_training=True`: the paper's appendix E
    option. Normalisation uses the updated running average itself,
    `momentum * moving + (1 - momentum) * batch`, so that small minibatches
    give less noisy statistics; gradients flow through the current batch's
    share `(1 - momentum) * batch`.

  Multi-device training: the running averages are `ON_READ` variables
  aggregated by `MEAN`, so that reading them outside a replica (checkpoints,
  evaluation under `strategy.run` reads the local copy) gives the replica
  average. With `synchronized=True` the minibatch moments are all-reduced
  across replicas, so every replica normalises with the statistics of the
  global batch (and their running averages stay identical).

  Args:
    momentum: decay of the running averages, in `[0, 1)`.
    epsilon: added to the variance, `> 0`.
    center: learn the offset `beta`.
    scale: learn the scale `gamma`.
    average_in_training: normalise with the running average during training
      (paper appendix E) instead of the minibatch moments alone.
    synchronized: all-reduce the minibatch moments across replicas.
    **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).
  """

  def __init__(self,
               momentum=0.95,
               epsilon=1e-4,
               center=True,
               scale=True,
               average_in_training=False,
               synchronized=False,
               **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= momentum < 1.0:
      raise ValueError(f"momentum must be in [0, 1), received {momentum!r}.")
    if not epsilon > 0.0:
      raise ValueError(f"epsilon must be > 0, received {epsilon!r}.")
    self.momentum = float(momentum)
    self.epsilon = float(epsilon)
    self.center = bool(center)
    self.scale = bool(scale)
    self.average_in_training = bool(average_in_training)
    self.synchronized = bool(synchronized)

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[-1] is None:
      raise ValueError("BatchNormalization expects [N, H, W, C] inputs with a "
                       f"known C, received shape {tuple(input_shape)}.")
    channels = int(input_shape[-1])
    # Read in the variable dtype even under a mixed policy: the statistics,
    # the affine map and TF's fused kernel all want float32 parameters.
    self.gamma = self.add_weight(
        shape=(channels,), initializer="ones", name="gamma",
        trainable=True, autocast=False) if self.scale else None
    self.beta = self.add_weight(
        shape=(channels,), initializer="zeros", name="beta",
        trainable=True, autocast=False) if self.center else None
    self.moving_mean = self._running_average(channels, "zeros", "moving_mean")
    self.moving_variance = self._running_average(channels, "ones",
                                                 "moving_variance")

  def _running_average(self, channels, initializer, name):
    with keras.name_scope(self.name, caller=self):
      return keras.Variable(
          initializer=initializer, shape=(channels,), dtype=self.variable_dtype,
          trainable=False, synchronization="on_read", aggregation="mean",
          autocast=False, name=name)

  def _statistics(self, x, training):
    """The `(mean, variance)` to normalise `x` `[N, H, W, C]` with, each
    `[C]` (moments taken in the variable dtype); in training mode this also
    updates the running averages (except inside
    `frozen_running_averages`)."""
    if not training:
      return (tf.convert_to_tensor(self.moving_mean),
              tf.convert_to_tensor(self.moving_variance))
    mean, variance = self._batch_moments(tf.cast(x, self.variable_dtype))
    new_mean, new_variance = self._update_running_averages(mean, variance)
    if self.average_in_training:
      return new_mean, new_variance
    return mean, variance

  def _update_running_averages(self, mean, variance):
    """`moving <- momentum * moving + (1 - momentum) * batch` for both
    moments (not inside `frozen_running_averages`); returns the new values."""
    updated = [self.momentum * tf.convert_to_tensor(moving) +
               (1.0 - self.momentum) * batch
               for moving, batch in ((self.moving_mean, mean),
                                     (self.moving_variance, variance))]
    if not getattr(_FROZEN, "value", False):
      self.moving_mean.assign(tf.stop_gradient(updated[0]))
      self.moving_variance.assign(tf.stop_gradient(updated[1]))
    return updated

  def _synchronizing(self):
    """Whether this call all-reduces its batch moments across replicas."""
    context = tf.distribute.get_replica_context()
    return (self.synchronized and context is not None and
            context.num_replicas_in_sync > 1)

  def _batch_moments(self, x):
    """Per-channel mean and biased variance of the (global, if synced) batch."""
    if not self._synchronizing():
      return tf.nn.moments(x, axes=_AXES)
    context = tf.distribute.get_replica_context()
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype)
    totals = context.all_reduce(tf.distribute.ReduceOp.SUM, [
        tf.reduce_sum(x, axis=_AXES),
        tf.reduce_sum(tf.square(x), axis=_AXES), count
    ])
    mean = totals[0] / totals[2]
    return mean, tf.maximum(totals[1] / totals[2] - tf.square(mean), 0.0)

  def _affine(self, mean, variance):
    """The normalisation as `x * multiplier + offset`, each `[C]`.

    `multiplier = gamma / sqrt(variance + eps)`,
    `offset = beta - mean * multiplier`; the log-slope per channel is
    `log|multiplier|`.
    """
    multiplier = tf.math.rsqrt(variance + self.epsilon)
    if self.gamma is not None:
      multiplier *= self.gamma
    offset = -mean * multiplier
    if self.beta is not None:
      offset += self.beta
    return multiplier, offset

  def call(self, inputs, training=None, return_log_scale=False):
    """Normalises `inputs` `[N, H, W, C]`; in training mode updates the
    running averages, once per call.

    Args:
      inputs: `[N, H, W, C]`.
      training: Python bool, minibatch statistics (see the class docstring).
      return_log_scale: also return `log|multiplier|` `[C]` (variable
        dtype), the log-slope of each channel's affine map: a batch-norm
        bijector's log-determinant is `H * W` times its sum.

    Returns:
      The normalised `[N, H, W, C]`, and with `return_log_scale` the
      log-slopes.
    """
    training = bool(training)
    if not return_log_scale and self._can_fuse(inputs, training):
      return self._fused_call(inputs, training)
    multiplier, offset = self._affine(*self._statistics(inputs, training))
    outputs = (inputs * tf.cast(multiplier, inputs.dtype) +
               tf.cast(offset, inputs.dtype))
    if return_log_scale:
      return outputs, tf.math.log(tf.abs(multiplier))
    return outputs

  def denormalize(self, outputs):
    """The inverse of evaluation-mode `call` (running averages).

    Returns:
      `(inputs, log_scale)`: `(outputs - offset) / multiplier` `[N, H, W, C]`
      and the log-slopes `log|multiplier|` `[C]` of the normalisation (the
      inverse's are their negatives).
    """
    multiplier, offset = self._affine(*self._statistics(outputs, False))
    inputs = ((outputs - tf.cast(offset, outputs.dtype)) /
              tf.cast(multiplier, outputs.dtype))
    return inputs, tf.math.log(tf.abs(multiplier))

  def _can_fuse(self, inputs, training):
    """Whether TF's fused kernel computes exactly this layer's `call`.

    It does for float32/16 inputs, except where the minibatch statistics must
    be all-reduced across replicas or mixed with the running averages.
    """
    if inputs.dtype not in (tf.float32, tf.float16, tf.bfloat16):
      return False
    if not training:
      return True
    return not (self._synchronizing() or self.average_in_training)

  def _fused_call(self, inputs, training):
    """`call` with `tf.compat.v1.nn.fused_batch_norm` (several times faster).

    In training mode the kernel returns the Bessel-corrected batch variance;
    the running average is updated with the biased one, as `_statistics`
    does.
    """
    channels = inputs.shape[-1]
    gamma = self.gamma if self.gamma is not None else tf.ones([channels])
    beta = self.beta if self.beta is not None else tf.zeros([channels])
    if not training:
      outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
          inputs, gamma, beta, mean=tf.convert_to_tensor(self.moving_mean),
          variance=tf.convert_to_tensor(self.moving_variance),
          epsilon=self.epsilon, is_training=False)
      return outputs
    outputs, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
        inputs, gamma, beta, epsilon=self.epsilon, is_training=True)
    count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), unbiased.dtype)
    self._update_running_averages(mean, unbiased * (count - 1.0) / count)
    return outputs

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(
        momentum=self.momentum,
        epsilon=self.epsilon,
        center=self.center,
        scale=self.scale,
        average_in_training=self.average_in_training,
        synchronized=self.synchronized)
    return config
