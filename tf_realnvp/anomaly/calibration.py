"""Calibrated thresholds: scores of held-out inliers -> tail probabilities.

A score `s` (`tf_realnvp.anomaly.scores`) means little by itself. Computed on
`n` held-out in-distribution images, its empirical distribution `F` turns a
new score into a p-value-like tail probability, about the fraction of
inliers that score higher (exactly so for continuous scores; for scores
with ties `F` interpolates across them):

$$p(s) = \\max\\Big(1 - F(s), \\frac{1}{n + 1}\\Big),$$

with `F` the linear interpolation of `QUANTILE_LEVELS` (1001 evenly spaced
levels from 0 to 1) of the held-out scores, stored per score. An input is an
anomaly at false-positive rate `alpha` when its score exceeds the inliers'
`1 - alpha` quantile, `s > t_alpha` (equivalently `p(s) < alpha`): about a
fraction `alpha` of new inliers is flagged, whatever the score's scale.

The calibration lives in the model's workdir as `CALIBRATION_FILE` (JSON,
written atomically) and goes into the export (`tf_realnvp.export`). It
records the checkpoint step it was computed for; loading it for another
step is an error, since the scores change with the weights.
"""

import collections
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from tf_realnvp import io
from tf_realnvp import likelihood
from tf_realnvp.anomaly import scores as scores_lib

__all__ = ["CALIBRATION_FILE", "Calibration", "DEFAULT_FALSE_POSITIVE_RATE",
           "QUANTILE_LEVELS", "calibration_from_scores", "load_calibration",
           "save_calibration", "tail_probability"]

CALIBRATION_FILE = "anomaly_calibration.json"
DEFAULT_FALSE_POSITIVE_RATE = 0.05
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 1001)
_VERSION = 2


@dataclasses.dataclass
class Calibration:
  """Held-out inlier statistics of every score.

  Attributes:
    score: the name of the served `anomaly_score` (a key of `quantiles`).
    false_positive_rate: `alpha` of `is_anomaly`, in `(0, 1)`.
    num_examples: `n`, held-out images.
    typical_bits_per_dim: their mean bits/dim (the `typicality` score's
      centre).
    statistic_names: the statistics of the `mahalanobis` score
      (`scores.statistic_names`), `K` ...
    statistics_mean: ... their held-out mean `[K]` ...
    statistics_precision: ... and inverse covariance `[K, K]`.
    quantiles: `{score name: [1001] floats}`, the held-out scores' quantiles
      at `QUANTILE_LEVELS` (non-decreasing).
    thresholds: `{score name: t_alpha}`, the `1 - alpha` quantile.
    step: the checkpoint step of the model (`None` if unknown).
    held_out: what the held-out images were (e.g. `fashion_mnist:test`).
    background_workdir: the background model's workdir of
      `likelihood_ratio`, or `None`.
    background_step: its checkpoint step.
    num_draws: the dequantisation draws of the likelihood estimates the
      scores were computed with (`tf_realnvp.likelihood`).
  """
  score: str
  false_positive_rate: float
  num_examples: int
  typical_bits_per_dim: float
  statistic_names: list
  statistics_mean: list
  statistics_precision: list
  quantiles: dict
  thresholds: dict
  step: int = None
  held_out: str = None
  background_workdir: str = None
  background_step: int = None
  num_draws: int = likelihood.DEFAULT_NUM_DRAWS

  def __post_init__(self):
    if self.score not in self.quantiles:
      raise ValueError(f"Calibration: unknown score {self.score!r}; "
                       f"calibrated scores: {sorted(self.quantiles)}.")
    _check_rate(self.false_positive_rate)
    for name, values in self.quantiles.items():
      values = np.asarray(values, np.float64)
      if (values.shape != QUANTILE_LEVELS.shape or
          not np.all(np.isfinite(values)) or np.any(np.diff(values) < 0)):
        raise ValueError(f"Calibration: the quantiles of {name!r} must be "
                         f"{QUANTILE_LEVELS.size} finite non-decreasing "
                         "numbers.")

  def with_score(self, score=None, false_positive_rate=None):
    """A copy serving another calibrated `score` and/or rate."""
    score = self.score if score is None else score
    rate = (self.false_positive_rate if false_positive_rate is None else
            false_positive_rate)
    _check_rate(rate)
    if score not in self.quantiles:
      raise ValueError(f"Score {score!r} was not calibrated; calibrated: "
                       f"{sorted(self.quantiles)}.")
    thresholds = {name: _threshold(values, rate)
                  for name, values in self.quantiles.items()}
    return dataclasses.replace(self, score=score, false_positive_rate=rate,
                               thresholds=thresholds)


def _check_rate(rate):
  if not 0.0 < rate < 1.0:
    raise ValueError(f"false_positive_rate must be in (0, 1), received "
                     f"{rate!r}.")


def _threshold(quantiles, rate):
  """`t_alpha`, the `1 - alpha` quantile, interpolated like `F`."""
  return float(np.interp(1.0 - rate, QUANTILE_LEVELS, quantiles))


def calibration_from_scores(raw_scores, statistic_names, score,
                            false_positive_rate=DEFAULT_FALSE_POSITIVE_RATE,
                            **metadata):
  """The `Calibration` of held-out inliers' scores.

  Fits the reference of `typicality` and `mahalanobis` (the mean bits/dim;
  the statistics' mean and inverse covariance, `scores.fit_statistics`),
  scores the held-out inliers with them (`scores.reference_scores`) and
  stores every score's quantiles.

  Args:
    raw_scores: `{name: [n]}` (numpy), the held-out inliers' scores without
      a reference (`scores.scores(..., reference=None)`).
    statistic_names: the statistics of `mahalanobis`.
    score: the name of the served score.
    false_positive_rate: `alpha` of `is_anomaly`.
    **metadata: `step`, `held_out`, `background_workdir`, `background_step`,
      `num_draws`.

  Raises:
    ValueError: no or non-finite scores, a bad rate, an unknown score.
  """
  arrays = {name: np.asarray(values, np.float64).reshape(-1)
            for name, values in raw_scores.items()}
  sizes = {values.size for values in arrays.values()}
  if len(sizes) != 1 or 0 in sizes:
    raise ValueError(f"Calibration needs the same positive number of held-out "
                     f"scores of each kind, received sizes {sorted(sizes)}.")
  for name, values in arrays.items():
    if not np.all(np.isfinite(values)):
      raise ValueError(f"Calibration: {np.sum(~np.isfinite(values))} held-out "
                       f"{name} scores are not finite.")
  missing = sorted((set(statistic_names) | {scores_lib.BITS_PER_DIM}) -
                   set(arrays))
  if missing:
    raise ValueError(f"Calibration: no held-out scores named {missing}.")
  mean, precision = scores_lib.fit_statistics(arrays, statistic_names)
  reference = dict(
      typical_bits_per_dim=float(np.mean(arrays[scores_lib.BITS_PER_DIM])),
      statistic_names=list(statistic_names),
      statistics_mean=mean.tolist(), statistics_precision=precision.tolist())
  arrays.update({name: np.asarray(values) for name, values in
                 scores_lib.reference_scores(
                     arrays, _Reference(**reference)).items()})
  quantiles = {name: np.quantile(values, QUANTILE_LEVELS).tolist()
               for name, values in arrays.items()}
  return Calibration(
      score=score, false_positive_rate=false_positive_rate,
      num_examples=next(iter(sizes)), quantiles=quantiles, thresholds={},
      **reference, **metadata).with_score()


_Reference = collections.namedtuple(
    "_Reference", "typical_bits_per_dim statistic_names statistics_mean "
    "statistics_precision")


def tail_probability(scores, quantiles, num_examples):
  """`p(s) = max(1 - F(s), 1 / (n + 1))`, float32 `[N]`, in the graph.

  Args:
    scores: float `[N]`.
    quantiles: the `[1001]` quantiles of one score (`Calibration.quantiles`).
    num_examples: `n`, the held-out count.
  """
  scores = tf.cast(scores, tf.float64)
  values = tf.constant(quantiles, tf.float64)
  levels = tf.constant(QUANTILE_LEVELS, tf.float64)
  last = len(quantiles) - 1
  # values[above - 1] <= s < values[above]: a strictly increasing pair.
  above = tf.searchsorted(values, scores, side="right")
  upper = tf.minimum(above, last)
  lower = tf.maximum(upper - 1, 0)
  low, high = tf.gather(values, lower), tf.gather(values, upper)
  fraction = tf.math.divide_no_nan(scores - low, high - low)
  cdf = tf.gather(levels, lower) + fraction * (
      tf.gather(levels, upper) - tf.gather(levels, lower))
  cdf = tf.where(above == 0, tf.zeros_like(cdf),
                 tf.where(above > last, tf.ones_like(cdf), cdf))
  return tf.cast(tf.maximum(1.0 - cdf, 1.0 / (num_examples + 1.0)),
                 tf.float32)


def save_calibration(workdir, calibration):
  """Writes `workdir/CALIBRATION_FILE` atomically; returns its path."""
  path = os.path.join(os.fspath(workdir), CALIBRATION_FILE)
  record = dict(version=_VERSION, **dataclasses.asdict(calibration))
  io.write_text(path, json.dumps(record, indent=1) + "\n")
  return path


def load_calibration(workdir, step=None):
  """The `Calibration` in `workdir`.

  Args:
    workdir: a training workdir.
    step: the step of the model it will be used with; a calibration of
      another step is refused.

  Raises:
    ValueError: no calibration (saying how to make one), an unreadable one,
      or one of another step.
  """
  path = os.path.join(os.fspath(workdir), CALIBRATION_FILE)
  if not os.path.exists(path):
    raise ValueError(
        f"{workdir} has no anomaly calibration ({CALIBRATION_FILE}): run "
        f"`python -m tf_realnvp.anomaly calibrate --workdir={workdir}` "
        "first.")
  try:
    with open(path) as f:
      record = json.load(f)
    version = record.pop("version", None)
    if version == 1:
      raise ValueError(
          "it holds scores at the pixels' bin centres, which the scores no "
          "longer use (they estimate the discrete likelihood): calibrate "
          f"again with `python -m tf_realnvp.anomaly calibrate "
          f"--workdir={workdir}`")
    if version != _VERSION:
      raise ValueError(f"version {version!r}, expected {_VERSION}")
    calibration = Calibration(**record)
  except (ValueError, TypeError) as error:
    raise ValueError(f"Unreadable anomaly calibration {path}: "
                     f"{io.one_line(error)}") from error
  if step is not None and calibration.step is not None and (
      int(step) != calibration.step):
    raise ValueError(
        f"The anomaly calibration in {workdir} was computed for step "
        f"{calibration.step}, the model is at step {step}: calibrate again.")
  return calibration
