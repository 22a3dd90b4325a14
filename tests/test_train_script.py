"""Tests of train.py: flagfiles, errors from the command line, exporting at
the end (kill -9 and resume: tests/test_resume.py)."""

import glob
import os

from absl import flags
from absl.testing import flagsaver
import pytest
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp import flagfiles
from tf_realnvp import training
from tf_realnvp.bijectors import multiscale_layout
from tests.cluster import REPO
from tests.training_helpers import run_train_py
from tests.training_helpers import snapshot
from tests.training_helpers import tiny_config
from tests.training_helpers import tiny_flags

import train  # noqa: F401  (defines the flags)

CONFIGS = sorted(os.path.basename(p)
                 for p in glob.glob(os.path.join(REPO, "configs", "*.flags")))


def test_there_is_a_flagfile_per_paper_dataset_and_a_fast_one():
  assert {"cifar10.flags", "imagenet32.flags", "imagenet64.flags",
          "celeba.flags", "lsun_bedroom.flags", "fashion_mnist.flags"
         } <= set(CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_flagfile_parses_into_a_valid_model_config(name):
  argv = flagfiles.resolve_flagfiles(
      ["train.py", f"--flagfile={name}", "--workdir=/unused"],
      [os.path.join(REPO, "configs")])
  with flagsaver.flagsaver():
    flags.FLAGS(argv)
    try:
      config = train._config()
      spec = data.dataset_spec(config.dataset, config.image_size)
      multiscale_layout(spec.image_shape, config.num_scales,
                        config.num_filters)
      assert config.batch_size == 64 or name == "fashion_mnist.flags"
    finally:
      flags.FLAGS.unparse_flags()


def test_helpfull_with_a_flagfile_resolves_from_the_repository_root():
  code, stdout, stderr = run_train_py(["--flagfile=celeba.flags", "--helpfull"])
  assert code in (0, 1), stderr  # absl exits with 1 after printing help.
  assert "--num_scales" in stdout + stderr
  assert "not found" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("args, message", [
    (["--flagfile=nope.flags"], "flagfile 'nope.flags' not found"),
    (["--no_such_flag=1"], "Unknown command line flag 'no_such_flag'"),
    (["--dataset=imagenet"], "Unknown dataset 'imagenet'"),
    (["--batch_size=0"], "--batch_size must be a positive integer"),
    (["--num_filters=-2"], "--num_filters must be a positive integer"),
    (["--dtype_policy=mixed_float16"],
     "value should be one of <float32|mixed_bfloat16>"),
    ([], "--workdir"),
], ids=["missing_flagfile", "unknown_flag", "unknown_dataset", "batch_size",
        "num_filters", "float16", "no_workdir"])
def test_command_line_errors_exit_non_zero_with_a_clear_message(
    tmp_path, args, message):
  workdir = [] if not args else [f"--workdir={tmp_path / 'run'}"]
  code, _, stderr = run_train_py(workdir + args)
  assert code != 0
  assert message in stderr
  assert not (tmp_path / "run").exists()


def test_num_scales_that_does_not_divide_the_image_size(tmp_path, fashion_dir):
  code, _, stderr = run_train_py(
      tiny_flags(tmp_path / "run", fashion_dir, num_scales=4))
  assert code == 1
  assert "train.py: error: image_shape (28, 28, 1) does not fit num_scales=4" in stderr
  assert not (tmp_path / "run").exists()


def test_unreadable_image_in_a_folder_dataset(tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  for i in range(3):
    tf.io.write_file(str(folder / f"ok{i}.png"),
                     tf.io.encode_png(tf.zeros([8, 8, 3], tf.uint8)))
  (folder / "broken.png").write_bytes(b"not a png")
  code, _, stderr = run_train_py(tiny_flags(
      tmp_path / "run", None, dataset=f"folder:{folder}", image_size=8,
      num_scales=1))
  assert code == 1
  assert "broken.png" in stderr and "Traceback" not in stderr


@pytest.fixture
def trained_workdir(tmp_path, fashion_dir):
  """A workdir holding a checkpoint of the tiny model."""
  workdir = tmp_path / "run"
  trainer = training.prepare_trainer(tiny_config(workdir, fashion_dir))
  trainer.manager.save(0)
  return workdir


def _corrupt_checkpoint(workdir):
  (data_file,) = glob.glob(str(workdir / "checkpoints" / "*.data-*"))
  with open(data_file, "r+b") as f:
    f.truncate(100)


@pytest.mark.parametrize("corrupt, extra, message", [
    (None, {"num_filters": 8}, "holds a model of another architecture"),
    (_corrupt_checkpoint, {}, "Cannot restore the checkpoint"),
], ids=["other_architecture", "corrupt_checkpoint"])
def test_bad_workdir_is_refused_and_left_as_it_was(trained_workdir,
                                                   fashion_dir, corrupt,
                                                   extra, message):
  if corrupt:
    corrupt(trained_workdir)
  before = snapshot(trained_workdir)
  code, _, stderr = run_train_py(
      tiny_flags(trained_workdir, fashion_dir, train_steps=5, **extra))
  assert code == 1
  assert message in stderr and "Traceback" not in stderr
  assert snapshot(trained_workdir) == before


def test_export_of_a_finished_run_started_again_keeps_the_export(
    trained_workdir, tmp_path):
  existing = tmp_path / "export" / "0"
  existing.mkdir(parents=True)
  (existing / "saved_model.pb").write_bytes(b"earlier export")
  message = train._export(str(trained_workdir), str(tmp_path / "export"),  # pylint: disable=protected-access
                          "float32")
  assert "already in" in message and str(existing) in message
  assert (existing / "saved_model.pb").read_bytes() == b"earlier export"
