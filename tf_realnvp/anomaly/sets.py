"""Image sets to score, named on the command line.

| name | images |
|---|---|
| `NAME[:SPLIT][@K1,K2,...]` | a dataset of `tf_realnvp.data` (e.g. `fashion_mnist:test`, `mnist:test[:2000]`, `fashion_mnist:test@0,6`): its split (default: the test split), only classes `K1, K2, ...` if given |
| `folder:/path` | every image file below `/path` (any depth, sorted) |
| `sklearn_digits` | scikit-learn's 1797 bundled handwritten digits (`sklearn.datasets.load_digits`, 8x8 at 17 grey levels, UCI's "Optical recognition of handwritten digits"), white on black like MNIST |

**Image shapes.** A dataset must have the model's shape `(H, W, C)`:
otherwise a ValueError names both (resizing a dataset silently would score
the resizing). CelebA, LSUN and folder datasets are read at the model's size (their
`image_size`). Files of a folder and scikit-learn's digits have no shape of
their own: they are converted to `C` channels (`tf.io.decode_image`'s
grey <-> RGB conversion) and their central square is resized to `H x W`
(bilinear with antialiasing, as `folder:` training data;
`tf_realnvp.data.preprocessing`). An empty set, or a file that cannot be
decoded (named), is a ValueError.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp.data import preprocessing

__all__ = ["SKLEARN_DIGITS", "ImageSet", "load_set"]

SKLEARN_DIGITS = "sklearn_digits"


@dataclasses.dataclass
class ImageSet:
  """Loaded images: uint8 `[N, H, W, C]` and how they were named."""
  name: str
  images: np.ndarray


def load_set(name, image_shape, data_dir=None, max_examples=None):
  """Loads the set `name` (see the module docstring) as `ImageSet`.

  Args:
    name: a set name.
    image_shape: the model's `(H, W, C)`.
    data_dir: TFDS data directory.
    max_examples: keep only the first this many images.

  Raises:
    ValueError: an unknown dataset or split, a dataset of another shape, an
      empty set, an unreadable file.
  """
  image_shape = tuple(int(d) for d in image_shape)
  if name == SKLEARN_DIGITS:
    images = _sklearn_digits(image_shape, max_examples)
  elif name.startswith(data.FOLDER_PREFIX):
    images = _folder(name[len(data.FOLDER_PREFIX):], image_shape,
                     max_examples)
  else:
    images = _dataset(name, image_shape, data_dir, max_examples)
  if not len(images):
    raise ValueError(f"The image set {name!r} is empty.")
  return ImageSet(name, images)


def _dataset(name, image_shape, data_dir, max_examples):
  dataset, _, rest = name.partition(":")
  split, _, classes = rest.partition("@")
  if "@" in dataset:
    dataset, _, classes = dataset.partition("@")
  try:
    spec = data.dataset_spec(dataset)
    if spec.family is not data.registry.Family.FIXED:  # Sized to order.
      spec = data.dataset_spec(dataset, image_shape[0])
  except ValueError as error:
    raise ValueError(f"Unknown image set {name!r} (expected {SKLEARN_DIGITS}"
                     f", folder:/path or NAME[:SPLIT][@CLASSES]): "
                     f"{error}") from None
  if tuple(spec.image_shape) != image_shape:
    raise ValueError(
        f"The images of {name!r} are {_describe(spec.image_shape)}, the "
        f"model's {_describe(image_shape)}: score a set of the model's "
        "shape (folders and sklearn_digits are resized).")
  kept = None
  if classes:
    try:
      kept = [int(k) for k in classes.split(",")]
    except ValueError:
      raise ValueError(f"Bad classes {classes!r} in {name!r}: expected "
                       "comma-separated class indices.") from None
  images = data.load_images(
      dataset, split or spec.test_split, data_dir, classes=kept,
      image_size=(None if spec.family is data.registry.Family.FIXED else
                  image_shape[0]))
  if max_examples:
    images = images.take(max_examples)
  return _stack(images.batch(1024).as_numpy_iterator(), image_shape)


def _folder(path, image_shape, max_examples):
  files = data.registry.folder_image_files(path)[:max_examples]

  def load(path):
    try:
      image = tf.io.decode_image(tf.io.read_file(path),
                                 channels=image_shape[-1],
                                 expand_animations=False)
    except tf.errors.OpError as error:
      raise ValueError(f"Cannot read image file {path!r}: "
                       f"{error.message}") from None
    return preprocessing.central_square(image, image_shape[0],
                                        image_shape[1])

  return _stack((load(f)[None] for f in files), image_shape)


def _sklearn_digits(image_shape, max_examples):
  try:
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(f"{SKLEARN_DIGITS} needs scikit-learn (pip install "
                     "scikit-learn).") from None
  digits = datasets.load_digits().images[:max_examples]  # [N, 8, 8], 0-16.
  grey = np.round(digits * (255.0 / 16.0)).astype(np.uint8)[..., None]
  images = tf.constant(grey)
  if image_shape[-1] == 3:
    images = tf.image.grayscale_to_rgb(images)
  # Square already: resized without a crop, the whole batch at once.
  return preprocessing.resize_uint8(images, image_shape[0],
                                    image_shape[1]).numpy()


def _stack(batches, image_shape):
  batches = [np.asarray(b) for b in batches]
  if not batches:
    return np.zeros((0,) + image_shape, np.uint8)
  return np.concatenate(batches).astype(np.uint8)


def _describe(shape):
  height, width, channels = shape
  return f"{height}x{width}x{channels}"
