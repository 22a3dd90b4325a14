"""Tests of tf_realnvp/data/download.py (`prepare`) and
tf_realnvp/data/fashion_mnist_offline.py: Fashion-MNIST prepared without
network, and datasets that cannot be downloaded failing at once."""

import gzip
import os
import socket
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp.data import download
from tf_realnvp.data import fashion_mnist_offline

FASHION = "fashion_mnist"


def _idx_bytes(name, header_bytes):
  """The data bytes of one of Debian's idx files (uint8 vector)."""
  path = os.path.join(fashion_mnist_offline.DEBIAN_DIR, name)
  with gzip.open(path, "rb") as f:
    return np.frombuffer(f.read(), np.uint8, offset=header_bytes)


def _rows(images, labels):
  """Sorted `bytes` of each (image, label) pair: compares as multisets."""
  flat = np.concatenate(
      [images.reshape(len(images), -1), labels.reshape(-1, 1)], axis=1)
  return sorted(map(bytes, flat.astype(np.uint8)))


@pytest.fixture
def dead_proxy(monkeypatch):
  """Routes downloads through a loopback port nobody listens on.

  Both our probe and TFDS's downloader (requests) use this proxy, so any
  download is refused whatever network the machine has.
  Yields `"127.0.0.1:port"`.
  """
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  proxy = f"http://127.0.0.1:{port}"
  for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    monkeypatch.setenv(var, proxy)
  for var in ("NO_PROXY", "no_proxy"):
    monkeypatch.delenv(var, raising=False)
  yield f"127.0.0.1:{port}"


def test_fashion_mnist_prepared_offline_loads_through_plain_tfds(fashion_dir):
  builder = tfds.builder(FASHION, data_dir=fashion_dir)
  assert builder.is_prepared()
  assert str(builder.version) == str(tfds.builder(FASHION).version)
  splits = tfds.load(FASHION, data_dir=fashion_dir, download=False,
                     batch_size=-1)
  sizes = {"train": 60000, "test": 10000}
  prefixes = {"train": "train", "test": "t10k"}
  for split, size in sizes.items():
    images = splits[split]["image"].numpy()
    labels = splits[split]["label"].numpy()
    assert images.shape == (size, 28, 28, 1) and images.dtype == np.uint8
    expected_images = _idx_bytes(f"{prefixes[split]}-images-idx3-ubyte.gz", 16)
    expected_labels = _idx_bytes(f"{prefixes[split]}-labels-idx1-ubyte.gz", 8)
    assert _rows(images, labels) == _rows(
        expected_images.reshape(size, 28, 28), expected_labels)


def test_prepare_again_keeps_the_prepared_dataset(fashion_dir):
  # Writing again would raise: TFDS refuses to store over a prepared dataset.
  data.prepare(FASHION, fashion_dir)
  assert tfds.builder(FASHION, data_dir=fashion_dir).is_prepared()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, advice", [
    ("cifar10", "cifar-10-binary.tar.gz"),
    ("celeb_a", "img_align_celeba.zip"),
    # Fashion-MNIST without its Debian files falls back to downloading.
    (FASHION, "apt-get install dataset-fashion-mnist"),
])
def test_undownloadable_dataset_fails_at_once_with_advice(
    tmp_path, monkeypatch, dead_proxy, name, advice):
  monkeypatch.setenv(fashion_mnist_offline.SOURCE_DIR_ENV, str(tmp_path))
  start = time.monotonic()
  with pytest.raises(data.DatasetUnavailableError) as error:
    data.prepare(name, data_dir=str(tmp_path / "tfds"))
  assert time.monotonic() - start < download.CONNECT_TIMEOUT_SECONDS
  for part in (repr(name), dead_proxy, advice):
    assert part in str(error.value)


@pytest.mark.timeout(60)
def test_silent_download_host_times_out(tmp_path, monkeypatch):
  # A listener whose one-slot backlog is full: further SYNs go unanswered,
  # as behind a firewall that drops packets.
  with socket.socket() as server, socket.socket() as filler:
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler.connect(server.getsockname())
    proxy = "http://127.0.0.1:%d" % server.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setattr(download, "CONNECT_TIMEOUT_SECONDS", 1.0)
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailableError, match="timed out"):
      data.prepare("cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 5
