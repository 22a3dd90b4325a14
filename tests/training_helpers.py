"""Shared set-up for training tests: tiny configs, workdirs as training
leaves them, what train.py prints. (Running train.py: `tests.processes`.)"""

import collections
import glob
import json
import os
import re
import time

import numpy as np
import tensorflow as tf

from tf_realnvp import io
from tf_realnvp.run_config import TrainConfig
from tf_realnvp.training import loop
from tf_realnvp import workdirs
from tests import flow_checks

TINY = dict(dataset="fashion_mnist", num_scales=2, num_blocks=1, num_filters=4,
            batch_size=16, eval_examples=64, likelihood_examples=32,
            num_samples=4, log_every=5, shuffle_buffer=1000)


def tiny_config(workdir, data_dir, **overrides):
  """A `TrainConfig` for a model small enough to train in seconds."""
  config = dict(TINY, workdir=str(workdir), data_dir=data_dir)
  config.update(overrides)
  return TrainConfig.from_settings(**config)


def tiny_flags(workdir, data_dir, **overrides):
  """`train.py` arguments for `tiny_config`."""
  values = dict(TINY, workdir=str(workdir), data_dir=data_dir)
  values.update(overrides)
  return [f"--{k}={v}" for k, v in values.items() if v is not None]


# A workdir made by `make_workdir`: its path and `{step: variable values}`.
Workdir = collections.namedtuple("Workdir", "path weights")


def make_workdir(config, steps=(0,), flags=None):
  """`config.workdir` as training leaves it, without training: its
  `model_config.json`, a checkpoint of other random weights at each of
  `steps` (the step is the seed), and with `flags` (train.py arguments,
  `--name=value`) the `flags.txt` train.py writes, one flag a line.

  Returns:
    A `Workdir`: the path (`str`) and `{step: variable_values(model)}` of
    each checkpoint.
  """
  trainer = loop.prepare_trainer(config)
  weights = {}
  for step in steps:
    flow_checks.randomize_weights(trainer.model, seed=step)
    trainer.step.assign(step)
    trainer.manager.save(checkpoint_number=step)
    weights[step] = variable_values(trainer.model)
  if flags is not None:
    io.write_text(os.path.join(config.workdir, workdirs.FLAGS_FILE),
                  "".join(f"{flag}\n" for flag in flags))
  return Workdir(str(config.workdir), weights)


def change_model_config(workdir, **changes):
  """Rewrites `model_config.json` with `changes`: the workdir then holds the
  checkpoints of another architecture."""
  path = os.path.join(workdir, workdirs.MODEL_CONFIG)
  with open(path) as f:
    config = json.load(f)
  io.write_text(path, json.dumps(dict(config, **changes)))


def change_run_config(workdir, **changes):
  """Rewrites the workdir's `run_config.json` with settings `changes`
  (`TrainConfig` or `ModelConfig` fields)."""
  values = workdirs.read_run_config(workdir).to_dict()
  values.update(values.pop("model"), **changes)
  workdirs.write_run_config(workdir, TrainConfig.from_settings(**values))


def truncate_latest_checkpoint(workdir):
  """Cuts the data files of the workdir's latest checkpoint to 100 bytes."""
  latest = tf.train.latest_checkpoint(
      os.path.join(workdir, workdirs.CHECKPOINTS))
  data_files = glob.glob(f"{latest}.data-*")
  assert data_files, latest
  for path in data_files:
    with open(path, "r+b") as f:
      f.truncate(100)


def pixel_batch(seed=0):
  """A float32 batch of `TINY`'s size of uniform Fashion-MNIST-shaped
  pixels."""
  return tf.constant(flow_checks.uniform_pixels(
      (TINY["batch_size"], 28, 28, 1), seed, np.float32))


def variable_values(model):
  """`{variable path: numpy value}` of every variable of `model`."""
  return {v.path: v.numpy() for v in model.variables}


def snapshot(folder):
  """`{relative path: bytes}` of every file below `folder`."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files


def fingerprint_of(stdout, averaged=False):
  """The weights fingerprint `train.py` prints at the end (of the weight
  average with `averaged`)."""
  prefix = "averaged weights" if averaged else "^weights"
  match = re.search(prefix + r" fingerprint ([0-9a-f]{64})", stdout,
                    re.MULTILINE)
  assert match, stdout
  return match.group(1)


def wait_for_checkpoint(workdir, process, min_step=1, timeout=300):
  """Waits until `workdir` has a checkpoint of step >= `min_step`; its step.

  Fails if `process` ends first.
  """
  deadline = time.time() + timeout
  while time.time() < deadline:
    latest = tf.train.latest_checkpoint(
        os.path.join(workdir, workdirs.CHECKPOINTS))
    if latest and int(latest.rsplit("-", 1)[1]) >= min_step:
      return int(latest.rsplit("-", 1)[1])
    assert process.poll() is None, process.communicate()
    time.sleep(0.05)
  raise TimeoutError(f"no checkpoint of step >= {min_step} in {workdir}")
