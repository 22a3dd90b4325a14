"""Tests of tf_realnvp/data/imagenet_resized_npz.py and lsun_lmdb.py:
downsampled ImageNet's npz zips and LSUN's LMDB exports, in their official
layouts (small files made here), prepared as TFDS's datasets."""

import os
import sys
import time
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_realnvp import data
from tests import releases


def _imagenet32_release(folder, rng):
  """Imagenet32's train zip (two batches) and extracted val folder; returns
  `{split: (images [N, 32, 32, 3], labels [N] in 0 ... 999)}`."""
  splits = {}
  os.makedirs(folder, exist_ok=True)
  with zipfile.ZipFile(os.path.join(folder, "Imagenet32_train_npz.zip"),
                       "w") as archive:
    parts = []
    for batch in (1, 2):
      images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
      labels = rng.integers(0, 1000, 3)
      releases.write_imagenet_npz(
          (archive, f"train_data_batch_{batch}.npz"), images, labels)
      parts.append((images, labels))
    splits["train"] = tuple(np.concatenate(p) for p in zip(*parts))
  splits["validation"] = (rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
                          np.array([0, 999]))
  releases.write_imagenet_npz(
      os.path.join(folder, "Imagenet32_val_npz", "val_data.npz"),
      *splits["validation"])
  return splits


def _rows(images, labels):
  """Sorted (image bytes, label) pairs: compares as multisets."""
  return sorted((bytes(np.asarray(i).tobytes()), int(l))
                for i, l in zip(images, labels))


def test_imagenet32_npz_files_prepare_tfds_imagenet_resized(tmp_path):
  name = "imagenet_resized/32x32"
  expected = _imagenet32_release(tmp_path / "M", np.random.default_rng(0))
  data_dir = str(tmp_path / "tfds")
  data.prepare(name, data_dir, manual_dir=str(tmp_path / "M"))
  loaded = tfds.load(name, data_dir=data_dir, download=False, batch_size=-1)
  for split, (images, labels) in expected.items():
    assert _rows(loaded[split]["image"].numpy(),
                 loaded[split]["label"].numpy()) == _rows(images, labels)
  _, labels = next(iter(data.train_dataset(name, 4, seed=0, data_dir=data_dir,
                                           conditional=True)))
  assert labels.dtype == tf.int32 and labels.shape == (4,)


@pytest.mark.parametrize("damage, message", [
    (lambda m: os.remove(m / "Imagenet32_train_npz.zip"),
     "Missing Imagenet32_train_npz.zip or its extracted folder "
     "Imagenet32_train_npz/"),
    (lambda m: releases.write_imagenet_npz(
        str(m / "Imagenet32_val_npz" / "val_data.npz"),
        np.zeros((1, 32, 32, 3), np.uint8), [-1]),
     "val_data.npz in {m}/Imagenet32_val_npz: labels must be 1 ... 1000, "
     "found 0 ... 0"),
    (lambda m: releases.write_imagenet_npz(
        str(m / "Imagenet32_val_npz" / "val_data.npz"),
        np.zeros((1, 16, 16, 3), np.uint8), [1]),
     "expected 'data' uint8 [N, 3072] (32x32 images)"),
])
def test_bad_imagenet_files_are_named_and_nothing_is_prepared(tmp_path, damage,
                                                              message):
  manual = tmp_path / "M"
  _imagenet32_release(manual, np.random.default_rng(0))
  damage(manual)
  data_dir = tmp_path / "tfds"
  with pytest.raises(ValueError) as error:
    data.prepare("imagenet_resized/32x32", str(data_dir),
                 manual_dir=str(manual))
  assert message.format(m=manual) in str(error.value)
  assert not tfds.builder("imagenet_resized/32x32",
                          data_dir=str(data_dir)).is_prepared()


def _jpeg(rng, height, width):
  return tf.io.encode_jpeg(rng.integers(0, 256, (height, width, 3),
                                        dtype=np.uint8)).numpy()


def test_lsun_lmdb_exports_prepare_tfds_lsun(tmp_path):
  pytest.importorskip("lmdb", reason="lmdb is in requirements.txt")
  rng = np.random.default_rng(0)
  records = {
      "train": {f"{i:040x}".encode(): _jpeg(rng, 40 + i, 60) for i in range(5)},
      "validation": {f"{i:040x}".encode(): _jpeg(rng, 50, 50)
                     for i in range(2)},
  }
  manual = tmp_path / "M"
  releases.write_lmdb(manual / "bedroom_train_lmdb", records["train"])
  releases.write_lmdb(manual / "bedroom_val_lmdb", records["validation"])
  releases.zip_folder(manual / "bedroom_val_lmdb",
                      manual / "bedroom_val_lmdb.zip")
  data_dir = str(tmp_path / "tfds")
  data.prepare("lsun/bedroom", data_dir, manual_dir=str(manual))
  builder = tfds.builder("lsun/bedroom", data_dir=data_dir)
  for split, expected in records.items():
    examples = builder.as_dataset(
        split=split, decoders={"image": tfds.decode.SkipDecoding()})
    assert sorted((e["id"].decode(), e["image"])
                  for e in tfds.as_numpy(examples)) == sorted(
                      (k.decode(), v) for k, v in expected.items())
  batch = next(iter(data.train_dataset("lsun/bedroom", 2, seed=0,
                                       data_dir=data_dir, image_size=16)))
  assert batch.shape == (2, 16, 16, 3)
  # The zip's database was extracted next to the dataset, and deleted.
  assert sorted(os.listdir(os.path.join(data_dir, "lsun", "bedroom"))) == [
      "3.1.0"]


def test_lsun_without_lmdb_says_how_to_install_it(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "lmdb", None)  # import lmdb fails.
  with pytest.raises(ValueError, match="pip install -r requirements.txt"):
    data.prepare("lsun/bedroom", str(tmp_path / "tfds"),
                 manual_dir=str(tmp_path))


def test_lsun_without_manual_files_is_refused_at_once_with_the_files(
    tmp_path):
  start = time.monotonic()
  with pytest.raises(data.DatasetUnavailableError) as error:
    data.prepare("lsun/bedroom", str(tmp_path / "tfds"))
  assert time.monotonic() - start < 2
  for part in ("tensorflow-io", "bedroom_train_lmdb.zip (45.9 GB)",
               "bedroom_val_lmdb.zip (4.7 MB)", "--manual_dir=M"):
    assert part in str(error.value)
