"""Tests of the `anomaly` signature (tf_realnvp/export.py) and of the export
script on a calibrated workdir (export/export_saved_model.py).

A tiny one-scale model with randomised weights and a background model
(another one) are written as workdirs (tests/export_helpers.py), the model's
calibrated with `calibration_from_scores` on the detector's own scores of
random images. The export script runs on it, while the in-process tests
run: its export, the only one of this file (exports are slow), is then read
by a fresh process through TF Serving's TF1 loader (`PendingSignatures`).
The exports without a detector have no `anomaly` signature:
tests/test_export.py compares their signatures with
`export_helpers.expected_signatures`.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import export
from tf_realnvp import serving
from tf_realnvp import io
from tf_realnvp import workdirs
from tf_realnvp.anomaly import calibration as calibration_lib
from tf_realnvp.anomaly import detector as detector_lib
from tf_realnvp.anomaly import scores
from tests import export_helpers as helpers
from tests import flow_checks
from tests import processes

# Distinct H, W and C, so that a mix-up of axes cannot go unnoticed.
IMAGE_SHAPE = (4, 8, 2)
H, W, C = IMAGE_SHAPE
STEP = 9  # The model's checkpoint: the export's version.
BACKGROUND_STEP = 4
NUM_HELD_OUT = 16
# The scores of a one-scale model with a background model and a calibration.
SCORE_NAMES = ["bits_per_dim", "complexity", "likelihood_ratio",
               "scale0_bits_per_dim", "png_bits_per_dim",
               "background_bits_per_dim", "typicality", "mahalanobis"]


def _held_out():
  return helpers.random_images(NUM_HELD_OUT, IMAGE_SHAPE, seed=0)


def _images():
  """The held-out images (the most anomalous above the threshold) and
  others."""
  return np.concatenate([_held_out(),
                         helpers.random_images(4, IMAGE_SHAPE, seed=1)])


# Requests to the `anomaly` signature: `{key: (signature, inputs)}`.
REQUESTS = {
    "anomaly": ("anomaly", {"images": _images()}),
    "anomaly_none": ("anomaly", {"images": _images()[:0]}),
    "anomaly_transposed": ("anomaly", {"images": np.zeros((2, W, H, C),
                                                          np.uint8)}),
}


def _calibrated_detector(workdir, background_workdir):
  """The `AnomalyDetector` of a new tiny model (one scale) and background
  model, calibrated on `_held_out()`, as if they were trained in `workdir`
  and `background_workdir` (written: their checkpoints at `STEP` and
  `BACKGROUND_STEP`, the calibration, the background's flags.txt)."""
  model = flow_checks.tiny_model(num_scales=1, dtype="float32",
                                 image_shape=IMAGE_SHAPE)
  background = flow_checks.tiny_model(seed=1, num_scales=1, dtype="float32",
                                      image_shape=IMAGE_SHAPE)
  helpers.write_workdir(model, workdir, STEP)
  helpers.write_workdir(background, background_workdir, BACKGROUND_STEP)
  io.write_text(os.path.join(background_workdir, workdirs.FLAGS_FILE),
                f"--workdir={background_workdir}\n--perturbation_rate=0.2\n")
  raw = detector_lib.AnomalyDetector(model, background=background)(
      _held_out())
  calibration = calibration_lib.calibration_from_scores(
      {name: value.numpy() for name, value in raw.items()},
      scores.statistic_names(model, background=True), scores.MAHALANOBIS,
      step=STEP, held_out="random images",
      background_workdir=background_workdir, background_step=BACKGROUND_STEP)
  calibration_lib.save_calibration(workdir, calibration)
  return detector_lib.AnomalyDetector(model, calibration, background)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
  """`(detector, export_dir, process)`: the calibrated detector of a
  workdir, and the export script on that workdir, just started."""
  workdir = str(tmp_path_factory.mktemp("calibrated_run"))
  detector = _calibrated_detector(
      workdir, str(tmp_path_factory.mktemp("background_run")))
  export_dir = str(tmp_path_factory.mktemp("anomaly_exports") / "exports")
  process = processes.start(processes.export_script(
      f"--workdir={workdir}", f"--export_dir={export_dir}"))
  yield detector, export_dir, process
  processes.stop(process)


@pytest.fixture(scope="module")
def served(script):
  """The export script's `CompletedProcess`, and `REQUESTS` answered by a
  fresh process (TF1 loader) from its export."""
  _, export_dir, process = script
  finished = processes.finish(process)
  assert finished.returncode == 0, finished.stderr
  pending = helpers.PendingSignatures(os.path.join(export_dir, str(STEP)),
                                      REQUESTS, loaders=("tf1",))
  try:
    return finished, pending.result()
  finally:
    processes.stop(pending.process)


# --- In this process ---------------------------------------------------------


def test_signature_names_end_with_anomaly_given_a_detector(script):
  detector = script[0]
  names = ["log_prob", "sample", "encode", "decode"]
  assert export.signature_names(detector.model, detector) == names + [
      serving.ANOMALY]
  assert export.signature_names(detector.model) == names


def test_export_refuses_a_detector_without_calibration_or_of_another_model(
    script, tmp_path):
  detector = script[0]
  other = flow_checks.tiny_model(seed=2, num_scales=1, dtype="float32",
                                 image_shape=IMAGE_SHAPE)
  for model, bad in [
      (detector.model, detector_lib.AnomalyDetector(detector.model)),
      (other, detector)]:
    with pytest.raises(ValueError, match="export: the anomaly detector must "
                       "be a calibrated detector of the exported model."):
      export.export_saved_model(model, str(tmp_path / "exports"), 1, bad)
  assert not os.path.exists(tmp_path / "exports")


# --- The export script's export ----------------------------------------------


def test_export_script_adds_the_anomaly_signature(script, served):
  finished, results = served
  path = os.path.join(script[1], str(STEP))
  assert finished.stdout.strip().splitlines()[-1] == path
  float_outputs = SCORE_NAMES + ["anomaly_score", "p_value"]
  anomaly = {"inputs": {"images": ("uint8", [-1, H, W, C])},
             "outputs": dict({name: ("float32", [-1])
                              for name in float_outputs},
                             is_anomaly=("bool", [-1]))}
  assert results["signature_defs"] == dict(
      helpers.expected_signatures(IMAGE_SHAPE), anomaly=anomaly)


def test_anomaly_signature_matches_the_in_process_detector(script, served):
  detector = script[0]
  result = served[1]["tf1"]["anomaly"]
  assert "error" not in result, result
  outputs = result["outputs"]
  expected = {name: value.numpy() for name, value in
              detector(REQUESTS["anomaly"][1]["images"]).items()}
  assert sorted(outputs) == sorted(expected) == sorted(
      SCORE_NAMES + list(serving.DECISIONS))
  for name, value in expected.items():
    if name == "is_anomaly":
      assert outputs[name].dtype == np.bool_
      np.testing.assert_array_equal(outputs[name], value)
    else:
      assert outputs[name].dtype == np.float32, name
      np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-4,
                                 err_msg=name)
  # The requests were chosen so that the decision varies.
  assert 0 < np.sum(outputs["is_anomaly"]) < len(outputs["is_anomaly"])
  np.testing.assert_array_equal(outputs["anomaly_score"],
                                outputs[scores.MAHALANOBIS])


def test_anomaly_signature_answers_an_empty_batch(served):
  result = served[1]["tf1"]["anomaly_none"]
  assert "error" not in result, result
  outputs = result["outputs"]
  assert sorted(outputs) == sorted(SCORE_NAMES + list(serving.DECISIONS))
  for name, value in outputs.items():
    assert value.shape == (0,), name
    assert value.dtype == (np.bool_ if name == "is_anomaly" else np.float32)


def test_anomaly_signature_refuses_images_of_another_shape(served):
  """The message names the signature first, as those of the other
  signatures (tests/test_export.py)."""
  result = served[1]["tf1"]["anomaly_transposed"]
  assert result.get("error") == "InvalidArgumentError", result
  assert result["code"] == tf.errors.INVALID_ARGUMENT
  assert result["message"].startswith(
      f"assertion failed: [anomaly: images must have shape [N, {H}, {W}, "
      f"{C}] (N uint8 images of {H}x{W} pixels with {C} channels); "
      f"received shape] [2 {W} {H} {C}]"), result["message"]
