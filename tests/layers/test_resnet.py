"""Tests of the coupling networks: WeightNormConv2D and CouplingResNet."""

import keras
import numpy as np
import pytest

from tf_realnvp.layers import CouplingResNet
from tf_realnvp.layers import WeightNormConv2D
from tests import flow_checks

INPUT_SHAPE = (2, 4, 4, 3)


def _net(**kwargs):
  config = dict(output_channels=2, num_filters=5, num_blocks=2, dtype="float64")
  config.update(kwargs)
  net = CouplingResNet(**config)
  net.build((None,) + INPUT_SHAPE[1:])
  return net


def _inputs():
  return np.random.default_rng(0).standard_normal(INPUT_SHAPE)


def test_weight_norm_kernel_has_the_gain_as_its_norm():
  conv = WeightNormConv2D(4, gain_initializer=keras.initializers.Constant(
      [0.5, 1.0, 2.0, -3.0]), dtype="float64")
  conv.build((None, 4, 4, 3))
  kernel = np.asarray(conv.kernel())
  np.testing.assert_allclose(
      np.sqrt((kernel**2).sum(axis=(0, 1, 2))), [0.5, 1.0, 2.0, 3.0])
  expected = np.asarray(conv.direction) / np.linalg.norm(
      np.asarray(conv.direction).reshape(-1, 4), axis=0) * [0.5, 1, 2, -3]
  np.testing.assert_allclose(kernel, expected, rtol=1e-12)


def test_fresh_network_outputs_exactly_zero_scale_and_shift():
  log_scale, shift = _net()(_inputs(), training=True)
  assert log_scale.shape == shift.shape == INPUT_SHAPE[:3] + (2,)
  assert not np.any(log_scale) and not np.any(shift)


def test_condition_biases_enter_every_stage_and_start_at_zero():
  net = _net(condition_dim=3)
  condition = np.eye(3)[[0, 2]]
  fresh = net(_inputs(), condition=condition)
  assert not np.any(fresh[0]) and not np.any(fresh[1])  # Still the identity.
  flow_checks.randomize_weights(net, seed=4)
  stages = net.num_blocks + 1
  assert net.condition_biases.kernel.shape == (3, stages * net.num_filters)
  same = np.eye(3)[[1, 1]]
  other = np.eye(3)[[2, 2]]
  outputs = [np.asarray(net(_inputs(), condition=c)[1]) for c in (same, other)]
  assert not np.allclose(*outputs)
  with pytest.raises(ValueError, match="pass a condition"):
    net(_inputs())
  with pytest.raises(ValueError, match="it takes no condition"):
    _net()(_inputs(), condition=condition)


def test_log_scale_is_bounded_by_the_learned_scale():
  net = _net()
  flow_checks.randomize_weights(net, seed=3, scale=2.0)
  log_scale, shift = net(100.0 * _inputs(), training=False)
  assert np.any(shift)
  bound = np.abs(np.asarray(net.scale))
  assert np.all(np.abs(log_scale) <= bound + 1e-12)
  assert np.max(np.abs(log_scale) / bound) > 0.5  # The bound is attained.


def test_l2_penalty_covers_every_weight_norm_scale():
  net = _net(l2_scale=0.1)
  num_convs = 1 + 2 * net.num_blocks + 1
  assert len(net.losses) == num_convs
  flow_checks.randomize_weights(net, seed=4)
  gains = [w for w in net.trainable_weights if w.path.endswith("gain")]
  assert len(gains) == num_convs
  np.testing.assert_allclose(
      sum(float(l) for l in net.losses),
      0.1 * sum(float(np.sum(np.square(g))) for g in gains), rtol=1e-6)
  assert not _net(l2_scale=0.0).losses


@pytest.mark.parametrize("layer", [
    WeightNormConv2D(3, kernel_size=5, gain_regularizer=keras.regularizers.L2(
        0.01)),
    CouplingResNet(output_channels=2, num_filters=4, num_blocks=1,
                   l2_scale=0.0, batch_norm_momentum=0.5,
                   average_in_training=True),
], ids=["weight_norm_conv", "coupling_resnet"])
def test_get_config_round_trips(layer):
  clone = type(layer).from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs, message", [
    (dict(output_channels=0), "output_channels"),
    (dict(num_filters=0), "num_filters"),
    (dict(num_blocks=-1), "num_blocks"),
    (dict(l2_scale=-1.0), "l2_scale"),
])
def test_bad_arguments_raise(kwargs, message):
  config = dict(output_channels=2, num_filters=4, num_blocks=1)
  config.update(kwargs)
  with pytest.raises(ValueError, match=message):
    CouplingResNet(**config)
