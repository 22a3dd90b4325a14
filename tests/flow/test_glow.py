"""Tests of Glow's step: actnorm, the invertible 1x1 convolution, their
bijectors, and the data-dependent initialisation through the flow."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp.bijectors import ActNormBijector
from tf_realnvp.bijectors import InvertibleConv1x1Bijector
from tf_realnvp.flow import GlowStep
from tf_realnvp.layers import ActNorm
from tf_realnvp.layers import InvertibleConv1x1
from tests import flow_checks

tfb = tfp.bijectors

EVENT = (3, 3, 4)


def _layer(cls, seed=0):
  layer = cls(dtype="float64")
  layer.build((None,) + EVENT)
  flow_checks.randomize_weights(layer, seed)
  return layer


@pytest.mark.parametrize("cls, bijector_cls", [
    (ActNorm, ActNormBijector), (InvertibleConv1x1, InvertibleConv1x1Bijector)
], ids=["actnorm", "conv1x1"])
def test_round_trips_and_log_dets_match_autodiff(cls, bijector_cls):
  bijector = bijector_cls(_layer(cls, seed=3), EVENT)
  flow_checks.check_flow(bijector, flow_checks.standard_normal((3,) + EVENT, 1),
                         flow_checks.standard_normal((3,) + EVENT, 2))


def test_conv1x1_starts_as_a_rotation_in_lu_form():
  layer = InvertibleConv1x1(dtype="float64")
  layer.build((None,) + EVENT)
  kernel = layer.kernel().numpy()
  np.testing.assert_allclose(kernel @ kernel.T, np.eye(EVENT[-1]), atol=1e-12)
  assert not np.allclose(kernel, np.eye(EVENT[-1]), atol=0.1)
  np.testing.assert_allclose(np.sum(layer.log_scale), 0.0, atol=1e-12)
  # The log-det is sum(log_scale) for any trainable values, not only at
  # initialisation.
  flow_checks.randomize_weights(layer, seed=5)
  _, log_det = np.linalg.slogdet(layer.kernel().numpy())
  np.testing.assert_allclose(np.sum(layer.log_scale), log_det, rtol=1e-12)
  x = flow_checks.standard_normal((2,) + EVENT, 6)
  np.testing.assert_allclose(layer(x), np.einsum("dc,nhwc->nhwd",
                                                 layer.kernel().numpy(), x),
                             rtol=1e-12)


def test_actnorm_initializes_once_from_data():
  layer = ActNorm(dtype="float64")
  layer.build((None,) + EVENT)
  x = 3.0 + 2.0 * flow_checks.standard_normal((8,) + EVENT, 7)
  np.testing.assert_array_equal(layer(x), x)  # The identity before.
  layer.initialize(x)
  out = np.asarray(layer(x))
  np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
  np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, rtol=1e-5)
  assert bool(layer.initialized.numpy())
  values = [v.numpy() for v in layer.trainable_variables]
  layer.initialize(x + 10.0)  # Done before: nothing changes.
  for before, after in zip(values, layer.trainable_variables):
    np.testing.assert_array_equal(before, after)


def test_glow_step_is_actnorm_conv_coupling_in_data_to_latent_order():
  model = flow_checks.tiny_model(seed=4, step_type="glow")
  step = model.flow.steps[0]
  assert isinstance(step, GlowStep)
  bijectors = step.bijectors()
  assert [b.name for b in bijectors] == [
      f"{step.name}_actnorm", f"{step.name}_conv1x1", step.name]
  x = flow_checks.standard_normal((2,) + step.event_shape, 8)
  expected = x
  for layer in (step.actnorm, step.conv):
    expected = layer(expected)
  expected = bijectors[-1].inverse(expected)
  np.testing.assert_allclose(tfb.Chain(bijectors).inverse(tf.constant(x)),
                             expected, rtol=1e-12)
  flow_checks.check_flow(tfb.Chain(bijectors),
                         flow_checks.standard_normal((2,) + step.event_shape,
                                                     9), x)


def test_flow_initialization_normalizes_each_actnorm_input_in_order():
  model = flow_checks.tiny_model(seed=5, step_type="glow", num_scales=2)
  assert model.flow.needs_initialization  # Randomised, not initialised.
  y = flow_checks.uniform_pixels((16,) + model.image_shape, seed=10)
  model.initialize(y)
  assert not model.flow.needs_initialization
  # Walk the flow: each actnorm's output, on the batch it was initialised
  # from, has zero mean and unit variance per channel.
  x = model.bijector().bijectors[0].inverse(y)
  checked = 0
  for scale in model.flow.scales:
    for bijector in scale.head_bijectors():
      x = tf.identity(bijector.inverse(x))
      if bijector.name.endswith("_actnorm"):
        np.testing.assert_allclose(np.mean(x, axis=(0, 1, 2)), 0.0,
                                   atol=1e-9)
        np.testing.assert_allclose(np.var(x, axis=(0, 1, 2)), 1.0, rtol=1e-4)
        checked += 1
    if not scale.is_last:
      x = tf.split(x, 2, axis=-1)[1]
  assert checked == len(model.flow.steps)
