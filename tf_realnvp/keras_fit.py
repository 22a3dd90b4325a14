"""`RealNVP`'s Keras training interface: `compile`, `fit`, `evaluate`."""

import keras
import tensorflow as tf

from tf_realnvp import losses

__all__ = ["KerasFit"]


class KerasFit:
  """The `keras.Model` methods that make `model.fit(...)` train a flow.

  Mixed into `RealNVP` (before `keras.Model`). `fit` minimises
  `tf_realnvp.losses.training_loss`, the objective of `train.py`, and
  reports `bits_per_dim`; a flow whose steps initialise from data (Glow's
  actnorm) is initialised from the first batch first.
  """

  def _init_fit_metrics(self):
    self._bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")

  @property
  def metrics(self):
    return [self._bits_per_dim_tracker]

  def compile(self, optimizer="rmsprop", *args, auto_scale_loss=True,
              **kwargs):
    """`keras.Model.compile`; with float16 s/t networks
    (`dtype="mixed_float16"`) and `auto_scale_loss` (the default) the
    optimizer is wrapped in `keras.optimizers.LossScaleOptimizer`, as Keras
    does for a model whose own policy is `mixed_float16` (this model's own
    policy is float32, see `RealNVP`)."""
    super().compile(optimizer, *args, auto_scale_loss=auto_scale_loss,
                    **kwargs)
    if (auto_scale_loss and self._float16_networks() and
        not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)):
      self.optimizer = keras.optimizers.LossScaleOptimizer(
          self.optimizer, name="loss_scale_optimizer")

  def _float16_networks(self):
    return self.network_dtype_policy.compute_dtype == "float16"

  def fit(self, x=None, y=None, batch_size=None, **kwargs):
    """`keras.Model.fit`. A flow with data-dependent initialisation that is
    not initialised yet is first initialised (`initialize`) from the first
    batch of `x`: its first element for a `tf.data.Dataset`, its first
    `batch_size` (default 32) rows for arrays. Other inputs need
    `model.initialize(batch)` before `fit`."""
    if self.flow.needs_initialization:
      self.initialize(*self._inputs.unpack_data(
          _first_batch(x, y, batch_size)))
    return super().fit(x, y, batch_size=batch_size, **kwargs)

  def train_step(self, data):
    """One `fit` step on float pixels (`data` is `y`, or `(y, ...)`; for a
    conditional model `(y, condition)`).

    Uses `tf_realnvp.losses.training_loss`: batch norm in training mode,
    the loss scaled for `tf.distribute`, and by the optimizer's loss scale
    (`optimizer.scale_loss`, as in Keras's own `train_step`). Reports
    `bits_per_dim`, the mean over the batch (the L2 penalty excluded).
    Gradient clipping is the optimizer's (`global_clipnorm`).

    Raises:
      ValueError: the s/t networks compute in float16 and the optimizer
        does no loss scaling (their gradients would underflow).
    """
    if self._float16_networks() and not isinstance(
        self.optimizer, keras.optimizers.LossScaleOptimizer):
      raise ValueError(
          f"Training a RealNVP with dtype policy "
          f"{self.network_dtype_policy.name!r} needs loss scaling: compile "
          "with auto_scale_loss=True (the default) or a "
          "keras.optimizers.LossScaleOptimizer.")
    y, condition = self._inputs.unpack_data(data)
    with tf.GradientTape() as tape:
      loss, per_example = losses.training_loss(self, y, condition=condition)
      loss = self.optimizer.scale_loss(loss)
    grads = tape.gradient(loss, self.trainable_variables)
    self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
    return self._track(per_example)

  def test_step(self, data):
    """Evaluation-mode bits/dim (running batch-norm averages) of `y`."""
    y, condition = self._inputs.unpack_data(data)
    return self._track(losses.bits_per_dim(self, y, False, condition))

  def _track(self, per_example_bits_per_dim):
    tracker = self.metrics[0]
    tracker.update_state(per_example_bits_per_dim)
    return {tracker.name: tracker.result()}


def _first_batch(x, y, batch_size):
  """The first batch `fit` will see, as `fit` would unpack it."""
  if isinstance(x, tf.data.Dataset):
    return next(iter(x))
  if isinstance(x, (tf.Tensor,)) or hasattr(x, "__array__"):
    rows = batch_size or 32
    return x[:rows] if y is None else (x[:rows], y[:rows])
  raise ValueError(
      "This flow initialises from data (Glow's actnorm) and fit cannot take "
      f"a first batch from a {type(x).__name__}: call "
      "model.initialize(pixels[, condition]) on a batch before fit.")
