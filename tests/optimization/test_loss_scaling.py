"""float16 s/t networks with dynamic loss scaling: the scale's rule
(tf_realnvp/training/loss_scaling.py), the trainer's float16 steps, skips,
checkpoints and exports, and `RealNVP.fit` under `mixed_float16`.

float16 on a CPU only proves correctness (it is emulated and slow); each
check compares with float32 on the same weights or with the saved state.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_realnvp
from tf_realnvp import export
from tf_realnvp.training import loop
from tf_realnvp.training import trainer as trainer_lib
from tf_realnvp.optimization.loss_scaling import DynamicLossScale
from tests import export_helpers
from tests import flow_checks
from tests.training_helpers import pixel_batch
from tests.training_helpers import tiny_config

FLOAT16 = "mixed_float16"
# One float16 ulp relative to 1 (10 stored significand bits).
FLOAT16_EPS = 2.0**-10


def _scale_state(scale):
  return float(scale.scale.numpy()), int(scale.good_steps.numpy())


def test_scale_halves_on_overflow_doubles_after_growth_steps_floor_1():
  scale = DynamicLossScale(initial_scale=8.0, growth_steps=3)
  history = []
  for finite in (True, True, True, False, True, False, False, False, False):
    scale.adjust(tf.constant(finite))
    history.append(_scale_state(scale))
  assert history == [(8, 1), (8, 2), (16, 0), (8, 0), (8, 1), (4, 0), (2, 0),
                     (1, 0), (1, 0)]
  assert bool(scale.at_floor())
  np.testing.assert_allclose(scale.scale_loss(tf.constant(3.0)), 3.0)


@pytest.mark.parametrize("arguments, message", [
    (dict(initial_scale=0.5), "initial_scale must be >= 1"),
    (dict(growth_steps=0), "growth_steps must be an int >= 1"),
])
def test_bad_scale_arguments_are_named(arguments, message):
  with pytest.raises(ValueError, match=message):
    DynamicLossScale(**arguments)


def _trainer(workdir, data_dir, policy=FLOAT16, **overrides):
  return loop.prepare_trainer(
      tiny_config(workdir, data_dir, dtype_policy=policy, **overrides))


def _state(trainer):
  return [v.numpy() for v in trainer.model.variables +
          trainer.optimizer.variables]


def _flat(tensors):
  return np.concatenate([np.ravel(t) for t in tensors])


def _cosine(a, b):
  return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def test_float16_gradients_and_update_match_float32(tmp_path, fashion_dir):
  trainers = [_trainer(tmp_path / policy, fashion_dir, policy)
              for policy in ("float32", FLOAT16)]
  # Random weights: a new flow is the identity, whose s/t gradients are
  # those of its last (zero) layers only.
  flow_checks.randomize_weights(trainers[0].model, seed=3)
  flow_checks.copy_weights(trainers[0].model, trainers[1].model)
  assert {s.network.compute_dtype for s in trainers[1].model.flow.steps} == {
      "float16"}
  batch = pixel_batch(4)
  grads = [_flat(t.step_fn._replica_gradients(batch)[0]) for t in trainers]  # pylint: disable=protected-access
  error = np.linalg.norm(grads[1] - grads[0]) / np.linalg.norm(grads[0])
  # float16 rounds s and t. Measured: 2.4e-2 for these weights, 1.8e-3 to
  # 5.0e-3 for seeds 0, 1, 2, 4, 5; a gradient not unscaled is off by 2^15.
  assert 0 < error < 5e-2
  assert _cosine(*grads) > 0.999  # Measured: 0.99997.
  before = _flat(trainers[0].model.trainable_variables)
  for trainer in trainers:
    assert np.isfinite(trainer.train_step(batch))
  assert trainers[1].overflow_steps == 0
  updates = [_flat(t.model.trainable_variables) - before for t in trainers]
  # Adam's first update is ~ lr * sign(g): it differs where a gradient is
  # within float16's error of 0 (the biases before batch norm, whose true
  # gradient is 0, and small weights).
  assert _cosine(*updates) > 0.98  # Measured: 0.993.
  assert np.mean(np.sign(updates[0]) == np.sign(updates[1])) > 0.97  # 0.986


def test_overflow_step_halves_the_scale_changes_nothing_and_is_not_divergence(
    tmp_path, fashion_dir):
  trainer = _trainer(tmp_path, fashion_dir, max_nonfinite_steps=3)
  trainer.train_step(pixel_batch(0))
  before = _state(trainer)
  # 2**60 times the loss's gradient overflows float16 (max 65504).
  trainer.loss_scale.scale.assign(2.0**60)
  for seed in range(1, 5):  # More than max_nonfinite_steps in a row.
    assert np.isfinite(trainer.train_step(pixel_batch(seed)))
  assert (trainer.overflow_steps, trainer.nonfinite_steps,
          trainer.consecutive_nonfinite) == (4, 0, 0)
  assert _scale_state(trainer.loss_scale) == (2.0**56, 0)
  for old, new in zip(before, _state(trainer)):
    np.testing.assert_array_equal(old, new)  # Weights and running stats.
  assert int(trainer.step.numpy()) == 5  # Batches, skipped or not.
  # A non-finite loss is still the guard's, not the scaler's.
  assert np.isnan(trainer.train_step(tf.fill([16, 28, 28, 1], np.nan)))
  assert (trainer.overflow_steps, trainer.nonfinite_steps) == (4, 1)
  trainer.loss_scale.scale.assign(2.0**10)
  trainer.train_step(pixel_batch(6))
  assert any(not np.array_equal(old, new)
             for old, new in zip(before, _state(trainer)))


def _steps(trainer, seeds):
  for seed in seeds:
    trainer.train_step(pixel_batch(seed))
  return trainer_lib.fingerprint(trainer.model), _scale_state(
      trainer.loss_scale)


def test_scale_is_checkpointed_and_resume_is_bit_identical(tmp_path,
                                                           fashion_dir):
  trainer = _trainer(tmp_path, fashion_dir)
  trainer.loss_scale.scale.assign(3 * 2.0**10)
  trainer.loss_scale.good_steps.assign(5)
  _steps(trainer, range(2))
  trainer.manager.save(checkpoint_number=2)
  straight = _steps(trainer, range(2, 4))
  resumed = _trainer(tmp_path, fashion_dir)
  assert resumed.start_step == 2
  assert _scale_state(resumed.loss_scale) == (3 * 2.0**10, 7)
  assert _steps(resumed, range(2, 4)) == straight
  # Other policies read the checkpoint; float16 from a float32 checkpoint
  # starts at the initial scale.
  assert _trainer(tmp_path, fashion_dir, "float32").start_step == 2
  float32 = _trainer(tmp_path / "float32", fashion_dir, "float32")
  float32.step.assign(1)
  float32.manager.save(checkpoint_number=1)
  from_float32 = _trainer(tmp_path / "float32", fashion_dir)
  assert from_float32.start_step == 1
  assert _scale_state(from_float32.loss_scale) == (2.0**15, 0)


def test_float16_export_serves_through_the_tf1_loader(tmp_path):
  models = [flow_checks.tiny_model(seed=2, dtype=dtype)
            for dtype in ("float32", FLOAT16)]
  flow_checks.copy_weights(*models)
  path = export.export_saved_model(models[1], str(tmp_path), 1)
  assert export_helpers.saved_conv_dtypes(path) == {tf.float16}
  images = export_helpers.random_images(3, models[1].image_shape, seed=4)
  served = export_helpers.PendingSignatures(
      path, {"log_prob": ("log_prob", {"images": images})},
      loaders=("tf1",)).result()["tf1"]["log_prob"]["outputs"]["log_prob"]
  pixels = images.astype(np.float32) + 0.5
  full = models[0].log_prob(pixels)
  assert not np.allclose(served, full, rtol=1e-7, atol=0)
  np.testing.assert_allclose(served, full, rtol=4 * FLOAT16_EPS)


def _fit_data():
  pixels = flow_checks.uniform_pixels((32, 4, 4, 2), seed=7, dtype=np.float32)
  return tf.data.Dataset.from_tensor_slices(pixels).batch(8)


def test_fit_scales_the_loss_and_trains():
  keras.utils.set_random_seed(1)
  model = tf_realnvp.RealNVP((4, 4, 2), num_blocks=1, num_filters=4,
                             dtype=FLOAT16)
  model.compile(keras.optimizers.Adam(1e-2))
  model.make_train_function()
  # Too high for float16: the first steps overflow and lower the scale,
  # which they would not if fit did not scale the loss.
  model.fit_step.loss_scale.scale.assign(2.0**24)
  history = model.fit(_fit_data(), epochs=4, verbose=0).history
  scale = float(model.fit_step.loss_scale.scale.numpy())
  print(history["bits_per_dim"], scale)
  assert scale < 2.0**24 and model.fit_step.overflow_steps > 0
  assert history["bits_per_dim"][-1] < history["bits_per_dim"][0]


def test_fit_without_loss_scaling_is_refused_with_the_remedy():
  model = tf_realnvp.RealNVP((4, 4, 2), num_blocks=0, num_filters=2,
                             dtype=FLOAT16)
  with pytest.raises(ValueError, match="needs loss scaling: compile with "
                     "auto_scale_loss=True"):
    model.compile(keras.optimizers.Adam(), auto_scale_loss=False)
