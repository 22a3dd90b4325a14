"""Tests of tf_realnvp.layers.Squeeze against a numpy reference."""

import numpy as np
import pytest

from tf_realnvp.layers import Squeeze
from tf_realnvp.layers.squeeze import BLOCK_ORDER


def _numpy_squeeze(x):
  """out[n, i, j, k*C + c] = x[n, 2i + dy_k, 2j + dx_k, c]."""
  n, h, w, c = x.shape
  out = np.empty((n, h // 2, w // 2, 4 * c), x.dtype)
  for k, (dy, dx) in enumerate(BLOCK_ORDER):
    out[..., k * c:(k + 1) * c] = x[:, dy::2, dx::2, :]
  return out


def _images(shape=(2, 4, 6, 3)):
  return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_squeeze_matches_numpy_reference_and_unsqueeze_inverts_it():
  x = _images()
  squeezed = Squeeze()(x)
  np.testing.assert_array_equal(squeezed, _numpy_squeeze(x))
  np.testing.assert_array_equal(Squeeze().unsqueeze(squeezed), x)


def test_channel_halves_are_the_two_checkerboard_colours():
  x = _images((1, 4, 4, 1))
  first, second = np.split(np.asarray(Squeeze()(x)), 2, axis=-1)
  rows, cols = np.indices((4, 4))
  even = x[0, :, :, 0][(rows + cols) % 2 == 0]
  assert sorted(first.ravel()) == sorted(even.ravel())
  assert set(second.ravel()).isdisjoint(first.ravel())


def test_odd_size_raises():
  with pytest.raises(ValueError, match="even height and width"):
    Squeeze()(np.zeros((1, 3, 4, 1), np.float32))
