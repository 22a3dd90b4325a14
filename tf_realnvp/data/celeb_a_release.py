"""Prepares TFDS's `celeb_a` from the CelebA release as users download it.

The release (http://mmlab.ie.cuhk.edu.hk/projects/CelebA.html), in one
folder `M` (`--manual_dir=M`), each file flat in `M` or in the release's
sub-folder:

| file | sub-folder | what |
|---|---|---|
| `img_align_celeba.zip`, or the extracted `img_align_celeba/` | `Img/` | 202,599 aligned faces, JPEG, 178x218 (width x height) |
| `list_attr_celeba.txt` | `Anno/` | line 1: the number of images; line 2: the 40 attribute names; then `<file> <40 values of 1 or -1>` |
| `list_landmarks_align_celeba.txt` | `Anno/` | line 1: the number of images; line 2: the 10 landmark names; then `<file> <10 ints>` |
| `identity_CelebA.txt` | `Anno/` | `<file> <identity>`, no header |
| `list_eval_partition.txt` | `Eval/` | `<file> <0 train, 1 validation, 2 test>`, no header |

`store` writes the same dataset TFDS's `celeb_a` builder (version 2.1.0)
writes from the same files: its features (`image` 218x178x3 JPEG, the 40
`attributes` as bools, `value > 0`; the 10 `landmarks`; `identity`), its
splits `train`/`validation`/`test` from `list_eval_partition.txt`, its keys
(the image file names), the JPEG bytes of the release unchanged. TFDS's own
builder cannot read this layout: it looks for the five files flat under the
names of its checksums and compares their checksums, so an extracted folder,
the sub-folders or a re-zipped archive fail there.

Every annotation line is checked (a ValueError names the file, the line and
what was expected) and every image of the partition must be in the archive,
before anything is written; each image's JPEG header must say 218x178 as it is
written (`tfds_store.store`: nothing is left behind if that fails).
"""

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.data import release_files
from tf_realnvp.data import tfds_store

__all__ = ["FILES", "IMAGE_SIZE", "NAME", "SPLITS", "read_annotations",
           "store"]

NAME = "celeb_a"
IMAGE_SIZE = (218, 178)  # (height, width) of every aligned face.
# list_eval_partition.txt's partition numbers, in order.
SPLITS = ("train", "validation", "test")
_IMAGES = ("img_align_celeba.zip", "img_align_celeba", "Img")
# role -> (file name, release sub-folder, with the count and names header)
FILES = {
    "attributes": ("list_attr_celeba.txt", "Anno", True),
    "landmarks": ("list_landmarks_align_celeba.txt", "Anno", True),
    "identity": ("identity_CelebA.txt", "Anno", False),
    "partition": ("list_eval_partition.txt", "Eval", False),
}


def _lines(path):
  """`(line number, fields)` of each non-blank line of text file `path`."""
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except UnicodeDecodeError as error:
    raise ValueError(f"{path} is not a text file ({error}).") from None
  return [(number, line.split())
          for number, line in enumerate(text.splitlines(), start=1)
          if line.strip()]


def _int(path, number, field, allowed=None):
  """`int(field)`, or a ValueError naming the file, the line and `allowed`."""
  try:
    value = int(field)
  except ValueError:
    value = None
  if value is None or (allowed is not None and value not in allowed):
    expected = (" or ".join(map(str, allowed)) if allowed is not None
                else "an integer")
    raise ValueError(f"{path} line {number}: expected {expected}, found "
                     f"{field!r}.")
  return value


def _table(path, columns, header, allowed=None):
  """Reads one annotation file: `{image file: {column: int}}`.

  Args:
    path: the file.
    columns: the expected column names (with `header`: in any order, as
      named by line 2; without: in this order).
    header: whether line 1 holds the number of rows and line 2 the names.
    allowed: if given, the values every column may take.

  Raises:
    ValueError: naming the file and the line, for a wrong count, header,
      number of fields, value or a repeated image file.
  """
  lines = _lines(path)
  if header:
    if len(lines) < 2:
      raise ValueError(f"{path}: expected the number of images on line 1 and "
                       f"the {len(columns)} column names on line 2.")
    (count_line, count), (names_line, names) = lines[:2]
    if len(count) != 1:
      raise ValueError(f"{path} line {count_line}: expected the number of "
                       f"images, found {' '.join(count)!r}.")
    count = _int(path, count_line, count[0])
    if sorted(names) != sorted(columns):
      raise ValueError(f"{path} line {names_line}: expected the "
                       f"{len(columns)} names {' '.join(columns)}, found "
                       f"{' '.join(names)!r}.")
    lines = lines[2:]
    if count != len(lines):
      raise ValueError(f"{path}: line {count_line} says {count} images, the "
                       f"file lists {len(lines)} (truncated?).")
  else:
    names = list(columns)
  rows = {}
  for number, fields in lines:
    if len(fields) != 1 + len(names):
      raise ValueError(f"{path} line {number}: expected an image file name "
                       f"and {len(names)} value(s), found {len(fields)} "
                       f"field(s).")
    if fields[0] in rows:
      raise ValueError(f"{path} line {number}: {fields[0]} is listed twice.")
    rows[fields[0]] = {name: _int(path, number, value, allowed)
                       for name, value in zip(names, fields[1:])}
  return rows


def read_annotations(manual_dir, features):
  """Reads and cross-checks the four annotation files of the release.

  Args:
    manual_dir: the folder holding the release (see the module docstring).
    features: TFDS's `celeb_a` features (their attribute, landmark and
      identity names).

  Returns:
    `(splits, rows)`: `{split: sorted image file names}` from the partition
    file, and `{role: {image file: {column: int}}}` for `attributes`,
    `landmarks` and `identity`.

  Raises:
    ValueError: naming the missing or malformed file (and line), or an image
      of the partition missing from another annotation file.
  """
  columns = {"attributes": list(features["attributes"].keys()),
             "landmarks": list(features["landmarks"].keys()),
             "identity": list(features["identity"].keys()),
             "partition": ["partition"]}
  allowed = {"attributes": (-1, 1), "partition": tuple(range(len(SPLITS)))}
  rows = {}
  for role, (name, sub_folder, header) in FILES.items():
    path = release_files.find(manual_dir, name, sub_folder,
                              f"CelebA's {role} file")
    rows[role] = _table(path, columns[role], header, allowed.get(role))
  partition = rows.pop("partition")
  for role, table in rows.items():
    missing = sorted(set(partition) - set(table))
    if missing:
      raise ValueError(
          f"{FILES[role][0]} has no line for {missing[0]} ({len(missing)} "
          f"image(s) of {FILES['partition'][0]} missing).")
  splits = {split: sorted(f for f, row in partition.items()
                          if row["partition"] == index)
            for index, split in enumerate(SPLITS)}
  return splits, rows


def _members_by_file(archive, files):
  """`{image file name: archive member}`; a ValueError names the first image
  of `files` that is not in `archive`."""
  members = {}
  for member in archive.names:
    members.setdefault(member.rsplit("/", 1)[-1], member)
  missing = sorted(set(files) - set(members))
  if missing:
    raise ValueError(
        f"{archive.path} has no image {missing[0]} ({len(missing)} image(s) "
        f"of {FILES['partition'][0]} missing); expected CelebA's "
        f"{_IMAGES[0]} or its extracted {_IMAGES[1]}/ folder.")
  return members


def _image(archive, member):
  """The JPEG bytes of `member`, checked to be a 218x178 JPEG."""
  data = archive.read(member)
  try:
    shape = tf.io.extract_jpeg_shape(data).numpy()
  except tf.errors.InvalidArgumentError:
    raise ValueError(f"{member} in {archive.path} is not a JPEG file; "
                     f"expected CelebA's aligned faces.") from None
  if tuple(shape[:2]) != IMAGE_SIZE:
    raise ValueError(
        f"{member} in {archive.path} is {shape[1]}x{shape[0]} (width x "
        f"height); CelebA's aligned faces are {IMAGE_SIZE[1]}x"
        f"{IMAGE_SIZE[0]}: use img_align_celeba, not the in-the-wild "
        "images.")
  return data


def _examples(files, archive, members, rows):
  """Yields `(key, example)` of one split as TFDS's builder does: key = the
  image file name, in sorted order."""
  for name in files:
    yield name, {
        "image": _image(archive, members[name]),
        "landmarks": rows["landmarks"][name],
        "attributes": {k: v > 0 for k, v in rows["attributes"][name].items()},
        "identity": rows["identity"][name],
    }


def store(manual_dir, data_dir=None):
  """Writes the CelebA release in `manual_dir` as TFDS's `celeb_a`.

  Takes about as long as TFDS's own preparation from the same files (the
  JPEG bytes are copied, not decoded).

  Args:
    manual_dir: the folder holding the release (see the module docstring).
    data_dir: TFDS data directory; `None` for TFDS's default.

  Returns:
    The prepared `tfds` builder.

  Raises:
    ValueError: naming the missing or malformed file (see the module
      docstring); nothing is written then.
  """
  if not os.path.isdir(manual_dir):
    raise ValueError(f"--manual_dir={manual_dir} is not a folder.")
  features = tfds.builder(NAME, data_dir=data_dir).info.features
  splits, rows = read_annotations(manual_dir, features)
  zip_name, folder_name, sub_folder = _IMAGES
  with release_files.open_archive(manual_dir, zip_name, folder_name,
                                  sub_folder, "CelebA's aligned images"
                                  ) as archive:
    members = _members_by_file(archive, [f for files in splits.values()
                                         for f in files])
    return tfds_store.store(
        NAME, {split: _examples(files, archive, members, rows)
               for split, files in splits.items()}, data_dir)
