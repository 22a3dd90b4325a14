"""Tests of `python -m tf_realnvp.anomaly` (tf_realnvp/anomaly/__main__.py)
on a copy of `trained_workdir` (tests/conftest.py: the real Fashion-MNIST,
one scale, checkpoints at steps 12 and 20) and a background workdir made
from it, with `--max_examples=40`.

The command runs in this process, as in tests/figures/test_command.py: its
module imported with its flags on absl's `FLAGS` (those of the other
commands taken off meanwhile), its `main` called.
"""

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil

from absl import app
from absl import flags
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from tf_realnvp import workdirs
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp.anomaly import scores
from tf_realnvp.anomaly import sets
from tests import commands
from tests import images
from tests import training_helpers
from tests.training_helpers import snapshot

FLAGS = flags.FLAGS
MODULE = "tf_realnvp.anomaly.__main__"
ERROR = "python -m tf_realnvp.anomaly: error: "
MAX_EXAMPLES = 40
BACKGROUND_STEP = 12
# The scores of a one-scale model with a background model and a calibration,
# in the order of the table.
SCORE_NAMES = ["bits_per_dim", "complexity", "likelihood_ratio",
               "scale0_bits_per_dim", "png_bits_per_dim",
               "background_bits_per_dim", "typicality", "mahalanobis"]
NUM_FOLDER_IMAGES = 3


@pytest.fixture(scope="module")
def command():
  """`tf_realnvp.anomaly.__main__`, its flags on absl's global `FLAGS`.

  The other commands' flags are off `FLAGS` meanwhile
  (`tests.commands.imported_command`).
  """
  with commands.imported_command(MODULE) as module:
    yield module


def _run(command, *args):
  """Runs the command's `main` on `args`: `(status, stdout, stderr)`."""
  FLAGS.unparse_flags()
  argv = FLAGS(["anomaly", *map(str, args)])
  stdout, stderr = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    status = command.main(argv)
  return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def background_workdir(trained_workdir, tmp_path_factory):
  """A background workdir, without building a model: a copy of
  `trained_workdir` at its checkpoint of step `BACKGROUND_STEP` (other
  random weights than the model's latest, at step 20), with
  `perturbation_rate=0.2` in its run config, as if train.py had trained it
  with that flag."""
  workdir = str(shutil.copytree(
      trained_workdir.path, tmp_path_factory.mktemp("background") / "run",
      ignore=shutil.ignore_patterns("ckpt-20.*")))
  tf.compat.v1.train.update_checkpoint_state(
      os.path.join(workdir, workdirs.CHECKPOINTS), f"ckpt-{BACKGROUND_STEP}")
  training_helpers.change_run_config(workdir, perturbation_rate=0.2)
  return workdir


@pytest.fixture(scope="module")
def calibrated(command, trained_workdir, background_workdir, fashion_dir,
               tmp_path_factory):
  """A copy of `trained_workdir` after `calibrate` with the background:
  `{"workdir", "status", "stdout", "stderr"}`."""
  workdir = str(shutil.copytree(trained_workdir.path,
                                tmp_path_factory.mktemp("calibrated") / "run"))
  status, stdout, stderr = _run(
      command, "calibrate", f"--workdir={workdir}",
      f"--background_workdir={background_workdir}",
      f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  return dict(workdir=workdir, status=status, stdout=stdout, stderr=stderr)


@pytest.fixture(scope="module")
def evaluated(command, calibrated, fashion_dir, tmp_path_factory):
  """`evaluate` of the calibrated workdir against scikit-learn's digits and
  a folder of `NUM_FOLDER_IMAGES` PNGs: `{"folder", "status", "stdout",
  "stderr"}`."""
  folder = str(tmp_path_factory.mktemp("outlier_images"))
  images.write_images(folder, NUM_FOLDER_IMAGES)
  status, stdout, stderr = _run(
      command, f"--workdir={calibrated['workdir']}",
      f"--outliers={sets.SKLEARN_DIGITS}", f"--outliers=folder:{folder}",
      f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  return dict(folder=folder, status=status, stdout=stdout, stderr=stderr)


def _assert_refused(result, message, unchanged=(), absent=()):
  """`result` (of `_run`) is exit status 1 with one line on stderr, the
  error starting with `message`; the folders `unchanged` (`{path: snapshot
  before}`) are as they were and the paths `absent` do not exist."""
  status, stdout, stderr = result
  assert status == 1, (stdout, stderr)
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(ERROR + message), stderr
  for path, before in dict(unchanged).items():
    assert snapshot(path) == before, path
  for path in absent:
    assert not os.path.exists(path), path


# --- calibrate ----------------------------------------------------------------


def test_calibrate_writes_the_calibration_of_the_held_out_images(
    calibrated, background_workdir, fashion_dir):
  workdir = calibrated["workdir"]
  assert calibrated["status"] == 0 and not calibrated["stderr"], (
      calibrated["stderr"])
  path = os.path.join(workdir, calibration_lib.CALIBRATION_FILE)
  assert calibrated["stdout"].startswith(
      f"{path}: {MAX_EXAMPLES} held-out images of fashion_mnist:test[:50%]; "
      "anomaly_score = mahalanobis > ")
  assert "flags 5% of them." in calibrated["stdout"]

  calibration = calibration_lib.load_calibration(workdir)
  assert calibration.score == scores.MAHALANOBIS
  assert calibration.false_positive_rate == 0.05
  assert calibration.step == 20 and calibration.num_examples == MAX_EXAMPLES
  assert calibration.held_out == "fashion_mnist:test[:50%]"
  assert calibration.background_workdir == os.path.abspath(background_workdir)
  assert calibration.background_step == BACKGROUND_STEP
  assert calibration.statistic_names == [
      "scale0_bits_per_dim", "png_bits_per_dim", "background_bits_per_dim"]
  assert sorted(calibration.quantiles) == sorted(SCORE_NAMES)
  # The held-out images were the first 40 test images, scored by the latest
  # checkpoint and the background model: the extreme quantiles are their
  # smallest and largest scores.
  model, _ = workdirs.load_trained_model(workdir)
  background, _ = detector_lib.load_background(background_workdir)
  held_out = sets.load_set("fashion_mnist:test", model.image_shape,
                           fashion_dir, MAX_EXAMPLES).images
  raw = scores.scores(model, held_out, background=background)
  for name, values in raw.items():
    quantiles = calibration.quantiles[name]
    np.testing.assert_allclose([quantiles[0], quantiles[-1]],
                               [np.min(values), np.max(values)], rtol=1e-5,
                               err_msg=name)


def test_calibrate_refuses_a_background_trained_without_perturbation(
    command, workdir_copy, trained_workdir, fashion_dir):
  before = snapshot(workdir_copy)
  result = _run(command, "calibrate", f"--workdir={workdir_copy}",
                f"--background_workdir={trained_workdir.path}",
                f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  _assert_refused(
      result, f"{trained_workdir.path} is not a background model: it was "
      "trained without --perturbation_rate (train one with train.py "
      "--perturbation_rate=0.2).", unchanged={workdir_copy: before},
      absent=[os.path.join(workdir_copy, calibration_lib.CALIBRATION_FILE)])


# --- evaluate -----------------------------------------------------------------


def test_evaluate_prints_every_score_and_writes_figures_and_results(
    calibrated, evaluated):
  assert evaluated["status"] == 0 and not evaluated["stderr"], (
      evaluated["stderr"])
  stdout, folder = evaluated["stdout"], evaluated["folder"]
  inliers = f"fashion_mnist:test[50%:] ({MAX_EXAMPLES})"
  assert (f"{inliers} vs sklearn_digits ({MAX_EXAMPLES}); served "
          "anomaly_score: mahalanobis\n") in stdout
  assert (f"{inliers} vs folder:{folder} ({NUM_FOLDER_IMAGES}); served "
          "anomaly_score: mahalanobis\n") in stdout
  for name in SCORE_NAMES:
    assert stdout.count(f"\n| {name} | ") == 2, name
  assert stdout.count("is_anomaly (calibrated threshold) flags ") == 2

  output_dir = os.path.join(calibrated["workdir"], "anomaly")
  assert stdout.endswith(f"Figures and results.json in {output_dir}\n")
  written = sorted(os.listdir(output_dir))
  # The folder's figures: `folder_<its path, _ for other characters>_*`.
  (folder_histogram,) = [n for n in written if n.startswith("folder_")
                         and n.endswith("_histogram.png")]
  stem = folder_histogram[:-len("_histogram.png")]
  assert stem.endswith("_" + os.path.basename(folder)), stem
  assert written == sorted(
      ["results.json", "sklearn_digits_histogram.png",
       "sklearn_digits_extremes.png", f"{stem}_histogram.png",
       f"{stem}_extremes.png"])
  for name in written:
    if name.endswith(".png"):
      with Image.open(os.path.join(output_dir, name)) as png:
        assert png.format == "PNG" and min(png.size) > 1

  with open(os.path.join(output_dir, "results.json")) as f:
    results = json.load(f)
  assert [(r["inliers"], r["outliers"], r["num_inliers"], r["num_outliers"])
          for r in results] == [
              ("fashion_mnist:test[50%:]", "sklearn_digits", MAX_EXAMPLES,
               MAX_EXAMPLES),
              ("fashion_mnist:test[50%:]", f"folder:{folder}", MAX_EXAMPLES,
               NUM_FOLDER_IMAGES)]
  for result in results:  # What the tables show.
    assert [row["score"] for row in result["rows"]] == SCORE_NAMES + [
        "is_anomaly"]
    for row in result["rows"][:-1]:
      assert (f"\n| {row['score']} | {row['auroc']:.3f} | {row['aupr']:.3f} "
              f"| {row['fpr_at_95_tpr']:.3f} |\n") in stdout, row
    flagged = result["rows"][-1]
    assert (f"flags {100 * flagged['flagged_inliers']:.1f}% of the inliers "
            f"and {100 * flagged['flagged_outliers']:.1f}% of the "
            "outliers.") in stdout


def test_evaluate_needs_a_calibration(command, trained_workdir, fashion_dir):
  workdir = trained_workdir.path
  before = snapshot(workdir)
  result = _run(command, "evaluate", f"--workdir={workdir}",
                f"--outliers={sets.SKLEARN_DIGITS}",
                f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  _assert_refused(
      result, f"{workdir} has no anomaly calibration "
      f"({calibration_lib.CALIBRATION_FILE}): run `python -m "
      f"tf_realnvp.anomaly calibrate --workdir={workdir}` first.",
      unchanged={workdir: before}, absent=[os.path.join(workdir, "anomaly")])


def _empty_folder(tmp_path):
  os.makedirs(tmp_path / "empty")
  return f"folder:{tmp_path / 'empty'}"


@pytest.mark.parametrize("outliers, message", [
    (_empty_folder, "Image folder '{tmp_path}/empty' holds no "),
    (lambda _: "nope", "Unknown image set 'nope' "),
    (lambda _: "mnist:test", "Dataset 'mnist' is not prepared in "),
], ids=["empty_folder", "unknown", "not_prepared"])
def test_evaluate_checks_every_set_before_writing_anything(
    command, calibrated, fashion_dir, tmp_path, outliers, message):
  """The bad set comes after a good one. (The other errors of the sets:
  tests/anomaly/test_sets.py.)"""
  workdir = calibrated["workdir"]
  before = snapshot(workdir)
  output_dir = tmp_path / "out"
  result = _run(command, f"--workdir={workdir}",
                f"--outliers={sets.SKLEARN_DIGITS}",
                f"--outliers={outliers(tmp_path)}",
                f"--output_dir={output_dir}",
                f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  _assert_refused(result, message.format(tmp_path=tmp_path),
                  unchanged={workdir: before}, absent=[output_dir])


def test_evaluate_needs_an_outlier_set(command, calibrated, fashion_dir,
                                       tmp_path):
  result = _run(command, f"--workdir={calibrated['workdir']}",
                f"--output_dir={tmp_path / 'out'}",
                f"--data_dir={fashion_dir}")
  _assert_refused(result, "evaluate needs at least one --outliers set.",
                  absent=[tmp_path / "out"])


@pytest.mark.parametrize("changes, message", [
    (dict(step=12), "The anomaly calibration in {workdir} was computed for "
     "step 12, the model is at step 20: calibrate again."),
    (dict(background_step=BACKGROUND_STEP - 1),
     f"The calibration used background step {BACKGROUND_STEP - 1}; "
     "{background} is at step " f"{BACKGROUND_STEP}: calibrate again."),
], ids=["model_step", "background_step"])
def test_evaluate_refuses_a_calibration_of_other_checkpoints(
    command, calibrated, background_workdir, fashion_dir, tmp_path, changes,
    message):
  """As if the model (or the background model) had trained on after
  `calibrate`: here, the calibration's recorded step is changed."""
  workdir = str(shutil.copytree(calibrated["workdir"], tmp_path / "run",
                                ignore=shutil.ignore_patterns("anomaly")))
  calibration_lib.save_calibration(workdir, dataclasses.replace(
      calibration_lib.load_calibration(workdir), **changes))
  before = snapshot(workdir)
  result = _run(command, f"--workdir={workdir}",
                f"--outliers={sets.SKLEARN_DIGITS}",
                f"--max_examples={MAX_EXAMPLES}", f"--data_dir={fashion_dir}")
  _assert_refused(result, message.format(
      workdir=workdir, background=os.path.abspath(background_workdir)),
                  unchanged={workdir: before},
                  absent=[os.path.join(workdir, "anomaly")])


def test_command_needs_a_known_command_and_a_workdir(command,
                                                     trained_workdir):
  usage = re.escape("Usage: python -m tf_realnvp.anomaly "
                    "[calibrate|evaluate|images] --flags; received plot")
  with pytest.raises(app.UsageError, match=usage):
    _run(command, "plot", f"--workdir={trained_workdir.path}")
  with pytest.raises(app.UsageError, match="--workdir is required."):
    _run(command, "calibrate")
