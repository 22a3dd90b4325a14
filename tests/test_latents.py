"""Tests of the latent pieces (`MultiScaleFlow.split_latents/merge_latents`,
`RealNVP.encode/decode(per_scale=True)`) and of tf_realnvp/latents.py.

The per-scale pieces are checked against the flow itself (`_factored_out`
walks the model's own `FactorOut` bijectors), not against the squeeze order
`split_latents` relies on. Models are float64 with randomised weights.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import latents
from tf_realnvp.bijectors import FactorOut
from tf_realnvp.flow import multiscale_layout
from tests import flow_checks

CONFIGS = {
    "two_scales": dict(),  # (4, 4, 2)
    "three_scales": dict(image_shape=(8, 8, 1), num_scales=3),
    "one_scale": dict(image_shape=(2, 2, 3), num_scales=1),
}
SEED = tf.constant([3, 4], tf.int32)


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def model(request):
  return flow_checks.tiny_model(seed=5, **CONFIGS[request.param])


@pytest.fixture(scope="module")
def two_scales():
  return flow_checks.tiny_model(seed=6)


def _pixels(model, n=3, seed=0):
  return flow_checks.uniform_pixels((n,) + model.image_shape, seed)


def _factored_out(chain, x):
  """What each `FactorOut` in `chain` keeps, then the innermost latent.

  Runs `chain.inverse` step by step: the steps before a `FactorOut`, then
  its kept half, then recursively its inner bijector on the other half.
  """
  steps = list(chain.bijectors)
  index = next((i for i, b in enumerate(steps) if isinstance(b, FactorOut)),
               None)
  if index is None:
    return [chain.inverse(x)]
  h = tf.identity(type(chain)(steps[:index]).inverse(x))
  kept, rest = tf.split(h, 2, axis=-1)
  return [kept] + _factored_out(steps[index].bijector, rest)


def _split(model, z):
  return model.flow.split_latents(z)


def _merge(model, pieces):
  return model.flow.merge_latents(pieces)


def _random_pieces(model, n=3, seed=0):
  return [tf.constant(flow_checks.standard_normal((n,) + shape, seed + i))
          for i, shape in enumerate(model.flow.latent_shapes)]


def _latent_shapes(image_shape, num_scales):
  return [scale.latent_shape
          for scale in multiscale_layout(image_shape, num_scales, 1)]


def test_latent_shapes_fine_to_coarse():
  assert _latent_shapes((28, 28, 1), 2) == [(14, 14, 2), (14, 14, 2)]
  assert _latent_shapes((32, 32, 3), 3) == [(16, 16, 6), (8, 8, 12),
                                             (8, 8, 12)]
  assert _latent_shapes((4, 6, 3), 1) == [(4, 6, 3)]
  for shape, scales in (((64, 64, 3), 5), ((28, 28, 1), 2), ((8, 4, 2), 3)):
    assert sum(math.prod(s) for s in _latent_shapes(shape, scales)) == (
        math.prod(shape))


def test_per_scale_encode_returns_what_each_scale_factored_out(model):
  y = _pixels(model)
  pieces = model.encode(y, per_scale=True)
  expected = _factored_out(model.bijector(), tf.constant(y))
  assert len(pieces) == model.num_scales == len(expected)
  for piece, shape, reference in zip(
      pieces, model.flow.latent_shapes, expected):
    assert piece.shape == (3,) + shape
    np.testing.assert_allclose(piece, reference, rtol=1e-12, atol=1e-12)
  # The same entries as the image-shaped latent, exactly.
  for piece, split in zip(pieces, _split(model, model.encode(y))):
    np.testing.assert_array_equal(piece, split)


def test_per_scale_decode_inverts_per_scale_encode(model):
  y = _pixels(model, seed=1)
  pieces = [tf.identity(p) for p in model.encode(y, per_scale=True)]
  np.testing.assert_allclose(model.decode(pieces, per_scale=True), y,
                             rtol=1e-9)
  # The flow is not the identity: the round trip was not vacuous.
  assert not np.allclose(_merge(model, pieces), y, atol=1.0)


def test_split_and_merge_permute_the_entries_of_each_example(model):
  n, dims = 2, model.num_dims
  z = tf.reshape(tf.range(n * dims, dtype=tf.float64),
                 (n,) + model.image_shape)
  pieces = _split(model, z)
  for k in range(n):  # Each entry of example k exactly once, in example k.
    values = np.concatenate([np.ravel(p[k]) for p in pieces])
    np.testing.assert_array_equal(np.sort(values),
                                  np.arange(k * dims, (k + 1) * dims))
  np.testing.assert_array_equal(_merge(model, pieces), z)


def test_split_then_merge_and_merge_then_split_are_identities(model):
  z = flow_checks.standard_normal((3,) + model.image_shape, seed=2)
  np.testing.assert_array_equal(_merge(model, _split(model, z)), z)
  pieces = _random_pieces(model, seed=10)
  for piece, again in zip(pieces, _split(model, _merge(model, pieces))):
    np.testing.assert_array_equal(again, piece)


@pytest.mark.parametrize("change, message", [
    (lambda p: p[:-1], "expected 2 pieces"),
    (lambda p: p[:-1] + [p[-1][..., :1]], r"piece 1 must have shape"),
    (lambda p: [p[0][:1]] + p[1:], "piece 1 has batch size 3"),
], ids=["too_few", "wrong_shape", "batch_sizes"])
def test_merge_and_per_scale_decode_reject_pieces_that_do_not_fit(
    two_scales, change, message):
  pieces = _random_pieces(two_scales)
  with pytest.raises(ValueError, match=message):
    _merge(two_scales, change(pieces))
  with pytest.raises(ValueError, match=message):
    two_scales.decode(change(pieces), per_scale=True)


def test_merge_rejects_pieces_of_different_dtypes(two_scales):
  pieces = _random_pieces(two_scales)
  with pytest.raises(ValueError, match="piece 1 has dtype float32"):
    _merge(two_scales, [pieces[0], tf.cast(pieces[1], tf.float32)])


def test_split_rejects_a_latent_of_another_shape(two_scales):
  with pytest.raises(ValueError, match=r"z must have shape \[None, 4, 4, 2\]"):
    _split(two_scales, tf.zeros([2, 4, 4, 1], tf.float64))


def test_resampling_one_scale_changes_exactly_its_entries(model):
  z = tf.constant(flow_checks.standard_normal((3,) + model.image_shape, 3))
  pieces = _split(model, z)
  for i in range(model.num_scales):
    new = latents.resample_scales(pieces, [i], 0.7, SEED)
    for j, (before, after) in enumerate(zip(pieces, new)):
      if j == i:
        assert after.shape == before.shape and after.dtype == before.dtype
        assert np.all(np.asarray(after) != np.asarray(before))
      else:
        np.testing.assert_array_equal(after, before)
    # In the image-shaped latent: exactly the positions of scale i changed.
    mask = _merge(model, [tf.ones_like(p) if j == i else tf.zeros_like(p)
                          for j, p in enumerate(pieces)]).numpy() == 1
    changed = _merge(model, new).numpy() != z.numpy()
    np.testing.assert_array_equal(changed, mask)


def test_resampled_pieces_scale_with_the_temperature(model):
  pieces = _random_pieces(model, seed=4)
  at_one = latents.resample_scales(pieces, [-1], 1.0, SEED)[-1]
  np.testing.assert_allclose(
      latents.resample_scales(pieces, [-1], 0.7, SEED)[-1], 0.7 * at_one,
      rtol=1e-15)
  np.testing.assert_array_equal(
      latents.resample_scales(pieces, [-1], 0.0, SEED)[-1], 0 * at_one)
  other_seed = latents.resample_scales(pieces, [-1], 1.0, SEED + 1)[-1]
  assert not np.allclose(other_seed, at_one)


@pytest.mark.parametrize("scales, temperature, message", [
    ([2], 1.0, "scale 2 is out of range"),
    ([-3], 1.0, "scale -3 is out of range"),
    ([0], -0.5, "temperature must be >= 0"),
    ([0], float("nan"), "temperature must be >= 0"),
])
def test_resample_rejects_bad_scales_and_temperatures(scales, temperature,
                                                      message):
  pieces = [tf.zeros([1, 2, 2, 4]), tf.zeros([1, 2, 2, 4])]
  with pytest.raises(ValueError, match=message):
    latents.resample_scales(pieces, scales, temperature, SEED)


def test_great_circle_and_manifold_pass_through_the_latents():
  z1, z2, z3, z4 = (flow_checks.standard_normal((2, 3), seed=s)
                    for s in range(4))
  quarter = latents.quarter_circle(5)
  assert quarter[0] == 0 and quarter[-1] == math.pi / 2 and len(quarter) == 5
  path = latents.great_circle(z1, z2, quarter)
  assert path.shape == (5, 2, 3)
  np.testing.assert_array_equal(path[0], z1)
  np.testing.assert_allclose(path[-1], z2, rtol=0, atol=1e-15)
  grid = latents.manifold(z1, z2, z3, z4, quarter, quarter[:3])
  assert grid.shape == (5, 3, 2, 3)
  np.testing.assert_array_equal(grid[0, 0], z1)
  corners = latents.manifold(z1, z2, z3, z4, quarter[[0, -1]],
                             quarter[[0, -1]])
  for (i, j), z in zip([(0, 1), (1, 0), (1, 1)], (z2, z3, z4)):
    np.testing.assert_allclose(corners[i, j], z, rtol=0, atol=1e-15)
  a, b = 0.3, 1.1
  np.testing.assert_allclose(
      latents.manifold(z1, z2, z3, z4, [a], [b])[0, 0],
      math.cos(a) * (math.cos(b) * z1 + math.sin(b) * z2) +
      math.sin(a) * (math.cos(b) * z3 + math.sin(b) * z4), rtol=1e-14)
  np.testing.assert_allclose(latents.great_circle(z1, z2, b),
                             math.cos(b) * z1 + math.sin(b) * z2, rtol=1e-14)


@pytest.mark.parametrize("num", [0, 2.5, -1])
def test_quarter_circle_needs_a_positive_int(num):
  with pytest.raises(ValueError, match="int >= 1"):
    latents.quarter_circle(num)
