"""A training workdir's files: their names, reading and writing them, and
the trained model.

```python
from tf_realnvp import workdirs
model, step = workdirs.load_trained_model("runs/fashion_mnist_demo")
config = workdirs.read_run_config("runs/fashion_mnist_demo")  # TrainConfig
```

A workdir (`train.py --workdir`) holds:

  flags.txt            the resolved flags (`FLAGS_FILE`, written by train.py)
  run_config.json      the run's `TrainConfig`, model settings included
                       (`RUN_CONFIG`, written at every start)
  model_config.json    the model's architecture (`MODEL_CONFIG`); resuming
                       with another architecture is refused
  checkpoints/         `tf.train.CheckpointManager` (model, optimizer, step,
                       and `average`, the weight average, with --ema_decay)
  metrics.jsonl        one JSON line per evaluation (`METRICS_FILE`)
  samples/             PNG grids, `step_<step>_t<temperature>.png`
  tensorboard/         summaries (`train/`, `test/`)
  figures/             `python -m tf_realnvp.figures`' PNGs and flags

The names here are the only spelling of them in the package; every file is
written atomically (`tf_realnvp.io`).
"""

import gc
import json
import logging
import os

import numpy as np
import tensorflow as tf

from tf_realnvp import io
from tf_realnvp import legacy_checkpoints
from tf_realnvp import run_config
from tf_realnvp.model import RealNVP

__all__ = ["AVERAGE", "CHECKPOINTS", "FIGURES", "FLAGS_FILE", "LOSS_SCALE",
           "METRICS_FILE", "MODEL_CONFIG", "RUN_CONFIG", "SAMPLES", "TENSORBOARD",
           "append_metrics", "checkpoint_keys", "forget_metrics_after",
           "load_trained_model", "read_model_config", "read_run_config",
           "sample_path", "write_model_config", "write_run_config"]

MODEL_CONFIG = "model_config.json"
RUN_CONFIG = "run_config.json"
CHECKPOINTS = "checkpoints"
FLAGS_FILE = "flags.txt"
METRICS_FILE = "metrics.jsonl"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
FIGURES = "figures"
# The checkpoint's name of the weight average (a model of the same
# architecture as `model`), when training averaged the weights.
AVERAGE = "average"
# The checkpoint's name of the loss scale of a float16 run
# (`tf_realnvp.optimization.loss_scaling.DynamicLossScale`).
LOSS_SCALE = "loss_scale"


def sample_path(workdir, step, temperature):
  """`<workdir>/samples/step_<step>_t<temperature>.png`."""
  return os.path.join(workdir, SAMPLES,
                      f"step_{int(step):07d}_t{temperature:g}.png")


def write_model_config(workdir, config):
  """Writes the `RealNVP` keyword arguments `config` (a dict) as JSON."""
  io.write_text(os.path.join(workdir, MODEL_CONFIG),
                json.dumps(config, indent=2) + "\n")


def append_metrics(workdir, record):
  """Appends `record` (a dict) to `metrics.jsonl` as one JSON line."""
  with open(os.path.join(workdir, METRICS_FILE), "a") as f:
    f.write(json.dumps(record) + "\n")


def forget_metrics_after(workdir, step):
  """Drops `metrics.jsonl` lines after `step`: a resumed run redoes them."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  kept = [line for line in lines if json.loads(line)["step"] <= step]
  if len(kept) != len(lines):
    io.write_text(path, "".join(kept))


def load_trained_model(workdir, checkpoint=None, dtype=None, averaged=True):
  """Rebuilds the model of a training workdir and restores a checkpoint.

  Only the model is restored (the checkpoint's optimizer is ignored): its
  weight average (`train.py --ema_decay`) if the checkpoint holds one and
  `averaged`, else the trained weights.

  Args:
    workdir: a `tf_realnvp.training` workdir: `model_config.json` (the
      `RealNVP` keyword arguments as JSON) and `checkpoints/` (a
      `tf.train.CheckpointManager` directory).
    checkpoint: `None` for the latest checkpoint, or one checkpoint: a path
      prefix (`.../checkpoints/ckpt-40`) or a name in `workdir/checkpoints`
      (`ckpt-40`).
    dtype: the Keras dtype policy of the s/t networks (`RealNVP(dtype=...)`,
      e.g. `"mixed_bfloat16"`); checkpoints are float32 whichever policy
      trained them.
    averaged: whether to read the weight average when there is one.

  Returns:
    `(model, step)`: the `RealNVP` with every variable restored (running
    batch-norm statistics included), and the training step of the
    checkpoint: its `step` variable, else the number of its `ckpt-<n>`
    name, else `None`.

  Raises:
    ValueError: the workdir has no (or an unreadable) `model_config.json`, no
      checkpoint, no checkpoint of that name, or the checkpoint cannot be read
      or does not hold every variable of the model.
  """
  workdir = os.fspath(workdir)
  config = read_model_config(workdir)
  try:
    model = RealNVP(**config, dtype=dtype)
  except (TypeError, ValueError) as error:
    raise ValueError(f"{os.path.join(workdir, MODEL_CONFIG)} does not "
                     f"describe a RealNVP: {io.one_line(error)}") from error
  path = _resolve_checkpoint(workdir, checkpoint)
  # Every float variable starts as NaN, so that one the checkpoint does not
  # set is found below, whatever `tf.train.Checkpoint` tracks (it skips some
  # containers silently, see model.py). Training never saves NaN weights.
  for variable in _float_variables(model):
    variable.assign(np.full(variable.shape, np.nan, variable.dtype))
  # A failed restore leaves pending restorations on the model; when they are
  # garbage-collected TF logs a warning for every value of the checkpoint
  # (thousands of lines). Drop them, with TF's logger quietened, before
  # reporting the error (which therefore does not chain TF's: its traceback
  # would keep them alive).
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    step, error = _restore(model, path, averaged)
    if error:
      model = None
      gc.collect()
  finally:
    logger.setLevel(level)
  if error:
    raise ValueError(
        f"Cannot restore the model from the checkpoint {path}: {error}. The "
        "checkpoint is corrupt, incomplete or was written by another model.")
  missing = [v.path for v in _float_variables(model)
             if not np.all(np.isfinite(np.asarray(v)))]
  if missing:
    raise ValueError(
        f"The checkpoint {path} gives no finite value to {len(missing)} of "
        f"the model's {len(model.variables)} variables ("
        f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); "
        "training never saves such weights, so the checkpoint is incomplete.")
  return model, step


def write_run_config(workdir, config):
  """Writes the run's `TrainConfig` as JSON (`RUN_CONFIG`)."""
  io.write_text(os.path.join(workdir, RUN_CONFIG),
                json.dumps(config.to_dict(), indent=2) + "\n")


def read_run_config(workdir):
  """The `TrainConfig` of the run that trained `workdir`: its
  `RUN_CONFIG`, or for a workdir without one the settings in its
  `FLAGS_FILE` (flags that are no settings are skipped).

  Raises:
    ValueError: the workdir has neither file, or one that cannot be read.
  """
  json_path = os.path.join(workdir, RUN_CONFIG)
  flags_path = os.path.join(workdir, FLAGS_FILE)
  try:
    if os.path.exists(json_path):
      with open(json_path) as f:
        return run_config.TrainConfig.from_dict(json.load(f))
    with open(flags_path) as f:
      return run_config.from_flag_lines(f.read().splitlines(),
                                        workdir=workdir)
  except FileNotFoundError:
    raise ValueError(f"{workdir} has no {RUN_CONFIG} or {FLAGS_FILE}: it is "
                     "not a tf_realnvp training workdir (train.py writes "
                     "them), so its dataset is unknown.") from None
  except (TypeError, ValueError) as error:
    raise ValueError(f"Cannot read the run config of {workdir}: "
                     f"{io.one_line(error)}") from error


def read_model_config(workdir, required=True):
  """The `RealNVP` keyword arguments in `<workdir>/model_config.json`.

  Returns `None` for a workdir without one when not `required`.

  Raises:
    ValueError: the file is missing (if `required`), unreadable, or not a
      JSON object.
  """
  path = os.path.join(workdir, MODEL_CONFIG)
  if not os.path.isfile(path):
    if not required:
      return None
    raise ValueError(
        f"{workdir} has no {MODEL_CONFIG}: it is not a tf_realnvp training "
        "workdir (train.py writes the file when it starts).")
  try:
    with open(path) as f:
      config = json.load(f)
  except (OSError, ValueError) as error:
    raise ValueError(f"Cannot read {path}: {io.one_line(error)}") from error
  if not isinstance(config, dict):
    raise ValueError(f"{path} must hold a JSON object of RealNVP arguments, "
                     f"found {type(config).__name__}.")
  return config


def _resolve_checkpoint(workdir, checkpoint):
  """The checkpoint prefix to read, or a ValueError saying what exists."""
  directory = os.path.join(workdir, CHECKPOINTS)
  state = tf.train.get_checkpoint_state(directory) if os.path.isdir(
      directory) else None
  available = list(state.all_model_checkpoint_paths) if state else []
  if checkpoint is None:
    latest = tf.train.latest_checkpoint(directory) if state else None
    if latest is None:
      raise ValueError(f"{workdir} has no checkpoint ({directory} is missing "
                       "or empty): train first, or pass another workdir.")
    return latest
  checkpoint = os.fspath(checkpoint)
  for candidate in (checkpoint, os.path.join(directory, checkpoint)):
    if os.path.exists(candidate + ".index"):
      return candidate
  names = ", ".join(os.path.basename(p) for p in available) or "none"
  raise ValueError(f"No checkpoint {checkpoint!r} (looked for "
                   f"{checkpoint}.index and in {directory}); available: "
                   f"{names}.")


def _float_variables(model):
  return [v for v in model.variables if np.dtype(v.dtype).kind == "f"]


def checkpoint_keys(path):
  """The names of the top-level objects the checkpoint at `path` holds:
  `"model"`, `"optimizer"`, `"step"`, `"save_counter"` and, if the run had
  them, `AVERAGE` and `LOSS_SCALE`."""
  return {name.split("/")[0] for name, _ in tf.train.list_variables(path)
          if not name.startswith("_")}


def _restore(model, path, averaged):
  """Reads `model`'s variables from checkpoint `path`: the weight average
  if `averaged` and the checkpoint has one, else the trained weights.

  Returns:
    `(step, None)` (see `_checkpoint_step`), or `(None, the error)`: TF's
    error is not kept (see `load_trained_model`).
  """
  try:
    averaged = averaged and AVERAGE in checkpoint_keys(path)
    key = AVERAGE if averaged else "model"
    target = model
    if legacy_checkpoints.is_legacy(path, key):
      target = legacy_checkpoints.model_view(model)
    status = tf.train.Checkpoint(**{key: target}).read(path)
    status.expect_partial()  # The optimizer and the step are not needed.
    # Fails for a tracked variable without a value in the checkpoint.
    status.assert_existing_objects_matched()
    return _checkpoint_step(path), None
  # A damaged or foreign checkpoint surfaces as OpError, ValueError,
  # AssertionError or even IndexError: any of them means it cannot be used.
  except Exception as error:  # pylint: disable=broad-except
    return None, f"{type(error).__name__}: {io.one_line(error)}"


def _checkpoint_step(path):
  """The `step` variable of a training checkpoint, else its `ckpt-<n>`."""
  reader = tf.train.load_checkpoint(path)
  key = "step/.ATTRIBUTES/VARIABLE_VALUE"
  if reader.has_tensor(key):
    return int(reader.get_tensor(key))
  suffix = os.path.basename(path).rpartition("-")[2]
  return int(suffix) if suffix.isdigit() else None
