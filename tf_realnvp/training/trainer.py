"""`Trainer`: the model, optimizer, checkpoints and compiled steps of one
training job, under any `tf.distribute.Strategy`.

The step is `tf_realnvp.optimization.TrainStep`, the one `RealNVP.fit`
takes too: the loss, its scaling for float16 networks, clipping, the guard
of non-finite steps and the weight average are described there. Here: the
learning rate is `LearningRate` (warm-up, constant or cosine) at the
optimizer's step, assigned to the optimizer's rate variable before each
update (so a resumed run follows its flags, and checkpoints keep the layout
of a constant rate); the weight average (`ema_decay > 0`) is a second
model, saved in the checkpoint as `average` (`workdirs.AVERAGE`) beside
`model`, and is what `evaluate`, `classification_accuracy` and
`sample_grid` use (`eval_model`); the loss scale of float16 networks is
checkpointed as `loss_scale` (`workdirs.LOSS_SCALE`). A checkpoint never
holds non-finite weights: the guard stops training before one is written.
"""

import hashlib
import os
import shutil

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import classifier
from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import legacy_checkpoints
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp import workdirs
from tf_realnvp.training import strategies
from tf_realnvp.optimization import graph_options
from tf_realnvp.optimization.averaging import WeightAverage
from tf_realnvp.optimization.loss_scaling import DynamicLossScale
from tf_realnvp.optimization.optimizers import FusedAdam
from tf_realnvp.optimization.schedules import LearningRate
from tf_realnvp.optimization.step import TrainStep

__all__ = ["Trainer", "TrainingError", "fingerprint"]


class TrainingError(RuntimeError):
  """Training cannot start or continue; the message says why and what to do."""


class Trainer:
  """Owns the model, optimizer, checkpoint and compiled steps of one job.

  Args:
    config: a `TrainConfig`.
    strategy: a `tf.distribute.Strategy`; the default strategy if `None`.
    rewrites: the Grappler passes of the compiled steps (a
      `RewriterConfig`, see `graph_options`); if `None`,
      `graph_options.rewrites_for` the strategy's devices.
  """

  def __init__(self, config, strategy=None, rewrites=None):
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.spec = data.dataset_spec(config.dataset, config.image_size,
                                  config.folder_crop)
    self.workdir = config.workdir
    replicas = self.strategy.num_replicas_in_sync
    if config.batch_size % replicas:
      raise ValueError(
          f"batch_size {config.batch_size} (the global batch) is not divisible "
          f"by the {replicas} replicas of the strategy.")
    self.is_chief = strategies.is_chief(self.strategy)
    # The dataset's labels or attributes (a ValueError if it has none).
    self.condition = (data.condition_spec(config.dataset)
                      if config.conditional else None)
    # The initial weights follow from the seed, so that a run restarted
    # before its first checkpoint starts from the same point.
    keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      self.model = config.build_model(self.spec.image_shape,
                                          self.condition)
      # Keras's Adam, one fused kernel per variable (see FusedAdam).
      self.optimizer = FusedAdam(config.learning_rate)
      self.learning_rate = LearningRate(
          config.learning_rate, config.warmup_steps, config.lr_schedule,
          config.train_steps)
      # Built in the scope, or the first `strategy.run` fails with "You must
      # feed a value for placeholder ... cond".
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
      self.average = WeightAverage(
          self.model, config.build_model(self.spec.image_shape,
                                         self.condition),
          config.ema_decay) if config.ema_decay else None
      self.loss_scale = (DynamicLossScale() if self.model.network_dtype_policy
                         .compute_dtype == "float16" else None)
    self._trained = dict(model=self.model, optimizer=self.optimizer,
                         step=self.step)
    # What a checkpoint of this run holds besides `_trained`.
    optional = ((workdirs.AVERAGE, self.average and self.average.average),
                (workdirs.LOSS_SCALE, self.loss_scale))
    self._optional = {k: v for k, v in optional if v is not None}
    self.checkpoint = tf.train.Checkpoint(**self._trained, **self._optional)
    # Every worker restores from the chief's directory; only the chief saves
    # there, the others save (as they must, for the collective ops) into a
    # temporary directory, removed by `close` (and, if the worker was killed,
    # by its next start).
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(self.workdir, workdirs.CHECKPOINTS),
        max_to_keep=config.max_checkpoints)
    self._scratch = None if self.is_chief else strategies.worker_scratch(
        self.strategy, self.workdir)
    self.save_manager = self.manager if self.is_chief else (
        tf.train.CheckpointManager(self.checkpoint, self._scratch,
                                   max_to_keep=1))
    self.start_step = 0
    self.step_fn = TrainStep(
        self.model, self.optimizer, self.strategy,
        grad_clip_norm=config.grad_clip_norm,
        max_nonfinite_steps=config.max_nonfinite_steps,
        global_batch_size=config.batch_size,
        learning_rate=self.learning_rate, average=self.average,
        loss_scale=self.loss_scale, step_counter=self.step,
        rewrites=rewrites)
    self.rewrites = self.step_fn.rewrites
    self._eval_step, self._classify_step, self._likelihood_step = (
        graph_options.compiled(step, self.rewrites)
        for step in (self._distributed_eval_step,
                     self._distributed_classify_step,
                     self._distributed_likelihood_step))
    self._sample_conditions = None

  def close(self):
    """Removes a non-chief worker's temporary checkpoint directory."""
    if self._scratch:
      shutil.rmtree(self._scratch, ignore_errors=True)
      self._scratch = None

  @property
  def global_batch_size(self):
    return self.config.batch_size

  @property
  def eval_model(self):
    """The model evaluations and samples use: the weight average, if any."""
    return self.average.average if self.average else self.model

  # --- Restoring ------------------------------------------------------------

  def restore_or_initialize(self):
    """Resumes from the latest checkpoint in `workdir`, if there is one.

    Refuses (without writing anything) a workdir whose model has another
    architecture, and a checkpoint that cannot be read. The weight average
    starts at the model's weights in a new workdir, and in one whose
    checkpoint was written without averaging; the loss scale at its initial
    value where the checkpoint has none (a run resumed under float16).

    Returns:
      The step training resumes from (0 for a new workdir).
    """
    expected = self.model.config.architecture()
    found = workdirs.read_model_config(self.workdir, required=False)
    if found is not None and found != expected:
      default = self.model.config.architecture_default
      differences = ", ".join(
          f"{k}: {found.get(k, default(k))!r} in workdir, "
          f"{expected.get(k, default(k))!r} requested"
          for k in sorted(set(found) | set(expected))
          if found.get(k) != expected.get(k))
      raise TrainingError(
          f"{self.workdir} holds a model of another architecture "
          f"({differences}). Use a new --workdir, or the flags it was "
          f"trained with (its {workdirs.FLAGS_FILE}).")
    latest = self.manager.latest_checkpoint
    if latest is None:
      if self.model.num_classes:  # Saved with the first checkpoint.
        self.model.set_class_prior(data.class_counts(
            self.config.dataset, self.config.data_dir, self.config.image_size))
      if self.is_chief and found is None:
        workdirs.write_model_config(self.workdir, expected)
      self.initialize_new_run()
      return 0
    try:
      held = workdirs.checkpoint_keys(latest)
      # A checkpoint written without averaging (loss scaling) has no
      # `average` (`loss_scale`) to match.
      objects = dict(self._trained, **{
          k: v for k, v in self._optional.items() if k in held})
      if legacy_checkpoints.is_legacy(latest):
        objects = self._legacy_views(objects)
        logging.warning(
            "%s holds the model in the flat layout of earlier versions; it is "
            "read into the current one, and the next checkpoint is written "
            "in the current layout.", latest)
      tf.train.Checkpoint(**objects).restore(
          latest).assert_existing_objects_matched()
    # A damaged file surfaces as OpError, ValueError, AssertionError, or even
    # IndexError ("Read less bytes than requested"): any failure here means
    # the checkpoint cannot be used.
    except Exception as error:  # pylint: disable=broad-except
      raise TrainingError(
          f"Cannot restore the checkpoint {latest} in {self.workdir}: "
          f"{type(error).__name__}: {io.one_line(error)}. The checkpoint is "
          "corrupt or was written by another model. Nothing was changed; "
          "move the bad checkpoint files away (training then resumes from "
          f"the previous one, listed in {workdirs.CHECKPOINTS}/checkpoint) or "
          "use a new --workdir.") from error
    if workdirs.AVERAGE not in held:
      self._reset_average()
    return int(self.step.numpy())

  def initialize_new_run(self):
    """What a run from step 0 starts with (`restore_or_initialize` does it
    for a new workdir): the data-dependent initialisation of the steps that
    have one (Glow's actnorm), from the first global batch of the training
    stream (the same on every worker), then the weight average at the
    model's weights."""
    if self.model.flow.needs_initialization:
      y, condition = self._unpack(next(iter(self._dataset(0))))
      self.model.initialize(y, condition)
    self._reset_average()

  def _legacy_views(self, objects):
    """`objects` with the model, its average and the optimizer replaced by
    views in the flat layout (`tf_realnvp.legacy_checkpoints`)."""
    views = dict(objects, model=legacy_checkpoints.model_view(self.model),
                 optimizer=legacy_checkpoints.optimizer_view(self.optimizer,
                                                             self.model))
    if workdirs.AVERAGE in objects:
      views[workdirs.AVERAGE] = legacy_checkpoints.model_view(
          self.average.average)
    return views

  def _reset_average(self):
    if self.average:
      self.average.reset()

  # --- Compiled steps -------------------------------------------------------

  def _unpack(self, batch):
    """`(y, condition)` of a batch (`condition` `None` if unconditional)."""
    return batch if self.condition else (batch, None)

  def _replica_eval(self, batch):
    y, condition = self._unpack(batch)
    per_example = losses.bits_per_dim(self.eval_model, y, False, condition)
    return tf.reduce_sum(per_example), tf.cast(tf.size(per_example), tf.float32)

  def _replica_likelihood(self, batch):
    """Sum of `-log2 P(x) / D` (`RealNVP.log_likelihood`) of the 8-bit
    images of a dequantised batch, and the count."""
    y, condition = self._unpack(batch)
    model = self.eval_model
    per_example = losses.to_bits_per_dim(
        model.log_likelihood(pixels.to_uint8(y), condition), model.num_dims)
    return tf.reduce_sum(per_example), tf.cast(tf.size(per_example), tf.float32)

  def _replica_classify(self, batch):
    """Correct predictions of the generative classifier, and the count."""
    y, labels = batch
    model = self.eval_model
    _, predicted = classifier.predict(
        model.class_log_likelihoods(pixels.to_uint8(y)), model.class_log_prior)
    correct = tf.equal(predicted, labels)
    return (tf.reduce_sum(tf.cast(correct, tf.float32)),
            tf.cast(tf.size(correct), tf.float32))

  def _distributed_sums(self, replica_fn, batch):
    """`replica_fn(batch)`'s pair of per-replica sums, summed over replicas."""
    total, count = self.strategy.run(replica_fn, args=(batch,))
    return (self.strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None),
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

  def _distributed_eval_step(self, batch):
    return self._distributed_sums(self._replica_eval, batch)

  def _distributed_classify_step(self, batch):
    return self._distributed_sums(self._replica_classify, batch)

  def _distributed_likelihood_step(self, batch):
    return self._distributed_sums(self._replica_likelihood, batch)

  # --- Public operations ----------------------------------------------------

  def train_dataset(self, start_step):
    """The distributed training stream from `start_step` on.

    Each input pipeline keeps its consecutive part of every global batch
    (`data.train_dataset(num_shards=...)`), so the replicas of a step see
    together exactly the global batch a single device would.
    """
    def dataset_fn(context):
      return self._dataset(
          start_step, num_shards=context.num_input_pipelines,
          shard_index=context.input_pipeline_id,
          output_batch_size=context.get_per_replica_batch_size(
              self.config.batch_size))

    return self.strategy.distribute_datasets_from_function(dataset_fn)

  def _dataset(self, start_step, **sharding):
    """`data.train_dataset` of the config from `start_step` on (one input
    pipeline's part of each global batch with `sharding`)."""
    config = self.config
    return data.train_dataset(
        config.dataset, config.batch_size, config.seed,
        data_dir=config.data_dir, image_size=config.image_size,
        start_step=start_step, shuffle_buffer=config.shuffle_buffer,
        conditional=config.conditional,
        perturbation_rate=config.perturbation_rate, classes=config.classes,
        folder_crop=config.folder_crop, **sharding)

  def train_step(self, batch):
    """Runs one guarded step (`TrainStep`); returns the batch's mean
    bits/dim (NaN for a skipped step; finite for one the loss scaler
    skipped).

    Raises:
      TrainingDiverged: after `max_nonfinite_steps` skipped steps in a row.
    """
    return self.step_fn(batch)[0]

  @property
  def nonfinite_steps(self):
    return self.step_fn.nonfinite_steps

  @property
  def consecutive_nonfinite(self):
    return self.step_fn.consecutive_nonfinite

  @property
  def overflow_steps(self):
    return self.step_fn.overflow_steps

  def evaluate(self):
    """Test-split bits/dim in evaluation mode (running batch-norm averages);
    `-log p(x | c)` with each example's condition for a conditional model.
    With the config's `classes`, of the test examples of those classes."""
    return self._test_mean(self._eval_step,
                           self.config.eval_examples or None,
                           self.config.conditional)

  def discrete_bits_per_dim(self):
    """`-log2 P(x) / D` of the test split's 8-bit images, the discrete
    likelihood estimated as the export serves it (`RealNVP.log_likelihood`),
    on the first `likelihood_examples` test examples (0: all of them),
    evaluation mode. Below `evaluate`'s bound in expectation."""
    return self._test_mean(self._likelihood_step,
                           self.config.likelihood_examples or None,
                           self.config.conditional)

  def classification_accuracy(self):
    """Test accuracy of the generative classifier (`RealNVP.classify`'s
    argmax) on the first `classify_examples` test examples (each costs `K`
    flow passes), or `None` for a model without class labels."""
    if not (self.model.num_classes and self.config.classify_examples):
      return None
    return self._test_mean(self._classify_step,
                           self.config.classify_examples, True)

  def _test_mean(self, step, max_examples, conditional):
    """`sum / count` of a distributed `step`'s pairs over the test split (its
    examples of `classes`, if the config has them)."""
    dataset = data.eval_dataset(
        self.config.dataset, self.global_batch_size,
        data_dir=self.config.data_dir, image_size=self.config.image_size,
        seed=self.config.seed, max_examples=max_examples,
        conditional=conditional, classes=self.config.classes,
        folder_crop=self.config.folder_crop)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    total, count = 0.0, 0.0
    for batch in self.strategy.experimental_distribute_dataset(
        dataset.with_options(options)):
      batch_total, batch_count = step(batch)
      total += float(batch_total)
      count += float(batch_count)
    if not count:
      of_classes = (f" of classes {list(self.config.classes)}"
                    if self.config.classes else "")
      raise TrainingError(f"The test split of {self.config.dataset} has no "
                          f"example{of_classes}.")
    return total / count

  def sample_grid(self, temperature):
    """A uint8 grid image (`tf_realnvp.io.image_grid`) of `num_samples`
    samples at `temperature`.

    Conditional models: one row per condition, `num_samples // rows` (at
    least 1) samples each; the rows are the classes `0 ... K-1` of a class
    model, and the conditions of the first `min(8, num_samples)` test
    examples for condition vectors (CelebA's attributes).
    """
    if not self.condition:
      samples = self.eval_model.sample(self.config.num_samples, temperature,
                                       seed=self.config.seed)
      return io.image_grid(io.square_tiles(pixels.to_uint8(samples).numpy()))
    rows = self._grid_conditions()
    columns = max(1, self.config.num_samples // len(rows))
    samples = self.eval_model.sample(
        len(rows) * columns, temperature, seed=self.config.seed,
        condition=np.repeat(rows, columns, axis=0))
    tiles = pixels.to_uint8(samples).numpy()
    return io.image_grid(tiles.reshape((len(rows), columns) + tiles.shape[1:]))

  def _grid_conditions(self):
    """The conditions of the rows of `sample_grid`, computed once."""
    if self._sample_conditions is None:
      if self.model.num_classes:
        self._sample_conditions = np.arange(self.model.num_classes)
      else:
        examples = data.load_images(
            self.config.dataset, self.spec.test_split, self.config.data_dir,
            self.config.image_size, conditional=True,
            folder_crop=self.config.folder_crop)
        self._sample_conditions = np.stack([
            condition.numpy() for _, condition in
            examples.take(min(8, self.config.num_samples))])
    return self._sample_conditions


def fingerprint(model, strategy=None):
  """A SHA-256 of every weight's bytes, in order: equal iff bit-identical.

  Reads this process's first replica of each variable (no communication:
  under `multi_worker`, reading a running average across replicas is a
  collective operation).
  """
  strategy = strategy or tf.distribute.get_strategy()
  digest = hashlib.sha256()
  for weight in model.weights:
    local = strategy.experimental_local_results(weight.value)[0]
    digest.update(np.ascontiguousarray(local.numpy()).tobytes())
  return digest.hexdigest()
