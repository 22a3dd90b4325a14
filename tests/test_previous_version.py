"""Workdirs and an export made by the previous version load, give the same
densities, resume, export and serve (tests/fixtures/previous_version)."""

import json
import os
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import pixels
from tf_realnvp import seeds
from tf_realnvp import workdirs
from tests import export_helpers
from tests import processes

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures",
                       "previous_version")
WORKDIRS = ("averaged_variational", "conditional")
with open(os.path.join(FIXTURE, "expected.json")) as _f:
  EXPECTED = json.load(_f)
IMAGES = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(
    np.uint8)
LABELS = np.arange(8) % 10
RTOL = 1e-6


def _copy(name, tmp_path):
  """A copy of the fixture's workdir `name` (tests never change the
  fixture)."""
  return str(shutil.copytree(os.path.join(FIXTURE, name), tmp_path / name))


def _sums(x):
  return tf.reduce_sum(x, axis=[1, 2, 3]).numpy()


def _class_log_likelihoods(model, seed):
  """What the previous version's `class_log_likelihoods(images, seed)`
  computed: every class's `log p` of one seeded dequantisation."""
  y = pixels.dequantize(IMAGES, seeds.stateless_seed(seed))
  return np.stack([model.log_prob(y, np.full(len(IMAGES), k))
                   for k in range(model.num_classes)], axis=1)


@pytest.mark.parametrize("averaged", [True, False], ids=["averaged", "raw"])
@pytest.mark.parametrize("name", WORKDIRS)
def test_loads_and_gives_the_previous_densities(tmp_path, name, averaged):
  model, step = workdirs.load_trained_model(_copy(name, tmp_path),
                                            averaged=averaged)
  expected = EXPECTED[f"{name}/{'averaged' if averaged else 'raw'}"]
  assert step == expected["step"] == 6
  y = pixels.bin_centres(IMAGES)
  if model.conditioning is None:
    found = dict(
        log_prob=model.log_prob(y),
        bits_per_dim=model.bits_per_dim(IMAGES, seed=3),
        latent_sums=_sums(model.encode(y)),
        sample_sums=_sums(model.sample(2, 0.7, seed=5)))
  else:
    found = dict(
        log_prob=model.log_prob(y, LABELS),
        bits_per_dim=model.bits_per_dim(IMAGES, LABELS, seed=3),
        class_log_likelihoods=_class_log_likelihoods(model, seed=3),
        class_log_prior=model.class_log_prior,
        sample_sums=_sums(model.sample(2, 0.7, seed=5, condition=[1, 2])))
  assert set(found) == set(expected) - {"step"}
  for key, value in found.items():
    np.testing.assert_allclose(value, expected[key], rtol=RTOL, err_msg=key)


def test_resumes_as_the_previous_version_did_then_exports(tmp_path,
                                                          fashion_dir):
  runs = {name: _copy(name, tmp_path) for name in WORKDIRS}
  started = {name: processes.start(processes.train_py(
      f"--flagfile={os.path.join(path, workdirs.FLAGS_FILE)}",
      f"--workdir={path}", f"--data_dir={fashion_dir}", "--train_steps=7",
      "--likelihood_examples=32",
      f"--export_dir={tmp_path / name / 'export'}"))
             for name, path in runs.items()}
  for name, process in started.items():
    finished = processes.finish(process)
    assert finished.returncode == 0, finished.stderr
    assert "flat layout of earlier versions" in finished.stderr
    with open(os.path.join(runs[name], workdirs.METRICS_FILE)) as f:
      last = json.loads(f.readlines()[-1])
    expected = EXPECTED["resumed_to_step_7"][name]
    assert last["step"] == 7
    for key, value in expected.items():
      np.testing.assert_allclose(last[key], value, rtol=1e-5, err_msg=key)
  # The new checkpoint is in the current layout, and the export serves it.
  model, step = workdirs.load_trained_model(runs["averaged_variational"])
  assert step == 7
  served = export_helpers.PendingSignatures(
      str(tmp_path / "averaged_variational" / "export" / "7"),
      {"log_prob": ("log_prob", {"images": IMAGES})},
      loaders=("tf1",)).result()["tf1"]
  np.testing.assert_allclose(served["log_prob"]["outputs"]["log_prob"],
                             model.log_likelihood(IMAGES), rtol=1e-5)


def test_previous_export_serves_through_the_tf1_loader(tmp_path):
  with tarfile.open(os.path.join(FIXTURE,
                                 "averaged_variational_export.tar.gz")) as f:
    f.extractall(tmp_path, filter="data")
  served = export_helpers.PendingSignatures(
      str(tmp_path / "6"), {"log_prob": ("log_prob", {"images": IMAGES})},
      loaders=("tf1",)).result()["tf1"]
  np.testing.assert_allclose(
      served["log_prob"]["outputs"]["log_prob"],
      EXPECTED["averaged_variational/averaged"]["log_prob"], rtol=1e-5)
