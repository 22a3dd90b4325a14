"""How well the anomaly scores separate real outliers: one table per command.

  python bench/anomaly_bench.py --table=digits       # vs handwritten digits
  python bench/anomaly_bench.py --table=corruptions  # corrupted test images
  python bench/anomaly_bench.py --table=one_class --classes=0,1,2

`digits` and `corruptions` use a Fashion-MNIST model and its background
model: `--workdir` / `--background_workdir` if given, else trained here
(`train.py --flagfile=fashion_mnist.flags`, the `make demo` recipe, and the
same with `--perturbation_rate=0.2`, about 8 minutes each on 2 cores) in
`--runs_dir`, then calibrated on the first half of the test split
(`python -m tf_realnvp.anomaly calibrate`). The inliers are the other half.

- `digits`: scikit-learn's 1797 handwritten digits (`sklearn_digits`,
  `tf_realnvp.anomaly.sets`), real handwriting resized from 8x8 to 28x28.
- `corruptions`: the inliers themselves, corrupted: Gaussian noise
  (standard deviation 32 grey levels, rounded and clipped), Gaussian blur
  (sigma 1 pixel), inversion (`255 - x`).
- `one_class`: for each of `--classes`, a model trained on that Fashion-MNIST
  class only (`train.py --classes=k`, `--train_steps` steps, no background
  model), calibrated on the class's first half of the test split; inliers
  its second half, outliers the second half's other nine classes.

Printed: AUROC, AUPR (outliers positive) and FPR at 95% TPR of every score
(`tf_realnvp.anomaly.scores`), and the fractions the served `is_anomaly`
(calibrated at 5% false positives) flags.
"""

import os
import subprocess
import sys

from common import REPO  # Puts the repository on sys.path.

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from tf_realnvp.anomaly import calibration
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp.anomaly import evaluation
from tf_realnvp.anomaly import sets

TABLES = ("digits", "corruptions", "one_class")
INLIERS = "fashion_mnist:test[50%:]"
HELD_OUT = "fashion_mnist:test[:50%]"

flags.DEFINE_enum("table", "digits", TABLES, "Which table.")
flags.DEFINE_string("workdir", None, "A trained Fashion-MNIST workdir "
                    "(default: trained in --runs_dir).")
flags.DEFINE_string("background_workdir", None, "Its background model "
                    "(default: trained in --runs_dir).")
flags.DEFINE_string("runs_dir", "runs/anomaly_bench", "Where models are "
                    "trained.")
flags.DEFINE_list("classes", [str(k) for k in range(10)],
                  "one_class: the classes.")
flags.DEFINE_integer("train_steps", 1200, "one_class: steps per model.")
FLAGS = flags.FLAGS


def _run(*args):
  """Runs a command of the repository, failing loudly."""
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
  subprocess.run([sys.executable] + list(args), cwd=REPO, env=env,
                 check=True, stdout=subprocess.DEVNULL)


def _trained(workdir, *extra):
  """`workdir`, trained with fashion_mnist.flags and `extra` flags unless it
  has a final checkpoint already."""
  if not os.path.exists(os.path.join(workdir, "checkpoints", "checkpoint")):
    _run("train.py", "--flagfile=fashion_mnist.flags", f"--workdir={workdir}",
         *extra)
  return workdir


def _calibrated_detector(workdir, held_out, background_workdir=None):
  args = ["-m", "tf_realnvp.anomaly", "calibrate", f"--workdir={workdir}",
          f"--held_out={held_out}"]
  if background_workdir:
    args.append(f"--background_workdir={background_workdir}")
  _run(*args)
  return detector_lib.load_detector(workdir)[0]


def _print_table(title, detector, inliers, outliers):
  function = evaluation.compiled(detector)
  rows = evaluation.rows(evaluation.score_images(function, inliers),
                         evaluation.score_images(function, outliers),
                         detector.score_names)
  print(evaluation.table(title, rows) + "\n", flush=True)
  return rows


def _demo_detector():
  workdir = FLAGS.workdir or _trained(os.path.join(FLAGS.runs_dir, "model"))
  background = FLAGS.background_workdir or _trained(
      os.path.join(FLAGS.runs_dir, "background"), "--perturbation_rate=0.2")
  return _calibrated_detector(workdir, HELD_OUT, background)


def corrupted(images, seed=0):
  """`{name: uint8 images}`: Gaussian noise, blur and inversion of `images`
  (see the module docstring)."""
  rng = np.random.default_rng(seed)
  floats = images.astype(np.float64)
  noisy = np.clip(np.round(floats + rng.normal(0.0, 32.0, images.shape)), 0,
                  255)
  radius = 3
  taps = np.exp(-0.5 * np.arange(-radius, radius + 1)**2)
  taps /= taps.sum()
  kernel = np.outer(taps, taps)[:, :, None, None]
  blurred = tf.nn.conv2d(tf.constant(floats, tf.float32),
                         tf.constant(kernel, tf.float32), 1, "SAME").numpy()
  return {"gaussian noise (sigma 32)": noisy.astype(np.uint8),
          "gaussian blur (sigma 1)": np.round(blurred).astype(np.uint8),
          "inversion": (255 - images).astype(np.uint8)}


def main(argv):
  del argv
  if FLAGS.table == "one_class":
    means = []
    for k in FLAGS.classes:
      workdir = _trained(os.path.join(FLAGS.runs_dir, f"class{k}"),
                         f"--classes={k}", f"--train_steps={FLAGS.train_steps}")
      detector = _calibrated_detector(workdir, f"{HELD_OUT}@{k}")
      others = ",".join(str(j) for j in range(10) if str(j) != k)
      shape = detector.model.image_shape
      rows = _print_table(
          f"one class: Fashion-MNIST class {k} ({FLAGS.train_steps} steps)",
          detector, sets.load_set(f"{INLIERS}@{k}", shape).images,
          sets.load_set(f"{INLIERS}@{others}", shape).images)
      means.append({row["score"]: row["auroc"] for row in rows
                    if "auroc" in row})
    print("mean AUROC over classes " + ",".join(FLAGS.classes) + ": " +
          ", ".join(f"{name} {np.mean([m[name] for m in means]):.3f}"
                    for name in means[0]))
    return
  detector = _demo_detector()
  shape = detector.model.image_shape
  inliers = sets.load_set(INLIERS, shape).images
  if FLAGS.table == "digits":
    _print_table(f"{INLIERS} vs sklearn_digits", detector, inliers,
                 sets.load_set(sets.SKLEARN_DIGITS, shape).images)
  else:
    for name, images in corrupted(inliers).items():
      _print_table(f"{INLIERS} vs the same, {name}", detector, inliers,
                   images)
  print(f"(served anomaly_score: {detector.calibration.score}, calibrated at "
        f"{100 * calibration.DEFAULT_FALSE_POSITIVE_RATE:g}% false "
        "positives)")


if __name__ == "__main__":
  app.run(main)
