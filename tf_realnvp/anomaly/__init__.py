"""Anomaly (out-of-distribution) scores of trained flows, calibrated and
measured.

* `scores`: the scores (raw bits/dim, complexity-corrected, typicality,
  likelihood ratio against a background model, per-scale bits/dim), with
  their definitions and papers.
* `calibration`: held-out inliers' quantiles -> `p_value`, `is_anomaly`.
* `detector`: `AnomalyDetector`, a model with its calibration and background
  model, as served (`tf_realnvp.export`'s `anomaly` signature).
* `sets`: image sets by name (datasets, folders, scikit-learn's digits).
* `metrics`, `evaluation`, `plots`: AUROC, AUPR, FPR at 95% TPR; tables and
  figures of `python -m tf_realnvp.anomaly`.
"""

from tf_realnvp.anomaly.calibration import CALIBRATION_FILE
from tf_realnvp.anomaly.calibration import Calibration
from tf_realnvp.anomaly.calibration import load_calibration
from tf_realnvp.anomaly.detector import AnomalyDetector
from tf_realnvp.anomaly.detector import load_detector

__all__ = ["AnomalyDetector", "CALIBRATION_FILE", "Calibration",
           "load_calibration", "load_detector"]
