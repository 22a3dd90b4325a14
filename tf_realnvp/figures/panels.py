"""The figures' tiles, from a model and uint8 test images.

Each `*_panels` function returns float pixels `[rows, cols, H, W, C]` in
`[0, 256)`, the tiles of one figure (`tf_realnvp.figures` describes them);
`tf_realnvp.io.image_grid` makes the PNG image. Test images enter the flow at
the centres of their pixel bins, `y = x + 0.5` (`pixels.bin_centres`), so
that the same images give the same figure.
"""

import numpy as np
import tensorflow as tf

from tf_realnvp import checks
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp import seeds

__all__ = ["DEFAULT_TEMPERATURES", "check_temperatures",
           "interpolation_panels", "manifold_panels", "reconstruction_panels",
           "resampling_rows", "sample_panels", "scale_latents", "scale_panels"]

DEFAULT_TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
# Images per `encode` / `decode` call: bounds memory for large grids.
BATCH_SIZE = 64


def sample_panels(model, temperatures=DEFAULT_TEMPERATURES, num_samples=8,
                  seed=0):
  """`[len(temperatures), num_samples, H, W, C]` samples, a row per `T`.

  Row `r` is `model.sample(num_samples, temperatures[r], seed)`: the same
  base noise `z` scaled by each temperature. `T = 0` decodes `z = 0`.
  """
  temperatures = check_temperatures(temperatures)
  checks.check_int(1, num_samples=num_samples)
  return np.stack([model.sample(num_samples, t, seed=seed).numpy()
                   for t in temperatures])


def manifold_panels(model, images, grid_size=9):
  """The paper's manifold through 4 images: `[grid_size, grid_size, H, W, C]`.

  Tile `[i, j]` decodes `latents.manifold(z1, z2, z3, z4, a[i], b[j])` with
  `a, b = latents.quarter_circle(grid_size)`: the corners `[0, 0]`,
  `[0, -1]`, `[-1, 0]`, `[-1, -1]` are `images[0]`, `[1]`, `[2]`, `[3]`.

  Args:
    model: a `RealNVP`.
    images: uint8 `[4, H, W, C]`.
    grid_size: angles per side, `>= 2`.
  """
  _check_images(model, images, "manifold", exactly=4)
  checks.check_int(2, grid_size=grid_size)
  z = _encode(model, images)
  angles = latents.quarter_circle(grid_size)
  return _decode(model, latents.manifold(z[0], z[1], z[2], z[3], angles,
                                         angles))


def resampling_rows(num_scales):
  """The scale sets the `scales` figure redraws, one per row.

  Each scale alone, fine to coarse; then for `k = 2 .. L - 1` the finest `k`
  scales (the coarse ones kept); then for `k = 1 .. L - 2` scales `k ..
  L - 1` (the fine ones kept). Returns a list of tuples of scale indices
  (`num_scales` rows for 1 or 2 scales, `3 L - 4` for `L >= 2`).
  """
  checks.check_int(1, num_scales=num_scales)
  rows = [(i,) for i in range(num_scales)]
  rows += [tuple(range(k)) for k in range(2, num_scales)]
  rows += [tuple(range(k, num_scales)) for k in range(1, num_scales - 1)]
  return rows


def scale_latents(model, images, num_samples=8, temperature=0.7, seed=0,
                  rows=None):
  """The latents of the `scales` figure: `[n, len(rows), num_samples, H, W, C]`.

  Entry `[k, r, j]` is the latent of `images[k]` (at `y = x + 0.5`) with the
  pieces of the scales in `rows[r]` drawn from `N(0, temperature^2)`
  (`latents.resample_scales`, the seed folded with `r`; independent draws for
  every `k` and `j`) and the other pieces kept exactly.

  Args:
    model: a `RealNVP`.
    images: uint8 `[n, H, W, C]`, `n >= 1`.
    num_samples: redraws per row, `>= 1`.
    temperature: `>= 0`.
    seed: an int or stateless seed.
    rows: sets of scale indices, default `resampling_rows(model.num_scales)`.
  """
  _check_images(model, images, "scales")
  checks.check_int(1, num_samples=num_samples)
  check_temperatures([temperature])
  rows = resampling_rows(model.num_scales) if rows is None else rows
  if not rows:
    raise ValueError("scales: rows must name at least one set of scales.")
  pieces = model.encode(pixels.bin_centres(images, model.compute_dtype),
                        per_scale=True)
  repeated = [tf.repeat(p, num_samples, axis=0) for p in pieces]
  base_seed = seeds.stateless_seed(seed)
  shape = (len(images), num_samples) + model.image_shape
  return tf.stack([
      tf.reshape(latents.merge_latents(
          latents.resample_scales(
              repeated, scales, temperature,
              tf.random.experimental.stateless_fold_in(base_seed, r)),
          model.layout, model.squeezes), shape)
      for r, scales in enumerate(rows)], axis=1)


def scale_panels(model, images, num_samples=8, temperature=0.7, seed=0,
                 rows=None):
  """Images with some scales' latents redrawn: what each scale encodes.

  For image `k` and row set `S = rows[r]`, tile `[k * len(rows) + r, 0]` is
  the image (`y = x + 0.5`) and tiles `[k * len(rows) + r, 1:]` decode
  `scale_latents(...)[k, r]`: the image's latent with the scales in `S`
  redrawn, the others kept. Arguments as for `scale_latents`.

  Returns:
    float pixels `[n * len(rows), 1 + num_samples, H, W, C]`.
  """
  z = scale_latents(model, images, num_samples, temperature, seed, rows)
  n, num_rows = z.shape[:2]
  originals = np.broadcast_to(
      pixels.bin_centres(images).numpy()[:, None, None],
      (n, num_rows, 1) + model.image_shape)
  tiles = np.concatenate([originals, _decode(model, z)], axis=2)
  return tiles.reshape((n * num_rows, 1 + num_samples) + model.image_shape)


def interpolation_panels(model, starts, ends, steps=9):
  """Great-circle interpolations: `[n, steps, H, W, C]`.

  Row `k` decodes `cos(t) z1 + sin(t) z2` for `t = latents.quarter_circle(
  steps)`, `z1, z2` the latents of `starts[k]`, `ends[k]` (uint8
  `[n, H, W, C]` each): it begins at `starts[k]` and ends at `ends[k]`.
  """
  _check_images(model, starts, "interpolate")
  _check_images(model, ends, "interpolate", exactly=len(starts))
  checks.check_int(2, steps=steps)
  path = latents.great_circle(_encode(model, starts), _encode(model, ends),
                              latents.quarter_circle(steps))
  return np.swapaxes(_decode(model, path), 0, 1)


def reconstruction_panels(model, images):
  """Images and their reconstructions, and the largest error.

  Returns:
    `(tiles, max_error)`: float pixels `[2, n, H, W, C]`, row 0 the images
    `y = x + 0.5`, row 1 `decode(encode(y))` (clipped to `[0, 256)`); and
    `max |decode(encode(y)) - y|` over every pixel, before clipping, a float.
  """
  _check_images(model, images, "reconstruct")
  y = pixels.bin_centres(images, model.compute_dtype).numpy()
  reconstructed = _decode(model, _encode(model, images), clip=False)
  max_error = float(np.max(np.abs(reconstructed - y)))
  tiles = np.stack([y, np.clip(reconstructed, 0.0, pixels.MAX_PIXEL)])
  return tiles, max_error


def check_temperatures(temperatures):
  """The temperatures as a tuple; a ValueError unless they are finite and
  `>= 0` (and at least one)."""
  temperatures = tuple(temperatures)
  if not temperatures:
    raise ValueError("temperatures must not be empty.")
  for t in temperatures:
    if not (isinstance(t, (int, float, np.floating, np.integer)) and
            0 <= t < float("inf")):
      raise ValueError(f"temperatures must be finite and >= 0, received "
                       f"{t!r}.")
  return temperatures


def _check_images(model, images, figure, exactly=None):
  shape = np.shape(images)
  if exactly is not None and (not shape or shape[0] != exactly):
    raise ValueError(f"{figure} needs exactly {exactly} images, received "
                     f"{shape[0] if shape else 0}.")
  if len(shape) != 4 or shape[0] < 1 or tuple(shape[1:]) != model.image_shape:
    raise ValueError(f"{figure} needs uint8 images [n >= 1, "
                     f"{', '.join(map(str, model.image_shape))}], received "
                     f"shape {shape}.")


def _encode(model, images):
  """`model.encode` of uint8 images at their bin centres, in batches."""
  y = pixels.bin_centres(images, model.compute_dtype)
  return tf.concat([model.encode(y[i:i + BATCH_SIZE])
                    for i in range(0, len(images), BATCH_SIZE)], axis=0)


def _decode(model, z, clip=True):
  """`model.decode` of latents `[..., H, W, C]` in batches, as numpy pixels."""
  z = tf.convert_to_tensor(z)
  flat = tf.reshape(z, (-1,) + model.image_shape)
  y = np.concatenate([model.decode(flat[i:i + BATCH_SIZE]).numpy()
                      for i in range(0, len(flat), BATCH_SIZE)])
  y = y.reshape(tuple(z.shape))
  return np.clip(y, 0.0, pixels.MAX_PIXEL) if clip else y
