"""Tests of tf_realnvp.bijectors.PixelLogit."""

import numpy as np
import pytest

from tf_realnvp.bijectors import PixelLogit
from tests import flow_checks


def _logit(p):
  return np.log(p) - np.log1p(-p)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_inverse_is_the_documented_logit(alpha):
  y = flow_checks.uniform_pixels((3, 2, 2, 1))
  np.testing.assert_allclose(
      PixelLogit(alpha, dtype="float64").inverse(y),
      _logit(alpha + (1 - 2 * alpha) * y / 256), rtol=1e-12)


def test_round_trips_and_log_dets_match_autodiff():
  flow_checks.check_flow(PixelLogit(dtype="float64"),
                         flow_checks.standard_normal((3, 2, 2, 2)),
                         flow_checks.uniform_pixels((3, 2, 2, 2)))


def test_forward_range_and_edge_pixels():
  bijector = PixelLogit(0.05, dtype="float64")
  extremes = np.asarray(bijector.forward(np.array([-50.0, 0.0, 50.0])))
  np.testing.assert_allclose(extremes, [-256 * 0.05 / 0.9, 128, 256 * 0.95 / 0.9])
  assert np.all(np.isfinite(bijector.inverse(np.array([0.0, 255.999, 256.0]))))
  assert np.isnan(bijector.inverse(np.array([-20.0, np.nan]))).all()


@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, 1.0])
def test_bad_alpha_raises(alpha):
  with pytest.raises(ValueError, match="alpha"):
    PixelLogit(alpha)
