"""Calibrate a trained flow's anomaly scores and measure how they separate.

    python -m tf_realnvp.anomaly calibrate --workdir=runs/fashion_mnist_demo \\
        [--background_workdir=runs/background] [--held_out=fashion_mnist:test[:50%]]
    python -m tf_realnvp.anomaly --workdir=runs/fashion_mnist_demo \\
        --outliers=sklearn_digits [--outliers=folder:/photos] \\
        [--inliers=fashion_mnist:test[50%:]]
    python -m tf_realnvp.anomaly images --workdir=runs/fashion_mnist_demo \\
        --set=sklearn_digits --max_examples=2 --output_dir=requests

`calibrate` scores held-out inliers (default: the first half of the
training dataset's test split) and writes `<workdir>/anomaly_calibration.json`
(`tf_realnvp.anomaly.calibration`); the export serves it. `evaluate` (the
default command) scores the inliers (default: the other half) and each
outlier set (names: `tf_realnvp.anomaly.sets`), prints per outlier set the
AUROC, AUPR and FPR at 95% TPR of every score and the fractions the
calibrated `is_anomaly` flags, and writes `<output_dir>/<set>_histogram.png`
(the served score, inliers vs outliers), `<set>_extremes.png` (the most and
least anomalous outliers) and `results.json`. Every set is loaded, and
checked, before anything is written. `images` writes the images of a set,
as the model sees them, as PNG files (e.g. to send to the served model).
"""

import json
import os
import re
import sys

from tf_realnvp import startup

startup.import_tensorflow()  # Before anything else imports TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import workdirs
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp.anomaly import evaluation
from tf_realnvp.anomaly import plots
from tf_realnvp.anomaly import scores
from tf_realnvp.anomaly import sets

PROGRAM = "python -m tf_realnvp.anomaly"
COMMANDS = ("calibrate", "evaluate", "images")
ANOMALY_DIR = "anomaly"

flags.DEFINE_string("workdir", None, "A training workdir (train.py's "
                    "--workdir).")
flags.DEFINE_string("background_workdir", None, "calibrate: the workdir of a "
                    "background model (train.py --perturbation_rate) for "
                    "the likelihood_ratio score.")
flags.DEFINE_string("held_out", None, "calibrate: the held-out inliers "
                    "(default: <dataset>:<test split>[:50%]).")
flags.DEFINE_string("score", None, "calibrate: the served anomaly_score "
                    f"(default: {scores.MAHALANOBIS}); evaluate: serve and "
                    "plot this one instead.")
flags.DEFINE_float("false_positive_rate",
                   calibration_lib.DEFAULT_FALSE_POSITIVE_RATE,
                   "calibrate: the fraction of inliers is_anomaly flags.")
flags.DEFINE_string("inliers", None, "evaluate: the inliers (default: "
                    "<dataset>:<test split>[50%:]).")
flags.DEFINE_multi_string("outliers", None, "evaluate: an outlier set (may "
                          "repeat): sklearn_digits, folder:/path, or "
                          "NAME[:SPLIT][@CLASSES].")
flags.DEFINE_string("output_dir", None, "evaluate, images: where the PNGs "
                    "(and results.json) go (default: <workdir>/"
                    f"{ANOMALY_DIR}).")
flags.DEFINE_string("set", None, "images: the set to write (names as "
                    "--outliers).")
flags.DEFINE_integer("max_examples", None, "Use at most this many images of "
                     "each set.", lower_bound=1)
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the "
                    "workdir's).")
FLAGS = flags.FLAGS


def _default_set(workdir, half):
  """`<dataset>:<test split>[:50%]` or `[50%:]` of the workdir's dataset
  (`@<classes>` of a run trained on some classes)."""
  recorded = workdirs.read_run_config(workdir)
  dataset = recorded.dataset
  if dataset.startswith(data.FOLDER_PREFIX):
    raise ValueError(f"{workdir} was trained on a folder: pass the held-out "
                     "and inlier sets (--held_out, --inliers) explicitly.")
  split = data.dataset_spec(dataset).test_split
  classes = ",".join(map(str, recorded.classes or ()))
  return f"{dataset}:{split}[{half}]" + (f"@{classes}" if classes else "")


def _data_dir():
  """`--data_dir`, else the one the workdir was trained with."""
  return FLAGS.data_dir or workdirs.read_run_config(FLAGS.workdir).data_dir


def calibrate():
  model, step = workdirs.load_trained_model(FLAGS.workdir)
  background, background_step = None, None
  if FLAGS.background_workdir:
    background, background_step = detector_lib.load_background(
        FLAGS.background_workdir)
  held_out = FLAGS.held_out or _default_set(FLAGS.workdir, ":50%")
  images = sets.load_set(held_out, model.image_shape, _data_dir(),
                         FLAGS.max_examples).images
  uncalibrated = detector_lib.AnomalyDetector(model, background=background)
  held_out_scores = evaluation.score_images(evaluation.compiled(uncalibrated),
                                            images)
  calibration = calibration_lib.calibration_from_scores(
      held_out_scores, scores.statistic_names(model, background is not None),
      FLAGS.score or scores.MAHALANOBIS, FLAGS.false_positive_rate, step=step,
      held_out=held_out,
      background_workdir=(os.path.abspath(FLAGS.background_workdir)
                          if background is not None else None),
      background_step=background_step, num_draws=uncalibrated.num_draws)
  path = calibration_lib.save_calibration(FLAGS.workdir, calibration)
  print(f"{path}: {calibration.num_examples} held-out images of {held_out}; "
        f"anomaly_score = {calibration.score} > "
        f"{calibration.thresholds[calibration.score]:.4f} "
        f"flags {100 * calibration.false_positive_rate:g}% of them.")


def evaluate():
  detector, _ = detector_lib.load_detector(FLAGS.workdir, score=FLAGS.score)
  if not FLAGS.outliers:
    raise ValueError("evaluate needs at least one --outliers set.")
  shape = detector.model.image_shape
  inlier_name = FLAGS.inliers or _default_set(FLAGS.workdir, "50%:")
  inliers = sets.load_set(inlier_name, shape, _data_dir(),
                          FLAGS.max_examples)
  outlier_sets = [sets.load_set(name, shape, _data_dir(),
                                FLAGS.max_examples)
                  for name in FLAGS.outliers]
  function = evaluation.compiled(detector)
  inlier_scores = evaluation.score_images(function, inliers.images)
  output_dir = FLAGS.output_dir or os.path.join(FLAGS.workdir, ANOMALY_DIR)
  served = detector.calibration.score
  results = []
  for outliers in outlier_sets:
    outlier_scores = evaluation.score_images(function, outliers.images)
    result_rows = evaluation.rows(inlier_scores, outlier_scores,
                                  detector.score_names)
    print(evaluation.table(
        f"{inliers.name} ({len(inliers.images)}) vs {outliers.name} "
        f"({len(outliers.images)}); served anomaly_score: {served}",
        result_rows) + "\n")
    slug = re.sub(r"[^A-Za-z0-9]+", "_", outliers.name).strip("_")
    plots.histogram_png(
        os.path.join(output_dir, f"{slug}_histogram.png"),
        {inliers.name: inlier_scores[served],
         outliers.name: outlier_scores[served]}, f"anomaly_score ({served})")
    plots.extremes_png(os.path.join(output_dir, f"{slug}_extremes.png"),
                       outliers.images, outlier_scores[served])
    results.append({"inliers": inliers.name, "outliers": outliers.name,
                    "num_inliers": len(inliers.images),
                    "num_outliers": len(outliers.images),
                    "rows": result_rows})
  io.write_text(os.path.join(output_dir, "results.json"),
                json.dumps(results, indent=1) + "\n")
  print(f"Figures and results.json in {output_dir}")


def images():
  if not FLAGS.set:
    raise ValueError("images needs --set (e.g. --set=sklearn_digits).")
  shape = workdirs.read_model_config(FLAGS.workdir)["image_shape"]
  loaded = sets.load_set(FLAGS.set, shape, _data_dir(), FLAGS.max_examples)
  output_dir = FLAGS.output_dir or os.path.join(FLAGS.workdir, ANOMALY_DIR)
  prefix = re.sub(r"[^A-Za-z0-9]+", "_", FLAGS.set).strip("_")
  for i, image in enumerate(loaded.images):
    path = os.path.join(output_dir, f"{prefix}_{i:04d}.png")
    io.write_png(path, image)
    print(path)


def main(argv):
  if len(argv) > 2 or (len(argv) == 2 and argv[1] not in COMMANDS):
    raise app.UsageError(f"Usage: {PROGRAM} [{'|'.join(COMMANDS)}] --flags; "
                         f"received {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  if not FLAGS.workdir:
    raise app.UsageError("--workdir is required.")
  command = argv[1] if len(argv) == 2 else "evaluate"
  try:
    dict(calibrate=calibrate, evaluate=evaluate, images=images)[command]()
  except (ValueError, OSError, data.DatasetUnavailableError) as error:
    sys.stderr.write(f"{PROGRAM}: error: {io.one_line(error)}\n")
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
