"""Tests of tf_realnvp/anomaly/scores.py: the per-scale shares of the
log-likelihood against central differences, every score against its
definition, the reference statistics against closed forms, and the models
the scores refuse.

Every model has randomised weights (`flow_checks.tiny_model`): a freshly
built flow is close to the identity, against which shares and scores would
be vacuous.
"""

import math
import re
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp import likelihood
from tf_realnvp import pixels
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp.anomaly import scores
from tf_realnvp.bijectors.factor_out import FactorOut
from tf_realnvp.flow import STEP_TYPES
from tests import flow_checks

tfb = tfp.bijectors

IMAGE_SHAPE = (8, 8, 1)
NUM_DIMS = math.prod(IMAGE_SHAPE)


def _images(count, seed=0, shape=IMAGE_SHAPE):
  """Random uint8 images `[count, *shape]`."""
  return np.random.default_rng(seed).integers(0, 256, (count,) + shape,
                                              np.uint8)


def _model(seed, num_scales=1, image_shape=IMAGE_SHAPE, dtype="float32",
           **config):
  """A randomised tiny model without residual blocks (cheaper in eager
  mode); float32 unless `dtype` (`scores` serves float32 models,
  `scale_log_likelihoods` takes float64 ones too)."""
  return flow_checks.tiny_model(seed=seed, image_shape=image_shape,
                                num_scales=num_scales, dtype=dtype,
                                num_blocks=0, **config)


@pytest.fixture(scope="module")
def exact_models():
  """`{(num_scales, step_type): randomised float64 model of IMAGE_SHAPE}`,
  2 and 3 scales of each kind of step."""
  return {(n, step_type): _model(seed=n, num_scales=n, dtype="float64",
                                 step_type=step_type)
          for n in (2, 3) for step_type in STEP_TYPES}


@pytest.fixture(scope="module")
def model():
  """Three scales: the pieces' sizes differ (32, 16, 16 dimensions)."""
  return _model(seed=3, num_scales=3)


@pytest.fixture(scope="module")
def small():
  """One scale: a model cheap to run, for what does not depend on scales."""
  return _model(seed=2)


@pytest.fixture(scope="module")
def background():
  return _model(seed=1)


def _draws(images):
  """The dequantised images of each of the likelihoods' fixed draws."""
  return [pixels.in_bin(np.asarray(images, np.float32),
                        likelihood.draw_noise(IMAGE_SHAPE, k))
          for k in range(likelihood.DEFAULT_NUM_DRAWS)]


def _bits_per_dim(model, images):
  """`-log2 P(x) / D` `[N]`: the importance-weighted estimate over the
  draws, by the model's `log_prob` (uniform dequantisation, q = 1)."""
  log_p = np.stack([model.log_prob(y).numpy() for y in _draws(images)])
  log_likelihood = (np.logaddexp.reduce(log_p.astype(np.float64), axis=0) -
                    math.log(len(log_p)))
  return -log_likelihood / (NUM_DIMS * math.log(2.0))


@pytest.fixture(scope="module")
def calibrations(small, background):
  """`{with_background: Calibration}` of `small`'s (and `background`'s)
  scores of random held-out images."""
  calibrations = {}
  for with_background in (False, True):
    given = background if with_background else None
    raw = scores.scores(small, _images(6, seed=10), background=given)
    calibrations[with_background] = calibration_lib.calibration_from_scores(
        {name: value.numpy() for name, value in raw.items()},
        scores.statistic_names(small, with_background), scores.BITS_PER_DIM,
        background_workdir="runs/background" if with_background else None)
  return calibrations


# --- Per-scale shares --------------------------------------------------------


def _scale_inputs(model, y):
  """`[(input, flow), ...]` of every scale `i >= 1`: the channels scale
  `i - 1` hands on (by the chain's own `inverse` up to its `FactorOut`) and
  the rest of the flow from there (the `FactorOut`'s inner chain)."""
  steps, x, found = model.bijector().bijectors, tf.constant(y), []
  while any(isinstance(step, FactorOut) for step in steps):
    k = next(i for i, step in enumerate(steps) if isinstance(step, FactorOut))
    x = tf.split(tfb.Chain(steps[:k]).inverse(x), 2, axis=-1)[1]
    found.append((x, steps[k].bijector))
    steps = steps[k].bijector.bijectors
  return found


def _numerical_log_det(transform, x, step=1e-5):
  """`log|det d transform(x) / dx|` `[N]` by central differences (float64):
  neither autodiff nor the bijectors' own log-dets."""
  x = np.asarray(x)
  n, size = len(x), x[0].size
  shifts = step * np.eye(size).reshape((size,) + x.shape[1:])
  points = np.concatenate([x[:, None] + shifts, x[:, None] - shifts], axis=1)
  out = np.asarray(transform(tf.constant(points.reshape((-1,) +
                                                        x.shape[1:]))))
  out = out.reshape(n, 2, size, size)
  jacobian = (out[:, 0] - out[:, 1]) / (2 * step)  # [N, input, output].
  sign, log_det = np.linalg.slogdet(jacobian)
  assert np.all(sign != 0)
  return log_det


@pytest.mark.parametrize("step_type", list(STEP_TYPES))
@pytest.mark.parametrize("num_scales", [2, 3])
def test_scale_shares_add_up_to_log_prob_and_each_tail_is_the_rest_density(
    exact_models, num_scales, step_type):
  model = exact_models[num_scales, step_type]
  y = flow_checks.uniform_pixels((2,) + IMAGE_SHAPE, seed=num_scales)
  shares = scores.scale_log_likelihoods(model, y).numpy()
  assert shares.shape == (2, num_scales)
  np.testing.assert_allclose(shares.sum(axis=-1), model.log_prob(y),
                             rtol=1e-10)
  # Scales i, ..., L-1 together: the log-density the rest of the flow gives
  # to scale i's input (change of variables), which pins every share.
  inputs = _scale_inputs(model, y)
  assert len(inputs) == num_scales - 1
  for i, (x, flow) in enumerate(inputs, start=1):
    log_det = _numerical_log_det(flow.inverse, x)
    assert np.all(np.abs(log_det) > 0.1)  # Not volume-preserving: not vacuous.
    np.testing.assert_allclose(
        shares[:, i:].sum(axis=-1),
        flow_checks.base_log_prob(flow.inverse(x)) + log_det, rtol=1e-8)


# --- Scores ------------------------------------------------------------------


def test_every_score_is_its_definition(model, background):
  images = _images(4, seed=3)
  result = scores.scores(model, images, background=background)
  bits, background_bits = (_bits_per_dim(model, images),
                           _bits_per_dim(background, images))
  png = np.array([8 * len(tf.io.encode_png(image, compression=9).numpy())
                  for image in images]) / NUM_DIMS
  expected = {
      scores.BITS_PER_DIM: bits,
      scores.COMPLEXITY: bits - png,
      scores.LIKELIHOOD_RATIO: bits - background_bits,
      scores.PNG_BITS_PER_DIM: png,
      scores.BACKGROUND_BITS_PER_DIM: background_bits,
  }
  shares = np.mean([scores.scale_log_likelihoods(model, y).numpy()
                    for y in _draws(images)], axis=0)
  sizes = [math.prod(s) for s in model.flow.latent_shapes]
  assert sizes == [32, 16, 16]
  for i, size in enumerate(sizes):
    expected[scores.scale_score_name(i)] = -shares[:, i] / (size *
                                                            math.log(2.0))
  assert list(result) == scores.score_names(model, background=True)
  assert set(result) == set(expected)
  for name, values in expected.items():
    assert result[name].dtype == tf.float32 and result[name].shape == (4,)
    np.testing.assert_allclose(result[name], values, rtol=1e-5, atol=1e-5,
                               err_msg=name)
  # Not vacuous: the models, the scales and the images all differ.
  assert np.all(np.abs(expected[scores.LIKELIHOOD_RATIO]) > 1e-3)
  assert not np.allclose(expected["scale1_bits_per_dim"],
                         expected["scale2_bits_per_dim"])
  # One scale: its share is the whole log-density, averaged over the draws
  # (the importance-weighted estimate is above that mean).
  alone = scores.scores(background, images)
  mean_log_p = np.mean([background.log_prob(y) for y in _draws(images)], 0)
  np.testing.assert_allclose(alone["scale0_bits_per_dim"],
                             -mean_log_p / (NUM_DIMS * math.log(2.0)),
                             rtol=1e-6)
  assert np.all(alone[scores.BITS_PER_DIM] < alone["scale0_bits_per_dim"])


def test_png_bits_per_dim_is_the_png_code_length():
  rng = np.random.default_rng(4)
  images = np.stack([np.full((6, 4, 3), 17, np.uint8),
                     rng.integers(0, 256, (6, 4, 3), np.uint8),
                     np.tile(np.arange(0, 240, 10, np.uint8).reshape(6, 4, 1),
                             (1, 1, 3))])
  for compression in (0, 9):
    expected = [8 * len(tf.io.encode_png(image, compression=compression)
                        .numpy()) / images[0].size for image in images]
    np.testing.assert_allclose(
        scores.png_bits_per_dim(images, compression=compression), expected,
        rtol=1e-6)
  constant, noise, _ = scores.png_bits_per_dim(images).numpy()
  assert constant < noise
  assert constant < scores.png_bits_per_dim(images[:1], compression=0)[0]


def test_score_names_pin_the_order(exact_models):
  model = exact_models[2, "real_nvp"]
  assert scores.score_names(model, background=True, reference=True) == [
      "bits_per_dim", "complexity", "likelihood_ratio", "scale0_bits_per_dim",
      "scale1_bits_per_dim", "png_bits_per_dim", "background_bits_per_dim",
      "typicality", "mahalanobis"]
  assert scores.statistic_names(model) == [
      "scale0_bits_per_dim", "scale1_bits_per_dim", "png_bits_per_dim"]


@pytest.mark.parametrize("with_reference", [False, True],
                         ids=["no_reference", "reference"])
@pytest.mark.parametrize("with_background", [False, True],
                         ids=["no_background", "background"])
def test_scores_keys_are_the_score_names_in_order(
    small, background, calibrations, with_background, with_reference):
  background = background if with_background else None
  reference = calibrations[with_background] if with_reference else None
  result = scores.scores(small, _images(2, seed=5), background, reference)
  assert list(result) == scores.score_names(small, with_background,
                                            with_reference)
  assert all(v.dtype == tf.float32 and v.shape == (2,)
             for v in result.values())
  if reference is not None:
    statistics = np.stack([result[name] for name in reference.statistic_names],
                          axis=-1) - reference.statistics_mean
    np.testing.assert_allclose(
        result[scores.MAHALANOBIS],
        np.einsum("ni,ij,nj->n", statistics, reference.statistics_precision,
                  statistics), rtol=1e-4)
    np.testing.assert_allclose(
        result[scores.TYPICALITY],
        np.abs(result[scores.BITS_PER_DIM] - reference.typical_bits_per_dim),
        rtol=1e-4, atol=1e-6)


# --- Reference statistics ----------------------------------------------------

STATISTICS = ["a", "b", "c"]
TRUE_MEAN = np.array([1.0, -2.0, 0.5])
TRUE_COVARIANCE = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2],
                            [-0.3, 0.2, 0.5]])


def _gaussian_statistics(count, seed=0):
  """`{name: [count]}` of `STATISTICS` drawn from N(TRUE_MEAN,
  TRUE_COVARIANCE)."""
  draws = np.random.default_rng(seed).multivariate_normal(
      TRUE_MEAN, TRUE_COVARIANCE, count)
  return dict(zip(STATISTICS, draws.T))


def _reference(mean, precision, names=STATISTICS, typical=0.0):
  return types.SimpleNamespace(
      typical_bits_per_dim=typical, statistic_names=list(names),
      statistics_mean=np.asarray(mean).tolist(),
      statistics_precision=np.asarray(precision).tolist())


def test_fit_statistics_recovers_the_gaussian():
  count = 200_000
  raw = _gaussian_statistics(count)
  mean, precision = scores.fit_statistics(raw, STATISTICS)
  standard_error = np.sqrt(np.diag(TRUE_COVARIANCE) / count)
  assert np.all(np.abs(mean - TRUE_MEAN) < 5 * standard_error)
  np.testing.assert_allclose(precision, np.linalg.inv(TRUE_COVARIANCE),
                             atol=0.03)
  # The names choose and order the statistics.
  mean_ca, precision_ca = scores.fit_statistics(raw, ["c", "a"])
  np.testing.assert_allclose(mean_ca, mean[[2, 0]])
  np.testing.assert_allclose(
      precision_ca, np.linalg.inv(np.cov([raw["c"], raw["a"]])), rtol=1e-9)
  mean_b, precision_b = scores.fit_statistics(raw, ["b"])
  assert mean_b.shape == (1,) and precision_b.shape == (1, 1)
  assert precision_b[0, 0] == pytest.approx(1 / np.var(raw["b"], ddof=1))


def test_reference_scores_are_the_mahalanobis_form_and_typicality():
  rng = np.random.default_rng(6)
  mean = rng.normal(size=3)
  factor = rng.normal(size=(3, 3))
  precision = factor @ factor.T + np.eye(3)
  raw = {name: rng.normal(size=5) for name in STATISTICS + ["bits_per_dim"]}
  result = scores.reference_scores(
      raw, _reference(mean, precision, typical=0.3))
  centred = np.stack([raw[name] for name in STATISTICS], axis=-1) - mean
  np.testing.assert_allclose(
      result[scores.MAHALANOBIS],
      np.einsum("ni,ij,nj->n", centred, precision, centred), rtol=1e-12)
  np.testing.assert_allclose(result[scores.TYPICALITY],
                             np.abs(raw["bits_per_dim"] - 0.3), rtol=1e-12)


def test_mahalanobis_of_the_fitted_statistics_averages_to_their_number():
  # With the sample mean and covariance, sum_n d_n = (n - 1) trace(I_K)
  # exactly: the chi-square mean K, up to (n - 1) / n.
  count = 2000
  raw = _gaussian_statistics(count, seed=7)
  raw["bits_per_dim"] = raw["a"]
  # A statistic that varies with another: the pseudo-inverse keeps rank 3.
  raw["d"] = 2.0 * raw["a"] + 1.0
  for names, rank in ((STATISTICS, 3), (STATISTICS + ["d"], 3),
                      (["a", "b"], 2)):
    distance = scores.reference_scores(
        raw, _reference(*scores.fit_statistics(raw, names), names=names)
    )[scores.MAHALANOBIS].numpy()
    assert np.mean(distance) == pytest.approx(rank * (count - 1) / count,
                                              rel=1e-6), names
    assert np.all(distance >= 0)


# --- What the scores refuse --------------------------------------------------


@pytest.fixture(scope="module")
def conditional():
  return _model(seed=4, num_classes=3)


@pytest.mark.parametrize("call", [
    lambda model, other: scores.scores(other, _images(2)),
    lambda model, other: scores.scores(model, _images(2), background=other),
    lambda model, other: scores.scale_log_likelihoods(
        other, _images(2) + 0.5),
    lambda model, other: detector_lib.AnomalyDetector(other),
], ids=["scores", "background", "scale_log_likelihoods", "detector"])
def test_conditional_models_are_refused(small, conditional, call):
  with pytest.raises(ValueError, match="this one is conditional"):
    call(small, conditional)


def test_a_background_of_another_image_shape_is_refused(small):
  other = _model(seed=5, image_shape=(4, 4, 1))
  with pytest.raises(ValueError, match=re.escape(
      "The background model's image shape (4, 4, 1) differs from the model's "
      "(8, 8, 1).")):
    scores.scores(small, _images(2), background=other)


@pytest.mark.parametrize("calibrated_with_background", [True, False])
def test_detector_refuses_a_calibration_of_the_other_background_setting(
    small, background, calibrations, calibrated_with_background):
  calibration = calibrations[calibrated_with_background]
  given = None if calibrated_with_background else background
  word = "with" if calibrated_with_background else "without"
  with pytest.raises(ValueError, match=f"The calibration was computed {word} "
                     "a background model; pass the same."):
    detector_lib.AnomalyDetector(small, calibration, given)
  matching = background if calibrated_with_background else None
  detector_lib.AnomalyDetector(small, calibration, matching)
