"""Detection metrics of anomaly scores, numpy only.

Outliers are the positive class and a higher score means more anomalous: a
threshold `t` flags every example with score `s >= t`. With inlier scores
`a_1..a_m` and outlier scores `b_1..b_n`, at threshold `t`

  TPR(t) = #{j : b_j >= t} / n,    FPR(t) = #{i : a_i >= t} / m,
  P(t) = #{j : b_j >= t} / (#{j : b_j >= t} + #{i : a_i >= t}).

- `auroc`: the area under the ROC curve `(FPR(t), TPR(t))`, which is the
  probability that an outlier outscores an inlier, ties counting 1/2:

    AUROC = (1 / (m n)) sum_{i, j} ([b_j > a_i] + [b_j = a_i] / 2) = U / (m n),

  with the Mann-Whitney `U = R_out - n (n + 1) / 2`, `R_out` the sum of the
  outliers' ranks in the pooled scores (tied scores get their average
  rank). 1 is perfect separation, 0.5 chance, 0 perfectly reversed.
- `aupr`: the average precision with outliers positive, as
  `sklearn.metrics.average_precision_score`: over the distinct scores
  `t_1 > t_2 > ... > t_K`, with `R_k = TPR(t_k)`, `P_k = P(t_k)`, `R_0 = 0`,

    AP = sum_k (R_k - R_{k-1}) P_k.

  Chance level is the outlier fraction `n / (m + n)`.
- `fpr_at_tpr`: `FPR(t*)` at the largest threshold `t*` with
  `TPR(t*) >= tpr`, i.e. the smallest false positive rate among thresholds
  that catch at least a fraction `tpr` of the outliers (lower is better).
"""

import math
import numbers

import numpy as np

__all__ = ["aupr", "auroc", "fpr_at_tpr", "summary"]


def auroc(inlier_scores, outlier_scores):
  """The area under the ROC curve, ties counted as 1/2.

  Computed as the Mann-Whitney `U / (m n)` from average ranks of the pooled
  scores, in `O((m + n) log(m + n))`.

  Args:
    inlier_scores: 1-D array `[m]` of scores of inliers (negatives), no NaN.
    outlier_scores: 1-D array `[n]` of scores of outliers (positives), no
      NaN.

  Returns:
    A float in `[0, 1]`: 1 when every outlier scores above every inlier, 0
    when every outlier scores below every inlier.

  Raises:
    ValueError: if a set is empty, not 1-D, or has NaN scores.
  """
  inliers, outliers = _check_scores(inlier_scores, outlier_scores)
  m, n = inliers.size, outliers.size
  ranks = _average_ranks(np.concatenate([inliers, outliers]))
  u = ranks[m:].sum() - n * (n + 1) / 2.0
  return float(u / (m * n))


def aupr(inlier_scores, outlier_scores):
  """The average precision with outliers positive.

  `AP = sum_k (R_k - R_{k-1}) P_k` over the distinct scores in decreasing
  order, exactly as `sklearn.metrics.average_precision_score(labels,
  scores)` with label 1 for outliers.

  Args:
    inlier_scores: 1-D array `[m]` of scores of inliers (negatives), no NaN.
    outlier_scores: 1-D array `[n]` of scores of outliers (positives), no
      NaN.

  Returns:
    A float in `(0, 1]`: 1 when every outlier scores above every inlier.

  Raises:
    ValueError: if a set is empty, not 1-D, or has NaN scores.
  """
  inliers, outliers = _check_scores(inlier_scores, outlier_scores)
  true_positives, false_positives = _cumulative_counts(inliers, outliers)
  precision = true_positives / (true_positives + false_positives)
  recall = true_positives / outliers.size
  return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def fpr_at_tpr(inlier_scores, outlier_scores, tpr=0.95):
  """The fraction of inliers flagged when at least `tpr` of outliers are.

  The threshold `t*` is the largest one (the one flagging fewest examples)
  with `TPR(t*) >= tpr`: the `k`-th largest outlier score, `k` the smallest
  count with `k / n >= tpr` (compared in float64, so that `tpr=0.55`
  with `n = 100` needs 55 outliers although `0.55 * 100 > 55` in float).
  Ties are flagged: every score `>= t*` counts, so outliers tied with `t*`
  can raise the TPR above `tpr`, and inliers tied with `t*` are false
  positives (the pessimistic convention, as the points of
  `sklearn.metrics.roc_curve`). Hence the result is the smallest `FPR(t)`
  over all thresholds `t` with `TPR(t) >= tpr`.

  Args:
    inlier_scores: 1-D array `[m]` of scores of inliers (negatives), no NaN.
    outlier_scores: 1-D array `[n]` of scores of outliers (positives), no
      NaN.
    tpr: the true positive rate to reach, a number in `(0, 1]`.

  Returns:
    A float in `[0, 1]`, `#{i : a_i >= t*} / m`.

  Raises:
    ValueError: if a set is empty, not 1-D, or has NaN scores, or if `tpr`
      is not in `(0, 1]`.
  """
  if (isinstance(tpr, bool) or not isinstance(tpr, numbers.Real) or
      not 0.0 < tpr <= 1.0):
    raise ValueError(f"tpr must be a number in (0, 1], received {tpr!r}.")
  inliers, outliers = _check_scores(inlier_scores, outlier_scores)
  n = outliers.size
  needed = min(max(1, math.ceil(tpr * n)), n)
  # `ceil` can be off by one in float: settle on the smallest `k / n >= tpr`.
  while needed > 1 and (needed - 1) / n >= tpr:
    needed -= 1
  while needed < n and needed / n < tpr:
    needed += 1
  threshold = np.sort(outliers)[n - needed]
  return float(np.count_nonzero(inliers >= threshold) / inliers.size)


def summary(inlier_scores, outlier_scores):
  """All metrics at once.

  Args:
    inlier_scores: 1-D array `[m]` of scores of inliers, no NaN.
    outlier_scores: 1-D array `[n]` of scores of outliers, no NaN.

  Returns:
    A dict of floats: `"auroc"`, `"aupr"`, and `"fpr_at_95_tpr"`
    (`fpr_at_tpr(..., tpr=0.95)`).

  Raises:
    ValueError: if a set is empty, not 1-D, or has NaN scores.
  """
  inliers, outliers = _check_scores(inlier_scores, outlier_scores)
  return {"auroc": auroc(inliers, outliers),
          "aupr": aupr(inliers, outliers),
          "fpr_at_95_tpr": fpr_at_tpr(inliers, outliers, tpr=0.95)}


def _check_scores(inlier_scores, outlier_scores):
  """Both sets as float64 1-D arrays, or a `ValueError` naming the problem."""
  checked = []
  for name, scores in (("inlier_scores", inlier_scores),
                       ("outlier_scores", outlier_scores)):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
      raise ValueError(f"{name} must be 1-D, received shape {scores.shape}.")
    if scores.size == 0:
      raise ValueError(f"{name} is empty: each set needs at least one score.")
    nans = int(np.count_nonzero(np.isnan(scores)))
    if nans:
      raise ValueError(f"{name} has {nans} NaN score(s) out of {scores.size}.")
    checked.append(scores)
  return checked


def _average_ranks(values):
  """1-based ranks `[N]` of `values` `[N]`, tied values sharing the average
  of their ranks."""
  order = np.argsort(values, kind="stable")
  _, starts, inverse, counts = np.unique(
      values[order], return_index=True, return_inverse=True,
      return_counts=True)
  # A group of `c` ties at 0-based sorted positions `s..s+c-1` has the
  # average 1-based rank `s + (c + 1) / 2`.
  ranks = np.empty(values.size, np.float64)
  ranks[order] = (starts + (counts + 1) / 2.0)[inverse]
  return ranks


def _cumulative_counts(inliers, outliers):
  """True and false positives `[K]` at each distinct threshold, highest
  first."""
  scores = np.concatenate([inliers, outliers])
  is_outlier = np.concatenate([np.zeros(inliers.size), np.ones(outliers.size)])
  order = np.argsort(-scores, kind="stable")
  scores, is_outlier = scores[order], is_outlier[order]
  # The last position of each run of equal scores.
  ends = np.append(np.flatnonzero(scores[1:] != scores[:-1]), scores.size - 1)
  true_positives = np.cumsum(is_outlier)[ends]
  return true_positives, ends + 1 - true_positives
