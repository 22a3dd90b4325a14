"""The training job: `train(config)` from data to the last evaluation.

`train(config)` = `run(prepare_trainer(config))`: the data are prepared, the
`Trainer` restores (or initialises) from `config.workdir`, then the loop
runs the train step on distributed batches with its periodic jobs:
checkpoints (`tf.train.CheckpointManager`), test-split evaluations appended
to `metrics.jsonl`, sample grids, TensorBoard summaries and a progress bar.
The workdir's files are listed in `tf_realnvp.workdirs`.
"""

import math
import os
import time

import numpy as np
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import likelihood
from tf_realnvp import workdirs
from tf_realnvp.training.progress import ProgressBar
from tf_realnvp.training.progress import Throughput
from tf_realnvp.training.trainer import Trainer

__all__ = ["DISCRETE_BITS_PER_DIM", "prepare_trainer", "run", "train"]

# The metrics line's key of the final estimate of -log2 P(x) / D.
DISCRETE_BITS_PER_DIM = "test_discrete_bits_per_dim"


def prepare_trainer(config, strategy=None):
  """Prepares the data and restores (or initialises) a `Trainer`.

  Raises before writing anything to `workdir` when the dataset is missing
  (and cannot be prepared from `config.manual_dir`), the workdir holds
  another architecture or a checkpoint is unreadable.
  """
  data.prepare(config.dataset, config.data_dir, config.manual_dir)
  trainer = Trainer(config, strategy)
  trainer.start_step = trainer.restore_or_initialize()
  if trainer.is_chief:
    workdirs.write_run_config(config.workdir, config)
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

  Raises:
    ValueError: naming an image of a `folder:` dataset that cannot be read
      (the pipelines read them lazily; `data.check_folder` finds it).
  """
  config, start = trainer.config, trainer.start_step
  try:
    if trainer.is_chief:
      workdirs.forget_metrics_after(trainer.workdir, start)
      writers = {split: tf.summary.create_file_writer(
          os.path.join(config.workdir, workdirs.TENSORBOARD, split))
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
  except tf.errors.InvalidArgumentError:
    if config.dataset.startswith(data.FOLDER_PREFIX):
      data.check_folder(config.dataset, config.image_size, config.folder_crop)
    raise
  finally:
    trainer.close()
  return last


def train(config, strategy=None, stream=None):
  """`run(prepare_trainer(config, strategy), stream)`."""
  return run(prepare_trainer(config, strategy), stream)


def _train_loop(trainer, start, writers, progress):
  """Steps `start + 1 ... train_steps` with their periodic side jobs."""
  config = trainer.config
  throughput = Throughput()
  recent = []  # Finite bits/dim since the last log line.
  train_bpd, images_per_sec, last = float("nan"), float("nan"), None
  iterator = iter(trainer.train_dataset(start))
  for step in range(start + 1, config.train_steps + 1):
    if step == start + 1:
      progress.message("Building the train step (tracing and graph "
                       "optimisation, once per run)...")
      started = time.perf_counter()
    loss = trainer.train_step(next(iterator))
    if step == start + 1:
      progress.message(f"First step done in "
                       f"{time.perf_counter() - started:.1f} s.")
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
        if trainer.loss_scale:
          tf.summary.scalar("loss_scale", trainer.loss_scale.scale)
          tf.summary.scalar("overflow_steps", trainer.overflow_steps)
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
  """Evaluates, appends to `metrics.jsonl`, writes summaries; returns the line.

  The line: `step`, `train_bits_per_dim`, `test_bits_per_dim` (the bound
  training minimises), `images_per_sec`, for class-conditional models
  `test_accuracy`, and at the last step `test_discrete_bits_per_dim` (the
  estimate of `-log2 P(x) / D` the export serves).
  """
  test_bpd = trainer.evaluate()
  record = dict(step=int(step), train_bits_per_dim=_json_float(train_bpd),
                test_bits_per_dim=test_bpd,
                images_per_sec=_json_float(images_per_sec))
  message = f"step {step}: test bits/dim {test_bpd:.4f}"
  if step == trainer.config.train_steps:
    discrete = trainer.discrete_bits_per_dim()
    record[DISCRETE_BITS_PER_DIM] = discrete
    message += (f" (bound), {discrete:.4f} (-log2 P(x)/D, "
                f"{likelihood.DEFAULT_NUM_DRAWS} importance-weighted draws)")
  accuracy = trainer.classification_accuracy()
  if accuracy is not None:
    record["test_accuracy"] = accuracy
    message += f", test accuracy {accuracy:.4f}"
  if trainer.is_chief:
    workdirs.append_metrics(trainer.workdir, record)
  with writers["test"].as_default(step=step):
    tf.summary.scalar("bits_per_dim", test_bpd)
    if DISCRETE_BITS_PER_DIM in record:
      tf.summary.scalar(DISCRETE_BITS_PER_DIM, record[DISCRETE_BITS_PER_DIM])
    if accuracy is not None:
      tf.summary.scalar("accuracy", accuracy)
  progress.message(message)
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
    io.write_png(workdirs.sample_path(trainer.workdir, step, temperature),
                 grid)
    with writers["train"].as_default(step=step):
      tf.summary.image(f"samples/temperature_{temperature:g}", grid[None])


def _json_float(value):
  """`None` for NaN/None (JSON has no NaN), else a float."""
  return None if value is None or not math.isfinite(value) else float(value)
