"""Tests of memory-efficient backprop (tf_realnvp.recompute)."""

import numpy as np
import pytest
import tensorflow as tf

import tf_realnvp
from tests import flow_checks


def _loss_and_gradients(model, y, labels=None):
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.log_prob(y, labels, training=True))
  return loss, tape.gradient(loss, model.trainable_variables)


def _running_averages(model):
  return [v.numpy() for v in model.non_trainable_variables]


@pytest.mark.parametrize("compiled, num_classes", [
    (False, None), (True, None), (False, 3)],
                         ids=["eager", "tf_function", "conditional"])
def test_recomputed_gradients_equal_standard_backprop(compiled, num_classes):
  standard = flow_checks.tiny_model(seed=5, dtype="float32",
                                    num_classes=num_classes)
  recomputing = tf_realnvp.RealNVP.from_config(
      dict(standard.get_config(), recompute_gradients=True))
  recomputing.set_weights(standard.get_weights())
  y = tf.constant(flow_checks.uniform_pixels((6, 4, 4, 2), seed=1),
                  tf.float32)
  run = tf.function(_loss_and_gradients) if compiled else _loss_and_gradients
  labels = None if num_classes is None else tf.constant([0, 1, 2, 2, 1, 0])
  loss, grads = run(standard, y, labels)
  loss_r, grads_r = run(recomputing, y, labels)
  stats, stats_r = _running_averages(standard), _running_averages(recomputing)
  np.testing.assert_allclose(loss_r, loss, rtol=1e-6)
  assert len(grads) == len(grads_r) and all(g is not None for g in grads_r)
  for g, g_r in zip(grads, grads_r):
    np.testing.assert_allclose(g_r, g, rtol=1e-4, atol=1e-5)
  # The running averages were updated exactly once, as without recomputing.
  for s, s_r in zip(stats, stats_r):
    np.testing.assert_allclose(s_r, s, rtol=1e-6)
  assert any(np.abs(g).max() > 1e-3 for g in grads)


def test_recompute_with_average_in_training_is_refused():
  with pytest.raises(ValueError, match="average_in_training"):
    tf_realnvp.RealNVP((4, 4, 1), recompute_gradients=True,
                       average_in_training=True)
