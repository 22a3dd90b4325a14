"""Tests of tf_realnvp/training/trainer.py and loop.py on the real
Fashion-MNIST (prepared offline)."""

import io as io_lib
import json
import os
import re
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import training
from tf_realnvp.training import loop
from tf_realnvp.training import trainer as trainer_lib
from tf_realnvp import workdirs
from tests.training_helpers import pixel_batch
from tests.training_helpers import tiny_config


def _read_metrics(workdir):
  with open(os.path.join(workdir, workdirs.METRICS_FILE)) as f:
    return [json.loads(line) for line in f]


def test_short_run_lowers_test_bits_per_dim_and_writes_its_outputs(
    tmp_path, fashion_dir):
  config = tiny_config(tmp_path, fashion_dir, num_filters=8, batch_size=32,
                       train_steps=40, eval_every=20, checkpoint_every=20,
                       sample_every=40, eval_examples=256)
  trainer = loop.prepare_trainer(config)
  initial = trainer.evaluate()
  stream = io_lib.StringIO()
  result = loop.run(trainer, stream)
  print(f"test bits/dim {initial:.3f} -> {result['test_bits_per_dim']:.3f}")
  assert result["test_bits_per_dim"] < initial - 0.3
  # The user sees that the first step is being built, then how long it took.
  assert re.findall(r"Building the train step .*\nFirst step done in "
                    r"\d+\.\d s\.\n", stream.getvalue())
  metrics = _read_metrics(tmp_path)
  assert [m["step"] for m in metrics] == [20, 40]
  assert metrics[-1] == result
  assert all(m["train_bits_per_dim"] > 0 and m["images_per_sec"] > 0
             for m in metrics)
  assert sorted(os.listdir(tmp_path / workdirs.SAMPLES)) == [
      "step_0000040_t0.7.png", "step_0000040_t1.png"]
  grid = tf.io.decode_png(tf.io.read_file(
      workdirs.sample_path(str(tmp_path), 40, 1.0)))
  side = 2 * (io.display_scale(28, 28) * 28 + io.GAP) - io.GAP  # 2x2 samples.
  assert grid.shape == (side, side, 1)
  assert tf.train.latest_checkpoint(
      str(tmp_path / workdirs.CHECKPOINTS)).endswith("ckpt-40")
  for split in ("train", "test"):
    assert os.listdir(tmp_path / workdirs.TENSORBOARD / split)


@pytest.fixture
def trainer(tmp_path, fashion_dir):
  return loop.prepare_trainer(
      tiny_config(tmp_path, fashion_dir, max_nonfinite_steps=3))




def _state(trainer):
  return [v.numpy() for v in trainer.model.variables + trainer.optimizer.variables]


def test_batch_with_nan_pixels_is_skipped_and_counted(trainer):
  trainer.train_step(pixel_batch(0))
  before = _state(trainer)
  poisoned = pixel_batch(1).numpy()
  poisoned[3, 10, 10, 0] = np.nan
  assert np.isnan(trainer.train_step(tf.constant(poisoned)))
  assert trainer.nonfinite_steps == 1
  for old, new in zip(before, _state(trainer)):
    np.testing.assert_array_equal(old, new)  # Weights and running stats.
  assert np.isfinite(trainer.train_step(pixel_batch(2)))
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
  trainer = loop.prepare_trainer(
      tiny_config(tmp_path, fashion_dir, grad_clip_norm=1e-3))
  grads, _, _, loss_finite, grads_finite = trainer.step_fn._replica_gradients(
      pixel_batch())
  assert bool(loss_finite) and bool(grads_finite)
  np.testing.assert_allclose(tf.linalg.global_norm(grads), 1e-3, rtol=1e-4)


def test_restore_refuses_another_architecture_and_changes_nothing(
    tmp_path, fashion_dir):
  trainer = loop.prepare_trainer(tiny_config(tmp_path, fashion_dir))
  trainer.manager.save(0)
  with open(tmp_path / workdirs.MODEL_CONFIG) as f:
    before = f.read()
  with pytest.raises(trainer_lib.TrainingError,
                     match="another architecture.*num_filters: 4 in workdir, 8"):
    loop.prepare_trainer(tiny_config(tmp_path, fashion_dir, num_filters=8))
  with open(tmp_path / workdirs.MODEL_CONFIG) as f:
    assert f.read() == before


def test_variational_dequantizer_trains_is_checkpointed_and_kept(
    tmp_path, fashion_dir):
  config = tiny_config(tmp_path, fashion_dir, dequantization="variational",
                       train_steps=4, eval_every=4, checkpoint_every=4,
                       sample_every=4, eval_examples=32)
  trainer = loop.prepare_trainer(config)
  initial = [w.numpy() for w in trainer.model.dequantizer.trainable_weights]
  result = loop.run(trainer)
  assert np.isfinite(result["test_bits_per_dim"])
  trained = [w.numpy() for w in trainer.model.dequantizer.trainable_weights]
  assert any(not np.array_equal(a, b) for a, b in zip(initial, trained))
  loaded, _ = workdirs.load_trained_model(str(tmp_path))
  for weight, value in zip(loaded.dequantizer.weights,
                           trainer.model.dequantizer.weights):
    np.testing.assert_array_equal(weight.numpy(), value.numpy())
  with pytest.raises(trainer_lib.TrainingError,
                     match="dequantization: 'variational' in workdir, 'uniform'"):
    loop.prepare_trainer(tiny_config(tmp_path, fashion_dir))


def test_conditional_training_on_a_dataset_without_labels_is_refused(tmp_path):
  with pytest.raises(ValueError, match="'lsun/bedroom' has no labels"):
    loop.prepare_trainer(tiny_config(tmp_path / "run", None,
                                     dataset="lsun/bedroom", conditional=True))
  assert not (tmp_path / "run").exists()


def test_classes_reach_the_training_stream_and_the_evaluations(tmp_path,
                                                             fashion_dir):
  trainer = trainer_lib.Trainer(tiny_config(
      tmp_path, fashion_dir, conditional=True, classes=[3]))
  _, labels = next(iter(trainer.train_dataset(0)))
  assert set(labels.numpy()) == {3}
  with mock.patch.object(data, "eval_dataset",
                         wraps=data.eval_dataset) as eval_dataset:
    assert np.isfinite(trainer.evaluate())
  assert eval_dataset.call_args.kwargs["classes"] == (3,)


@pytest.mark.usefixtures("mock_tfds")
def test_attribute_conditional_training_on_celeb_a_mock_data(tmp_path):
  config = tiny_config(tmp_path, None, dataset="celeb_a", image_size=8,
                       num_scales=1, conditional=True, batch_size=4,
                       eval_examples=4, train_steps=2, eval_every=2,
                       sample_every=2, checkpoint_every=2, num_samples=6)
  trainer = loop.prepare_trainer(config)
  assert trainer.model.condition_shape == (40,)
  result = loop.run(trainer)
  assert np.isfinite(result["test_bits_per_dim"])
  assert "test_accuracy" not in result  # Attributes, not classes.
  # One row per condition of the first min(8, num_samples) test examples.
  grid = tf.io.decode_png(tf.io.read_file(
      workdirs.sample_path(str(tmp_path), 2, 1.0)))
  tile = io.display_scale(8, 8) * 8 + io.GAP
  assert grid.shape == (6 * tile - io.GAP, tile - io.GAP, 3)


def test_glow_initializes_from_the_first_batch_and_resumes_bit_identically(
    tmp_path, fashion_dir):
  settings = dict(step_type="glow", train_steps=6, checkpoint_every=3,
                  eval_every=6, sample_every=6, ema_decay=0.9)
  first = loop.prepare_trainer(tiny_config(tmp_path / "whole", fashion_dir,
                                           **settings))
  # Actnorm of the first step normalises the first training batch.
  y, _ = first.model.dequantized(next(iter(first._dataset(0))))
  x = first.model.bijector().bijectors[0].inverse(y)
  actnorm = first.model.flow.steps[0].actnorm
  np.testing.assert_allclose(actnorm.bias, -np.mean(x, axis=(0, 1, 2)),
                             rtol=1e-5)
  whole = loop.run(first)
  halfway = loop.train(tiny_config(tmp_path / "resumed", fashion_dir,
                                   **dict(settings, train_steps=3)))
  assert halfway["step"] == 3
  resumed = loop.prepare_trainer(tiny_config(tmp_path / "resumed",
                                             fashion_dir, **settings))
  assert resumed.start_step == 3
  assert loop.run(resumed) == dict(whole, images_per_sec=mock.ANY,
                                   train_bits_per_dim=mock.ANY)
  for model in ("model", "eval_model"):
    assert (trainer_lib.fingerprint(getattr(first, model)) ==
            trainer_lib.fingerprint(getattr(resumed, model)))
