"""`TrainStep`: the one guarded optimizer step of `train.py` and `fit`."""

import tensorflow as tf

from tf_realnvp import losses
from tf_realnvp.optimization import graph_options

__all__ = ["TrainStep", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
  """Too many consecutive steps had a non-finite loss or gradient."""


class TrainStep:
  r"""One optimizer step on a global batch, guarded, under any strategy.

  `train.py` (through `tf_realnvp.training.Trainer`) and `RealNVP.fit`
  both train with it, so they take the same step from the same state:

  - **loss**: per replica, `tf_realnvp.losses.training_loss` (the mean
    bits/dim of the dequantised batch, batch norm in training mode, plus
    the L2 penalty), scaled for the global batch since gradients are summed
    across replicas;
  - **loss scaling** (`loss_scale`, a `DynamicLossScale`, for float16 s/t
    networks): the gradients are those of `S * loss`, divided by `S` after
    the all-reduce;
  - **clipping**: the summed gradient is clipped to `grad_clip_norm` by its
    global norm (the norm of the global batch's gradient);
  - **guard**: a step whose loss or gradient norm is not finite changes no
    variable (weights, batch-norm running averages, optimizer slots and
    step count); a step the loss scaler skipped (finite loss, overflowed
    float16 gradients, `S > 1`) halves `S` and changes nothing else. After
    `max_nonfinite_steps` non-finite steps in a row `TrainingDiverged` is
    raised, before anything is written;
  - **learning rate**: `learning_rate(optimizer.iterations)` is assigned to
    the optimizer's rate before the update, if given (else the optimizer's
    own rate or schedule);
  - **weight average** (`average`, a `WeightAverage`): updated after each
    applied update.

  Calling the step runs one compiled function (in cross-replica context,
  `strategy.run` inside) and reads back three scalars.

  Args:
    model: a `RealNVP`.
    optimizer: a Keras optimizer, built on `model.trainable_variables`
      under `strategy`'s scope.
    strategy: the `tf.distribute.Strategy` of the model's variables (default:
      the current one).
    grad_clip_norm: the global norm gradients are clipped to, `> 0`.
    max_nonfinite_steps: non-finite steps in a row before
      `TrainingDiverged`, `>= 1`.
    global_batch_size: examples of a global batch, or `None` for the batch
      a replica receives times the replicas.
    learning_rate: `None`, or a callable of the optimizer's iterations
      (`tf_realnvp.optimization.LearningRate`).
    average: `None`, or a `WeightAverage` of `model`.
    loss_scale: `None`, or a `DynamicLossScale`.
    step_counter: `None`, or an int64 variable incremented by every call
      (skipped steps included: it counts batches).
    rewrites: the Grappler passes the step is compiled with (a
      `RewriterConfig`); `None` for `graph_options.rewrites_for(strategy)`.
  """

  def __init__(self, model, optimizer, strategy=None, grad_clip_norm=100.0,
               max_nonfinite_steps=10, global_batch_size=None,
               learning_rate=None, average=None, loss_scale=None,
               step_counter=None, rewrites=None):
    if not grad_clip_norm > 0:
      raise ValueError(f"grad_clip_norm must be positive, received "
                       f"{grad_clip_norm!r}.")
    if int(max_nonfinite_steps) != max_nonfinite_steps or (
        max_nonfinite_steps < 1):
      raise ValueError("max_nonfinite_steps must be an int >= 1, received "
                       f"{max_nonfinite_steps!r}.")
    self.model = model
    self.optimizer = optimizer
    self.strategy = strategy or tf.distribute.get_strategy()
    self.grad_clip_norm = float(grad_clip_norm)
    self.max_nonfinite_steps = int(max_nonfinite_steps)
    self.global_batch_size = global_batch_size
    self.learning_rate = learning_rate
    self.average = average
    self.loss_scale = loss_scale
    self.step_counter = step_counter
    self.rewrites = (graph_options.rewrites_for(self.strategy)
                     if rewrites is None else rewrites)
    self._compiled = graph_options.compiled(self._distributed_step,
                                            self.rewrites)
    self.nonfinite_steps = 0  # Skipped as non-finite, in this process.
    self.consecutive_nonfinite = 0
    self.overflow_steps = 0  # Skipped by the loss scaler, in this process.

  def __call__(self, batch):
    """One step on a (distributed) batch: pixels `y`, or `(y, condition)`
    for a conditional model.

    Returns:
      `(mean bits/dim of the batch, examples)`: the mean is NaN for a step
      skipped as non-finite, and finite for one the loss scaler skipped
      (counted in `overflow_steps` only).

    Raises:
      TrainingDiverged: after `max_nonfinite_steps` skipped steps in a row.
    """
    total, count, finite, overflow = self._compiled(batch)
    count = float(count)
    if bool(overflow):
      self.overflow_steps += 1
      return float(total) / count, count
    if bool(finite):
      self.consecutive_nonfinite = 0
      return float(total) / count, count
    self.nonfinite_steps += 1
    self.consecutive_nonfinite += 1
    if self.consecutive_nonfinite >= self.max_nonfinite_steps:
      at = ("" if self.step_counter is None else
            f"step {int(self.step_counter.numpy())}; ")
      raise TrainingDiverged(
          f"{self.consecutive_nonfinite} consecutive steps had a non-finite "
          f"loss or gradient ({at}{self.nonfinite_steps} skipped in this "
          "run). "
          "Training stopped; the last checkpoint holds the last finite "
          "weights. Check the data for NaN or out-of-range pixels, or lower "
          "the learning rate.")
    return float("nan"), count

  def _replica_gradients(self, batch):
    """Per replica: loss scaled for the global batch, global-batch
    gradients (summed, unscaled, clipped; this replica's share)."""
    y, condition = batch if self.model.conditioning else (batch, None)
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      loss, per_example = losses.training_loss(
          self.model, y, self.global_batch_size, condition)
      if self.loss_scale:
        loss = self.loss_scale.scale_loss(loss)
    grads = tape.gradient(loss, variables)
    context = tf.distribute.get_replica_context()
    # The global norm must be the norm of the global-batch gradient.
    total_grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    if self.loss_scale:
      total_grads = self.loss_scale.unscale(total_grads)
    total_loss, count = context.all_reduce(
        tf.distribute.ReduceOp.SUM,
        [tf.reduce_sum(per_example),
         tf.cast(tf.size(per_example), per_example.dtype)])
    _, norm = tf.clip_by_global_norm(total_grads, self.grad_clip_norm)
    # Keras sums the gradients across replicas: pass each replica's share
    # of the clipped global gradient.
    factor = tf.minimum(tf.constant(1.0, norm.dtype),
                        self.grad_clip_norm / norm) / tf.cast(
                            context.num_replicas_in_sync, norm.dtype)
    return ([g * factor for g in total_grads], total_loss, count,
            tf.math.is_finite(total_loss), tf.math.is_finite(norm))

  def _apply(self, grads):
    self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))

  def _update(self, grads):
    """The update of a finite step, in cross-replica context: learning rate,
    optimizer, weight average."""
    if self.learning_rate is not None:
      self.optimizer.learning_rate = self.learning_rate(
          self.optimizer.iterations)
    self.strategy.run(self._apply, args=(grads,))
    if self.average:
      self.average.update(self.optimizer.iterations)

  def _distributed_step(self, batch):
    """`(sum of bits/dim, examples, finite, overflow)` of one step."""
    running_stats = self.model.non_trainable_variables
    saved_stats = [tf.identity(v) for v in running_stats]
    grads, *per_replica = self.strategy.run(self._replica_gradients,
                                            args=(batch,))
    total_loss, count, loss_finite, grads_finite = (
        self.strategy.experimental_local_results(x)[0] for x in per_replica)
    finite = tf.math.logical_and(loss_finite, grads_finite)

    def restore_running_stats():
      # The forward pass already updated the batch-norm running averages.
      for variable, saved in zip(running_stats, saved_stats):
        variable.assign(saved)

    # A cross-replica `tf.cond` around `strategy.run`: a merge_call (the
    # optimizer's) is not allowed inside a replica-context cond.
    tf.cond(finite, lambda: self._update(grads), restore_running_stats)
    if self.step_counter is not None:
      self.step_counter.assign_add(1)
    overflow = tf.constant(False)
    if self.loss_scale:
      overflow = tf.math.logical_and(
          loss_finite, tf.math.logical_not(tf.math.logical_or(
              grads_finite, self.loss_scale.at_floor())))
      with tf.control_dependencies([overflow]):
        self.loss_scale.adjust(grads_finite)
    return total_loss, count, finite, overflow
