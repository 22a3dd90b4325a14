"""Tests of train.py: flagfiles, errors from the command line, exporting at
the end (kill -9 and resume: tests/training/test_resume.py)."""

import contextlib
import glob
import io as io_lib
import json
import os

from absl import flags
from absl.testing import flagsaver
import numpy as np
import pytest
import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp import flagfiles
from tf_realnvp import io
from tf_realnvp import pixels
from tf_realnvp import run_config
from tf_realnvp import workdirs
from tf_realnvp.data import download
from tf_realnvp.flow import multiscale_layout
from tf_realnvp.training import loop
from tf_realnvp.training import trainer as trainer_lib
from tests import export_helpers
from tests import images
from tests import processes
from tests import releases
from tests.training_helpers import snapshot
from tests.training_helpers import tiny_config
from tests.training_helpers import tiny_flags
from tests.training_helpers import truncate_latest_checkpoint

import train  # noqa: E402  (the script: its flags and main)

CONFIGS = sorted(os.path.basename(p) for p in glob.glob(
    os.path.join(processes.REPO, "configs", "*.flags")))


def test_there_is_a_flagfile_per_paper_dataset_and_a_fast_one():
  assert {"cifar10.flags", "imagenet32.flags", "imagenet64.flags",
          "celeba.flags", "lsun_bedroom.flags", "fashion_mnist.flags"
         } <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_flagfile_parses_into_a_valid_model_config(name):
  argv = flagfiles.resolve_flagfiles(
      ["train.py", f"--flagfile={name}", "--workdir=/unused"],
      [os.path.join(processes.REPO, "configs")])
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    try:
      config = run_config.from_flags(flags.FLAGS)
      spec = data.dataset_spec(config.dataset, config.image_size)
      multiscale_layout(spec.image_shape, config.model.num_scales,
                        config.model.num_filters)
      assert config.batch_size == 64 or name == "fashion_mnist.flags"
    finally:
      flags.FLAGS.unparse_flags()


def test_celeba_flags_with_conditional_builds_an_attribute_model():
  argv = flagfiles.resolve_flagfiles(
      ["train.py", "--flagfile=celeba.flags", "--conditional",
       "--workdir=/unused"], [os.path.join(processes.REPO, "configs")])
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    try:
      config = run_config.from_flags(flags.FLAGS)
    finally:
      flags.FLAGS.unparse_flags()
  model = config.build_model(
      data.dataset_spec(config.dataset, config.image_size).image_shape,
      data.condition_spec(config.dataset))
  assert model.condition_shape == (40,) and model.num_scales == 5
  assert model.config.architecture()["condition_shape"] == [40]


def test_classes_flag_becomes_the_config_s_tuple_of_ints():
  with flagsaver.flagsaver():
    flags.FLAGS(["train.py", "--workdir=/unused", "--classes=3, 5"])
    try:
      assert run_config.from_flags(flags.FLAGS).classes == (3, 5)
    finally:
      flags.FLAGS.unparse_flags()


def test_helpfull_with_a_flagfile_resolves_from_the_repository_root():
  result = processes.run(processes.train_py("--flagfile=celeba.flags",
                                            "--helpfull"))
  # absl exits with 1 after printing help.
  assert result.returncode in (0, 1), result.stderr
  assert "--num_scales" in result.stdout + result.stderr
  assert "not found" not in result.stderr
  assert "Traceback" not in result.stderr


# (args, message, through the entry point): errors of the script's entry
# point (flagfiles, absl's parsing in `app.run`) run train.py; the others
# (flag validators, `main`) run in this process.
COMMAND_LINE_ERRORS = {
    "missing_flagfile": (["--flagfile=nope.flags"],
                         "flagfile 'nope.flags' not found", True),
    "unknown_flag": (["--no_such_flag=1"],
                     "Unknown command line flag 'no_such_flag'", True),
    "unknown_dataset": (["--dataset=imagenet"], "Unknown dataset 'imagenet'",
                        False),
    "batch_size": (["--batch_size=0"], "train.py: error: batch_size must be "
                   "a positive integer, received 0.", False),
    "num_filters": (["--num_filters=-2"], "train.py: error: num_filters must "
                    "be an int >= 1, received -2.", False),
    "eval_examples": (["--eval_examples=-1"], "train.py: error: eval_examples "
                      "must be an integer >= 0, received -1.", False),
    "learning_rate": (["--learning_rate=0"], "train.py: error: learning_rate "
                      "must be positive, received 0.0.", False),
    "warmup_steps": (["--warmup_steps=-5"], "train.py: error: warmup_steps "
                     "must be an integer >= 0, received -5.", False),
    "float16": (["--dtype_policy=float16"],
                "value should be one of "
                "<float32|mixed_bfloat16|mixed_float16>", False),
    "dequantization": (["--dequantization=learned"],
                       "value should be one of <uniform|variational>", False),
    "no_workdir": ([], "--workdir", False),
    "conditional_without_labels": (
        ["--dataset=lsun/bedroom", "--conditional"],
        "Dataset 'lsun/bedroom' has no labels; it cannot be used with "
        "--conditional.", False),
    "classes": (["--classes=3,x"], "train.py: error: classes must be class "
                "indices, e.g. 3 or 3,5, received ['3', 'x'].", False),
    "ema_decay": (["--ema_decay=1"],
                  "train.py: error: ema_decay must be in [0, 1)", False),
    "folder_crop_of_tfds": (["--dataset=celeb_a", "--folder_crop=celeb_a"],
                            "train.py: error: folder_crop='celeb_a' applies "
                            "to folder: datasets only", False),
    "folder_crop": (["--folder_crop=centre"], "value should be one of "
                    "<square|celeb_a|none>", False),
    "bad_manual_dir": (["--dataset=celeb_a", "--data_dir={tmp}/tfds",
                        "--manual_dir={tmp}"],
                       "train.py: error: Missing list_attr_celeba.txt", False),
}


def _train_in_process(*args):
  """`(exit code, stderr)` of train.py's flags and `main` in this process."""
  stderr = io_lib.StringIO()
  with flagsaver.flagsaver(), contextlib.redirect_stderr(stderr):
    try:
      flags.FLAGS(["train.py", *args])
      code = train.main(["train.py"])
    except flags.Error as error:  # What app.run prints, then exits with 1.
      stderr.write(f"FATAL Flags parsing error: {error}\n")
      code = 1
    finally:
      flags.FLAGS.unparse_flags()
  return code, stderr.getvalue()


@pytest.mark.parametrize("case", sorted(COMMAND_LINE_ERRORS))
def test_command_line_errors_exit_non_zero_with_a_clear_message(tmp_path,
                                                                case):
  args, message, entry_point = COMMAND_LINE_ERRORS[case]
  args = [a.format(tmp=tmp_path) for a in args]
  workdir = [] if not args else [f"--workdir={tmp_path / 'run'}"]
  if entry_point:
    result = processes.run(processes.train_py(*workdir, *args))
    code, stderr = result.returncode, result.stderr
  else:
    code, stderr = _train_in_process(*workdir, *args)
  assert code != 0
  assert message in stderr
  assert not (tmp_path / "run").exists()


def _assert_error(result, message):
  """train.py failed with one line `train.py: error: ...` holding `message`,
  and no traceback."""
  assert result.returncode == 1, result.stderr
  errors = [line for line in result.stderr.splitlines()
            if line.startswith("train.py: error: ")]
  assert len(errors) == 1 and message in errors[0], result.stderr
  assert "Traceback" not in result.stderr


def test_failed_download_is_one_line_naming_the_manual_route(tmp_path,
                                                            monkeypatch):
  def refused(unused_session, url, **unused_kwargs):
    raise requests.exceptions.ConnectionError(f"Connection refused: {url}")
  monkeypatch.setattr(download, "unreachable_endpoints", lambda *_: [])
  monkeypatch.setattr(requests.Session, "get", refused)
  code, stderr = _train_in_process(f"--workdir={tmp_path / 'run'}",
                                   f"--data_dir={tmp_path / 'tfds'}",
                                   "--dataset=cifar10")
  assert code == 1 and "Traceback" not in stderr
  (line,) = [l for l in stderr.splitlines() if l.startswith("train.py:")]
  assert line.startswith("train.py: error: Dataset 'cifar10' could not be "
                         "downloaded: no connection") and "--manual_dir=M" in line
  assert not (tmp_path / "run").exists()


# Slow (40-60 s on 2 cores): train.py prepares a 30-image CelebA release
# in the official layout and trains 2 steps of celeba.flags' --conditional
# model on it.
@pytest.mark.timeout(300)
def test_celeba_flags_train_from_the_release_with_manual_dir(tmp_path):
  release = releases.write_celeb_a_release(tmp_path / "CelebA", 30)
  data_dir = tmp_path / "tfds"
  result = processes.run(processes.train_py(
      "--flagfile=celeba.flags", f"--manual_dir={release.folder}",
      f"--workdir={tmp_path / 'run'}", f"--data_dir={data_dir}",
      "--conditional", "--train_steps=2", "--num_scales=2", "--num_blocks=1",
      "--num_filters=4", "--batch_size=4", "--eval_examples=8",
      "--num_samples=4", "--eval_every=2", "--checkpoint_every=2",
      "--sample_every=2", "--likelihood_examples=8"))
  assert result.returncode == 0, result.stderr
  assert "test bits/dim" in result.stdout
  # The release's partition, prepared once: later runs need no --manual_dir.
  builder = tfds.builder("celeb_a", data_dir=str(data_dir))
  assert builder.is_prepared() and {
      split: info.num_examples for split, info in builder.info.splits.items()
  } == {"train": 10, "validation": 10, "test": 10}
  model, _ = workdirs.load_trained_model(str(tmp_path / "run"))
  assert model.condition_shape == (40,) and model.image_shape == (64, 64, 3)


def test_num_scales_that_does_not_divide_the_image_size(tmp_path, fashion_dir):
  result = processes.run(processes.train_py(
      *tiny_flags(tmp_path / "run", fashion_dir, num_scales=4)))
  _assert_error(result, "image_shape (28, 28, 1) does not fit num_scales=4")
  assert not (tmp_path / "run").exists()


def test_unwritable_workdir_is_a_one_line_error(tmp_path, fashion_dir):
  (tmp_path / "file").write_text("a file, not a folder")
  workdir = tmp_path / "file" / "run"
  result = processes.run(processes.train_py(*tiny_flags(workdir,
                                                        fashion_dir)))
  _assert_error(result, f"(--workdir={workdir}).")
  assert "Not a directory" in result.stderr


def test_unreadable_image_in_a_folder_dataset(tmp_path):
  folder = tmp_path / "images"
  images.write_images(folder, 3, size=(8, 8))
  images.write_broken_image(str(folder / "broken.png"))
  result = processes.run(processes.train_py(*tiny_flags(
      tmp_path / "run", None, dataset=f"folder:{folder}", image_size=8,
      num_scales=1)))
  _assert_error(result, "broken.png")


@pytest.mark.parametrize("damage, extra, message", [
    (None, {"num_filters": 8}, "holds a model of another architecture"),
    (truncate_latest_checkpoint, {}, "Cannot restore the checkpoint"),
], ids=["other_architecture", "corrupt_checkpoint"])
def test_bad_workdir_is_refused_and_left_as_it_was(workdir_copy, fashion_dir,
                                                   damage, extra, message):
  if damage:
    damage(workdir_copy)
  before = snapshot(workdir_copy)
  result = processes.run(processes.train_py(*tiny_flags(
      workdir_copy, fashion_dir, num_scales=1, train_steps=30, **extra)))
  _assert_error(result, message)
  assert snapshot(workdir_copy) == before


def test_export_of_a_finished_run_started_again_keeps_the_export(
    trained_workdir, tmp_path):
  existing = tmp_path / "export" / str(max(trained_workdir.weights))
  existing.mkdir(parents=True)
  (existing / "saved_model.pb").write_bytes(b"earlier export")
  message = train._export(trained_workdir.path, str(tmp_path / "export"),  # pylint: disable=protected-access
                          "float32")
  assert "already in" in message and str(existing) in message
  assert (existing / "saved_model.pb").read_bytes() == b"earlier export"


# The flagfile's architecture with the paper's step; Glow's step takes the
# same path (train, checkpoint, export, serve) with one scale of one block,
# to keep its graphs small.
@pytest.mark.parametrize("step_type,depth", [
    ("real_nvp", ()), ("glow", ("--num_scales=1", "--num_blocks=1"))],
                         ids=["real_nvp", "glow"])
def test_conditional_flagfile_trains_and_exports_a_served_classifier(
    tmp_path, fashion_dir, step_type, depth):
  # fashion_mnist_conditional.flags, a short run at batch 16.
  workdir, export_dir = tmp_path / "run", tmp_path / "export"
  result = processes.run(processes.train_py(
      "--flagfile=fashion_mnist_conditional.flags", *depth,
      f"--workdir={workdir}",
      f"--data_dir={fashion_dir}", "--train_steps=20", "--batch_size=16",
      "--eval_every=20", "--checkpoint_every=20", "--sample_every=20",
      "--eval_examples=16", "--classify_examples=8", "--num_samples=10",
      f"--export_dir={export_dir}", f"--step_type={step_type}",
      "--likelihood_examples=8"))
  assert result.returncode == 0, result.stderr
  with open(workdir / workdirs.METRICS_FILE) as f:
    assert 0 <= json.loads(f.readlines()[-1])["test_accuracy"] <= 1
  grid = tf.io.decode_png(tf.io.read_file(
      workdirs.sample_path(str(workdir), 20, 0.7)))
  tile = io.display_scale(28, 28) * 28 + io.GAP
  assert grid.shape == (10 * tile - io.GAP, tile - io.GAP, 1)  # A row a class.
  # The prior of Fashion-MNIST's balanced training labels, checkpointed.
  model, _ = workdirs.load_trained_model(str(workdir))
  np.testing.assert_allclose(model.class_log_prior, np.log(0.1), rtol=1e-6)
  # Resumed without --conditional: refused, naming the difference.
  with pytest.raises(trainer_lib.TrainingError,
                     match="num_classes: 10 in workdir, None requested"):
    loop.prepare_trainer(tiny_config(workdir, fashion_dir))
  images = export_helpers.random_images(4, (28, 28, 1))
  labels = np.array([0, 3, 9, 3], np.int32)
  served = export_helpers.PendingSignatures(str(export_dir / "20"), {
      "classify": ("classify", {"images": images}),
      "sample": ("sample", {"labels": np.arange(10, dtype=np.int32),
                            "temperature": np.float32(0.7),
                            "seed": np.int32(1)}),
      "encode": ("encode", {"images": images, "labels": labels}),
  }, loaders=("tf1",)).result()["tf1"]
  probabilities = served["classify"]["outputs"]["probabilities"]
  assert probabilities.shape == (4, 10)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
  assert served["sample"]["outputs"]["images"].shape == (10, 28, 28, 1)
  np.testing.assert_allclose(
      served["encode"]["outputs"]["latents"],
      model.encode(pixels.bin_centres(images), labels), rtol=1e-4, atol=1e-4)
