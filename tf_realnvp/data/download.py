"""Making a dataset available locally, without hanging when it cannot be.

`prepare` downloads (once) through TFDS; reads the release files a user
downloaded (`manual_dir`: CelebA's release, downsampled ImageNet's npz zips,
LSUN's LMDB exports; see `celeb_a_release`, `imagenet_resized_npz`,
`lsun_lmdb`); or, for Fashion-MNIST, reads Debian's package
`dataset-fashion-mnist` without network (`fashion_mnist_offline`). Every
download failure (no connection, an interrupted download, a wrong checksum, a
Google Drive quota page: `download_errors`) becomes one
`DatasetUnavailableError` that says how to get the files by hand. The
pipelines never download.
"""

import functools
import threading
import time
import urllib.parse

import requests
import tensorflow_datasets as tfds

from tf_realnvp import io
from tf_realnvp.data import celeb_a_release
from tf_realnvp.data import download_errors
from tf_realnvp.data import fashion_mnist_offline
from tf_realnvp.data import imagenet_resized_npz
from tf_realnvp.data import lsun_lmdb
from tf_realnvp.data import registry
from tf_realnvp.data import sources

__all__ = ["CONNECT_TIMEOUT_SECONDS", "prepare", "unreachable_endpoints"]

# How long `prepare` waits for a TCP connection to a download host (or the
# HTTP(S) proxy) before it declares the dataset unavailable.
CONNECT_TIMEOUT_SECONDS = 5.0
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def _endpoint(url):
  """`(host, port)` a download of `url` connects to first (maybe a proxy).

  Proxies are taken from the environment as `requests` (TFDS's downloader)
  does, honouring `no_proxy`.
  """
  proxy = requests.utils.select_proxy(url,
                                      requests.utils.get_environ_proxies(url))
  target = urllib.parse.urlsplit(
      requests.utils.prepend_scheme_if_needed(proxy, "http") if proxy else url)
  return target.hostname, target.port or _DEFAULT_PORTS.get(target.scheme, 80)


def unreachable_endpoints(urls, timeout):
  """The download endpoints that do not accept a TCP connection in time.

  All endpoints are probed in parallel, in daemon threads, so a slow DNS
  lookup cannot hold the caller past `timeout` either.

  Args:
    urls: iterable of download URLs.
    timeout: seconds to wait for all connections.

  Returns:
    A sorted list of `"host:port (reason)"` strings, empty if all connected.
  """
  endpoints = sorted({_endpoint(url) for url in urls})
  errors = {}

  def probe(endpoint):
    errors[endpoint] = io.connection_error(*endpoint, timeout)

  threads = [threading.Thread(target=probe, args=(e,), daemon=True)
             for e in endpoints]
  for thread in threads:
    thread.start()
  deadline = time.monotonic() + timeout
  for thread in threads:
    thread.join(max(0., deadline - time.monotonic()))
  failures = {e: errors.get(e, "timed out") for e in endpoints}
  return [f"{host}:{port} ({reason})"
          for (host, port), reason in failures.items() if reason is not None]


def _source_files(name, builder):
  """`(file name, bytes)` of each file TFDS downloads to prepare `name`."""
  infos = sorted({(info.filename, int(info.size))
                  for info in (builder.url_infos or {}).values()})
  if name.startswith(registry.LSUN_PREFIX):
    category = name[len(registry.LSUN_PREFIX):]
    stems = {category, f"{category}_train_lmdb", f"{category}_val_lmdb"}
    return [i for i in infos if i[0].split(".")[0] in stems]
  if name.startswith(imagenet_resized_npz.PREFIX):
    prefix = imagenet_resized_npz.file_prefix(name)
    return [i for i in infos if i[0].startswith(prefix)]
  return infos


def _files_text(name, builder):
  """`"a.zip (1.4 GB), b.txt (2.8 MB)"` of `_source_files`."""
  return ", ".join(f"{f} ({_size_text(size)})"
                   for f, size in _source_files(name, builder))


def _size_text(size):
  """Bytes as `"45.9 GB"`, `"2.8 MB"` (powers of 1000, as sites list them)."""
  for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
    if size >= scale:
      return f"{size / scale:.1f} {unit}"
  return f"{size} B"


def _release_reader(name):
  """`store(manual_dir, data_dir)` of `name`'s release files, or `None` for
  the datasets TFDS itself prepares from `manual_dir`."""
  if name == celeb_a_release.NAME:
    return celeb_a_release.store
  if name.startswith(imagenet_resized_npz.PREFIX):
    return functools.partial(imagenet_resized_npz.store, name)
  if name.startswith(registry.LSUN_PREFIX):
    return functools.partial(lsun_lmdb.store, name)
  return None


def _unavailable_help(name, builder):
  """What to do when `name` cannot be downloaded here."""
  if name == fashion_mnist_offline.NAME:
    return ("Install Debian's package dataset-fashion-mnist (apt-get install "
            "dataset-fashion-mnist), or put Zalando's four .gz files in a "
            f"folder named by ${fashion_mnist_offline.SOURCE_DIR_ENV}, and "
            "call prepare again.")
  where = (" (flat, or the release's sub-folders)"
           if name == celeb_a_release.NAME else "")
  return (f"Download {_files_text(name, builder)} yourself (see "
          f"{builder.info.homepage}) into a folder M{where} and run train.py "
          f"with --manual_dir=M (in Python: tf_realnvp.data.prepare({name!r}, "
          "data_dir=..., manual_dir=M)); or prepare it where the network is "
          f"reachable and copy <data_dir>/{builder.name}/ here.")


def prepare(name, data_dir=None, manual_dir=None):
  """Makes sure dataset `name` is available locally, downloading if needed.

  * `folder:` datasets: checks that the folder holds image files (they are
    read while training: `pipelines.check_folder` names one that cannot be).
  * Already prepared in `data_dir`: nothing to do.
  * `fashion_mnist`: from Debian's package `dataset-fashion-mnist` if it is
    installed (no network; about 20 s), see `fashion_mnist_offline`.
  * With `manual_dir`: `celeb_a`, `imagenet_resized/*` and `lsun/*` are read
    from their release files there (see `celeb_a_release`,
    `imagenet_resized_npz`, `lsun_lmdb`); the other datasets go through TFDS,
    which uses the files of `manual_dir` named as in its checksums instead of
    downloading them.
  * `lsun/*` without `manual_dir`: refused at once (TFDS's LSUN reader needs
    `tensorflow-io`, which has no build for this TensorFlow), with the files
    to download.
  * Otherwise TFDS's `download_and_prepare`. The download hosts (or the
    proxy) are first probed for `CONNECT_TIMEOUT_SECONDS`, so that a machine
    without network fails at once instead of in TFDS's retries (minutes).

  Args:
    name: a name from `known_names()`.
    data_dir: TFDS data directory; `None` for TFDS's default.
    manual_dir: optional folder with the dataset's files downloaded by hand
      (the error messages list them).

  Raises:
    DatasetUnavailableError: naming the dataset and what to do, if it is not
      prepared and cannot be downloaded (whatever made the download fail).
    ValueError: for an unknown name, a bad image folder, or missing or
      malformed files in `manual_dir` (naming the file and what was
      expected); nothing is prepared then.
  """
  spec = registry.dataset_spec(name)
  if spec.family is registry.Family.FOLDER:
    sources.folder_files(spec.folder)
    return
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return
  if name == fashion_mnist_offline.NAME and fashion_mnist_offline.available():
    fashion_mnist_offline.store(data_dir)
    return
  reader = _release_reader(name)
  if manual_dir is not None and reader is not None:
    reader(manual_dir, data_dir)
    return
  if spec.family is registry.Family.LSUN:
    raise sources.DatasetUnavailableError(
        f"Dataset {name!r} is not prepared in {builder.data_dir} and is not "
        "downloaded automatically: TFDS reads LSUN's LMDB files with "
        "tensorflow-io, which has no build for this TensorFlow. "
        + _unavailable_help(name, builder))
  if manual_dir is None:
    failures = unreachable_endpoints(builder.url_infos or {},
                                     CONNECT_TIMEOUT_SECONDS)
    if failures:
      raise sources.DatasetUnavailableError(
          f"Dataset {name!r} is not prepared in {builder.data_dir} and cannot "
          f"be downloaded: no connection to {', '.join(failures)} within "
          f"{CONNECT_TIMEOUT_SECONDS:g} s. {_unavailable_help(name, builder)}")
  try:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  except Exception as error:  # pylint: disable=broad-except
    why = download_errors.reason(error)
    if why is None:
      raise
    raise sources.DatasetUnavailableError(
        f"Dataset {name!r} could not be downloaded: {why} "
        f"({type(error).__name__}: {io.one_line(error)}). "
        f"{_unavailable_help(name, builder)}") from error
