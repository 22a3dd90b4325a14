"""The datasets by name: their image shape, flips and splits.

* `fashion_mnist` (the default), `mnist`: 28x28x1; no flips; train / test.
* `cifar10`: 32x32x3; flips; train / test.
* `imagenet_resized/32x32`, `imagenet_resized/64x64`: 32x32x3 / 64x64x3; no
  flips; train / validation.
* `celeb_a`: SxSx3, S=64 by default: the central 148x148 crop of the 218x178
  aligned faces, resized to S; flips; train / test.
* `lsun/<category>`, every category TFDS has: SxSx3, S=64 by default (resized
  and cropped, see `tf_realnvp.data.preprocessing`); flips. Scene categories:
  train / validation; object categories have no validation split in TFDS, so
  their last 1% is held out: train[:99%] / train[99%:].
* `folder:/path`: SxSx3, S=32 by default: the central square crop, resized to
  S; no flips (nothing is known about the content); file 0, 10, 20, ... in
  sorted order is the test split, the rest the train split.

Flips follow the paper (section 4.1: CIFAR-10, CelebA, LSUN).
"""

import dataclasses
import enum

import tensorflow_datasets as tfds

from tf_realnvp import checks

__all__ = ["DEFAULT_NAME", "FOLDER_PREFIX", "DatasetSpec", "Family",
           "dataset_spec", "known_names", "lsun_categories"]

DEFAULT_NAME = "fashion_mnist"
FOLDER_PREFIX = "folder:"
LSUN_PREFIX = "lsun/"
CELEB_A = "celeb_a"

# name -> (image_shape, horizontal_flips, train_split, test_split)
_FIXED_SIZE = {
    "fashion_mnist": ((28, 28, 1), False, "train", "test"),
    "mnist": ((28, 28, 1), False, "train", "test"),
    "cifar10": ((32, 32, 3), True, "train", "test"),
    "imagenet_resized/32x32": ((32, 32, 3), False, "train", "validation"),
    "imagenet_resized/64x64": ((64, 64, 3), False, "train", "validation"),
}
# TFDS's LSUN scene categories, which come with a validation split.
_LSUN_SCENES = frozenset([
    "bedroom", "bridge", "church_outdoor", "classroom", "conference_room",
    "dining_room", "kitchen", "living_room", "restaurant", "tower"])


class Family(enum.Enum):
  """How a dataset's images are read and preprocessed."""
  FIXED = "fixed"  # A TFDS dataset whose images have the model's size.
  CELEB_A = "celeb_a"
  LSUN = "lsun"
  FOLDER = "folder"

  @property
  def default_size(self):
    """The output side S of a resized family (`None` for `FIXED`)."""
    return {Family.CELEB_A: 64, Family.LSUN: 64, Family.FOLDER: 32}.get(self)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a dataset looks like after preprocessing.

  Attributes:
    name: our name, e.g. `"celeb_a"` or `"folder:/path"`.
    family: its `Family`.
    image_shape: `(H, W, C)` of the preprocessed uint8 images.
    horizontal_flips: whether training examples are flipped at random.
    train_split: TFDS split (or folder split) used for training.
    test_split: TFDS split (or folder split) used for evaluation.
  """
  name: str
  family: Family
  image_shape: tuple
  horizontal_flips: bool
  train_split: str
  test_split: str

  @property
  def folder(self):
    """The path of a `folder:` dataset."""
    return self.name[len(FOLDER_PREFIX):]


def lsun_categories():
  """The LSUN categories TFDS offers, e.g. `["classroom", "bedroom", ...]`."""
  return list(tfds.builder_cls("lsun").builder_configs)


def known_names():
  """Every name `dataset_spec` accepts (`folder:` takes any path)."""
  return (list(_FIXED_SIZE) + [CELEB_A]
          + [LSUN_PREFIX + c for c in lsun_categories()]
          + [FOLDER_PREFIX + "/path/to/images"])


def family(name):
  """The `Family` of dataset `name`; a ValueError listing the known names if
  it is unknown."""
  if name in _FIXED_SIZE:
    return Family.FIXED
  if name == CELEB_A:
    return Family.CELEB_A
  if name.startswith(LSUN_PREFIX) and (
      name[len(LSUN_PREFIX):] in lsun_categories()):
    return Family.LSUN
  if name.startswith(FOLDER_PREFIX) and len(name) > len(FOLDER_PREFIX):
    return Family.FOLDER
  raise ValueError(f"Unknown dataset {name!r}. Known datasets: "
                   f"{', '.join(known_names())}.")


def dataset_spec(name, image_size=None):
  """Describes dataset `name` (see the module docstring for the table).

  Args:
    name: a name from `known_names()`.
    image_size: output side S for `celeb_a`, `lsun/*` and `folder:*` (defaults
      64, 64 and 32); for the other datasets `None` or their native side.

  Returns:
    A `DatasetSpec`.

  Raises:
    ValueError: naming an unknown dataset and listing the known ones, or a bad
      `image_size`.
  """
  kind = family(name)
  if image_size is not None:
    checks.check_int(1, image_size=image_size)
  if kind is Family.FIXED:
    shape, flips, train_split, test_split = _FIXED_SIZE[name]
    if image_size not in (None, shape[0]):
      raise ValueError(f"Dataset {name!r} has {shape[0]}x{shape[1]} images; "
                       f"image_size={image_size} is not supported.")
    return DatasetSpec(name, kind, shape, flips, train_split, test_split)
  size = int(image_size or kind.default_size)
  shape = (size, size, 3)
  if kind is Family.CELEB_A:
    return DatasetSpec(name, kind, shape, True, "train", "test")
  if kind is Family.LSUN:
    if name[len(LSUN_PREFIX):] in _LSUN_SCENES:
      return DatasetSpec(name, kind, shape, True, "train", "validation")
    return DatasetSpec(name, kind, shape, True, "train[:99%]", "train[99%:]")
  return DatasetSpec(name, kind, shape, False, "train", "test")
