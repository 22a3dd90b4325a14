"""Tests of tf_realnvp/workdirs.py: loading a trained model, reading flags.

The workdir is `trained_workdir` (tests/conftest.py), with checkpoints of
different random weights at steps 12 and 20; each test of a bad workdir
damages a copy of it (`workdir_copy`).
"""

import gc
import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import workdirs
from tests.training_helpers import change_model_config
from tests.training_helpers import truncate_latest_checkpoint
from tests.training_helpers import variable_values


# --- load_trained_model -------------------------------------------------------


@pytest.mark.parametrize("checkpoint,step", [
    (None, 20), ("ckpt-12", 12), ("checkpoints/ckpt-12", 12)])
def test_load_trained_model_restores_the_checkpoint(trained_workdir,
                                                    checkpoint, step):
  workdir, weights = trained_workdir
  if checkpoint and "/" in checkpoint:
    checkpoint = os.path.join(workdir, checkpoint)  # A path prefix.
  model, restored_step = workdirs.load_trained_model(workdir, checkpoint)
  assert restored_step == step
  assert (model.image_shape, model.num_scales, model.config.num_filters) == (
      (28, 28, 1), 1, 4)
  restored = variable_values(model)
  assert restored.keys() == weights[step].keys()
  for name, value in weights[step].items():
    np.testing.assert_array_equal(restored[name], value, err_msg=name)


def _checkpoints(workdir):
  return os.path.join(workdir, workdirs.CHECKPOINTS)


def _no_config(workdir):
  os.remove(os.path.join(workdir, workdirs.MODEL_CONFIG))


def _no_checkpoint(workdir):
  """As `train.py` leaves a workdir before its first checkpoint."""
  shutil.rmtree(_checkpoints(workdir))


def _other_architecture(workdir):
  """The same layers, other shapes: TF fails in the middle of the restore."""
  change_model_config(workdir, num_filters=8)


def _save_latest(workdir, **objects):
  """A checkpoint `ckpt-30` of `objects`, the latest of the workdir."""
  tf.train.CheckpointManager(tf.train.Checkpoint(**objects),
                             _checkpoints(workdir), max_to_keep=5).save(30)


def _no_model(workdir):
  _save_latest(workdir, step=tf.Variable(30, dtype=tf.int64))


def _nan_weights(workdir):
  """A checkpoint in which one variable is NaN (as if it were missing)."""
  model, _ = workdirs.load_trained_model(workdir)
  model.variables[0].assign(np.full(model.variables[0].shape, np.nan,
                                    np.float32))
  _save_latest(workdir, model=model)


@pytest.mark.parametrize("damage,checkpoint,message", [
    (_no_config, None, "has no model_config.json"),
    (_no_checkpoint, None, "has no checkpoint"),
    (None, "ckpt-99", r"No checkpoint 'ckpt-99'.*available: ckpt-12, ckpt-20"),
    (truncate_latest_checkpoint, None, "Cannot restore the model from the "
     "checkpoint .*ckpt-20"),
    (_other_architecture, None, "Cannot restore the model .*written by "
     "another model"),
    (_no_model, None, "Cannot restore the model from the checkpoint "
     ".*ckpt-30"),
    (_nan_weights, None, r"ckpt-30 gives no finite value to 1 of the "
     r"model's \d+ variables \(real_nvp/"),
])
def test_load_trained_model_refuses_a_bad_workdir(workdir_copy, damage,
                                                  checkpoint, message):
  if damage:
    damage(workdir_copy)
  with pytest.raises(ValueError, match=message):
    workdirs.load_trained_model(workdir_copy, checkpoint)


class _Records(logging.Handler):

  def __init__(self):
    super().__init__(logging.DEBUG)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def test_a_failed_restore_leaves_nothing_for_tf_to_log(workdir_copy):
  """Unless dropped, the pending restorations of a failed restore make TF
  log a warning per checkpoint value when they are garbage-collected."""
  _other_architecture(workdir_copy)
  records = _Records()
  logger = tf.get_logger()
  logger.addHandler(records)
  try:
    with pytest.raises(ValueError, match="Cannot restore"):
      workdirs.load_trained_model(workdir_copy)
    gc.collect()
  finally:
    logger.removeHandler(records)
  assert not records.messages


# --- read_run_config ----------------------------------------------------------


def test_read_run_config_skips_other_flags_and_names_what_is_missing(tmp_path):
  (tmp_path / workdirs.FLAGS_FILE).write_text(
      "--workdir=w\n--dataset=folder:/data/a=b\n--strategy=mirrored\n"
      "--image_size=8\n--num_filters=8\n")
  config = workdirs.read_run_config(str(tmp_path))
  assert (config.dataset, config.image_size, config.model.num_filters) == (
      "folder:/data/a=b", 8, 8)
  with pytest.raises(ValueError, match=f"{tmp_path / 'none'} has no "
                     "run_config.json or flags.txt"):
    workdirs.read_run_config(str(tmp_path / "none"))
