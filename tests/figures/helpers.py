"""What the figure tests expect of a figure's PNG, and conditional models
and workdirs to draw them from."""

import os

import numpy as np
import tensorflow as tf

import tf_realnvp
from tf_realnvp import io
from tf_realnvp import workdirs
from tf_realnvp.figures import panels
from tests import flow_checks


def tiles(figure, options, num_scales, num_rows=None):
  """`(rows, cols)` of the tiles of `figure` for a model of `num_scales`
  (`num_rows`: the rows of the `classes` figure)."""
  blocks = len(panels.resampling_rows(num_scales))  # Rows per scales image.
  return {"samples": (len(options.temperatures), options.num_samples),
          "classes": (num_rows, options.num_samples),
          "manifold": (options.grid_size, options.grid_size),
          "scales": (blocks * options.num_images, 1 + options.num_samples),
          "interpolate": (options.num_images, options.grid_size),
          "reconstruct": (2, options.num_images)}[figure]


def png_shape(figure, options, image_shape, num_scales, num_rows=None):
  """The `[H, W, C]` of the PNG of `figure`: its tiles enlarged by
  `io.display_scale`, `io.GAP` pixels apart."""
  rows, cols = tiles(figure, options, num_scales, num_rows)
  height, width, channels = image_shape
  scale = io.display_scale(height, width)
  return (rows * (scale * height + io.GAP) - io.GAP,
          cols * (scale * width + io.GAP) - io.GAP, channels)


def read_png(path):
  """The pixels of a PNG file, uint8 `[H, W, C]`."""
  return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def unconditional_model(image_shape, seed=7):
  """A tiny randomised float32 `RealNVP` (see `flow_checks.tiny_model`)."""
  return flow_checks.tiny_model(seed=seed, image_shape=image_shape,
                                dtype="float32")


def figure_images(image_shape, count=8, seed=8):
  """Random uint8 test images `[count, *image_shape]`."""
  return np.random.default_rng(seed).integers(
      0, 256, (count,) + tuple(image_shape)).astype(np.uint8)


def conditional_model(image_shape, seed=0, num_scales=2, **conditioning):
  """A tiny float32 conditional `RealNVP` (`num_classes=K` or
  `condition_shape=(A,)` in `conditioning`) with randomised weights: the
  condition's zero-initialised biases too, so that conditions matter."""
  model = tf_realnvp.RealNVP(image_shape, num_scales=num_scales, num_blocks=1,
                             num_filters=4, dtype="float32", **conditioning)
  flow_checks.randomize_weights(model, seed)
  return model


def conditional_workdir(path, image_shape, flags, seed=0, num_scales=1,
                        **conditioning):
  """A training workdir of `conditional_model(image_shape, seed, num_scales,
  **conditioning)`, as train.py leaves it: `model_config.json` (with
  `num_classes` or `condition_shape`), a checkpoint (`ckpt-1`) and
  `flags.txt` of `flags` (`--name=value` strings).

  Returns:
    `(path as str, the model)`.
  """
  path = str(path)
  model = conditional_model(image_shape, seed, num_scales, **conditioning)
  config = dict(image_shape=list(image_shape), num_scales=num_scales,
                num_blocks=1, num_filters=4)
  config.update({k: list(v) if isinstance(v, tuple) else v
                 for k, v in conditioning.items()})
  workdirs.write_model_config(path, config)
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model),
      os.path.join(path, workdirs.CHECKPOINTS), max_to_keep=1).save(
          checkpoint_number=1)
  io.write_text(os.path.join(path, workdirs.FLAGS_FILE),
                "".join(f"{flag}\n" for flag in flags))
  return path, model
