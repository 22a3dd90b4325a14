"""Making a dataset available locally, without hanging when it cannot be.

`prepare` downloads (once) through TFDS, or, for Fashion-MNIST, reads
Debian's package `dataset-fashion-mnist` without network
(`tf_realnvp.data.fashion_mnist_offline`). The pipelines never download.
"""

import threading
import time
import urllib.parse

import requests
import tensorflow_datasets as tfds

from tf_realnvp import io
from tf_realnvp.data import fashion_mnist_offline
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
  """The file names TFDS looks for in `manual_dir` when preparing `name`."""
  files = sorted(
      {info.filename for info in (builder.url_infos or {}).values()})
  if name.startswith(registry.LSUN_PREFIX):
    category = name[len(registry.LSUN_PREFIX):]
    stems = {category, f"{category}_train_lmdb", f"{category}_val_lmdb"}
    return [f for f in files if f.split(".")[0] in stems]
  if name.startswith("imagenet_resized/"):
    prefix = f"Imagenet{name.split('/')[1].split('x')[0]}_"
    return [f for f in files if f.startswith(prefix)]
  return files


def _unavailable_help(name, builder):
  """What to do when `name` cannot be downloaded here."""
  if name == fashion_mnist_offline.NAME:
    return ("Install Debian's package dataset-fashion-mnist (apt-get install "
            "dataset-fashion-mnist), or put Zalando's four .gz files in a "
            f"folder named by ${fashion_mnist_offline.SOURCE_DIR_ENV}, and "
            "call prepare again.")
  return (f"Either prepare it where the network is reachable and copy "
          f"<data_dir>/{builder.name}/ here, or download "
          f"{', '.join(_source_files(name, builder))} yourself (see the "
          f"homepage {builder.info.homepage}) into a folder M and call "
          f"tf_realnvp.data.prepare({name!r}, data_dir=..., manual_dir=M).")


def prepare(name, data_dir=None, manual_dir=None):
  """Makes sure dataset `name` is available locally, downloading if needed.

  * `folder:` datasets: checks that every file decodes.
  * Already prepared in `data_dir`: nothing to do.
  * `fashion_mnist`: from Debian's package `dataset-fashion-mnist` if it is
    installed (no network; about 20 s), see `fashion_mnist_offline`.
  * Otherwise TFDS's `download_and_prepare`, with files found in `manual_dir`
    used instead of downloads. Without `manual_dir`, the download hosts (or the
    proxy) are first probed for `CONNECT_TIMEOUT_SECONDS`, so that a machine
    without network fails at once instead of in TFDS's retries (minutes).

  Args:
    name: a name from `known_names()`.
    data_dir: TFDS data directory; `None` for TFDS's default.
    manual_dir: optional folder with the dataset's source files, named as in
      the TFDS checksums (the error message lists them).

  Raises:
    DatasetUnavailableError: naming the dataset and what to do, if it is not
      prepared and cannot be downloaded.
    ValueError: for an unknown name or a bad image folder.
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
  if manual_dir is None:
    failures = unreachable_endpoints(builder.url_infos or {},
                                     CONNECT_TIMEOUT_SECONDS)
    if failures:
      raise sources.DatasetUnavailableError(
          f"Dataset {name!r} is not prepared in {builder.data_dir} and cannot "
          f"be downloaded: no connection to {', '.join(failures)} within "
          f"{CONNECT_TIMEOUT_SECONDS:g} s. {_unavailable_help(name, builder)}")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
