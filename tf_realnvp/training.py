"""Training and evaluation of `RealNVP` under any `tf.distribute.Strategy`.

`train(config)` runs the whole job: data (`tf_realnvp.data`), model and
optimizer created inside `strategy.scope()`, a `tf.function` train step run
with `strategy.run` on distributed batches, checkpoints with
`tf.train.CheckpointManager` and automatic resume from `workdir`, TensorBoard
summaries, a progress bar, test-split evaluation written to
`workdir/metrics.jsonl`, and sample grids in `workdir/samples/`.

Loss: the mean negative log-likelihood in bits/dim of the dequantised batch,
`-log p(y) / (D ln 2)` (exactly `RealNVP.bits_per_dim`), plus the L2 penalty
on the weight-norm scales (`model.losses`). Per replica the loss is scaled
with `tf.nn.compute_average_loss(..., global_batch_size)`, as Keras 3 sums
gradients across replicas.

Guard: the gradients are clipped by their global norm (computed on the
gradient of the global batch) and a step whose loss or gradient norm is not
finite is skipped (no variable changes, not even the optimizer's step count)
and counted; after `max_nonfinite_steps` such steps in a row training stops
with `TrainingDiverged`, before anything is written. A checkpoint therefore
never holds non-finite weights.

Workdir layout:
  flags.txt            the resolved flags (written by `train.py`)
  model_config.json    the architecture; resuming with another one is refused
  checkpoints/         `tf.train.CheckpointManager` (model, optimizer, step)
  metrics.jsonl        one JSON line per evaluation
  samples/             PNG grids, `step_<step>_t<temperature>.png`
  tensorboard/         summaries (`train/`, `test/`)
"""

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp import workdirs
from tf_realnvp.model import RealNVP
from tf_realnvp.optimizers import FusedAdam
from tf_realnvp.progress import ProgressBar
from tf_realnvp.progress import Throughput

ARCHITECTURE_KEYS = ("image_shape", "num_scales", "num_blocks", "num_filters",
                     "alpha", "coupling_batch_norm")

# Keras dtype policies of the s/t networks that `Trainer` trains with (see
# `RealNVP(dtype=...)`): the flow itself always computes in float32.
DTYPE_POLICIES = ("float32", "mixed_bfloat16")


class TrainingError(RuntimeError):
  """Training cannot start or continue; the message says why and what to do."""


class TrainingDiverged(TrainingError):
  """Too many consecutive steps had a non-finite loss or gradient."""


@dataclasses.dataclass
class TrainConfig:
  """Everything `train` needs; `train.py` fills it from flags."""
  workdir: str
  dataset: str = data.DEFAULT_NAME
  data_dir: str = None
  image_size: int = None
  train_steps: int = 1000
  batch_size: int = 64
  learning_rate: float = 1e-3
  num_scales: int = 2
  num_blocks: int = 4
  num_filters: int = 32
  l2_scale: float = 5e-5
  batch_norm_momentum: float = 0.95
  average_in_training: bool = False
  coupling_batch_norm: bool = True
  synchronized_batch_norm: bool = True
  recompute_gradients: bool = False
  dtype_policy: str = "float32"
  grad_clip_norm: float = 100.0
  max_nonfinite_steps: int = 10
  eval_every: int = 500
  eval_examples: int = 0  # 0: the whole test split.
  checkpoint_every: int = 500
  sample_every: int = 500
  num_samples: int = 64
  temperature: float = 0.7
  log_every: int = 10
  seed: int = 0
  shuffle_buffer: int = data.DEFAULT_SHUFFLE_BUFFER
  max_checkpoints: int = 3

  def __post_init__(self):
    for name in ("train_steps", "batch_size", "num_scales", "num_filters",
                 "eval_every", "checkpoint_every", "sample_every",
                 "num_samples", "log_every", "max_nonfinite_steps",
                 "shuffle_buffer", "max_checkpoints"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(
            f"{name} must be positive, received {getattr(self, name)!r}.")
    for name in ("num_blocks", "eval_examples"):
      if int(getattr(self, name)) < 0:
        raise ValueError(f"{name} must be >= 0, received {getattr(self, name)!r}.")
    for name in ("learning_rate", "grad_clip_norm", "temperature"):
      if not getattr(self, name) > 0:
        raise ValueError(
            f"{name} must be positive, received {getattr(self, name)!r}.")
    if not self.workdir:
      raise ValueError("workdir is required.")
    if self.dtype_policy not in DTYPE_POLICIES:
      raise ValueError(
          f"dtype_policy must be one of {DTYPE_POLICIES}, received "
          f"{self.dtype_policy!r}. (mixed_float16 would need loss scaling, "
          "which this training loop does not do; mixed_bfloat16 has "
          "float32's range and needs none.)")


def build_model(config, image_shape):
  """The `RealNVP` described by `config` for images of `image_shape`."""
  return RealNVP(
      image_shape,
      num_scales=config.num_scales,
      num_blocks=config.num_blocks,
      num_filters=config.num_filters,
      l2_scale=config.l2_scale,
      batch_norm_momentum=config.batch_norm_momentum,
      average_in_training=config.average_in_training,
      coupling_batch_norm=config.coupling_batch_norm,
      synchronized_batch_norm=config.synchronized_batch_norm,
      recompute_gradients=config.recompute_gradients,
      dtype=config.dtype_policy)


def architecture(model):
  """The parts of `model.get_config()` that define the variables' meaning."""
  config = model.get_config()
  return {key: list(config[key]) if key == "image_shape" else config[key]
          for key in ARCHITECTURE_KEYS}


class Trainer:
  """Owns the model, optimizer, checkpoint and compiled steps of one job.

  Args:
    config: a `TrainConfig`.
    strategy: a `tf.distribute.Strategy`; the default strategy if `None`.
  """

  def __init__(self, config, strategy=None):
    self.config = config
    self.strategy = strategy or tf.distribute.get_strategy()
    self.spec = data.dataset_spec(config.dataset, config.image_size)
    self.workdir = config.workdir
    replicas = self.strategy.num_replicas_in_sync
    if config.batch_size % replicas:
      raise ValueError(
          f"batch_size {config.batch_size} (the global batch) is not divisible "
          f"by the {replicas} replicas of the strategy.")
    self.is_chief = is_chief(self.strategy)
    # The initial weights follow from the seed, so that a run restarted
    # before its first checkpoint starts from the same point.
    keras.utils.set_random_seed(config.seed)
    with self.strategy.scope():
      self.model = build_model(config, self.spec.image_shape)
      # Keras's Adam, one fused kernel per variable (see FusedAdam).
      self.optimizer = FusedAdam(config.learning_rate)
      # Built in the scope, or the first `strategy.run` fails (DESIGN.md).
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.checkpoint = tf.train.Checkpoint(
        model=self.model, optimizer=self.optimizer, step=self.step)
    # Every worker restores from the chief's directory; only the chief saves
    # there, the others save (as they must, for the collective ops) into a
    # temporary directory, removed by `close` (and, if the worker was killed,
    # by its next start).
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(self.workdir, workdirs.CHECKPOINTS),
        max_to_keep=config.max_checkpoints)
    self._scratch = None if self.is_chief else _worker_scratch(
        self.strategy, self.workdir)
    self.save_manager = self.manager if self.is_chief else (
        tf.train.CheckpointManager(self.checkpoint, self._scratch,
                                   max_to_keep=1))
    self.nonfinite_steps = 0
    self.consecutive_nonfinite = 0
    self.start_step = 0
    self._train_step = tf.function(self._distributed_train_step, autograph=False)
    self._eval_step = tf.function(self._distributed_eval_step, autograph=False)

  def close(self):
    """Removes a non-chief worker's temporary checkpoint directory."""
    if self._scratch:
      shutil.rmtree(self._scratch, ignore_errors=True)
      self._scratch = None

  @property
  def global_batch_size(self):
    return self.config.batch_size

  # --- Restoring ------------------------------------------------------------

  def restore_or_initialize(self):
    """Resumes from the latest checkpoint in `workdir`, if there is one.

    Refuses (without writing anything) a workdir whose model has another
    architecture, and a checkpoint that cannot be read.

    Returns:
      The step training resumes from (0 for a new workdir).
    """
    config_path = os.path.join(self.workdir, workdirs.MODEL_CONFIG)
    expected = architecture(self.model)
    if os.path.exists(config_path):
      with open(config_path) as f:
        found = json.load(f)
      if found != expected:
        differences = ", ".join(
            f"{k}: {found.get(k)!r} in workdir, {expected[k]!r} requested"
            for k in expected if found.get(k) != expected[k])
        raise TrainingError(
            f"{self.workdir} holds a model of another architecture "
            f"({differences}). Use a new --workdir, or the flags it was "
            f"trained with (its {workdirs.FLAGS_FILE}).")
    latest = self.manager.latest_checkpoint
    if latest is None:
      if self.is_chief and not os.path.exists(config_path):
        _write_atomically(config_path, json.dumps(expected, indent=2) + "\n")
      return 0
    try:
      self.checkpoint.restore(latest).assert_existing_objects_matched()
    # A damaged file surfaces as OpError, ValueError, AssertionError, or even
    # IndexError ("Read less bytes than requested"): any failure here means
    # the checkpoint cannot be used.
    except Exception as error:  # pylint: disable=broad-except
      raise TrainingError(
          f"Cannot restore the checkpoint {latest} in {self.workdir}: "
          f"{type(error).__name__}: {_first_line(error)}. The checkpoint is "
          "corrupt or was written by another model. Nothing was changed; "
          "move the bad checkpoint files away (training then resumes from "
          f"the previous one, listed in {workdirs.CHECKPOINTS}/checkpoint) or "
          "use a new --workdir.") from error
    return int(self.step.numpy())

  # --- Compiled steps -------------------------------------------------------

  def _replica_gradients(self, y):
    """Per replica: loss scaled for the global batch, global-batch gradients."""
    variables = self.model.trainable_variables
    with tf.GradientTape() as tape:
      loss, per_example = losses.training_loss(self.model, y,
                                               self.global_batch_size)
    grads = tape.gradient(loss, variables)
    context = tf.distribute.get_replica_context()
    # The global norm must be the norm of the global-batch gradient.
    total_grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    total_loss = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                    tf.reduce_sum(per_example))
    _, norm = tf.clip_by_global_norm(total_grads, self.config.grad_clip_norm)
    finite = tf.math.logical_and(tf.math.is_finite(norm),
                                 tf.math.is_finite(total_loss))
    # Keras 3 sums the gradients across replicas: pass each replica's share
    # of the clipped global gradient.
    factor = tf.minimum(1.0, self.config.grad_clip_norm / norm) / tf.cast(
        context.num_replicas_in_sync, norm.dtype)
    return [g * factor for g in total_grads], total_loss, finite

  def _apply(self, grads):
    self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))

  def _distributed_train_step(self, batch):
    """One step on a distributed batch; returns `(sum of bits/dim, finite)`.

    The step counter counts batches, skipped or not, so that the data
    position follows from it on resume.
    """
    running_stats = self.model.non_trainable_variables
    saved_stats = [tf.identity(v) for v in running_stats]
    grads, total_loss, finite = self.strategy.run(
        self._replica_gradients, args=(batch,))
    total_loss = self.strategy.experimental_local_results(total_loss)[0]
    finite = self.strategy.experimental_local_results(finite)[0]

    def restore_running_stats():
      # The forward pass already updated the batch-norm running averages.
      for variable, saved in zip(running_stats, saved_stats):
        variable.assign(saved)

    # A cross-replica `tf.cond` around `strategy.run`: a merge_call (the
    # optimizer's) is not allowed inside a replica-context cond.
    tf.cond(finite, lambda: self.strategy.run(self._apply, args=(grads,)),
            restore_running_stats)
    self.step.assign_add(1)
    return total_loss, finite

  def _replica_eval(self, y):
    per_example = losses.bits_per_dim(self.model, y, training=False)
    return tf.reduce_sum(per_example), tf.cast(tf.size(per_example), tf.float32)

  def _distributed_eval_step(self, batch):
    total, count = self.strategy.run(self._replica_eval, args=(batch,))
    return (self.strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None),
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

  # --- Public operations ----------------------------------------------------

  def train_dataset(self, start_step):
    """The distributed training stream from `start_step` on.

    Each input pipeline keeps its consecutive part of every global batch
    (`data.train_dataset(num_shards=...)`), so the replicas of a step see
    together exactly the global batch a single device would.
    """
    config = self.config

    def dataset_fn(context):
      return data.train_dataset(
          config.dataset, config.batch_size, config.seed,
          data_dir=config.data_dir, image_size=config.image_size,
          start_step=start_step, shuffle_buffer=config.shuffle_buffer,
          num_shards=context.num_input_pipelines,
          shard_index=context.input_pipeline_id,
          output_batch_size=context.get_per_replica_batch_size(
              config.batch_size))

    return self.strategy.distribute_datasets_from_function(dataset_fn)

  def train_step(self, batch):
    """Runs one guarded step; returns the batch's mean bits/dim (or NaN).

    Raises:
      TrainingDiverged: after `max_nonfinite_steps` skipped steps in a row.
    """
    total_loss, finite = self._train_step(batch)
    if bool(finite):
      self.consecutive_nonfinite = 0
      return float(total_loss) / self.global_batch_size
    self.nonfinite_steps += 1
    self.consecutive_nonfinite += 1
    if self.consecutive_nonfinite >= self.config.max_nonfinite_steps:
      raise TrainingDiverged(
          f"{self.consecutive_nonfinite} consecutive steps had a non-finite "
          f"loss or gradient (step {int(self.step.numpy())}; "
          f"{self.nonfinite_steps} skipped in this run). Training stopped; "
          "the last checkpoint holds the last finite weights. Check the data "
          "for NaN or out-of-range pixels, or lower --learning_rate.")
    return float("nan")

  def evaluate(self):
    """Test-split bits/dim in evaluation mode (running batch-norm averages)."""
    dataset = data.eval_dataset(
        self.config.dataset, self.global_batch_size,
        data_dir=self.config.data_dir, image_size=self.config.image_size,
        seed=self.config.seed, max_examples=self.config.eval_examples or None)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    total, count = 0.0, 0.0
    for batch in self.strategy.experimental_distribute_dataset(
        dataset.with_options(options)):
      batch_total, batch_count = self._eval_step(batch)
      total += float(batch_total)
      count += float(batch_count)
    if not count:
      raise TrainingError(f"The test split of {self.config.dataset} is empty.")
    return total / count

  def sample_grid(self, temperature):
    """A uint8 `[rows * H, cols * W, C]` grid of `num_samples` samples."""
    samples = self.model.sample(self.config.num_samples, temperature,
                                seed=self.config.seed)
    return image_grid(pixels.to_uint8(samples).numpy())


def prepare_trainer(config, strategy=None):
  """Prepares the data and restores (or initialises) a `Trainer`.

  Raises before writing anything to `workdir` when the dataset is missing,
  the workdir holds another architecture or a checkpoint is unreadable.
  """
  data.prepare(config.dataset, config.data_dir)
  trainer = Trainer(config, strategy)
  trainer.start_step = trainer.restore_or_initialize()
  return trainer


def run(trainer, stream=None):
  """Trains a prepared `Trainer` to `train_steps`; returns the last evaluation.

  Only the chief writes metrics, samples, summaries and checkpoints into
  `workdir`; every worker runs the same steps and evaluations.

  Args:
    trainer: from `prepare_trainer`.
    stream: where the progress bar goes (default `sys.stderr`).

  Returns:
    The last line of `metrics.jsonl`, as a dict.
  """
  config, start = trainer.config, trainer.start_step
  try:
    if trainer.is_chief:
      _forget_metrics_after(trainer.workdir, start)
      writers = {split: tf.summary.create_file_writer(
          os.path.join(config.workdir, "tensorboard", split))
                 for split in ("train", "test")}
    else:
      writers = {split: tf.summary.create_noop_writer()
                 for split in ("train", "test")}
    progress = ProgressBar(config.train_steps, stream)
    if start:
      progress.message(f"Resuming from step {start} in {config.workdir}.")
    last = None
    if start < config.train_steps:
      last = _train_loop(trainer, start, writers, progress)
    if last is None or last["step"] != config.train_steps:
      last = _evaluate_and_record(trainer, config.train_steps, None, None,
                                  writers, progress)
    progress.close()
  finally:
    trainer.close()
  return last


def train(config, strategy=None, stream=None):
  """`run(prepare_trainer(config, strategy), stream)`."""
  return run(prepare_trainer(config, strategy), stream)


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


def _train_loop(trainer, start, writers, progress):
  """Steps `start + 1 ... train_steps` with their periodic side jobs."""
  config = trainer.config
  throughput = Throughput()
  recent = []  # Finite bits/dim since the last log line.
  train_bpd, images_per_sec, last = float("nan"), float("nan"), None
  iterator = iter(trainer.train_dataset(start))
  for step in range(start + 1, config.train_steps + 1):
    loss = trainer.train_step(next(iterator))
    throughput.add(config.batch_size)
    if math.isfinite(loss):
      recent.append(loss)
    else:
      progress.message(f"Step {step}: non-finite loss or gradient, skipped "
                       f"({trainer.nonfinite_steps} so far).")
    is_last = step == config.train_steps
    if step % config.log_every == 0 or is_last:
      images_per_sec, seconds_per_step = throughput.measure()
      train_bpd = float(np.mean(recent)) if recent else float("nan")
      recent = []
      progress.update(step, train_bpd, images_per_sec, seconds_per_step)
      with writers["train"].as_default(step=step):
        tf.summary.scalar("bits_per_dim", train_bpd)
        tf.summary.scalar("images_per_sec", images_per_sec)
        tf.summary.scalar("skipped_steps", trainer.nonfinite_steps)
    periodic = [
        (config.checkpoint_every, lambda: trainer.save_manager.save(step)),
        (config.eval_every, lambda: _evaluate_and_record(
            trainer, step, train_bpd, images_per_sec, writers, progress)),
        (config.sample_every, lambda: _write_samples(trainer, step, writers)),
    ]
    throughput.pause()
    for every, job in periodic:
      if step % every == 0 or is_last:
        result = job()
        if isinstance(result, dict):
          last = result
    throughput.resume()
  return last


def _evaluate_and_record(trainer, step, train_bpd, images_per_sec, writers,
                         progress):
  """Evaluates, appends to `metrics.jsonl`, writes summaries; returns the line."""
  test_bpd = trainer.evaluate()
  record = dict(step=int(step), train_bits_per_dim=_json_float(train_bpd),
                test_bits_per_dim=test_bpd,
                images_per_sec=_json_float(images_per_sec))
  if trainer.is_chief:
    with open(os.path.join(trainer.workdir, workdirs.METRICS_FILE), "a") as f:
      f.write(json.dumps(record) + "\n")
  with writers["test"].as_default(step=step):
    tf.summary.scalar("bits_per_dim", test_bpd)
  progress.message(f"step {step}: test bits/dim {test_bpd:.4f}")
  return record


def _write_samples(trainer, step, writers):
  """Sample grids at temperature 1.0 and `config.temperature`, PNG + summary.

  Every worker samples (reading the running averages outside a replica is a
  collective operation under `multi_worker`); the chief alone writes.
  """
  for temperature in sorted({1.0, trainer.config.temperature}):
    grid = trainer.sample_grid(temperature)
    if not trainer.is_chief:
      continue
    write_png(os.path.join(trainer.workdir, "samples",
                           f"step_{step:07d}_t{temperature:g}.png"), grid)
    with writers["train"].as_default(step=step):
      tf.summary.image(f"samples/temperature_{temperature:g}", grid[None])


def _forget_metrics_after(workdir, step):
  """Drops `metrics.jsonl` lines after `step`: a resumed run redoes them."""
  path = os.path.join(workdir, workdirs.METRICS_FILE)
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  kept = [line for line in lines if json.loads(line)["step"] <= step]
  if len(kept) != len(lines):
    _write_atomically(path, "".join(kept))


def is_chief(strategy):
  """Whether this process writes the job's outputs (worker 0, or `chief`)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  return (resolver.task_type == "worker" and resolver.task_id == 0 and
          "chief" not in resolver.cluster_spec().as_dict())


def _worker_scratch(strategy, workdir):
  """A non-chief worker's empty checkpoint directory under the temp dir.

  Named after the task and the workdir, so that a restarted worker replaces
  what a killed one left behind instead of adding to it.
  """
  resolver = strategy.cluster_resolver
  digest = hashlib.sha256(os.path.abspath(workdir).encode()).hexdigest()[:16]
  path = os.path.join(
      tempfile.gettempdir(),
      f"tf_realnvp_worker_{resolver.task_type}{resolver.task_id}_{digest}")
  shutil.rmtree(path, ignore_errors=True)
  os.makedirs(path)
  return path


def _json_float(value):
  """`None` for NaN/None (JSON has no NaN), else a float."""
  return None if value is None or not math.isfinite(value) else float(value)


def image_grid(images):
  """Tiles uint8 images `[N, H, W, C]` into a near-square grid, 1-pixel gaps."""
  n, height, width, channels = images.shape
  cols = int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.zeros((rows * (height + 1) - 1, cols * (width + 1) - 1, channels),
                  np.uint8)
  for i, image in enumerate(images):
    r, c = divmod(i, cols)
    grid[r * (height + 1):r * (height + 1) + height,
         c * (width + 1):c * (width + 1) + width] = image
  return grid


def write_png(path, image):
  """Writes a uint8 `[H, W, C]` image as PNG, atomically."""
  _write_atomically(path, tf.io.encode_png(image).numpy(), mode="wb")


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  _write_atomically(path, text)


def _write_atomically(path, content, mode="w"):
  """Writes to a temporary file, then renames: never a half-written file."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  temporary = f"{path}.tmp-{os.getpid()}"
  with open(temporary, mode) as f:
    f.write(content)
  os.replace(temporary, path)


def _first_line(error):
  return str(error).strip().splitlines()[0] if str(error).strip() else ""
