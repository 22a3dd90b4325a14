"""Variational dequantisation (tf_realnvp/dequantization.py, and
`RealNVP(dequantization="variational")`): the noise flow is exact, and its
bits/dim is a bound never below the true `-log2 P(x) / D`, checked where
`P(x)` has a closed form."""

import math

import keras
import numpy as np
import pytest
import scipy.special
import tensorflow as tf

import tf_realnvp
from tf_realnvp import losses
from tf_realnvp.dequantization import VariationalDequantizer
from tests import flow_checks

IMAGE_SHAPE = (4, 4, 2)


def _images(shape=(3,) + IMAGE_SHAPE, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float64)


def _dequantizer(seed=0, image_shape=IMAGE_SHAPE):
  """A float64 dequantizer with randomised weights."""
  dequantizer = VariationalDequantizer(image_shape, num_couplings=3,
                                       num_filters=4, dtype="float64")
  dequantizer.build()
  flow_checks.randomize_weights(dequantizer, seed)
  return dequantizer


def _noise(shape, seed=1):
  return np.random.default_rng(seed).uniform(0.01, 0.99, shape)


def test_noise_flow_round_trips_and_its_log_dets_match_autodiff():
  images = _images()
  flow = _dequantizer().bijector(tf.constant(images))
  flow_checks.check_flow(flow, _noise(images.shape, 1), _noise(images.shape, 2))


def test_log_q_is_the_change_of_variables_of_uniform_noise_and_stays_in_bins():
  dequantizer, images = _dequantizer(), _images()
  noise = tf.constant(_noise(images.shape))
  y_q, log_q = dequantizer(images + noise)
  assert np.all(np.floor(y_q) == images)
  u = y_q - images
  assert not np.allclose(u, noise, atol=1e-2)  # Not the uniform noise.
  # q(u | x) = U(e) / |det du/de|, the Jacobian by autodiff.
  expected = -flow_checks.autodiff_log_det(
      lambda e: dequantizer(images + e)[0] - images, noise)
  np.testing.assert_allclose(log_q, expected, rtol=1e-6, atol=1e-6)


def test_noise_at_the_ends_of_the_bins_gives_finite_values_in_the_bins():
  dequantizer = _dequantizer()
  images = np.array([0.0, 17.0, 255.0])[:, None, None, None] * np.ones(
      (3,) + IMAGE_SHAPE)
  for y in (images, images + 1.0 - 1e-9):  # Noise 0, and almost 1.
    y_q, log_q = dequantizer(tf.constant(y))
    flow_checks.assert_all_finite(y_q, log_q)
    assert np.all((y_q >= images) & (y_q < images + 1))


def test_a_new_variational_model_reports_the_uniform_bits_per_dim():
  uniform = tf_realnvp.RealNVP(IMAGE_SHAPE, num_blocks=1, num_filters=4)
  variational = tf_realnvp.RealNVP(IMAGE_SHAPE, num_blocks=1, num_filters=4,
                                   dequantization="variational")
  flow_checks.randomize_weights(uniform)
  flow_weights = uniform.get_weights()
  variational.set_weights(flow_weights + variational.get_weights()[
      len(flow_weights):])
  images = tf.constant(_images(), tf.uint8)
  np.testing.assert_allclose(variational.bits_per_dim(images, seed=3),
                             uniform.bits_per_dim(images, seed=3), rtol=1e-6)


def _logit_normal_model():
  """A 2x2 grey-level `RealNVP` whose flow is the logit preprocessing alone
  (its couplings as built: the identity), with variational dequantisation.

  Its pixels are independent with `log p(y) = log N(l(y)) + log l'(y)`,
  `l(y) = logit(alpha + (1 - 2 alpha) y / 256)`, so an 8-bit image has
  `P(x) = prod_d [Phi(l(x_d + 1)) - Phi(l(x_d))]`.
  """
  model = tf_realnvp.RealNVP((2, 2, 1), num_scales=1, num_blocks=1,
                             num_filters=4, coupling_batch_norm=False,
                             dequantization="variational", dtype="float64")
  flow_checks.randomize_weights(model.dequantizer, seed=5)
  return model


def _closed_form_bits_per_dim(model, image):
  alpha = model.config.alpha
  def l(y):  # pylint: disable=invalid-name
    return scipy.special.logit(alpha + (1 - 2 * alpha) * y / 256)
  log_p = np.sum(np.log(scipy.special.ndtr(l(image + 1)) -
                        scipy.special.ndtr(l(image))))
  return -log_p / (image.size * math.log(2))


def _bound(model, image, noise, training=False):
  """Each sample's one-sample bound (bits/dim) of `image` under `noise`."""
  return losses.bits_per_dim(model, image + noise, training)


def test_variational_bound_is_above_the_closed_form_value_and_tightens():
  model = _logit_normal_model()
  image = np.array([0.0, 37.0, 128.0, 255.0]).reshape(2, 2, 1)
  true_bits = _closed_form_bits_per_dim(model, image)
  samples = 4096
  rng = np.random.default_rng(0)

  def check(noise_seed):
    noise = np.random.default_rng(noise_seed).uniform(
        0, 1, (samples, 2, 2, 1))
    bound = _bound(model, image, noise).numpy()
    mean, error = bound.mean(), bound.std() / math.sqrt(samples)
    assert mean >= true_bits - 4 * error, (mean, error, true_bits)
    return mean - true_bits, error

  gap_before, error = check(1)
  assert gap_before > 10 * error  # A random q is a loose bound.
  optimizer = keras.optimizers.Adam(0.01)
  variables = model.dequantizer.trainable_variables

  @tf.function
  def step(noise):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(_bound(model, image, noise, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  for _ in range(150):
    step(rng.uniform(0, 1, (256, 2, 2, 1)))
  gap_after, _ = check(2)
  print(f"true {true_bits:.4f} bits/dim, gap {gap_before:.4f} -> "
        f"{gap_after:.4f}")
  assert gap_after < gap_before / 4


@pytest.mark.parametrize("bad", ["learned", None])
def test_unknown_dequantization_is_refused(bad):
  with pytest.raises(ValueError, match="dequantization must be one of"):
    tf_realnvp.RealNVP(IMAGE_SHAPE, dequantization=bad)


def test_dequantizer_config_round_trips():
  dequantizer = _dequantizer()
  copy = VariationalDequantizer.from_config(dequantizer.get_config())
  assert copy.get_config() == dequantizer.get_config()
  model = tf_realnvp.RealNVP(IMAGE_SHAPE, dequantization="variational")
  assert tf_realnvp.RealNVP.from_config(
      model.get_config()).config.dequantization == "variational"
