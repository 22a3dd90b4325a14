"""Prepares TFDS's `lsun/<category>` from LSUN's LMDB exports.

TFDS downloads LSUN from http://dl.yf.io/lsun/ and reads its LMDB databases
with `tensorflow-io`, which has no build for this TensorFlow (its last
release needs TensorFlow < 2.17; its ops do not load in 2.21), and
TensorFlow's own LMDB reader is removed. This reader uses the `lmdb` package
(in requirements.txt) instead and writes what TFDS's builder writes: `id`
(the LMDB key) and `image` (the value, JPEG bytes unchanged), keys the
examples' positions in the database.

The files, in one folder `M` (`--manual_dir=M`), each the zip or its
extracted folder of the same name (holding `data.mdb`, at any depth):
* scene categories (e.g. `bedroom`): `<category>_train_lmdb.zip` and
  `<category>_val_lmdb.zip` (`bedroom`: 45.9 GB and 4.7 MB), from
  http://dl.yf.io/lsun/scenes/, splits `train` and `validation`;
* object categories: `<category>.zip` from http://dl.yf.io/lsun/objects/,
  split `train` (many of their images are WebP, which TensorFlow does not
  decode).

A zip's `data.mdb` is extracted next to the data directory while the dataset
is written (as much free space again as the zip), then deleted: extract the
zips yourself (`unzip`) to skip that copy.
"""

import contextlib
import os
import shutil
import tempfile

import tensorflow_datasets as tfds

from tf_realnvp.data import release_files
from tf_realnvp.data import registry
from tf_realnvp.data import tfds_store

__all__ = ["DATABASE", "databases", "import_lmdb", "store"]

DATABASE = "data.mdb"
_SCENE_SPLITS = {"train": "train", "validation": "val"}


def import_lmdb():
  """The `lmdb` module; a ValueError saying how to install it if missing."""
  try:
    import lmdb  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(
        "Reading LSUN's LMDB files needs the Python package lmdb: pip "
        "install -r requirements.txt (or pip install lmdb).") from None
  return lmdb


def databases(name):
  """`{split: release stem}` of `lsun/<category>`: each stem is a zip
  (`<stem>.zip`) or its extracted folder (`<stem>/`) holding `data.mdb`."""
  category = name[len(registry.LSUN_PREFIX):]
  if registry.dataset_spec(name).test_split == "validation":  # A scene.
    return {split: f"{category}_{stem}_lmdb"
            for split, stem in _SCENE_SPLITS.items()}
  return {"train": category}


def _database_member(archive):
  """The member of `archive` that is the database, `.../data.mdb`."""
  found = [m for m in archive.names
           if m == DATABASE or m.endswith("/" + DATABASE)]
  if len(found) != 1:
    raise ValueError(f"{archive.path} holds {len(found)} {DATABASE} files; "
                     "expected one LMDB database (LSUN's export).")
  return found[0]


@contextlib.contextmanager
def _database_folder(archive, staging):
  """The folder of `archive`'s `data.mdb` on disk: in place for an extracted
  folder, else extracted from the zip into `staging` for the duration."""
  member = _database_member(archive)
  if os.path.isdir(archive.path):
    yield os.path.dirname(os.path.join(archive.path, member))
    return
  folder = tempfile.mkdtemp(prefix=".lsun-", dir=staging)
  try:
    with archive.open(member) as source, open(
        os.path.join(folder, DATABASE), "wb") as target:
      shutil.copyfileobj(source, target, 1 << 24)
    yield folder
  finally:
    shutil.rmtree(folder, ignore_errors=True)


def _examples(lmdb, folder, label):
  """Yields `(index, {"id", "image"})` of the LMDB database in `folder`, in
  key order, as TFDS's builder does."""
  try:
    environment = lmdb.open(folder, readonly=True, lock=False,
                            readahead=False, subdir=True)
  except lmdb.Error as error:
    raise ValueError(f"{os.path.join(folder, DATABASE)} ({label}) is not an "
                     f"LMDB database: {error}") from None
  with environment, environment.begin(buffers=False) as transaction:
    for index, (key, value) in enumerate(transaction.cursor()):
      yield index, {"id": key.decode("utf-8"), "image": value}


def store(name, manual_dir, data_dir=None):
  """Writes LSUN's LMDB export of `name` in `manual_dir` as TFDS's `name`.

  Args:
    name: `lsun/<category>`.
    manual_dir: the folder holding the zips or their extracted folders (see
      the module docstring).
    data_dir: TFDS data directory; `None` for TFDS's default.

  Returns:
    The prepared `tfds` builder.

  Raises:
    ValueError: if `lmdb` is not installed (saying how to install it, before
      anything is read), or naming a missing archive or a file that is not an
      LMDB database; nothing is written then.
  """
  lmdb = import_lmdb()
  stems = databases(name)
  archives = {split: release_files.open_archive(
      manual_dir, f"{stem}.zip", stem, what=f"LSUN's {split} database")
              for split, stem in stems.items()}
  # Next to where the dataset goes: .../lsun/<category>/
  staging = os.path.dirname(os.fspath(tfds.builder(name,
                                                   data_dir=data_dir).data_dir))
  os.makedirs(staging, exist_ok=True)
  with contextlib.ExitStack() as stack:
    for archive in archives.values():
      stack.enter_context(archive)
    folders = {split: stack.enter_context(_database_folder(archive, staging))
               for split, archive in archives.items()}
    return tfds_store.store(
        name, {split: _examples(lmdb, folder, stems[split])
               for split, folder in folders.items()}, data_dir)
