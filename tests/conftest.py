"""pytest configuration and fixtures shared by several test files.

Session fixtures are built once per pytest process (`-n 2`: once in each
worker that runs a test needing them).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import shutil  # noqa: E402
from unittest import mock  # noqa: E402

import pytest  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from tf_realnvp import data  # noqa: E402
from tests import training_helpers  # noqa: E402


MOCK_EXAMPLES = 6


@pytest.fixture
def mock_tfds():
  """TFDS returns random examples with each dataset's real features.

  mock_data points builders at a data_dir that does not exist, so also report
  them as prepared (the pipelines refuse unprepared datasets).
  """
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES), mock.patch.object(
      tfds.core.DatasetBuilder, "is_prepared", return_value=True):
    yield


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
  """A TFDS data_dir with the real Fashion-MNIST, prepared offline once."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  data.prepare("fashion_mnist", data_dir)
  return data_dir


@pytest.fixture(scope="session")
def trained_workdir(tmp_path_factory, fashion_dir):
  """A `training_helpers.Workdir` of the tiny model with one scale on the
  real Fashion-MNIST, as train.py leaves it but without training:
  checkpoints of different random weights at steps 12 and 20 and the
  `flags.txt` of its train.py flags (`tiny_flags(..., num_scales=1)`).

  Shared: tests that damage it damage `workdir_copy`.
  """
  workdir = tmp_path_factory.mktemp("trained")
  return training_helpers.make_workdir(
      training_helpers.tiny_config(workdir, fashion_dir, num_scales=1),
      steps=(12, 20),
      flags=training_helpers.tiny_flags(workdir, fashion_dir, num_scales=1))


@pytest.fixture
def workdir_copy(trained_workdir, tmp_path):
  """A copy of `trained_workdir`'s files (`str`), to damage."""
  return str(shutil.copytree(trained_workdir.path, tmp_path / "copy"))
