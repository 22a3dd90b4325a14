"""Why a TFDS download failed, in words a user can act on.

TFDS's `download_and_prepare` fails in many ways when a download does not
deliver the file it registered: `requests` errors (no connection, a reset or
cut connection, a timeout), `DownloadError` (an HTTP status other than 200),
`NonMatchingChecksumError` (something else arrived: an error page, Google
Drive's quota-exceeded page, a partial file), a `ValueError` from Google
Drive's confirmation page that holds no link (quota exceeded), a missing
module TFDS imports only for some downloads (`bs4`, for Google Drive's
confirmation page), or a corrupt archive found while extracting. `reason`
recognises them (also as the cause or context of another exception) so that
`prepare` can turn each into one `DatasetUnavailableError`.
"""

import http.client
import tarfile
import zipfile

import requests
import tensorflow_datasets as tfds
# TFDS exports neither from `tfds.download`.
from tensorflow_datasets.core.download.download_manager import (
    NonMatchingChecksumError)
from tensorflow_datasets.core.download.extractor import ExtractError

__all__ = ["reason"]

# (exception types, what it means), the first match wins.
_KINDS = (
    ((NonMatchingChecksumError,),
     "a downloaded file is not the registered one (wrong checksum: the host "
     "served another file, an error page, Google Drive's quota-exceeded page "
     "or an interrupted download)"),
    ((tfds.download.DownloadError,), "the host refused the download"),
    ((requests.exceptions.ChunkedEncodingError,
      requests.exceptions.ContentDecodingError, http.client.IncompleteRead),
     "the download was interrupted"),
    ((requests.exceptions.Timeout,), "the download host timed out"),
    ((requests.exceptions.RequestException, http.client.HTTPException,
      ConnectionError), "no connection to the download host"),
    ((ExtractError, zipfile.BadZipFile, tarfile.TarError,
      EOFError), "a downloaded archive is truncated or corrupt"),
    ((ImportError,), "a module TFDS needs for this download is missing"),
)
# Google Drive's page without a download link (TFDS raises a ValueError).
_DRIVE_PAGE = "GDrive"
_DRIVE_REASON = ("Google Drive served a page instead of the file (its daily "
                 "download quota for the file is often exceeded)")


def _chain(error):
  """`error`, then its causes and contexts, each once."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def reason(error):
  """What went wrong, if `error` is a failed download; else `None`.

  Args:
    error: an exception raised by TFDS's `download_and_prepare`.

  Returns:
    A short phrase, e.g. `"the download was interrupted"`, or `None` for an
    error that is not a download's (a bug, a full disk while writing the
    dataset, ...).
  """
  for link in _chain(error):
    if isinstance(link, ValueError) and _DRIVE_PAGE in str(link):
      return _DRIVE_REASON
    for kinds, meaning in _KINDS:
      if isinstance(link, kinds):
        return meaning
  return None
