"""Tests of tf_realnvp.bijectors.AffineCoupling and its masks."""

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp.bijectors import AffineCoupling
from tf_realnvp.bijectors import CouplingMask
from tf_realnvp.layers import CouplingResNet
from tests import flow_checks

EVENT = (4, 4, 2)
MASKS = [("checkerboard", 0), ("checkerboard", 1), ("channel", 0),
         ("channel", 1)]


CONDITION_DIM = 3


def _coupling(mask_type, parity, training=False, network_cls=None,
              condition_dim=0):
  mask = CouplingMask(mask_type, parity, EVENT)
  return AffineCoupling(
      flow_checks.coupling_network(mask, seed=parity + 7, cls=network_cls,
                                   condition_dim=condition_dim),
      mask, training=training)


def _conditions(batch_shape, seed=0):
  """`{"conditional_input": c}`, `c` `[*batch_shape, CONDITION_DIM]`."""
  return {"conditional_input": flow_checks.standard_normal(
      tuple(batch_shape) + (CONDITION_DIM,), seed)}


def _conditioning_half(mask_type, parity):
  """Boolean `[H, W, C]`: True where the mask leaves the input unchanged."""
  if mask_type == "checkerboard":
    rows, cols = np.indices(EVENT[:2])
    half = (rows + cols + parity) % 2 == 0
    return np.repeat(half[:, :, None], EVENT[2], axis=2)
  half = np.zeros(EVENT, bool)
  half[..., :EVENT[2] // 2] = True
  return half if parity == 0 else ~half


@pytest.mark.parametrize("mask_type, parity", MASKS)
def test_round_trips_and_log_dets_match_autodiff(mask_type, parity):
  coupling = _coupling(mask_type, parity)
  flow_checks.check_flow(coupling, flow_checks.standard_normal((3,) + EVENT, 1),
                         flow_checks.standard_normal((3,) + EVENT, 2))


@pytest.mark.parametrize("mask_type, parity", MASKS)
def test_mask_changes_exactly_the_unmasked_half(mask_type, parity):
  coupling = _coupling(mask_type, parity)
  y = flow_checks.standard_normal((3,) + EVENT, 4)
  half = np.broadcast_to(_conditioning_half(mask_type, parity), y.shape)
  for out in (coupling.inverse(y), coupling.forward(y)):
    out = np.asarray(out)
    np.testing.assert_array_equal(out[half], y[half])
    assert np.all(out[~half] != y[~half])


@pytest.mark.parametrize("condition_dim", [0, CONDITION_DIM])
def test_log_prob_path_runs_the_network_once(condition_dim):
  calls = []

  class CountingResNet(CouplingResNet):

    def call(self, inputs, condition=None, training=None):
      calls.append(inputs)
      return super().call(inputs, condition=condition, training=training)

  coupling = _coupling("checkerboard", 0, network_cls=CountingResNet,
                       condition_dim=condition_dim)
  y = tf.constant(flow_checks.standard_normal((2,) + EVENT))
  kwargs = _conditions([2]) if condition_dim else {}
  z = coupling.inverse(y, **kwargs)  # Held, as `log_prob` holds it: cached.
  coupling.inverse_log_det_jacobian(y, event_ndims=3, **kwargs)
  coupling.forward_log_det_jacobian(z, event_ndims=3, **kwargs)
  assert len(calls) == 1
  coupling.inverse_log_det_jacobian(tf.identity(y), event_ndims=3, **kwargs)
  assert len(calls) == 2  # A new tensor is a new computation.


@pytest.mark.parametrize("mask_type, parity", MASKS[::2])
def test_conditional_coupling_round_trips_and_depends_on_the_condition(
    mask_type, parity):
  coupling = _coupling(mask_type, parity, condition_dim=CONDITION_DIM)
  y = flow_checks.standard_normal((2, 3) + EVENT, 2)
  kwargs = _conditions([3], seed=1)  # Broadcasts against the batch [2, 3].
  z = tf.identity(coupling.inverse(y, **kwargs))
  np.testing.assert_allclose(coupling.forward(z, **kwargs), y, rtol=1e-9)
  flat = {"conditional_input": np.broadcast_to(
      kwargs["conditional_input"], (2, 3, CONDITION_DIM)).reshape(6, -1)}
  np.testing.assert_allclose(
      np.reshape(coupling.inverse(y.reshape((6,) + EVENT), **flat), y.shape),
      z, rtol=1e-12)
  assert coupling.inverse_log_det_jacobian(y, 3, **kwargs).shape == (2, 3)
  assert not np.allclose(coupling.inverse(y, **_conditions([3], seed=2)), z)


@pytest.mark.parametrize("batch_shape", [(), (2, 3)])
def test_any_batch_shape_matches_the_flat_batch(batch_shape):
  coupling = _coupling("channel", 1)
  y = flow_checks.standard_normal(batch_shape + EVENT, 5)
  flat = y.reshape((-1,) + EVENT)
  np.testing.assert_allclose(
      coupling.inverse(y), np.reshape(coupling.inverse(flat), y.shape))
  np.testing.assert_allclose(
      coupling.inverse_log_det_jacobian(y, event_ndims=3),
      np.reshape(coupling.inverse_log_det_jacobian(flat, event_ndims=3),
                 batch_shape))


def test_wrong_event_shape_names_expected_and_received():
  coupling = _coupling("checkerboard", 0)
  with pytest.raises(ValueError, match=r"\[4, 4, 2\].*\(3, 4, 4, 1\)"):
    coupling.inverse(np.zeros((3, 4, 4, 1)))


@pytest.mark.parametrize("args, message", [
    (("diagonal", 0, EVENT), "mask_type"),
    (("channel", 2, EVENT), "parity"),
    (("channel", 0, (4, 4, 3)), "even number of channels"),
])
def test_bad_masks_raise(args, message):
  with pytest.raises(ValueError, match=message):
    CouplingMask(*args)
