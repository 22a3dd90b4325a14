"""Prepares TFDS's `imagenet_resized/32x32` and `/64x64` from the
downsampled ImageNet files as image-net.org distributes them.

Downsampled ImageNet (Chrabaszcz, Loshchilov, Hutter 2017,
https://patrykchrabaszcz.github.io/Imagenet32/), downloaded after logging in
at image-net.org ("Download downsampled image data"), in one folder `M`
(`--manual_dir=M`), each zip or its extracted folder of the same name:

| dataset | files |
|---|---|
| `imagenet_resized/32x32` | `Imagenet32_train_npz.zip` (3.6 GB), `Imagenet32_val_npz.zip` (140 MB) |
| `imagenet_resized/64x64` | `Imagenet64_train_part1_npz.zip` (6.8 GB), `Imagenet64_train_part2_npz.zip` (6.8 GB), `Imagenet64_val_npz.zip` (530 MB) |

Each zip holds `.npz` files (`train_data_batch_1.npz ...`, `val_data.npz`)
with `data`, uint8 `[N, 3 * S * S]` (each row an image's channels, rows and
columns: C x H x W), and `labels`, `[N]` classes in 1 ... 1000. `store`
writes what TFDS's builder writes from the same files: `image` S x S x 3,
`label` = class - 1, keys `<member><index>`, the train files' examples as
`train` and the val file's as `validation`. TFDS's own builder would compare
the zips' checksums with the registered ones; this reader also takes the
extracted folders.
"""

import io
import zipfile

import numpy as np

from tf_realnvp.data import release_files
from tf_realnvp.data import tfds_store

__all__ = ["PREFIX", "file_prefix", "release_archives", "store"]

PREFIX = "imagenet_resized/"
_NUM_CLASSES = 1000
# side -> {split: the release's archives}
_ARCHIVES = {
    32: {"train": ["Imagenet32_train_npz"],
         "validation": ["Imagenet32_val_npz"]},
    64: {"train": ["Imagenet64_train_part1_npz",
                   "Imagenet64_train_part2_npz"],
         "validation": ["Imagenet64_val_npz"]},
}


def _side(name):
  """32 or 64, of `imagenet_resized/32x32` or `/64x64`."""
  side = name[len(PREFIX):].split("x")[0]
  side = int(side) if side.isdigit() else None
  if side not in _ARCHIVES:
    raise ValueError(f"No downsampled ImageNet release is known for {name!r} "
                     f"(known: {', '.join(f'{s}x{s}' for s in _ARCHIVES)}).")
  return side


def file_prefix(name):
  """The prefix of the release's file names, e.g. `"Imagenet32_"`."""
  return f"Imagenet{_side(name)}_"


def release_archives(name):
  """`{split: [archive stem, ...]}` of dataset `name`; each stem is a zip
  (`<stem>.zip`) or its extracted folder (`<stem>/`)."""
  return _ARCHIVES[_side(name)]


def _batch(archive, member, side):
  """`(images, labels)` of one npz member: uint8 `[N, side, side, 3]` and
  int64 `[N]` in 0 ... 999."""
  try:
    with np.load(io.BytesIO(archive.read(member)), allow_pickle=False) as npz:
      data, labels = npz["data"], npz["labels"]
  except (ValueError, KeyError, OSError, zipfile.BadZipFile) as error:
    raise ValueError(f"{member} in {archive.path} is not an npz file with "
                     f"'data' and 'labels' ({error}).") from None
  size = 3 * side * side
  if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size
      or labels.shape != (len(data),)):
    raise ValueError(
        f"{member} in {archive.path}: expected 'data' uint8 [N, {size}] "
        f"({side}x{side} images) and 'labels' [N], found {data.dtype} "
        f"{list(data.shape)} and {list(labels.shape)}.")
  labels = labels.astype(np.int64)
  if len(labels) and not (labels.min() >= 1 and labels.max() <= _NUM_CLASSES):
    raise ValueError(f"{member} in {archive.path}: labels must be 1 ... "
                     f"{_NUM_CLASSES}, found {labels.min()} ... "
                     f"{labels.max()}.")
  images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
  return images, labels - 1


def _examples(archives, side):
  """Yields `(key, example)` of the npz members of `archives` as TFDS's
  builder does: key = member name + index in the member."""
  for archive in archives:
    for member in archive.names:
      if member.endswith(".npz"):
        images, labels = _batch(archive, member, side)
        for i, (image, label) in enumerate(zip(images, labels)):
          yield f"{member}{i}", {"image": image, "label": int(label)}


def store(name, manual_dir, data_dir=None):
  """Writes downsampled ImageNet from `manual_dir` as TFDS's `name`.

  Args:
    name: `imagenet_resized/32x32` or `imagenet_resized/64x64`.
    manual_dir: the folder holding the release's zips or extracted folders
      (see the module docstring).
    data_dir: TFDS data directory; `None` for TFDS's default.

  Returns:
    The prepared `tfds` builder.

  Raises:
    ValueError: naming a missing archive or a malformed npz member; nothing
      is written then.
  """
  side = _side(name)
  archives = {split: [release_files.open_archive(
      manual_dir, f"{stem}.zip", stem, what=f"downsampled ImageNet's {split} "
      "images") for stem in stems]
              for split, stems in release_archives(name).items()}
  try:
    for split, opened in archives.items():
      if not any(m.endswith(".npz") for a in opened for m in a.names):
        raise ValueError(f"{', '.join(a.path for a in opened)} hold(s) no "
                         ".npz file; expected downsampled ImageNet's "
                         f"{split} batches.")
    return tfds_store.store(
        name, {split: _examples(opened, side)
               for split, opened in archives.items()}, data_dir)
  finally:
    for opened in archives.values():
      for archive in opened:
        archive.close()
