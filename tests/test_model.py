"""Tests of tf_realnvp.RealNVP: the whole flow against independent computations."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tf_realnvp
from tf_realnvp import pixels
from tf_realnvp import seeds
from tests import flow_checks

tfb = tfp.bijectors
tfd = tfp.distributions

CONFIGS = {
    "two_scales": dict(),
    "one_scale": dict(image_shape=(2, 2, 3), num_scales=1),
    "three_scales": dict(image_shape=(4, 4, 1), num_scales=3),
    "no_coupling_batch_norm": dict(coupling_batch_norm=False),
    "glow": dict(step_type="glow"),
}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def model(request):
  return flow_checks.tiny_model(seed=11, **CONFIGS[request.param])


def _pixels(model, n=3, seed=0):
  return flow_checks.uniform_pixels((n,) + model.image_shape, seed)


def test_whole_chain_round_trips_and_log_dets_match_autodiff(model):
  bijector = model.bijector()
  # Latents of other images: typical latents, whose pixels are not in the
  # saturated tails of the sigmoid (where float64 round trips lose digits).
  latents = tf.identity(bijector.inverse(_pixels(model, seed=1)))
  flow_checks.check_flow(bijector, latents, _pixels(model))


def test_log_prob_is_change_of_variables_of_encode(model):
  y = _pixels(model, seed=2)
  expected = flow_checks.base_log_prob(model.encode(y)) + flow_checks.autodiff_log_det(
      model.encode, tf.constant(y))
  np.testing.assert_allclose(model.distribution().log_prob(y), expected,
                             rtol=1e-9)
  np.testing.assert_allclose(model.log_prob(y), expected, rtol=1e-9)
  np.testing.assert_allclose(model(y), expected, rtol=1e-9)


def test_latents_have_the_image_shape_and_decode_inverts_encode(model):
  y = _pixels(model, seed=3)
  z = tf.identity(model.encode(y))
  assert z.shape == y.shape
  np.testing.assert_allclose(model.decode(z), y, rtol=1e-9)


def test_bits_per_dim_is_negative_log_prob_of_the_dequantised_batch(model):
  images = np.random.default_rng(4).integers(
      0, 256, (3,) + model.image_shape).astype(np.uint8)
  y = pixels.dequantize(images, seeds.stateless_seed(7))
  assert np.all((y >= images) & (y < images.astype(np.float64) + 1))
  expected = -model.log_prob(y) / (model.num_dims * math.log(2))
  np.testing.assert_allclose(model.bits_per_dim(images, seed=7), expected,
                             rtol=1e-6)
  assert not np.allclose(model.bits_per_dim(images, seed=8), expected)


def test_samples_are_pixels_with_finite_log_prob_and_seeded(model):
  samples = model.sample(4, temperature=0.8, seed=3)
  assert samples.shape == (4,) + model.image_shape
  assert samples.dtype == model.compute_dtype
  assert np.all((samples >= 0) & (samples < 256))
  flow_checks.assert_all_finite(model.log_prob(samples))
  np.testing.assert_array_equal(samples, model.sample(4, 0.8, seed=3))
  assert not np.array_equal(samples, model.sample(4, 0.8, seed=4))


def test_temperature_zero_decodes_the_zero_latent(model):
  zeros = np.zeros((2,) + model.image_shape)
  np.testing.assert_allclose(
      model.sample(2, temperature=0.0, seed=1),
      np.clip(model.decode(zeros), 0, pixels.MAX_PIXEL), rtol=1e-12)


def test_distribution_composes_inside_other_tfp_objects(model):
  dist = model.distribution()
  y = _pixels(model, seed=5)
  lp = np.asarray(dist.log_prob(y))
  shifted = tfd.TransformedDistribution(dist, tfb.Shift(np.float64(1.0)))
  np.testing.assert_allclose(shifted.log_prob(y + 1.0), lp, rtol=1e-9)
  other = flow_checks.tiny_model(seed=12, **_config(model))
  mixture = tfd.Mixture(
      tfd.Categorical(probs=tf.constant([0.3, 0.7], tf.float64)),
      [dist, other.distribution()])
  np.testing.assert_allclose(
      mixture.log_prob(y),
      np.logaddexp(np.log(0.3) + lp, np.log(0.7) + other.log_prob(y)),
      rtol=1e-9)
  assert dist.event_shape == model.image_shape


def _config(model):
  config = model.get_config()
  return {k: config[k] for k in ("image_shape", "num_scales", "num_blocks",
                                 "num_filters", "coupling_batch_norm",
                                 "step_type")}


def test_trainable_variables_are_complete(model):
  y = _pixels(model, seed=6)
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(model.log_prob(y, training=True))
  used = {id(v) for v in tape.watched_variables()}
  owned = {id(v.value) for v in model.trainable_variables}
  assert used == owned
  grads = tape.gradient(loss, model.trainable_variables)
  assert all(g is not None for g in grads)


def test_training_mode_updates_running_statistics_once_per_log_prob(model):
  norm = model.flow.steps[0].network.output_norm
  before = np.asarray(norm.moving_mean)
  model.log_prob(_pixels(model, seed=7), training=True)
  after = np.asarray(norm.moving_mean)
  assert not np.allclose(before, after)
  model.log_prob(_pixels(model, seed=7), training=False)
  np.testing.assert_array_equal(norm.moving_mean, after)


def test_log_prob_in_tf_function_matches_eager(model):
  y = tf.constant(_pixels(model, seed=8))
  np.testing.assert_allclose(
      tf.function(model.log_prob)(y), model.log_prob(y), rtol=1e-12)


@pytest.fixture(scope="module")
def float32_model():
  return flow_checks.tiny_model(seed=13, dtype="float32")


@pytest.mark.parametrize("method", ["log_prob", "encode", "decode"])
@pytest.mark.parametrize("value, message", [
    (np.zeros((2, 4, 4, 3), np.float32), r"\[None, 4, 4, 2\].*\(2, 4, 4, 3\)"),
    (np.zeros((4, 4, 2), np.float32), r"\[N, H, W, C\].*\(4, 4, 2\)"),
    (np.zeros((2, 4, 4, 2), np.uint8), "float pixels.*uint8"),
])
def test_bad_inputs_name_expected_and_received(float32_model, method, value,
                                               message):
  with pytest.raises(ValueError, match=message):
    getattr(float32_model, method)(value)


@pytest.mark.parametrize("value, message", [
    (np.zeros((2, 4, 4, 2), np.float32), "uint8 images.*float32"),
    (np.zeros((2, 8, 8, 2), np.uint8), r"\[None, 4, 4, 2\].*\(2, 8, 8, 2\)"),
])
def test_bits_per_dim_bad_inputs(float32_model, value, message):
  with pytest.raises(ValueError, match=message):
    float32_model.bits_per_dim(value)


def test_distribution_log_prob_of_wrong_event_shape_names_the_shapes(
    float32_model):
  with pytest.raises(ValueError, match=r"\[4, 4, 2\].*\(2, 4, 4, 1\)"):
    float32_model.distribution().log_prob(np.zeros((2, 4, 4, 1), np.float32))


def test_float64_numpy_pixels_are_accepted_by_a_float32_model(float32_model):
  y = _pixels(float32_model, seed=9)
  np.testing.assert_allclose(float32_model.log_prob(y),
                             float32_model.log_prob(y.astype(np.float32)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(image_shape=(28, 28, 1), num_scales=4), r"\(28, 28, 1\).*num_scales=4"),
    (dict(image_shape=(4, -4, 1)), "positive"),
    (dict(num_filters=0), "num_filters"),
    (dict(num_blocks=-1), "num_blocks"),
    (dict(alpha=0.5), "alpha"),
    (dict(alpha=0.0), "alpha"),
])
def test_bad_construction_arguments_raise(kwargs, message):
  config = dict(image_shape=(4, 4, 1), num_scales=2, num_blocks=1,
                num_filters=2)
  config.update(kwargs)
  with pytest.raises(ValueError, match=message):
    tf_realnvp.RealNVP(**config)


@pytest.mark.parametrize("kwargs, message", [(dict(n=-1), "n must be >= 0"),
                                             (dict(n=2, temperature=-1.0),
                                              "temperature")])
def test_bad_sample_arguments_raise(float32_model, kwargs, message):
  with pytest.raises(ValueError, match=message):
    float32_model.sample(**kwargs)


def test_config_round_trip_builds_the_same_flow(float32_model):
  clone = tf_realnvp.RealNVP.from_config(float32_model.get_config())
  assert clone.get_config() == float32_model.get_config()
  clone.set_weights(float32_model.get_weights())
  y = _pixels(float32_model, seed=10)
  np.testing.assert_allclose(clone.log_prob(y), float32_model.log_prob(y),
                             rtol=1e-6)


def test_checkpoint_restores_weights_and_running_statistics(
    float32_model, tmp_path):
  y = _pixels(float32_model, seed=11)
  expected = np.asarray(float32_model.log_prob(y))
  path = tf.train.Checkpoint(model=float32_model).write(str(tmp_path / "ckpt"))
  restored = flow_checks.tiny_model(seed=99, dtype="float32")
  assert not np.allclose(restored.log_prob(y), expected)
  tf.train.Checkpoint(model=restored).read(path).assert_consumed()
  np.testing.assert_allclose(restored.log_prob(y), expected, rtol=1e-6)


def test_empty_batches_give_empty_results(float32_model):
  """TF 2.21's oneDNN Conv2D mis-shapes empty batches; the model does not."""
  empty = np.zeros((0, 4, 4, 2), np.float32)
  assert float32_model.sample(0).shape == (0, 4, 4, 2)
  assert float32_model.log_prob(empty).shape == (0,)
  assert float32_model.decode(float32_model.encode(empty)).shape == (0, 4, 4, 2)
