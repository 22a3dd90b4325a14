"""pytest configuration and fixtures shared by all tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tf_realnvp import data  # noqa: E402


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
  """A TFDS data_dir with the real Fashion-MNIST, prepared offline once."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  data.prepare("fashion_mnist", data_dir)
  return data_dir
