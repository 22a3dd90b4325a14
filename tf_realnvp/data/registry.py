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
* `folder:/path`: SxSx3, S=32 by default: cropped by `folder_crop`
  (`FOLDER_CROPS`: the central square by default; `celeb_a`, the paper's
  CelebA crop, for a folder of CelebA's aligned faces; `none`), resized to S;
  no flips (nothing is known about the content); file 0, 10, 20, ... in
  sorted order is the test split, the rest the train split.

Flips follow the paper (section 4.1: CIFAR-10, CelebA, LSUN).

The condition of an example, for conditional flows (`condition_spec`):
* `fashion_mnist`, `mnist`, `cifar10`: its class, TFDS's `label` (10 classes);
* `imagenet_resized/*`: its class, TFDS's `label` (1000 classes);
* `celeb_a`: its 40 binary attributes, TFDS's `attributes`, as a float32
  multi-hot vector `[40]` in sorted attribute-name order (`CELEB_A_ATTRIBUTES`);
* `folder:/path`: its class, the index of its first-level sub-folder among the
  sorted names of the sub-folders holding images; every image must be in one,
  and there must be at least 2;
* `lsun/*`: none; asking for it is a ValueError.

The datasets with class labels can be restricted to some of their classes
(`check_classes`; e.g. one class, for one-class anomaly detection): their
splits then hold only the examples of those classes, with their original
labels.
"""

import collections.abc
import dataclasses
import enum
import numbers
import os

import tensorflow_datasets as tfds

from tf_realnvp import checks

__all__ = ["CELEB_A_ATTRIBUTES", "ConditionSpec", "DEFAULT_FOLDER_CROP",
           "DEFAULT_NAME", "FOLDER_CROPS", "FOLDER_EXTENSIONS",
           "FOLDER_PREFIX", "DatasetSpec", "Family",
           "check_classes", "condition_spec", "dataset_spec",
           "folder_image_files", "folder_labels", "known_names",
           "lsun_categories"]

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
FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# How a folder's images are cropped before they are resized to S x S:
# square: their central square; celeb_a: their central 148x148 window (the
# paper's crop of CelebA's 178x218 aligned faces; smaller images are an
# error); none: not at all (the whole image is resized, its aspect ratio
# lost).
FOLDER_CROPS = ("square", "celeb_a", "none")
DEFAULT_FOLDER_CROP = "square"

# name -> class names of the datasets labelled by TFDS's feature "label"
# (fixed here: TFDS knows CIFAR-10's only once it is prepared).
_CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "mnist": tuple(str(i) for i in range(10)),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                "horse", "ship", "truck"),
    "imagenet_resized/32x32": tuple(str(i) for i in range(1000)),
    "imagenet_resized/64x64": tuple(str(i) for i in range(1000)),
}
# The keys of TFDS's celeb_a feature "attributes", sorted.
CELEB_A_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes",
    "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young")


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
    folder_crop: of a `folder:` dataset, one of `FOLDER_CROPS`; else `None`.
  """
  name: str
  family: Family
  image_shape: tuple
  horizontal_flips: bool
  train_split: str
  test_split: str
  folder_crop: str | None = None

  @property
  def folder(self):
    """The path of a `folder:` dataset."""
    return self.name[len(FOLDER_PREFIX):]


@dataclasses.dataclass(frozen=True)
class ConditionSpec:
  """The condition of a dataset's examples (see the module docstring).

  Exactly one of `num_classes` and `condition_shape` is set.

  Attributes:
    num_classes: for class labels (int32 scalars in `[0, num_classes)`), their
      number; `None` for attribute vectors.
    condition_shape: for attribute vectors (float32 `[A]` of 0/1), `(A,)`;
      `None` for class labels.
    names: the class names, or the attribute names in vector order.
  """
  num_classes: int | None
  condition_shape: tuple | None
  names: tuple


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


def dataset_spec(name, image_size=None, folder_crop=None):
  """Describes dataset `name` (see the module docstring for the table).

  Args:
    name: a name from `known_names()`.
    image_size: output side S for `celeb_a`, `lsun/*` and `folder:*` (defaults
      64, 64 and 32); for the other datasets `None` or their native side.
    folder_crop: for `folder:*`, one of `FOLDER_CROPS` (default
      `DEFAULT_FOLDER_CROP`); for the other datasets `None`.

  Returns:
    A `DatasetSpec`.

  Raises:
    ValueError: naming an unknown dataset and listing the known ones, a bad
      `image_size` or `folder_crop`.
  """
  kind = family(name)
  if image_size is not None:
    checks.check_int(1, image_size=image_size)
  if folder_crop is not None and kind is not Family.FOLDER:
    raise ValueError(f"folder_crop={folder_crop!r} applies to folder: "
                     f"datasets only, not to {name!r}.")
  if folder_crop is not None and folder_crop not in FOLDER_CROPS:
    raise ValueError(f"folder_crop must be one of {', '.join(FOLDER_CROPS)}; "
                     f"received {folder_crop!r}.")
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
  return DatasetSpec(name, kind, shape, False, "train", "test",
                     folder_crop or DEFAULT_FOLDER_CROP)


def folder_image_files(path):
  """The image files below folder `path` (any depth), sorted; not read.

  Raises:
    ValueError: naming the path if it is missing or holds no image file.
  """
  if not os.path.isdir(path):
    raise ValueError(f"Image folder {path!r} does not exist or is not a "
                     "folder.")
  files = sorted(
      os.path.join(root, f) for root, _, names in os.walk(path)
      for f in names if f.lower().endswith(FOLDER_EXTENSIONS))
  if not files:
    raise ValueError(f"Image folder {path!r} holds no "
                     f"{'/'.join(FOLDER_EXTENSIONS)} file.")
  return files


def folder_labels(path, files):
  """The class sub-folders of image folder `path` and the label of each file.

  Args:
    path: the folder.
    files: image files below it, e.g. `folder_image_files(path)`.

  Returns:
    `(names, labels)`: the sorted names of the first-level sub-folders holding
    files (a tuple of str), and for each file the index of its sub-folder in
    `names` (a list of int).

  Raises:
    ValueError: naming the path, if a file lies directly in it, or if fewer
      than 2 sub-folders hold files.
  """
  parts = [os.path.relpath(f, path).split(os.sep) for f in files]
  loose = [p[0] for p in parts if len(p) == 1]
  if loose:
    raise ValueError(
        f"Image folder {path!r} has image files outside any sub-folder (e.g. "
        f"{loose[0]!r}); for class labels every image must be in a "
        "first-level sub-folder, one per class.")
  names = tuple(sorted({p[0] for p in parts}))
  if len(names) < 2:
    raise ValueError(
        f"Image folder {path!r} has {len(names)} class sub-folder(s) "
        f"{list(names)}; class labels need at least 2.")
  index = {n: i for i, n in enumerate(names)}
  return names, [index[p[0]] for p in parts]


def condition_spec(name):
  """The condition of the examples of dataset `name` (see the module
  docstring).

  Args:
    name: a name from `known_names()`. The TFDS datasets' class and
      attribute names are fixed here, so nothing is read; a `folder:`
      dataset lists its folder (without reading the images).

  Returns:
    A `ConditionSpec`.

  Raises:
    ValueError: for an unknown dataset, a dataset without labels (`lsun/*`),
      or a folder whose images are not in at least 2 class sub-folders.
  """
  kind = family(name)
  if name in _CLASS_NAMES:
    return ConditionSpec(len(_CLASS_NAMES[name]), None, _CLASS_NAMES[name])
  if kind is Family.CELEB_A:
    return ConditionSpec(None, (len(CELEB_A_ATTRIBUTES),), CELEB_A_ATTRIBUTES)
  if kind is Family.FOLDER:
    path = name[len(FOLDER_PREFIX):]
    names, _ = folder_labels(path, folder_image_files(path))
    return ConditionSpec(len(names), None, names)
  raise ValueError(f"Dataset {name!r} has no labels; it cannot be used with "
                   "--conditional.")


def check_classes(name, classes):
  """Validates a choice of classes of dataset `name` (see the module
  docstring).

  Args:
    name: a name from `known_names()` whose condition is a class label
      (`condition_spec(name).num_classes`).
    classes: a non-empty sequence of distinct class indices in
      `[0, num_classes)`.

  Returns:
    `classes` as a tuple of int, in the order given.

  Raises:
    ValueError: naming the bad value: `classes` is not a sequence of ints, is
      empty, or repeats a class; the dataset has no class labels (`celeb_a`,
      `lsun/*`); a class is out of range.
  """
  if isinstance(classes, (str, bytes)) or not isinstance(
      classes, collections.abc.Iterable):
    raise ValueError(f"classes must be a sequence of class indices, received "
                     f"{classes!r}.")
  classes = tuple(classes)
  for c in classes:
    if isinstance(c, bool) or not isinstance(c, numbers.Integral):
      raise ValueError(f"classes must be class indices (ints), received "
                       f"{c!r} in {classes!r}.")
  classes = tuple(int(c) for c in classes)
  if not classes:
    raise ValueError("classes must hold at least one class index, received "
                     "an empty sequence.")
  repeated = sorted({c for c in classes if classes.count(c) > 1})
  if repeated:
    raise ValueError(f"classes must be distinct, received {list(classes)} "
                     f"(repeating {repeated[0]}).")
  num_classes = (None if family(name) is Family.LSUN
                 else condition_spec(name).num_classes)
  if not num_classes:
    raise ValueError(f"Dataset {name!r} has no class labels; classes="
                     f"{list(classes)} cannot select examples of it.")
  outside = [c for c in classes if not 0 <= c < num_classes]
  if outside:
    raise ValueError(f"Class {outside[0]} is out of range: dataset {name!r} "
                     f"has {num_classes} classes, [0, {num_classes}) "
                     f"(classes={list(classes)}).")
  return classes
