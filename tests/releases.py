"""Small datasets in their official release layouts, made by the tests:
CelebA's release, downsampled ImageNet's npz zips, LSUN's LMDB exports."""

import io
import os
import shutil
import zipfile

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp.data import celeb_a_release

# (height, width) of CelebA's aligned faces.
CELEB_A_SIZE = celeb_a_release.IMAGE_SIZE
# TFDS's celeb_a names (the release's header lines).
LANDMARKS = ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
             "leftmouth_x leftmouth_y rightmouth_x rightmouth_y").split()


def celeb_a_attributes():
  """The 40 attribute names in the release's header order."""
  return list(tfds.builder("celeb_a").info.features["attributes"].keys())


class CelebARelease:
  """What `write_celeb_a_release` wrote, to compare with what was read.

  Attributes:
    folder: the release's folder (`--manual_dir`).
    files: the image file names, `000001.jpg ...`, in order.
    partition: `{file: 0, 1 or 2}` (train, validation, test).
    attributes: `{file: [40 values of 1 or -1]}` in header order.
    names: the 40 attribute names in header order.
    images: `{file: uint8 [218, 178, 3]}` as decoded from the written JPEG.
  """

  def __init__(self, folder, files, partition, attributes, names, images):
    self.folder, self.files, self.partition = folder, files, partition
    self.attributes, self.names, self.images = attributes, names, images

  def split(self, index):
    """The sorted files of partition `index`."""
    return sorted(f for f in self.files if self.partition[f] == index)

  def path(self, role):
    """Where annotation file `role` (`celeb_a_release.FILES`) was written."""
    name, sub_folder, _ = celeb_a_release.FILES[role]
    flat = os.path.join(self.folder, name)
    return flat if os.path.exists(flat) else os.path.join(
        self.folder, sub_folder, name)


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)


def write_celeb_a_release(folder, num_images=12, flat=False, extracted=False,
                          seed=0, image_size=CELEB_A_SIZE):
  """Writes a small CelebA release: JPEG faces of random pixels and the four
  annotation files in the release's formats.

  Args:
    folder: where (created).
    num_images: images `000001.jpg ...`; partition `i % 3` reordered so that
      each split gets about a third (train 0, 3, 6 ...; validation 1, 4 ...;
      test 2, 5 ...).
    flat: all files directly in `folder`, else in `Img/`, `Anno/`, `Eval/`.
    extracted: the images as the extracted `img_align_celeba/` folder, else
      as `img_align_celeba.zip` (members `img_align_celeba/000001.jpg`).
    seed: of the pixels and attributes.
    image_size: `(height, width)` of the images.

  Returns:
    A `CelebARelease`.
  """
  rng = np.random.default_rng(seed)
  folder = os.fspath(folder)
  files = [f"{i + 1:06d}.jpg" for i in range(num_images)]
  names = celeb_a_attributes()
  partition = {f: i % 3 for i, f in enumerate(files)}
  attributes = {f: list(rng.choice([-1, 1], len(names))) for f in files}
  place = {sub: folder if flat else os.path.join(folder, sub)
           for sub in ("Img", "Anno", "Eval")}
  images, encoded = {}, {}
  for f in files:
    pixels = rng.integers(0, 256, (*image_size, 3), dtype=np.uint8)
    encoded[f] = tf.io.encode_jpeg(pixels, quality=90).numpy()
    images[f] = tf.io.decode_jpeg(encoded[f]).numpy()
  if extracted:
    for f in files:
      path = os.path.join(place["Img"], "img_align_celeba", f)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path, "wb") as out:
        out.write(encoded[f])
  else:
    os.makedirs(place["Img"], exist_ok=True)
    with zipfile.ZipFile(os.path.join(place["Img"], "img_align_celeba.zip"),
                         "w") as archive:
      for f in files:
        archive.writestr(f"img_align_celeba/{f}", encoded[f])
  _write(os.path.join(place["Anno"], "list_attr_celeba.txt"),
         f"{num_images}\n{' '.join(names)} \n" + "".join(
             f"{f} " + " ".join(f"{v:2d}" for v in attributes[f]) + "\n"
             for f in files))
  _write(os.path.join(place["Anno"], "list_landmarks_align_celeba.txt"),
         f"{num_images}\n{' '.join(LANDMARKS)}\n" + "".join(
             f"{f} " + " ".join(str(60 + i + k) for k in range(10)) + "\n"
             for i, f in enumerate(files)))
  _write(os.path.join(place["Anno"], "identity_CelebA.txt"),
         "".join(f"{f} {100 + i % 4}\n" for i, f in enumerate(files)))
  _write(os.path.join(place["Eval"], "list_eval_partition.txt"),
         "".join(f"{f} {partition[f]}\n" for f in files))
  return CelebARelease(folder, files, partition, attributes, names, images)



def write_imagenet_npz(path, images, labels):
  """Writes downsampled ImageNet's npz format: `data` uint8 `[N, 3*S*S]`
  (channels, rows, columns), `labels` `[N]` in 1 ... 1000.

  Args:
    path: an `.npz` path, or an open zip and a member name as `(zip, name)`.
    images: uint8 `[N, S, S, 3]`.
    labels: `[N]` classes in 0 ... 999 (written + 1, as the release does).
  """
  buffer = io.BytesIO()
  np.savez(buffer, data=np.asarray(images).transpose(0, 3, 1, 2).reshape(
      len(images), -1), labels=np.asarray(labels) + 1)
  if isinstance(path, tuple):
    archive, name = path
    archive.writestr(name, buffer.getvalue())
  else:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
      f.write(buffer.getvalue())


def write_lmdb(folder, records):
  """Writes an LMDB database (`data.mdb`, `lock.mdb`) in `folder` holding
  `{key bytes: value bytes}`, as LSUN's exports do. Needs `lmdb`."""
  import lmdb  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  environment = lmdb.open(os.fspath(folder), map_size=1 << 26)
  with environment.begin(write=True) as transaction:
    for key, value in records.items():
      transaction.put(key, value)
  environment.close()


def zip_folder(folder, path):
  """Zips `folder` into `path`, members named `<folder name>/<file>`, and
  deletes the folder (a release's zip)."""
  folder = os.fspath(folder)
  with zipfile.ZipFile(path, "w") as archive:
    for root, _, files in os.walk(folder):
      for f in files:
        full = os.path.join(root, f)
        archive.write(full, os.path.relpath(full, os.path.dirname(folder)))
  shutil.rmtree(folder)
