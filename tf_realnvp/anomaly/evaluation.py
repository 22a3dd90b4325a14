"""Scoring image sets and measuring how well each score separates them."""

import numpy as np
import tensorflow as tf

from tf_realnvp.anomaly import metrics

__all__ = ["DEFAULT_BATCH_SIZE", "compiled", "rows", "score_images",
           "table"]

DEFAULT_BATCH_SIZE = 256


def compiled(detector):
  """`detector`'s call as one `tf.function` on uint8 `[None, H, W, C]`."""
  spec = tf.TensorSpec((None,) + tuple(detector.model.image_shape), tf.uint8)
  return tf.function(detector.__call__, input_signature=[spec])


def score_images(function, images, batch_size=DEFAULT_BATCH_SIZE):
  """`{name: [N] numpy}` of `function` (e.g. `compiled(detector)`) over
  uint8 `images` `[N, H, W, C]`, in batches."""
  parts = {}
  for start in range(0, len(images), batch_size):
    for name, value in function(images[start:start + batch_size]).items():
      parts.setdefault(name, []).append(np.asarray(value))
  return {name: np.concatenate(values) for name, values in parts.items()}


def rows(inlier_scores, outlier_scores, names):
  """One `metrics.summary` per score `name`, as `{"score": name, ...}`, and
  the fractions flagged (`is_anomaly`) if the scores have them."""
  result = []
  for name in names:
    row = {"score": name}
    row.update(metrics.summary(inlier_scores[name], outlier_scores[name]))
    result.append(row)
  if "is_anomaly" in inlier_scores:
    result.append({"score": "is_anomaly",
                   "flagged_inliers": float(np.mean(
                       inlier_scores["is_anomaly"])),
                   "flagged_outliers": float(np.mean(
                       outlier_scores["is_anomaly"]))})
  return result


def table(title, result_rows):
  """The rows of `rows` as a Markdown table under `title`."""
  lines = [f"{title}", "",
           "| score | AUROC | AUPR | FPR at 95% TPR |", "|---|---|---|---|"]
  flagged = None
  for row in result_rows:
    if row["score"] == "is_anomaly":
      flagged = row
      continue
    lines.append(f"| {row['score']} | {row['auroc']:.3f} | {row['aupr']:.3f} "
                 f"| {row['fpr_at_95_tpr']:.3f} |")
  if flagged:
    lines += ["", f"is_anomaly (calibrated threshold) flags "
              f"{100 * flagged['flagged_inliers']:.1f}% of the inliers and "
              f"{100 * flagged['flagged_outliers']:.1f}% of the outliers."]
  return "\n".join(lines)
