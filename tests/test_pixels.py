"""Tests of tf_realnvp.pixels."""

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import pixels


def test_dequantized_values_stay_in_their_bins():
  # 4M values: without the guard, float32 rounding puts ~16 of them (those
  # with noise within 2**-17 of 1, in bins >= 128) into the next bin.
  images = np.tile(np.arange(256, dtype=np.uint8), 16000)
  y = pixels.dequantize(images, tf.constant([3, 4]))
  assert y.dtype == tf.float32
  np.testing.assert_array_equal(pixels.to_uint8(y), images)
  assert np.all((y >= images) & (y < images.astype(np.float64) + 1))
  # The noise is used: roughly uniform in each bin.
  assert 0.45 < np.mean(np.asarray(y) - images) < 0.55


def test_same_seed_same_noise():
  images = np.zeros((2, 3, 3, 1), np.uint8)
  np.testing.assert_array_equal(pixels.dequantize(images, [1, 2]),
                                pixels.dequantize(images, [1, 2]))
  assert not np.array_equal(pixels.dequantize(images, [1, 2]),
                            pixels.dequantize(images, [1, 3]))


def test_non_uint8_images_are_refused():
  with pytest.raises(ValueError, match="uint8.*float32"):
    pixels.dequantize(np.zeros((2, 2), np.float32), [1, 2])


def test_to_uint8_clips_and_floors():
  np.testing.assert_array_equal(
      pixels.to_uint8(np.array([-3.0, 0.5, 254.99, 255.99, 270.0])),
      [0, 0, 254, 255, 255])


def test_bin_centres_are_the_middle_of_each_bin():
  images = np.array([[0, 17, 255]], np.uint8)
  centres = pixels.bin_centres(images, tf.float64)
  assert centres.dtype == tf.float64
  np.testing.assert_array_equal(centres, [[0.5, 17.5, 255.5]])
  np.testing.assert_array_equal(pixels.to_uint8(centres), images)
  with pytest.raises(ValueError, match="expected uint8 images"):
    pixels.bin_centres(images.astype(np.float32))
