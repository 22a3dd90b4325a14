"""Tests of tf_realnvp/anomaly/calibration.py: tail probabilities and
thresholds against the empirical and analytic normal tails, calibrations of
hand-made held-out scores, their files, and `AnomalyDetector`'s decisions
with one.
"""

import json
import os
import re

import numpy as np
import pytest
from scipy import stats

from tf_realnvp import io
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp import serving
from tf_realnvp.anomaly import scores
from tests import flow_checks

BITS = scores.BITS_PER_DIM
NUM_HELD_OUT = 10_000
# The statistics of `_raw_scores`' `mahalanobis`.
STATISTICS = ["scale0_bits_per_dim", "png_bits_per_dim"]


def _raw_scores(count=500, seed=0):
  """Hand-made held-out scores with what a calibration needs: bits/dim, a
  one-sided score and the `STATISTICS`, which vary together."""
  rng = np.random.default_rng(seed)
  scale0 = rng.normal(3.0, 0.4, count)
  png = rng.normal(5.0, 1.0, count) + scale0
  bits = 0.5 * scale0 + rng.normal(1.0, 0.3, count)
  return {BITS: bits, scores.COMPLEXITY: bits - png,
          "scale0_bits_per_dim": scale0, "png_bits_per_dim": png}


def _calibrate(raw=None, score=scores.COMPLEXITY, **kwargs):
  return calibration_lib.calibration_from_scores(
      _raw_scores() if raw is None else raw, STATISTICS, score, **kwargs)


def _normal(count, seed):
  return np.random.default_rng(seed).standard_normal(count)


@pytest.fixture(scope="module")
def normal():
  """`(held_out, calibration)`: `NUM_HELD_OUT` standard-normal bits/dim and
  their calibration (at the default false-positive rate, 0.05)."""
  held_out = _normal(NUM_HELD_OUT, seed=0)
  return held_out, calibration_lib.calibration_from_scores(
      {BITS: held_out}, [BITS], BITS)


# --- Tail probabilities and thresholds --------------------------------------


def test_tail_probability_is_the_held_out_tail_fraction(normal):
  held_out, calibration = normal
  quantiles = calibration.quantiles[BITS]
  s = np.linspace(-4.5, 4.5, 1801)
  p = calibration_lib.tail_probability(s, quantiles, NUM_HELD_OUT).numpy()
  assert p.dtype == np.float32 and p.shape == s.shape
  floor = 1 / (NUM_HELD_OUT + 1)
  empirical = np.mean(held_out[None] >= s[:, None], axis=1)
  np.testing.assert_allclose(p, np.maximum(empirical, floor), atol=2e-3)
  # Exactly the definition: 1 - the linear interpolation of the quantiles.
  np.testing.assert_allclose(
      p, np.maximum(1 - np.interp(s, quantiles,
                                  calibration_lib.QUANTILE_LEVELS), floor),
      rtol=1e-6, atol=1e-7)
  assert np.all(np.diff(p) <= 0) and p[0] > p[900] > p[-1]
  edges = [-100, held_out.min(), held_out.max(), 100]
  np.testing.assert_allclose(
      calibration_lib.tail_probability(edges, quantiles, NUM_HELD_OUT),
      [1, 1, floor, floor], rtol=1e-6)


@pytest.mark.parametrize("rate", [0.05, 0.01])
def test_is_anomaly_flags_the_false_positive_rate_of_fresh_inliers(normal,
                                                                   rate):
  _, calibration = normal
  if rate != calibration.false_positive_rate:
    calibration = calibration.with_score(false_positive_rate=rate)
  threshold = calibration.thresholds[BITS]
  # The 1 - rate quantile of 10000 draws is within ~0.02-0.03 of N(0, 1)'s.
  assert threshold == pytest.approx(stats.norm.ppf(1 - rate), abs=0.1)
  fresh = _normal(100_000, seed=1)
  is_anomaly = fresh > threshold
  assert np.mean(is_anomaly) == pytest.approx(rate, abs=rate / 5)
  p = calibration_lib.tail_probability(fresh, calibration.quantiles[BITS],
                                       calibration.num_examples).numpy()
  np.testing.assert_array_equal(p < rate, is_anomaly)


# --- Calibrations of held-out scores ----------------------------------------


def _expected_scores(raw):
  """`raw` with `typicality` and `mahalanobis`, by numpy."""
  bits = raw[BITS]
  statistics = np.stack([raw[name] for name in STATISTICS], axis=-1)
  centred = statistics - statistics.mean(axis=0)
  precision = np.linalg.inv(np.cov(statistics, rowvar=False))
  return dict(raw, typicality=np.abs(bits - bits.mean()),
              mahalanobis=np.einsum("ni,ij,nj->n", centred, precision,
                                    centred))


def test_calibration_holds_the_quantiles_of_every_score():
  raw = _raw_scores()
  calibration = _calibrate(raw, false_positive_rate=0.1, step=7,
                           held_out="fashion_mnist:test")
  expected = _expected_scores(raw)
  assert sorted(calibration.quantiles) == sorted(expected)
  assert sorted(calibration.thresholds) == sorted(expected)
  for name, values in expected.items():
    np.testing.assert_allclose(
        calibration.quantiles[name],
        np.quantile(values, calibration_lib.QUANTILE_LEVELS), rtol=1e-9,
        err_msg=name)
    assert calibration.thresholds[name] == pytest.approx(
        np.quantile(values, 0.9), rel=1e-9), name
  assert calibration.score == scores.COMPLEXITY
  assert calibration.false_positive_rate == 0.1
  assert calibration.num_examples == 500
  assert calibration.typical_bits_per_dim == pytest.approx(raw[BITS].mean())
  assert calibration.statistic_names == STATISTICS
  np.testing.assert_allclose(
      calibration.statistics_mean,
      [raw[name].mean() for name in STATISTICS], rtol=1e-12)
  assert (calibration.step, calibration.held_out) == (7, "fashion_mnist:test")
  assert calibration.background_workdir is None


def test_with_score_serves_another_score_and_rate():
  calibration = _calibrate()
  expected = _expected_scores(_raw_scores())
  served = calibration.with_score(scores.MAHALANOBIS, 0.2)
  assert (served.score, served.false_positive_rate) == (scores.MAHALANOBIS,
                                                        0.2)
  for name, values in expected.items():
    assert served.thresholds[name] == pytest.approx(np.quantile(values, 0.8),
                                                    rel=1e-9), name
  assert served.quantiles == calibration.quantiles
  # A copy: the original is unchanged; what is not given is kept.
  assert calibration.score == scores.COMPLEXITY
  assert calibration.thresholds[scores.MAHALANOBIS] == pytest.approx(
      np.quantile(expected[scores.MAHALANOBIS], 0.95), rel=1e-9)
  typicality = served.with_score(scores.TYPICALITY)
  assert typicality.false_positive_rate == 0.2
  assert typicality.thresholds == served.thresholds
  assert served.with_score(false_positive_rate=0.05) == calibration.with_score(
      scores.MAHALANOBIS)


def _changed(**changes):
  """`_raw_scores()` with some scores replaced."""
  raw = _raw_scores()
  for name, change in changes.items():
    raw[name] = change(raw[name])
  return raw


def _with_nan(values):
  values = values.copy()
  values[[3, 8]] = np.nan
  return values


@pytest.mark.parametrize("raw, kwargs, message", [
    (None, dict(score="nope"), "Calibration: unknown score 'nope'; "
     "calibrated scores: ['bits_per_dim', 'complexity', "),
    (None, dict(false_positive_rate=0.0),
     "false_positive_rate must be in (0, 1), received 0.0."),
    (None, dict(false_positive_rate=1.0),
     "false_positive_rate must be in (0, 1), received 1.0."),
    (_changed(png_bits_per_dim=_with_nan), {},
     "Calibration: 2 held-out png_bits_per_dim scores are not finite."),
    (_changed(complexity=lambda v: v[:-1]), {},
     "the same positive number of held-out scores of each kind, received "
     "sizes [499, 500]."),
    ({name: [] for name in _raw_scores()}, {}, "received sizes [0]."),
], ids=["score", "rate0", "rate1", "nan", "sizes", "empty"])
def test_calibration_from_scores_refuses(raw, kwargs, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    _calibrate(raw, **kwargs)


@pytest.mark.parametrize("args, message", [
    (("nope",), "Score 'nope' was not calibrated; calibrated: ['bits_per_dim'"),
    ((None, 1.5), "false_positive_rate must be in (0, 1), received 1.5."),
    ((None, -0.1), "false_positive_rate must be in (0, 1), received -0.1."),
])
def test_with_score_refuses(args, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    _calibrate().with_score(*args)


# --- Files -------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibration():
  """A calibration with every field set, step 100."""
  return _calibrate(step=100, held_out="fashion_mnist:test",
                    background_workdir="runs/background", background_step=3)


def test_saved_calibration_loads_equal(tmp_path, calibration):
  path = calibration_lib.save_calibration(tmp_path, calibration)
  assert path == os.path.join(tmp_path, calibration_lib.CALIBRATION_FILE)
  assert calibration_lib.load_calibration(tmp_path) == calibration
  assert calibration_lib.load_calibration(tmp_path, step=100) == calibration
  with pytest.raises(ValueError, match=re.escape(
      f"The anomaly calibration in {tmp_path} was computed for step 100, the "
      "model is at step 200: calibrate again.")):
    calibration_lib.load_calibration(tmp_path, step=200)


def test_a_workdir_without_calibration_says_how_to_make_one(tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      f"{tmp_path} has no anomaly calibration (anomaly_calibration.json): run "
      f"`python -m tf_realnvp.anomaly calibrate --workdir={tmp_path}` first.")):
    calibration_lib.load_calibration(tmp_path)


def _truncated(text):
  return text[:len(text) // 2]


def _edited(**changes):
  def edit(text):
    return json.dumps(dict(json.loads(text), **changes))
  return edit


def _decreasing_quantiles(text):
  record = json.loads(text)
  record["quantiles"][scores.COMPLEXITY].reverse()
  return json.dumps(record)


def _without_field(text):
  record = json.loads(text)
  del record["thresholds"]
  return json.dumps(record)


@pytest.mark.parametrize("damage, reason", [
    (_truncated, ""),
    (_edited(version=3), "version 3, expected 2"),
    (_edited(version=1), "at the pixels' bin centres, which the scores no "
     "longer use (they estimate the discrete likelihood): calibrate again with "
     "`python -m tf_realnvp.anomaly calibrate --workdir="),
    (_decreasing_quantiles,
     "the quantiles of 'complexity' must be 1001 finite non-decreasing"),
    (_without_field, "thresholds"),
], ids=["truncated", "version", "earlier_version", "quantiles", "field"])
def test_a_damaged_calibration_is_unreadable(tmp_path, calibration, damage,
                                             reason):
  path = calibration_lib.save_calibration(tmp_path, calibration)
  with open(path) as f:
    text = f.read()
  with open(path, "w") as f:
    f.write(damage(text))
  with pytest.raises(ValueError, match=re.escape(
      f"Unreadable anomaly calibration {path}: ") + f".*{re.escape(reason)}"):
    calibration_lib.load_calibration(tmp_path)


def test_a_failed_save_keeps_the_previous_calibration(tmp_path, monkeypatch,
                                                      calibration):
  path = calibration_lib.save_calibration(tmp_path, calibration)
  with open(path, "rb") as f:
    before = f.read()

  def fail(*args):
    raise OSError("disk full")

  monkeypatch.setattr(io.os, "replace", fail)
  with pytest.raises(OSError, match="disk full"):
    calibration_lib.save_calibration(
        tmp_path, calibration.with_score(scores.TYPICALITY, 0.2))
  monkeypatch.undo()
  with open(path, "rb") as f:
    assert f.read() == before
  assert os.listdir(tmp_path) == [calibration_lib.CALIBRATION_FILE]
  assert calibration_lib.load_calibration(tmp_path) == calibration


# --- The detector's decisions -----------------------------------------------


def test_detector_decides_with_its_calibration():
  model = flow_checks.tiny_model(seed=5, image_shape=(8, 8, 1), num_scales=2,
                                 num_blocks=0, dtype="float32")
  count = 16
  held_out = np.random.default_rng(9).integers(0, 256, (count, 8, 8, 1),
                                               np.uint8)
  raw = detector_lib.AnomalyDetector(model)(held_out)
  assert list(raw) == scores.score_names(model)  # No decisions.
  calibration = calibration_lib.calibration_from_scores(
      {name: value.numpy() for name, value in raw.items()},
      scores.statistic_names(model), scores.COMPLEXITY,
      false_positive_rate=0.25).with_score(scores.MAHALANOBIS)
  outputs = detector_lib.AnomalyDetector(model, calibration)(held_out)
  assert list(outputs) == (scores.score_names(model, reference=True) +
                           list(serving.DECISIONS))
  chosen = outputs[scores.MAHALANOBIS].numpy()
  np.testing.assert_array_equal(outputs["anomaly_score"], chosen)
  p = outputs["p_value"].numpy()
  np.testing.assert_allclose(p, calibration_lib.tail_probability(
      chosen, calibration.quantiles[scores.MAHALANOBIS], count), rtol=1e-6)
  np.testing.assert_array_equal(
      outputs["is_anomaly"],
      chosen > calibration.thresholds[scores.MAHALANOBIS])
  # On the held-out images themselves: the one of rank r (0-based) has
  # F = r / (n - 1), and the 4 above the 0.75 quantile are flagged.
  ranks = np.argsort(np.argsort(chosen))
  np.testing.assert_allclose(
      p, np.maximum(1 - ranks / (count - 1), 1 / (count + 1)), atol=2e-3)
  assert np.sum(outputs["is_anomaly"]) == 4
