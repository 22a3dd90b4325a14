"""Tests of tf_realnvp.bijectors.Squeeze and FactorOut (shape-level bijectors)."""

import numpy as np
import pytest
import tensorflow_probability as tfp

from tf_realnvp import layers
from tf_realnvp.bijectors import AffineCoupling
from tf_realnvp.bijectors import CouplingMask
from tf_realnvp.bijectors import FactorOut
from tf_realnvp.bijectors import Squeeze
from tests import flow_checks

tfb = tfp.bijectors


def _squeeze(event=(4, 2, 3)):
  return Squeeze(layers.Squeeze(dtype="float64"), event)


def test_squeeze_round_trips_with_zero_log_det():
  flow_checks.check_flow(_squeeze(), flow_checks.standard_normal((2, 4, 2, 3)),
                         flow_checks.standard_normal((2, 2, 1, 12), 1))


def test_squeeze_event_shapes():
  squeeze = _squeeze()
  assert squeeze.forward_event_shape([5, 4, 2, 3]) == [5, 2, 1, 12]
  assert squeeze.inverse_event_shape([2, 1, 12]) == [4, 2, 3]
  np.testing.assert_array_equal(
      squeeze.forward_event_shape_tensor([4, 2, 3]), [2, 1, 12])
  assert tfb.Invert(squeeze).forward(np.zeros((1, 2, 1, 12))).shape == (1, 4, 2,
                                                                         3)


def test_squeeze_of_odd_event_raises():
  with pytest.raises(ValueError, match="even height and width"):
    _squeeze((3, 2, 1))


def _factor_out(event=(4, 4, 4)):
  inner_event = event[:2] + (event[2] // 2,)
  mask = CouplingMask("checkerboard", 1, inner_event)
  inner = AffineCoupling(flow_checks.coupling_network(mask, seed=5), mask)
  return FactorOut(inner, event)


def test_factor_out_transforms_only_the_second_half():
  factor_out = _factor_out()
  y = flow_checks.standard_normal((3, 4, 4, 4))
  z = np.asarray(factor_out.inverse(y))
  np.testing.assert_array_equal(z[..., :2], y[..., :2])
  assert not np.allclose(z[..., 2:], y[..., 2:])
  flow_checks.check_flow(factor_out, flow_checks.standard_normal((3, 4, 4, 4),
                                                                 1), y)


def test_factor_out_of_odd_channels_raises():
  with pytest.raises(ValueError, match="even number of channels"):
    FactorOut(tfb.Identity(), (2, 2, 3))
