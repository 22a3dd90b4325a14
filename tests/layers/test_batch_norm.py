"""Tests of tf_realnvp.layers.BatchNormalization."""

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp.layers import BatchNormalization
from tests import flow_checks

EPS = 1e-4


def _layer(**kwargs):
  layer = BatchNormalization(dtype="float64", **kwargs)
  layer.build((None, 3, 3, 2))
  flow_checks.randomize_weights(layer, seed=1)
  return layer


def _inputs():
  rng = np.random.default_rng(0)
  return 2.0 + 3.0 * rng.standard_normal((5, 3, 3, 2))


def _normalized(x, mean, variance, layer):
  return (np.asarray(layer.gamma) * (x - mean) / np.sqrt(variance + EPS) +
          np.asarray(layer.beta))


def test_eval_mode_uses_running_averages_and_changes_nothing():
  layer, x = _layer(), _inputs()
  before = [np.asarray(v) for v in layer.non_trainable_variables]
  out = layer(x, training=False)
  np.testing.assert_allclose(
      out, _normalized(x, np.asarray(layer.moving_mean),
                       np.asarray(layer.moving_variance), layer), rtol=1e-12)
  for old, new in zip(before, layer.non_trainable_variables):
    np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("average_in_training", [False, True])
def test_training_mode_normalizes_and_updates_running_averages(
    average_in_training):
  layer, x = _layer(momentum=0.9, average_in_training=average_in_training), _inputs()
  old_mean, old_var = np.asarray(layer.moving_mean), np.asarray(
      layer.moving_variance)
  batch_mean, batch_var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  out = layer(x, training=True)
  new_mean = 0.9 * old_mean + 0.1 * batch_mean
  new_var = 0.9 * old_var + 0.1 * batch_var
  np.testing.assert_allclose(layer.moving_mean, new_mean, rtol=1e-12)
  np.testing.assert_allclose(layer.moving_variance, new_var, rtol=1e-12)
  # Paper appendix E: normalise with the updated running average itself.
  used = (new_mean, new_var) if average_in_training else (batch_mean, batch_var)
  np.testing.assert_allclose(out, _normalized(x, *used, layer), rtol=1e-10)


@pytest.mark.parametrize("training", [False, True])
def test_log_scales_have_the_closed_form_and_denormalize_inverts_eval_mode(
    training):
  layer, x = _layer(momentum=0.9), _inputs()
  moving = (np.asarray(layer.moving_mean), np.asarray(layer.moving_variance))
  used = (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))) if training else moving
  out, log_scale = layer(x, training=training, return_log_scale=True)
  np.testing.assert_allclose(out, _normalized(x, *used, layer), rtol=1e-10)
  np.testing.assert_allclose(
      log_scale, np.log(np.abs(layer.gamma)) - 0.5 * np.log(used[1] + EPS),
      rtol=1e-12)
  # One update per call in training mode, none in evaluation mode.
  expected_mean = 0.9 * moving[0] + 0.1 * used[0] if training else moving[0]
  np.testing.assert_allclose(layer.moving_mean, expected_mean, rtol=1e-12)
  if not training:
    back, back_log_scale = layer.denormalize(out)
    np.testing.assert_allclose(back, x, rtol=1e-12)
    np.testing.assert_allclose(back_log_scale, log_scale, rtol=1e-12)
    assert not np.allclose(out, x, atol=0.1)


def test_running_averages_are_synchronised_on_read_with_mean():
  layer = _layer()
  for variable in (layer.moving_mean, layer.moving_variance):
    assert not variable.trainable
    assert variable.value.synchronization == tf.VariableSynchronization.ON_READ
    assert variable.value.aggregation == tf.VariableAggregation.MEAN


def test_get_config_round_trips():
  layer = BatchNormalization(momentum=0.8, epsilon=1e-3, center=False,
                             average_in_training=True, synchronized=True)
  clone = BatchNormalization.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  clone.build((None, 2, 2, 3))
  assert clone.beta is None and clone.gamma.shape == (3,)


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=1.0), "momentum"),
    (dict(momentum=-0.1), "momentum"),
    (dict(epsilon=0.0), "epsilon"),
])
def test_bad_arguments_raise(kwargs, message):
  with pytest.raises(ValueError, match=message):
    BatchNormalization(**kwargs)


def test_bad_input_rank_raises():
  with pytest.raises(ValueError, match=r"\[N, H, W, C\]"):
    BatchNormalization().build((None, 3))


@pytest.mark.parametrize("training", [False, True])
def test_fused_kernel_matches_the_composite_normalisation(training):
  """float32 `call` runs TF's fused kernel; float64 the composite ops."""
  layers = {}
  for dtype in ("float32", "float64"):
    layers[dtype] = BatchNormalization(momentum=0.9, dtype=dtype)
    layers[dtype].build((None, 3, 3, 2))
  flow_checks.randomize_weights(layers["float64"], seed=4)
  layers["float32"].set_weights(layers["float64"].get_weights())
  x = _inputs()
  results = {}
  for dtype, layer in layers.items():
    x_t = tf.constant(x, dtype)
    with tf.GradientTape() as tape:
      tape.watch(x_t)
      out = layer(x_t, training=training)
      loss = tf.reduce_sum(out * tf.cos(x_t))
    grads = tape.gradient(loss, [x_t] + layer.trainable_variables)
    results[dtype] = [out] + grads + [layer.moving_mean, layer.moving_variance]
  for fused, composite in zip(results["float32"], results["float64"]):
    np.testing.assert_allclose(fused, composite, rtol=2e-4, atol=2e-4)
