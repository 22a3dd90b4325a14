"""A trained flow, its calibration and background model: scores -> decisions.

```python
from tf_realnvp import anomaly
detector, step = anomaly.load_detector("runs/fashion_mnist_demo")
outputs = detector(images)  # uint8 [N, 28, 28, 1]
outputs["anomaly_score"], outputs["p_value"], outputs["is_anomaly"]
```
"""

import tensorflow as tf

from tf_realnvp import likelihood
from tf_realnvp import serving
from tf_realnvp import workdirs
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import scores as scores_lib

__all__ = ["AnomalyDetector", "load_background", "load_detector"]

# The outputs beside the scores themselves (the served table's names).
_SCORE, _P_VALUE, _IS_ANOMALY = serving.DECISIONS


class AnomalyDetector(tf.Module):
  """Every score of `tf_realnvp.anomaly.scores`, and the calibrated decision.

  `detector(images)` for uint8 `images` `[N, H, W, C]` returns a dict of
  `[N]` tensors: each score by name (`scores.score_names`), and
  `anomaly_score` (the calibration's chosen score), `p_value` (its tail
  probability among held-out inliers, `calibration.tail_probability`) and
  `is_anomaly` (bool: `anomaly_score` above the threshold of the
  calibration's false-positive rate). Without a calibration, only the
  scores that need none.

  Args:
    model: an unconditional `RealNVP`.
    calibration: a `Calibration`, or `None`.
    background: the background `RealNVP` of `likelihood_ratio`, or `None`.
  """

  def __init__(self, model, calibration=None, background=None):
    super().__init__(name="anomaly_detector")
    scores_lib.check_unconditional(model)
    if background is not None:
      scores_lib.check_background(model, background)
    if calibration is not None and (
        (background is None) != (calibration.background_workdir is None)):
      raise ValueError(
          "The calibration was computed "
          + ("with" if calibration.background_workdir else "without")
          + " a background model; pass the same.")
    self.model = model
    self.background = background
    self.calibration = calibration
    # The draws of the likelihood estimates, those the calibration saw.
    self.num_draws = (calibration.num_draws if calibration is not None else
                      likelihood.DEFAULT_NUM_DRAWS)

  @property
  def score_names(self):
    """The names of the scores `__call__` returns, in order."""
    return scores_lib.score_names(self.model, self.background is not None,
                                  self.calibration is not None)

  def __call__(self, images):
    calibration = self.calibration
    outputs = scores_lib.scores(self.model, images,
                                background=self.background,
                                reference=calibration,
                                num_draws=self.num_draws)
    if calibration is None:
      return outputs
    chosen = outputs[calibration.score]
    outputs[_SCORE] = chosen
    outputs[_P_VALUE] = calibration_lib.tail_probability(
        chosen, calibration.quantiles[calibration.score],
        calibration.num_examples)
    outputs[_IS_ANOMALY] = chosen > calibration.thresholds[calibration.score]
    return outputs


def load_background(workdir, dtype=None):
  """`(model, step)` of a background workdir, checked to be one: trained
  with `--perturbation_rate > 0`."""
  if not workdirs.read_run_config(workdir).perturbation_rate > 0:
    raise ValueError(
        f"{workdir} is not a background model: it was trained without "
        "--perturbation_rate (train one with train.py "
        "--perturbation_rate=0.2).")
  return workdirs.load_trained_model(workdir, dtype=dtype)


def load_detector(workdir, checkpoint=None, dtype=None, score=None,
                  false_positive_rate=None):
  """`(detector, step)`: the `AnomalyDetector` of a calibrated workdir, and
  its checkpoint's step.

  Loads the model (latest checkpoint, or `checkpoint`), its calibration
  (`calibration.load_calibration`, which must be of the same step) and the
  background model the calibration names (at the step it was calibrated
  with).

  Args:
    workdir: a calibrated training workdir.
    checkpoint: see `workdirs.load_trained_model`.
    dtype: the Keras dtype policy.
    score, false_positive_rate: serve another calibrated score or rate than
      the calibration's.
  """
  model, step = workdirs.load_trained_model(workdir, checkpoint, dtype=dtype)
  calibration = calibration_lib.load_calibration(workdir, step)
  if score is not None or false_positive_rate is not None:
    calibration = calibration.with_score(score, false_positive_rate)
  background = None
  if calibration.background_workdir:
    background, background_step = load_background(
        calibration.background_workdir, dtype=dtype)
    if (calibration.background_step is not None and
        background_step != calibration.background_step):
      raise ValueError(
          f"The calibration used background step "
          f"{calibration.background_step}; "
          f"{calibration.background_workdir} is at step {background_step}: "
          "calibrate again.")
  return AnomalyDetector(model, calibration, background), step
