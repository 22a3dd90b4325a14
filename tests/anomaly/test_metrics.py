"""Tests of tf_realnvp/anomaly/metrics.py against scikit-learn, brute force
and hand-computed cases."""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from tf_realnvp.anomaly import metrics

_TPRS = (0.05, 0.5, 0.55, 0.95, 1.0)


def _scores(seed, tied, num_inliers=37, num_outliers=23):
  """Inlier and outlier scores, outliers higher on average; `tied` rounds
  them to integers so that many scores tie, within and across the sets."""
  rng = np.random.default_rng(seed)
  inliers = rng.normal(0.0, 1.5, num_inliers)
  outliers = rng.normal(1.0, 1.5, num_outliers)
  if tied:
    inliers, outliers = np.round(inliers), np.round(outliers)
    pooled = np.concatenate([inliers, outliers])
    assert np.unique(pooled).size < pooled.size / 3
    assert np.intersect1d(inliers, outliers).size > 0
  return inliers, outliers


def _labelled(inliers, outliers):
  """sklearn's `(y_true, y_score)`, outliers labelled 1."""
  return (np.concatenate([np.zeros(inliers.size), np.ones(outliers.size)]),
          np.concatenate([inliers, outliers]))


def _brute_fpr_at_tpr(inliers, outliers, tpr):
  """The smallest FPR over every threshold whose TPR reaches `tpr`."""
  thresholds = np.append(np.concatenate([inliers, outliers]), np.inf)
  return min(np.mean(inliers >= t) for t in thresholds
             if np.mean(outliers >= t) >= tpr)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tied", [False, True])
def test_auroc_and_aupr_agree_with_sklearn(seed, tied):
  inliers, outliers = _scores(seed, tied)
  labels, pooled = _labelled(inliers, outliers)
  assert metrics.auroc(inliers, outliers) == pytest.approx(
      sk_metrics.roc_auc_score(labels, pooled), abs=1e-12)
  assert metrics.aupr(inliers, outliers) == pytest.approx(
      sk_metrics.average_precision_score(labels, pooled), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tied", [False, True])
def test_fpr_at_tpr_agrees_with_brute_force_and_the_roc_curve(seed, tied):
  inliers, outliers = _scores(seed, tied)
  fpr, tpr, _ = sk_metrics.roc_curve(*_labelled(inliers, outliers),
                                     drop_intermediate=False)
  for target in _TPRS:
    value = metrics.fpr_at_tpr(inliers, outliers, tpr=target)
    assert value == _brute_fpr_at_tpr(inliers, outliers, target)
    assert value == fpr[np.argmax(tpr >= target)]


@pytest.mark.parametrize("inliers, outliers, expected", [
    # Perfect separation, then reversed.
    ([0, 1, 2], [3, 4], dict(auroc=1.0, aupr=1.0, fpr=0.0)),
    # Thresholds 4, 3, 2 catch only inliers; 1: R = 1/2, P = 1/4; 0: R = 1,
    # P = 2/5.
    ([2, 3, 4], [0, 1], dict(auroc=0.0, aupr=0.5 / 4 + 0.5 * 2 / 5, fpr=1.0)),
    # Pairs (out, in): 1>0, 1=1, 2>0, 2>1: U = 3.5. Threshold 2: R = 1/2,
    # P = 1; 1: R = 1, P = 2/3. 95% of two outliers needs threshold 1,
    # which flags the inlier tied with it.
    ([0, 1], [1, 2], dict(auroc=3.5 / 4, aupr=0.5 + 0.5 * 2 / 3, fpr=0.5)),
    # All tied: chance AUROC, AP the outlier fraction, every inlier flagged.
    ([5, 5, 5], [5], dict(auroc=0.5, aupr=0.25, fpr=1.0)),
])
def test_metrics_of_hand_computed_cases(inliers, outliers, expected):
  assert metrics.auroc(inliers, outliers) == pytest.approx(expected["auroc"])
  assert metrics.aupr(inliers, outliers) == pytest.approx(expected["aupr"])
  assert metrics.fpr_at_tpr(inliers, outliers) == pytest.approx(
      expected["fpr"])


def test_fpr_at_tpr_uses_the_largest_threshold_reaching_the_rate():
  # 0.5 of two outliers: threshold 2 suffices and flags no inlier.
  assert metrics.fpr_at_tpr([0, 1], [1, 2], tpr=0.5) == 0.0
  # 0.55 * 100 is 55.00000000000001 in float: 55 of 100 outliers must
  # suffice (threshold 45 flags the inliers 45.5..99.5), not 56 (0.56).
  outliers = np.arange(100.0)
  assert metrics.fpr_at_tpr(outliers + 0.5, outliers, tpr=0.55) == 0.55
  assert metrics.fpr_at_tpr(outliers + 0.5, outliers, tpr=1.0) == 1.0


def test_summary_collects_the_metrics():
  inliers, outliers = _scores(0, tied=True)
  assert metrics.summary(inliers, outliers) == {
      "auroc": metrics.auroc(inliers, outliers),
      "aupr": metrics.aupr(inliers, outliers),
      "fpr_at_95_tpr": metrics.fpr_at_tpr(inliers, outliers, tpr=0.95)}


@pytest.mark.parametrize("metric", [metrics.auroc, metrics.aupr,
                                    metrics.fpr_at_tpr, metrics.summary])
@pytest.mark.parametrize("inliers, outliers, message", [
    ([], [1.0], "inlier_scores is empty"),
    ([1.0], np.array([]), "outlier_scores is empty"),
    ([[1.0, 2.0]], [1.0], r"inlier_scores must be 1-D, .* shape \(1, 2\)"),
    ([1.0], 3.0, r"outlier_scores must be 1-D, received shape \(\)"),
    ([np.nan, 1.0, np.nan], [1.0], "inlier_scores has 2 NaN score.* of 3"),
    ([1.0], [0.0, np.nan], "outlier_scores has 1 NaN score.* of 2"),
])
def test_metrics_refuse_bad_scores(metric, inliers, outliers, message):
  with pytest.raises(ValueError, match=message):
    metric(inliers, outliers)


@pytest.mark.parametrize("tpr", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.9"])
def test_fpr_at_tpr_refuses_rates_outside_zero_one(tpr):
  with pytest.raises(ValueError, match=r"tpr must be a number in \(0, 1\]"):
    metrics.fpr_at_tpr([0.0], [1.0], tpr=tpr)
