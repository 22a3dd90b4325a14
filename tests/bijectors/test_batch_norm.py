"""Tests of tf_realnvp.bijectors.BatchNorm."""

import numpy as np
import tensorflow as tf

from tf_realnvp.bijectors import BatchNorm
from tf_realnvp.layers import BatchNormalization
from tests import flow_checks

EVENT = (3, 3, 2)


def _bijector(training):
  layer = BatchNormalization(momentum=0.9, dtype="float64")
  layer.build((None,) + EVENT)
  flow_checks.randomize_weights(layer, seed=2)
  return BatchNorm(layer, EVENT, training=training), layer


def _data(seed=0):
  return 1.5 + 2.0 * flow_checks.standard_normal((6,) + EVENT, seed)


def test_eval_mode_is_exactly_invertible_with_autodiff_log_dets():
  bijector, _ = _bijector(training=False)
  flow_checks.check_flow(bijector, flow_checks.standard_normal((4,) + EVENT),
                         _data())


def test_training_mode_log_det_is_the_closed_form_and_updates_once():
  bijector, layer = _bijector(training=True)
  y = tf.constant(_data())  # One tensor, as in `log_prob`: one cache entry.
  old_mean = np.asarray(layer.moving_mean)
  batch_mean, batch_var = np.mean(y, axis=(0, 1, 2)), np.var(y, axis=(0, 1, 2))
  z = np.asarray(bijector.inverse(y))
  ildj = bijector.inverse_log_det_jacobian(y, event_ndims=3)
  gamma, beta = np.asarray(layer.gamma), np.asarray(layer.beta)
  closed_form = EVENT[0] * EVENT[1] * np.sum(
      np.log(np.abs(gamma)) - 0.5 * np.log(batch_var + layer.epsilon))
  np.testing.assert_allclose(ildj, np.full(6, closed_form), rtol=1e-12)
  np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), beta, atol=1e-12)
  # One update of the running mean, although inverse and log-det were asked.
  np.testing.assert_allclose(layer.moving_mean,
                             0.9 * old_mean + 0.1 * batch_mean, rtol=1e-12)


def test_training_mode_forward_uses_the_running_averages():
  train_bijector, layer = _bijector(training=True)
  eval_bijector = BatchNorm(layer, EVENT, training=False)
  z = flow_checks.standard_normal((4,) + EVENT, 3)
  np.testing.assert_allclose(train_bijector.forward(z),
                             eval_bijector.forward(np.copy(z)), rtol=1e-12)
