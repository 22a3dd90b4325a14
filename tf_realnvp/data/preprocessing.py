"""From a decoded image to the model's `image_shape`: crops and resizes.

Resizing is bilinear with antialiasing on float pixels, then rounded back to
uint8. CelebA: the central 148x148 crop of the 218x178 aligned faces, resized
to S. LSUN: resized so that the short side is 1.5 S (96 for S=64), then a
random S x S crop for training and the central one otherwise. Folders: by
their `folder_crop` (`registry.FOLDER_CROPS`): the central square, CelebA's
central 148x148 window, or the whole image, resized to S x S.
"""

import tensorflow as tf

from tf_realnvp.data.registry import Family

__all__ = ["celeb_a_crop", "central_crop", "central_square", "preprocess",
           "resize_short_side", "resize_uint8"]

_CELEB_A_CROP = 148
# LSUN: the short side is resized to 1.5 S before the S x S crop (96 -> 64).
_LSUN_SHORT_SIDE_RATIO = 1.5


def resize_uint8(image, height, width):
  """Resizes uint8 `[h, w, c]` to uint8 `[height, width, c]`.

  Bilinear with antialiasing on float pixels, then rounded to the nearest
  integer.
  """
  resized = tf.image.resize(tf.cast(image, tf.float32), [height, width],
                            method="bilinear", antialias=True)
  return tf.cast(tf.round(tf.clip_by_value(resized, 0., 255.)), tf.uint8)


def resize_short_side(image, short_side):
  """Resizes uint8 `[h, w, c]` so that `min(h, w) == short_side`.

  The aspect ratio is kept (the long side is rounded). Returns uint8
  `[h', w', c]`.
  """
  hw = tf.cast(tf.shape(image)[:2], tf.float32)
  new_hw = tf.cast(tf.round(hw * short_side / tf.reduce_min(hw)), tf.int32)
  new_hw = tf.maximum(new_hw, short_side)
  return resize_uint8(image, new_hw[0], new_hw[1])


def central_crop(image, height, width):
  """The central `[height, width, c]` window of `[h, w, c]` (h >= height)."""
  top = (tf.shape(image)[0] - height) // 2
  left = (tf.shape(image)[1] - width) // 2
  return image[top:top + height, left:left + width]


def central_square(image, height, width):
  """The central square of uint8 `[h, w, c]`, resized to `[height, width,
  c]` (`resize_uint8`)."""
  side = tf.reduce_min(tf.shape(image)[:2])
  return resize_uint8(central_crop(image, side, side), height, width)


def celeb_a_crop(image, height, width):
  """The paper's CelebA crop: the central 148x148 window of uint8
  `[h, w, c]` (h, w >= 148: else an InvalidArgumentError), resized to
  `[height, width, c]` (`resize_uint8`)."""
  tf.debugging.assert_greater_equal(
      tf.shape(image)[:2], _CELEB_A_CROP,
      message=f"The CelebA crop needs images of at least {_CELEB_A_CROP}x"
      f"{_CELEB_A_CROP} pixels")
  return resize_uint8(central_crop(image, _CELEB_A_CROP, _CELEB_A_CROP),
                      height, width)


_FOLDER_CROPS = {"square": central_square, "celeb_a": celeb_a_crop,
                 "none": resize_uint8}


def preprocess(spec, image, crop_seed=None):
  """Decoded uint8 `[h, w, c]` -> uint8 `spec.image_shape`.

  Args:
    spec: the `DatasetSpec`.
    image: uint8 `[h, w, c]`, as decoded.
    crop_seed: `None` for the central LSUN crop, else the stateless seed of a
      random one. Other datasets crop deterministically and ignore it.
  """
  size = spec.image_shape[0]
  if spec.family is Family.CELEB_A:
    image = celeb_a_crop(image, size, size)
  elif spec.family is Family.LSUN:
    image = resize_short_side(image, round(_LSUN_SHORT_SIDE_RATIO * size))
    if crop_seed is None:
      image = central_crop(image, size, size)
    else:
      image = tf.image.stateless_random_crop(image, spec.image_shape, crop_seed)
  elif spec.family is Family.FOLDER:
    image = _FOLDER_CROPS[spec.folder_crop](image, size, size)
  return tf.ensure_shape(image, spec.image_shape)
