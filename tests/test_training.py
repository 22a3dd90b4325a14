"""Tests of tf_realnvp.training on the real Fashion-MNIST (prepared offline)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import training
from tests.training_helpers import tiny_config


def _read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_short_run_lowers_test_bits_per_dim_and_writes_its_outputs(
    tmp_path, fashion_dir):
  config = tiny_config(tmp_path, fashion_dir, num_filters=8, batch_size=32,
                       train_steps=40, eval_every=20, checkpoint_every=20,
                       sample_every=40, eval_examples=256)
  trainer = training.prepare_trainer(config)
  initial = trainer.evaluate()
  result = training.run(trainer)
  print(f"test bits/dim {initial:.3f} -> {result['test_bits_per_dim']:.3f}")
  assert result["test_bits_per_dim"] < initial - 0.3
  metrics = _read_metrics(tmp_path)
  assert [m["step"] for m in metrics] == [20, 40]
  assert metrics[-1] == result
  assert all(m["train_bits_per_dim"] > 0 and m["images_per_sec"] > 0
             for m in metrics)
  assert sorted(os.listdir(tmp_path / "samples")) == [
      "step_0000040_t0.7.png", "step_0000040_t1.png"]
  grid = tf.io.decode_png(tf.io.read_file(
      str(tmp_path / "samples" / "step_0000040_t1.png")))
  assert grid.shape == (2 * 28 + 1, 2 * 28 + 1, 1)  # 4 samples, 2x2.
  assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith(
      "ckpt-40")
  for split in ("train", "test"):
    assert os.listdir(tmp_path / "tensorboard" / split)


@pytest.fixture
def trainer(tmp_path, fashion_dir):
  return training.prepare_trainer(
      tiny_config(tmp_path, fashion_dir, max_nonfinite_steps=3))


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.uniform(0, 256, (16, 28, 28, 1)).astype(np.float32))


def _state(trainer):
  return [v.numpy() for v in trainer.model.variables + trainer.optimizer.variables]


def test_batch_with_nan_pixels_is_skipped_and_counted(trainer):
  trainer.train_step(_batch(0))
  before = _state(trainer)
  poisoned = _batch(1).numpy()
  poisoned[3, 10, 10, 0] = np.nan
  assert np.isnan(trainer.train_step(tf.constant(poisoned)))
  assert trainer.nonfinite_steps == 1
  for old, new in zip(before, _state(trainer)):
    np.testing.assert_array_equal(old, new)  # Weights and running stats.
  assert np.isfinite(trainer.train_step(_batch(2)))
  assert trainer.nonfinite_steps == 1 and trainer.consecutive_nonfinite == 0
  assert int(trainer.step.numpy()) == 3  # Batches, skipped or not.


def test_consecutive_nonfinite_steps_stop_training(trainer):
  poisoned = tf.fill([16, 28, 28, 1], np.nan)
  for _ in range(2):
    trainer.train_step(poisoned)
  with pytest.raises(training.TrainingDiverged, match="3 consecutive steps"):
    trainer.train_step(poisoned)
  flow = trainer.model.variables
  assert all(np.all(np.isfinite(v)) for v in flow)


def test_gradients_are_clipped_to_the_global_norm(tmp_path, fashion_dir):
  trainer = training.prepare_trainer(
      tiny_config(tmp_path, fashion_dir, grad_clip_norm=1e-3))
  grads, _, finite = trainer._replica_gradients(_batch())
  assert bool(finite)
  np.testing.assert_allclose(tf.linalg.global_norm(grads), 1e-3, rtol=1e-4)


def test_restore_refuses_another_architecture_and_changes_nothing(
    tmp_path, fashion_dir):
  trainer = training.prepare_trainer(tiny_config(tmp_path, fashion_dir))
  trainer.manager.save(0)
  with open(tmp_path / "model_config.json") as f:
    before = f.read()
  with pytest.raises(training.TrainingError,
                     match="another architecture.*num_filters: 4 in workdir, 8"):
    training.prepare_trainer(tiny_config(tmp_path, fashion_dir, num_filters=8))
  with open(tmp_path / "model_config.json") as f:
    assert f.read() == before


def test_image_grid_tiles_in_a_near_square():
  images = np.arange(5 * 2 * 3 * 1, dtype=np.uint8).reshape(5, 2, 3, 1)
  grid = training.image_grid(images)
  assert grid.shape == (2 * 2 + 1, 3 * 3 + 2, 1)
  np.testing.assert_array_equal(grid[3:5, 4:7], images[4])
  assert not grid[2].any() and not grid[:, 3].any()  # The gaps.


@pytest.mark.parametrize("field, value", [("batch_size", 0),
                                          ("train_steps", -1),
                                          ("learning_rate", 0.0),
                                          ("num_blocks", -1)])
def test_config_rejects_non_positive_sizes(field, value, tmp_path):
  with pytest.raises(ValueError, match=field):
    training.TrainConfig(workdir=str(tmp_path), **{field: value})
