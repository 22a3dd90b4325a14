"""Shared set-up for training tests: tiny configs and running train.py."""

import os
import subprocess
import sys

from tf_realnvp import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(REPO, "train.py")

TINY = dict(dataset="fashion_mnist", num_scales=2, num_blocks=1, num_filters=4,
            batch_size=16, eval_examples=64, num_samples=4, log_every=5,
            shuffle_buffer=1000)


def tiny_config(workdir, data_dir, **overrides):
  """A `TrainConfig` for a model small enough to train in seconds."""
  config = dict(TINY, workdir=str(workdir), data_dir=data_dir)
  config.update(overrides)
  return training.TrainConfig(**config)


def tiny_flags(workdir, data_dir, **overrides):
  """`train.py` arguments for `tiny_config`."""
  values = dict(TINY, workdir=str(workdir), data_dir=data_dir)
  values.update(overrides)
  return [f"--{k}={v}" for k, v in values.items() if v is not None]


def train_py(args, **popen_kwargs):
  """Starts `python train.py args...` from the repository root."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.Popen([sys.executable, TRAIN_PY] + list(args), cwd=REPO,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **popen_kwargs)


def run_train_py(args, timeout=600):
  """Runs `train.py` to completion: `(returncode, stdout, stderr)`."""
  process = train_py(args)
  stdout, stderr = process.communicate(timeout=timeout)
  return process.returncode, stdout, stderr


def snapshot(folder):
  """`{relative path: bytes}` of every file below `folder`."""
  files = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, folder)] = f.read()
  return files
