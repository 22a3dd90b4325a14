"""Tests of tf_realnvp/data/celeb_a_release.py (with release_files.py and
tfds_store.py): CelebA's release, as users download it, prepared as TFDS's
`celeb_a`; malformed releases refused, leaving nothing prepared."""

import os
from unittest import mock
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import download_manager

from tf_realnvp import data
from tf_realnvp.data import celeb_a_release
from tf_realnvp.data import preprocessing
from tests import releases

NUM_IMAGES = 9  # 3 per split


def _records(data_dir):
  """`{split: [(image bytes, attributes, landmarks, identity), ...]}` in
  on-disk order."""
  builder = tfds.builder("celeb_a", data_dir=data_dir)
  records = {}
  for split in celeb_a_release.SPLITS:
    examples = builder.as_dataset(split=split, shuffle_files=False,
                                  decoders={"image": tfds.decode.SkipDecoding()})
    records[split] = [
        (e["image"], e["attributes"], e["landmarks"], e["identity"])
        for e in tfds.as_numpy(examples)]
    for i, (_, *rest) in enumerate(records[split]):  # dicts -> sorted tuples
      records[split][i] = (records[split][i][0],) + tuple(
          tuple(sorted((k, bool(v) if isinstance(v, np.bool_) else int(v))
                       for k, v in d.items())) for d in rest)
  return records


@pytest.fixture(scope="module")
def release(tmp_path_factory):
  """A small release in the official layout (Img/ Anno/ Eval/, the zip)."""
  return releases.write_celeb_a_release(
      tmp_path_factory.mktemp("CelebA"), NUM_IMAGES)


@pytest.fixture(scope="module")
def prepared(release, tmp_path_factory):
  """The TFDS data_dir `prepare` wrote from `release`."""
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  data.prepare("celeb_a", data_dir, manual_dir=release.folder)
  return data_dir


def test_release_becomes_tfds_celeb_a_with_the_official_splits(release,
                                                                prepared):
  builder = tfds.builder("celeb_a", data_dir=prepared)
  assert builder.is_prepared() and str(builder.version) == "2.1.0"
  assert {s: builder.info.splits[s].num_examples
          for s in celeb_a_release.SPLITS} == {"train": 3, "validation": 3,
                                               "test": 3}
  for index, split in enumerate(celeb_a_release.SPLITS):
    examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
    in_file_order = sorted(examples,
                           key=lambda e: e["landmarks"]["lefteye_x"])
    files = release.split(index)
    for name, example in zip(files, in_file_order):
      assert example["image"].shape == (218, 178, 3)
      np.testing.assert_array_equal(example["image"], release.images[name])
      assert [example["attributes"][a] for a in release.names] == [
          v > 0 for v in release.attributes[name]]


def test_pipelines_crop_148_and_give_attributes_in_sorted_order(release,
                                                                prepared):
  test = list(data.load_images("celeb_a", "test", prepared, image_size=16,
                               conditional=True).as_numpy_iterator())
  builder = tfds.builder("celeb_a", data_dir=prepared)
  raw = list(tfds.as_numpy(builder.as_dataset(split="test")))
  assert len(test) == len(raw) == 3
  for (image, condition), example in zip(test, raw):
    expected = preprocessing.resize_uint8(
        example["image"][35:35 + 148, 15:15 + 148], 16, 16).numpy()
    np.testing.assert_array_equal(image, expected)
    np.testing.assert_array_equal(condition, [
        float(example["attributes"][a]) for a in data.CELEB_A_ATTRIBUTES])
  assert sum(c.sum() for _, c in test) > 0  # Not all attributes False.


def test_same_records_in_the_same_order_as_tfds_own_builder(release, prepared,
                                                            tmp_path):
  # TFDS's builder reads the five files flat, and checks their checksums
  # against the real release's: skipped here for the test's small files.
  flat = tmp_path / "flat"
  flat.mkdir()
  for role in celeb_a_release.FILES:
    os.symlink(release.path(role), flat / os.path.basename(release.path(role)))
  os.symlink(os.path.join(release.folder, "Img", "img_align_celeba.zip"),
             flat / "img_align_celeba.zip")
  with mock.patch.object(download_manager.DownloadManager,
                         "_register_or_validate_checksums"):
    tfds.builder("celeb_a", data_dir=str(tmp_path / "tfds")
                 ).download_and_prepare(download_config=(
                     tfds.download.DownloadConfig(manual_dir=str(flat))))
  assert _records(prepared) == _records(str(tmp_path / "tfds"))


@pytest.mark.parametrize("flat, extracted", [(True, False), (False, True)],
                         ids=["flat_zip", "sub_folders_extracted"])
def test_other_layouts_give_the_same_dataset(prepared, tmp_path, flat,
                                             extracted):
  other = releases.write_celeb_a_release(tmp_path / "CelebA", NUM_IMAGES,
                                         flat=flat, extracted=extracted)
  data_dir = str(tmp_path / "tfds")
  data.prepare("celeb_a", data_dir, manual_dir=other.folder)
  assert _records(data_dir) == _records(prepared)


# Each damages a release and returns what the error must say (file, line,
# what was expected).
def _remove_identity(release):
  os.remove(release.path("identity"))
  return ["identity_CelebA.txt", "Anno"]


def _attribute_value_zero(release):
  path = release.path("attributes")
  lines = open(path).read().splitlines()
  lines[4] = lines[4].replace(" 1", " 0", 1).replace("-1", " 0", 1)
  open(path, "w").write("\n".join(lines) + "\n")
  return ["list_attr_celeba.txt line 5", "expected -1 or 1", "'0'"]


def _attribute_header(release):
  path = release.path("attributes")
  lines = open(path).read().splitlines()
  lines[1] = lines[1].replace("Smiling", "Smile")
  open(path, "w").write("\n".join(lines) + "\n")
  return ["list_attr_celeba.txt line 2", "expected the 40 names"]


def _truncated_landmarks(release):
  path = release.path("landmarks")
  lines = open(path).read().splitlines()
  open(path, "w").write("\n".join(lines[:-2]) + "\n")
  return ["list_landmarks_align_celeba.txt", f"says {NUM_IMAGES} images",
          f"lists {NUM_IMAGES - 2}"]


def _partition_three(release):
  path = release.path("partition")
  text = open(path).read().replace("000002.jpg 1", "000002.jpg 3")
  open(path, "w").write(text)
  return ["list_eval_partition.txt line 2", "expected 0 or 1 or 2", "'3'"]


def _image_missing_from_zip(release):
  path = os.path.join(release.folder, "Img", "img_align_celeba.zip")
  with zipfile.ZipFile(path, "w") as archive:
    for name in release.files[:-1]:
      archive.writestr(f"img_align_celeba/{name}", b"")
  return ["img_align_celeba.zip has no image 000009.jpg"]


def _wrong_image_size(release):
  path = os.path.join(release.folder, "Img", "img_align_celeba.zip")
  small = tf.io.encode_jpeg(np.zeros((100, 80, 3), np.uint8)).numpy()
  with zipfile.ZipFile(path) as archive:
    members = {n: archive.read(n) for n in archive.namelist()}
  members["img_align_celeba/000005.jpg"] = small  # validation, written 2nd
  with zipfile.ZipFile(path, "w") as archive:
    for name, content in members.items():
      archive.writestr(name, content)
  return ["img_align_celeba/000005.jpg", "is 80x100", "178x218"]


def _truncated_zip(release):
  path = os.path.join(release.folder, "Img", "img_align_celeba.zip")
  content = open(path, "rb").read()
  open(path, "wb").write(content[:len(content) // 2])
  return ["img_align_celeba.zip is not a readable zip file"]


@pytest.mark.parametrize("damage", [
    _remove_identity, _attribute_value_zero, _attribute_header,
    _truncated_landmarks, _partition_three, _image_missing_from_zip,
    _wrong_image_size, _truncated_zip])
def test_bad_release_names_the_file_and_prepares_nothing(tmp_path, damage):
  release = releases.write_celeb_a_release(tmp_path / "CelebA", NUM_IMAGES)
  expected = damage(release)
  data_dir = tmp_path / "tfds"
  with pytest.raises(ValueError) as error:
    data.prepare("celeb_a", str(data_dir), manual_dir=release.folder)
  for part in expected:
    assert part in str(error.value)
  assert not tfds.builder("celeb_a", data_dir=str(data_dir)).is_prepared()
  leftovers = [os.path.join(root, f) for root, _, files in os.walk(data_dir)
               for f in files]
  assert not leftovers


def test_missing_manual_dir_is_named(tmp_path):
  with pytest.raises(ValueError, match="is not a folder"):
    data.prepare("celeb_a", str(tmp_path / "tfds"),
                 manual_dir=str(tmp_path / "nope"))
