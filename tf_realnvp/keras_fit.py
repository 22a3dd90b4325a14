"""`RealNVP`'s Keras training interface: `compile`, `fit`, `evaluate`."""

import math

import keras
import tensorflow as tf

from tf_realnvp import losses
from tf_realnvp.optimization.averaging import WeightAverage
from tf_realnvp.optimization.loss_scaling import DynamicLossScale
from tf_realnvp.optimization.step import TrainStep

__all__ = ["KerasFit"]


class KerasFit:
  """The `keras.Model` methods that make `model.fit(...)` train a flow.

  Mixed into `RealNVP` (before `keras.Model`). `fit` takes
  `tf_realnvp.optimization.TrainStep`, the step of `train.py`: the same
  loss, clipping by the global norm, guard against non-finite steps
  (`TrainingDiverged` after too many in a row), weight average and, for
  float16 s/t networks, dynamic loss scaling; `compile` takes their
  settings. `fit` reports `bits_per_dim`, the mean over the batches of the
  epoch (skipped steps left out); a flow whose steps initialise from data
  (Glow's actnorm) is initialised from the first batch first. The step is
  one compiled function per batch: `run_eagerly` and `jit_compile` are not
  used, and `steps_per_execution` batches run one after the other.
  """

  def _init_fit(self):
    self._bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
    # Plain Python objects, so that neither Keras nor tf.train.Checkpoint
    # tracks them as part of the model.
    self._fit_settings = None
    self._fit_step = None
    self._weight_average = None

  @property
  def metrics(self):
    return [self._bits_per_dim_tracker]

  @property
  def fit_step(self):
    """The `TrainStep` of `fit` (built by `make_train_function`, which
    `fit` calls), with its counts of skipped steps and its loss scale; or
    `None` before."""
    return self._fit_step

  @property
  def averaged_model(self):
    """The weight average `fit` keeps (`compile(ema_decay=...)`), a
    `RealNVP` of the same config, or `None`."""
    return self._weight_average and self._weight_average.average

  def compile(self, optimizer="rmsprop", *args, grad_clip_norm=100.0,
              max_nonfinite_steps=10, ema_decay=0.0, auto_scale_loss=True,
              **kwargs):
    """`keras.Model.compile`, and the settings of `fit`'s `TrainStep`.

    Args:
      optimizer: a Keras optimizer (or its name), without clipping of its
        own (`clipnorm`, `global_clipnorm`, `clipvalue`: `fit` clips by
        `grad_clip_norm`) and not a `LossScaleOptimizer` (`fit` scales the
        loss itself).
      grad_clip_norm: the global norm gradients are clipped to.
      max_nonfinite_steps: non-finite steps in a row before `fit` raises
        `TrainingDiverged`.
      ema_decay: `> 0` keeps an exponential moving average of the weights,
        `averaged_model` (`tf_realnvp.optimization.WeightAverage`).
      auto_scale_loss: with float16 s/t networks (`dtype="mixed_float16"`),
        train with dynamic loss scaling (`DynamicLossScale`); required for
        them.
      *args, **kwargs: the other `keras.Model.compile` arguments.
    """
    super().compile(optimizer, *args, auto_scale_loss=auto_scale_loss,
                    **kwargs)
    optimizer = self.optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
      raise ValueError("RealNVP.fit scales the loss itself (compile's "
                       "auto_scale_loss): pass the inner optimizer.")
    clipping = [name for name in ("clipnorm", "global_clipnorm", "clipvalue")
                if getattr(optimizer, name, None)]
    if clipping:
      raise ValueError(f"RealNVP.fit clips gradients by their global norm "
                       f"(compile's grad_clip_norm): create the optimizer "
                       f"without {', '.join(clipping)}.")
    float16 = self.network_dtype_policy.compute_dtype == "float16"
    if float16 and not auto_scale_loss:
      raise ValueError(
          f"Training a RealNVP with dtype policy "
          f"{self.network_dtype_policy.name!r} needs loss scaling: compile "
          "with auto_scale_loss=True (the default).")
    if not 0.0 <= ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), received "
                       f"{ema_decay!r}.")
    self._fit_settings = dict(grad_clip_norm=grad_clip_norm,
                              max_nonfinite_steps=max_nonfinite_steps,
                              ema_decay=ema_decay, loss_scaling=float16)
    self.train_function = None

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

  def make_train_function(self, force=False):
    """Keras's hook: `fit`'s function of an iterator runs `TrainStep`."""
    if self.train_function is not None and not force:
      return self.train_function
    self._fit_step = step = self._train_step()
    tracker = self._bits_per_dim_tracker

    def train_function(iterator):
      for done in range(self.steps_per_execution):
        try:
          batch = next(iterator)
        except StopIteration:
          if not done:
            raise
          break
        mean, count = step(batch)
        if math.isfinite(mean):
          tracker.update_state(mean, sample_weight=count)
      return {tracker.name: tracker.result()}

    self.train_function = train_function
    return train_function

  def _train_step(self):
    """The `TrainStep` of `compile`'s settings, its optimizer built and its
    weight average started at the model's weights, under the model's
    strategy."""
    if self._fit_settings is None:
      raise ValueError("Call compile(optimizer) before fit.")
    settings = self._fit_settings
    strategy = self.distribute_strategy
    with strategy.scope():
      if not self.optimizer.built:
        self.optimizer.build(self.trainable_variables)
      self._weight_average = WeightAverage(
          self, type(self).from_config(self.get_config()),
          settings["ema_decay"]) if settings["ema_decay"] else None
      loss_scale = DynamicLossScale() if settings["loss_scaling"] else None
    if self._weight_average:
      self._weight_average.reset()
    return TrainStep(
        self, self.optimizer, strategy,
        grad_clip_norm=settings["grad_clip_norm"],
        max_nonfinite_steps=settings["max_nonfinite_steps"],
        average=self._weight_average, loss_scale=loss_scale)

  def test_step(self, data):
    """Evaluation-mode bits/dim (running batch-norm averages) of `y`."""
    y, condition = self._inputs.unpack_data(data)
    per_example = losses.bits_per_dim(self, y, False, condition)
    tracker = self._bits_per_dim_tracker
    tracker.update_state(per_example)
    return {tracker.name: tracker.result()}


def _first_batch(x, y, batch_size):
  """The first batch `fit` will see, as `fit` would unpack it."""
  if isinstance(x, tf.data.Dataset):
    return next(iter(x))
  if isinstance(x, tf.Tensor) or hasattr(x, "__array__"):
    rows = batch_size or 32
    return x[:rows] if y is None else (x[:rows], y[:rows])
  raise ValueError(
      "This flow initialises from data (Glow's actnorm) and fit cannot take "
      f"a first batch from a {type(x).__name__}: call "
      "model.initialize(pixels[, condition]) on a batch before fit.")
