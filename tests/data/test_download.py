"""Tests of tf_realnvp/data/download.py (`prepare`), download_errors.py and
fashion_mnist_offline.py: Fashion-MNIST prepared without network, datasets
that cannot be downloaded failing at once, and every kind of failed download
(served by a fake `requests`, no network) one error naming the manual
route."""

import gzip
import importlib.util
import os
import socket
import time
from unittest import mock

import numpy as np
import pytest
import requests
import tensorflow_datasets as tfds

from tf_realnvp import data
from tf_realnvp.data import download
from tf_realnvp.data import download_errors
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


class _Response:
  """What `requests.Session.get` returns, serving `body` in two chunks.

  Args:
    url: the URL asked for.
    body: the bytes served.
    headers: the response's headers.
    cut: if set, the exception raised after the first chunk (a download
      interrupted mid-way).
  """

  def __init__(self, url, body, headers, cut=None):
    self.url, self.body, self.headers, self.cut = url, body, headers, cut
    self.status_code = 200

  @property
  def text(self):
    return self.body.decode()

  def iter_content(self, chunk_size=None):
    del chunk_size
    yield self.body[:len(self.body) // 2]
    if self.cut:
      raise self.cut
    yield self.body[len(self.body) // 2:]

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    return False


_FILE = {"Content-Disposition": 'attachment; filename="served.bin"'}
_QUOTA_PAGE = (b"<html><title>Google Drive - Quota exceeded</title><body>Too "
               b"many users have viewed or downloaded this file recently."
               b"</body></html>")


def _refused(url):
  raise requests.exceptions.ConnectionError(f"Connection refused: {url}")


def _interrupted(url):
  return _Response(url, b"x" * 1000, _FILE,
                   cut=requests.exceptions.ChunkedEncodingError(
                       "Connection broken: IncompleteRead"))


def _error_page(url):
  return _Response(url, b"<html>Please log in</html>", _FILE)


def _drive_quota_page(url):
  return _Response(url, _QUOTA_PAGE, {})  # No file: a page.


def _drive_reason():
  """TFDS parses Drive's pages with bs4, which it imports only then."""
  if importlib.util.find_spec("bs4"):
    return download_errors._DRIVE_REASON  # pylint: disable=protected-access
  return "a module TFDS needs for this download is missing"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, serve, reason", [
    ("cifar10", _refused, lambda: "no connection to the download host"),
    ("cifar10", _interrupted, lambda: "the download was interrupted"),
    ("cifar10", _error_page,
     lambda: "a downloaded file is not the registered one (wrong checksum"),
    ("celeb_a", _drive_quota_page, _drive_reason),
], ids=["no_connection", "interrupted", "checksum_mismatch", "drive_quota"])
def test_every_download_failure_is_one_error_naming_the_manual_route(
    tmp_path, monkeypatch, name, serve, reason):
  # The hosts answer the probe; TFDS's downloader gets `serve(url)`.
  monkeypatch.setattr(download, "unreachable_endpoints", lambda *_: [])
  monkeypatch.setattr(requests.Session, "get",
                      lambda self, url, **kwargs: serve(url))
  data_dir = tmp_path / "tfds"
  with pytest.raises(data.DatasetUnavailableError) as error:
    data.prepare(name, data_dir=str(data_dir))
  message = str(error.value)
  assert "\n" not in message
  files = {"cifar10": "cifar-10-binary.tar.gz (170.1 MB)",
           "celeb_a": "img_align_celeba.zip (1.4 GB)"}[name]
  for part in (f"Dataset {name!r} could not be downloaded: {reason()}",
               files, "--manual_dir=M"):
    assert part in message
  assert not tfds.builder(name, data_dir=str(data_dir)).is_prepared()


def test_other_errors_of_a_download_are_not_disguised(tmp_path, monkeypatch):
  monkeypatch.setattr(download, "unreachable_endpoints", lambda *_: [])
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                      mock.Mock(side_effect=KeyError("a bug")))
  with pytest.raises(KeyError, match="a bug"):
    data.prepare("cifar10", data_dir=str(tmp_path))


@pytest.mark.parametrize("name, files", [
    ("celeb_a", "identity_CelebA.txt (3.4 MB), img_align_celeba.zip (1.4 GB), "
     "list_attr_celeba.txt (26.7 MB)"),
    ("imagenet_resized/32x32", "Imagenet32_train_npz.zip (3.6 GB), "
     "Imagenet32_val_npz.zip (139.7 MB)"),
    ("imagenet_resized/64x64", "Imagenet64_train_part1_npz.zip (6.8 GB), "
     "Imagenet64_train_part2_npz.zip (6.8 GB), Imagenet64_val_npz.zip "
     "(529.5 MB)"),
])
def test_manual_route_lists_the_files_and_their_sizes(tmp_path, dead_proxy,
                                                      name, files):
  with pytest.raises(data.DatasetUnavailableError) as error:
    data.prepare(name, data_dir=str(tmp_path))
  assert files in str(error.value) and "--manual_dir=M" in str(error.value)
