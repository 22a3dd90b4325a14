"""Finding a dataset's release files in a user's folder (`--manual_dir`), and
reading members of a zip or of its extracted folder alike.

Releases are downloaded in several shapes: flat in one folder, or in the
release's own sub-folders (CelebA's `Img/`, `Anno/`, `Eval/`); an archive as
the zip, or already extracted. `find` looks in both places and names every
place it looked when a file is missing; `Archive` lists and reads the members
of a zip or of a folder through one interface.
"""

import os
import zipfile

__all__ = ["Archive", "find", "open_archive"]


def _places(manual_dir, sub_folder):
  """The folders a release file may be in: flat first."""
  return [manual_dir] + ([os.path.join(manual_dir, sub_folder)]
                         if sub_folder else [])


def _existing(manual_dir, name, sub_folder, is_dir):
  """The first existing `name` in `_places`, or `None`."""
  exists = os.path.isdir if is_dir else os.path.isfile
  return next((os.path.join(place, name)
               for place in _places(manual_dir, sub_folder)
               if exists(os.path.join(place, name))), None)


def find(manual_dir, name, sub_folder=None, what="file"):
  """The path of file `name` in `manual_dir` or in `manual_dir/sub_folder`.

  Args:
    manual_dir: the user's folder.
    name: a file name of the release.
    sub_folder: the release's sub-folder holding it, if any (e.g. `"Anno"`).
    what: what the file is, for the error message.

  Returns:
    The first existing path, flat first.

  Raises:
    ValueError: naming `name`, `what` it is and every folder looked in.
  """
  path = _existing(manual_dir, name, sub_folder, is_dir=False)
  if path is None:
    raise ValueError(
        f"Missing {name} ({what}) in --manual_dir={manual_dir}: looked in "
        f"{' and '.join(_places(manual_dir, sub_folder))}.")
  return path


class Archive:
  """The files of a zip, or of a folder, by name.

  Attributes:
    path: the zip file or the folder.
    names: the members' paths relative to `path` (`/`-separated), sorted.
  """

  def __init__(self, path):
    self.path = path
    if os.path.isdir(path):
      self._zip = None
      self.names = sorted(
          os.path.relpath(os.path.join(root, f), path).replace(os.sep, "/")
          for root, _, files in os.walk(path) for f in files)
    else:
      try:
        self._zip = zipfile.ZipFile(path)
      except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path} is not a readable zip file ({error}); "
                         "expected the release's zip, complete (a download "
                         "cut short is not a zip), or its extracted "
                         "folder.") from None
      self.names = sorted(info.filename for info in self._zip.infolist()
                          if not info.is_dir())

  def read(self, name):
    """The bytes of member `name` (one of `names`).

    Raises:
      ValueError: naming the archive and the member, if it cannot be read.
    """
    try:
      if self._zip is None:
        with open(os.path.join(self.path, name), "rb") as f:
          return f.read()
      return self._zip.read(name)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
      raise ValueError(f"Cannot read {name} from {self.path}: {error}.") from None

  def open(self, name):
    """A binary file object of member `name`, read as a stream (for members
    too large to hold in memory)."""
    if self._zip is None:
      return open(os.path.join(self.path, name), "rb")
    return self._zip.open(name)

  def close(self):
    if self._zip is not None:
      self._zip.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()


def open_archive(manual_dir, zip_name, folder_name, sub_folder=None,
                 what="archive"):
  """`Archive` of the extracted `folder_name`, else of `zip_name`, in
  `manual_dir` or `manual_dir/sub_folder`.

  Raises:
    ValueError: naming both names and every folder looked in, if neither is
      there, or naming the zip if it is not a zip.
  """
  path = (_existing(manual_dir, folder_name, sub_folder, is_dir=True) or
          _existing(manual_dir, zip_name, sub_folder, is_dir=False))
  if path is None:
    raise ValueError(
        f"Missing {zip_name} or its extracted folder {folder_name}/ ({what}) "
        f"in --manual_dir={manual_dir}: looked in "
        f"{' and '.join(_places(manual_dir, sub_folder))}.")
  return Archive(path)
