"""The figures' tiles, from a model and uint8 test images.

Each `*_panels` function returns float pixels `[rows, cols, H, W, C]` in
`[0, 256)`, the tiles of one figure (`tf_realnvp.figures` describes them);
`tf_realnvp.io.image_grid` makes the PNG image. Test images enter the flow at
the centres of their pixel bins, `y = x + 0.5` (`pixels.bin_centres`), so
that the same images give the same figure.

Conditional models (`RealNVP(num_classes=K)` or `condition_shape=(A,)`):
the sample figures take the condition to sample under (`sample_panels`'
`condition`, `class_panels`' one per row), and the figures of test images
take each image's own condition (`conditions`: int labels `[n]` or vectors
`[n, A]`, as `model.encode` takes them): every image is encoded and decoded
with its own. A tile between images (`manifold_panels`,
`interpolation_panels`) decodes its latent `sum_k w_k z_k` under the
condition vector `sum_k w_k^2 c_k` (`c_k` a label's one-hot vector, or the
vector): the squared weights sum to 1 (`cos^2 + sin^2`), so the condition
moves along with the latent and each image's own tile has exactly its own
condition. Unconditional models take no condition (`None`).
"""

import numpy as np
import tensorflow as tf

from tf_realnvp import checks
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp import seeds
from tf_realnvp.bijectors import Conditioned

__all__ = ["DEFAULT_TEMPERATURES", "check_temperatures", "class_panels",
           "interpolation_panels", "manifold_panels", "mix_conditions",
           "reconstruction_panels",
           "resampling_rows", "sample_panels", "scale_latents", "scale_panels"]

DEFAULT_TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
# Images per `encode` / `decode` call: bounds memory for large grids.
BATCH_SIZE = 64


def sample_panels(model, temperatures=DEFAULT_TEMPERATURES, num_samples=8,
                  seed=0, condition=None):
  """`[len(temperatures), num_samples, H, W, C]` samples, a row per `T`.

  Row `r` is `model.sample(num_samples, temperatures[r], seed, condition)`:
  the same base noise `z` scaled by each temperature. `T = 0` decodes
  `z = 0`. A conditional model needs `condition`: one label in `[0, K)` or
  one vector `[A]` for every sample.
  """
  temperatures = check_temperatures(temperatures)
  checks.check_int(1, num_samples=num_samples)
  if condition is not None:
    _one_condition(model, condition, "samples: condition")
  return np.stack([model.sample(num_samples, t, seed=seed,
                                condition=condition).numpy()
                   for t in temperatures])


def class_panels(model, num_samples=8, temperature=0.7, seed=0,
                 conditions=None):
  """Samples of a conditional model, a row per condition:
  `[len(conditions), num_samples, H, W, C]`.

  Row `r` is `model.sample(num_samples, temperature, seed, conditions[r])`:
  every row decodes the same base noise `z` (one `seed`), so the rows differ
  only by their condition and a column shows one `z` under each condition.

  Args:
    model: a conditional `RealNVP`.
    num_samples: samples per row, `>= 1`.
    temperature: `>= 0`.
    seed: an int or stateless seed.
    conditions: one condition per row: a label in `[0, K)` or a vector `[A]`.
      Default: every class `0, ..., K - 1` of a class model; a
      condition-vector model needs them.

  Raises:
    ValueError: for an unconditional model, no or empty `conditions` of a
      condition-vector model, or a condition the model does not take (a
      label outside `[0, K)`, a vector of another length).
  """
  if model.conditioning is None:
    raise ValueError("classes needs a conditional model (RealNVP(num_classes="
                     "K) or RealNVP(condition_shape=(A,))); this model is "
                     "unconditional.")
  checks.check_int(1, num_samples=num_samples)
  check_temperatures([temperature])
  if conditions is None:
    if not model.num_classes:
      raise ValueError("classes: a condition-vector model needs conditions, "
                       "one vector [A] per row.")
    conditions = range(model.num_classes)
  conditions = list(conditions)
  if not conditions:
    raise ValueError("classes: conditions must hold at least one row.")
  for r, condition in enumerate(conditions):
    _one_condition(model, condition, f"classes: conditions[{r}]")
  return np.stack([model.sample(num_samples, temperature, seed=seed,
                                condition=c).numpy() for c in conditions])


def manifold_panels(model, images, grid_size=9, conditions=None):
  """The paper's manifold through 4 images: `[grid_size, grid_size, H, W, C]`.

  Tile `[i, j]` decodes `latents.manifold(z1, z2, z3, z4, a[i], b[j])` with
  `a, b = latents.quarter_circle(grid_size)`: the corners `[0, 0]`,
  `[0, -1]`, `[-1, 0]`, `[-1, -1]` are `images[0]`, `[1]`, `[2]`, `[3]`.
  A conditional model encodes image `k` under `conditions[k]` and decodes
  tile `[i, j]` under the conditions mixed alike (`mix_conditions`).

  Args:
    model: a `RealNVP`.
    images: uint8 `[4, H, W, C]`.
    grid_size: angles per side, `>= 2`.
    conditions: the images' conditions (conditional models only).
  """
  _check_images(model, images, "manifold", exactly=4)
  checks.check_int(2, grid_size=grid_size)
  c = _condition_vectors(model, conditions, len(images), "manifold")
  z = _encode(model, images, conditions)
  angles = latents.quarter_circle(grid_size)
  mixed = None if c is None else mix_conditions(
      mix_conditions(c[0], c[1], angles), mix_conditions(c[2], c[3], angles),
      angles)
  return _decode(model, latents.manifold(z[0], z[1], z[2], z[3], angles,
                                         angles), mixed)


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
                  rows=None, conditions=None):
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
    conditions: the images' conditions (conditional models only), under
      which each image is encoded.
  """
  _check_images(model, images, "scales")
  checks.check_int(1, num_samples=num_samples)
  check_temperatures([temperature])
  rows = resampling_rows(model.num_scales) if rows is None else rows
  if not rows:
    raise ValueError("scales: rows must name at least one set of scales.")
  _condition_vectors(model, conditions, len(images), "scales")
  pieces = model.encode(pixels.bin_centres(images, model.compute_dtype),
                        condition=conditions, per_scale=True)
  repeated = [tf.repeat(p, num_samples, axis=0) for p in pieces]
  base_seed = seeds.stateless_seed(seed)
  shape = (len(images), num_samples) + model.image_shape
  return tf.stack([
      tf.reshape(model.flow.merge_latents(
          latents.resample_scales(
              repeated, scales, temperature,
              tf.random.experimental.stateless_fold_in(base_seed, r))), shape)
      for r, scales in enumerate(rows)], axis=1)


def scale_panels(model, images, num_samples=8, temperature=0.7, seed=0,
                 rows=None, conditions=None):
  """Images with some scales' latents redrawn: what each scale encodes.

  For image `k` and row set `S = rows[r]`, tile `[k * len(rows) + r, 0]` is
  the image (`y = x + 0.5`) and tiles `[k * len(rows) + r, 1:]` decode
  `scale_latents(...)[k, r]`: the image's latent with the scales in `S`
  redrawn, the others kept (under the image's own condition, for a
  conditional model). Arguments as for `scale_latents`.

  Returns:
    float pixels `[n * len(rows), 1 + num_samples, H, W, C]`.
  """
  z = scale_latents(model, images, num_samples, temperature, seed, rows,
                    conditions)
  n, num_rows = z.shape[:2]
  c = _condition_vectors(model, conditions, len(images), "scales")
  originals = np.broadcast_to(
      pixels.bin_centres(images).numpy()[:, None, None],
      (n, num_rows, 1) + model.image_shape)
  decoded = _decode(model, z, None if c is None else c[:, None, None])
  tiles = np.concatenate([originals, decoded], axis=2)
  return tiles.reshape((n * num_rows, 1 + num_samples) + model.image_shape)


def interpolation_panels(model, starts, ends, steps=9, start_conditions=None,
                         end_conditions=None):
  """Great-circle interpolations: `[n, steps, H, W, C]`.

  Row `k` decodes `cos(t) z1 + sin(t) z2` for `t = latents.quarter_circle(
  steps)`, `z1, z2` the latents of `starts[k]`, `ends[k]` (uint8
  `[n, H, W, C]` each): it begins at `starts[k]` and ends at `ends[k]`.
  A conditional model encodes them under `start_conditions[k]`,
  `end_conditions[k]` and decodes step `t` under `mix_conditions(c1, c2,
  t)`.
  """
  _check_images(model, starts, "interpolate")
  _check_images(model, ends, "interpolate", exactly=len(starts))
  checks.check_int(2, steps=steps)
  c1 = _condition_vectors(model, start_conditions, len(starts), "interpolate")
  c2 = _condition_vectors(model, end_conditions, len(ends), "interpolate")
  t = latents.quarter_circle(steps)
  path = latents.great_circle(_encode(model, starts, start_conditions),
                              _encode(model, ends, end_conditions), t)
  mixed = None if c1 is None else mix_conditions(c1, c2, t)
  return np.swapaxes(_decode(model, path, mixed), 0, 1)


def reconstruction_panels(model, images, conditions=None):
  """Images and their reconstructions, and the largest error.

  A conditional model encodes and decodes each image under its own
  condition, `conditions[k]`.

  Returns:
    `(tiles, max_error)`: float pixels `[2, n, H, W, C]`, row 0 the images
    `y = x + 0.5`, row 1 `decode(encode(y))` (clipped to `[0, 256)`); and
    `max |decode(encode(y)) - y|` over every pixel, before clipping, a float.
  """
  _check_images(model, images, "reconstruct")
  c = _condition_vectors(model, conditions, len(images), "reconstruct")
  y = pixels.bin_centres(images, model.compute_dtype).numpy()
  reconstructed = _decode(model, _encode(model, images, conditions), c,
                          clip=False)
  max_error = float(np.max(np.abs(reconstructed - y)))
  tiles = np.stack([y, np.clip(reconstructed, 0.0, pixels.MAX_PIXEL)])
  return tiles, max_error


def mix_conditions(c1, c2, t):
  """`cos(t)^2 c1 + sin(t)^2 c2`: the condition of `great_circle(z1, z2, t)`.

  Args:
    c1, c2: float condition vectors of one shape `S` (`[..., dim]`).
    t: a 1-D array of `K` angles.

  Returns:
    float `[K] + S`: `c1` at `t = 0`, `c2` at `t = pi/2` (up to
    `cos(pi/2)^2 ~ 4e-33`), the weights summing to 1 in between.
  """
  c1, c2 = np.asarray(c1), np.asarray(c2)
  t = np.reshape(np.asarray(t, np.float64), (-1,) + (1,) * c1.ndim)
  return (np.cos(t)**2 * c1 + np.sin(t)**2 * c2).astype(c1.dtype)


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


def _one_condition(model, condition, name):
  """Checks that `condition` is one condition the model takes (one label, or
  one vector `[A]`), naming `name`."""
  if model.conditioning is None:
    raise ValueError(f"{name}: the model is unconditional; it takes no "
                     "condition.")
  vector = model.conditioning.vector(condition, model.compute_dtype, name)
  if vector.shape.rank != 1:
    expected = model.conditioning.describe()
    raise ValueError(f"{name} must be one condition ({expected}), received "
                     f"shape {np.shape(condition)}.")


def _condition_vectors(model, conditions, count, figure):
  """The float condition vectors `[count, dim]` (numpy) of `count` images'
  `conditions`, checked; `None` for an unconditional model."""
  if model.conditioning is None:
    if conditions is not None:
      raise ValueError(f"{figure}: the model is unconditional; it takes no "
                       "conditions.")
    return None
  if conditions is None:
    raise ValueError(f"{figure}: the model is conditional; pass the images' "
                     f"conditions ({model.conditioning.describe()}, one per "
                     "image).")
  vectors = model.conditioning.vector(conditions, model.compute_dtype,
                                      f"{figure}: conditions")
  if vectors.shape.rank != 2 or vectors.shape[0] != count:
    raise ValueError(f"{figure} needs one condition per image ({count}), "
                     f"received conditions of shape {np.shape(conditions)}.")
  return vectors.numpy()


def _encode(model, images, conditions=None):
  """`model.encode` of uint8 images at their bin centres (under their
  `conditions`, for a conditional model), in batches."""
  y = pixels.bin_centres(images, model.compute_dtype)
  if conditions is not None:
    conditions = np.asarray(conditions)
  return tf.concat([
      model.encode(y[i:i + BATCH_SIZE], condition=None if conditions is None
                   else conditions[i:i + BATCH_SIZE])
      for i in range(0, len(images), BATCH_SIZE)], axis=0)


def _decode(model, z, conditions=None, clip=True):
  """`model.decode` of latents `[..., H, W, C]` in batches, as numpy pixels.

  `conditions`: for a conditional model, float condition vectors
  `[..., dim]` that broadcast against the latents' leading axes `[...]`.
  """
  z = tf.convert_to_tensor(z)
  flat = tf.reshape(z, (-1,) + model.image_shape)
  if conditions is None:
    batches = [model.decode(flat[i:i + BATCH_SIZE]).numpy()
               for i in range(0, len(flat), BATCH_SIZE)]
  else:
    dim = model.conditioning.dim
    c = np.broadcast_to(conditions, tuple(z.shape[:-3]) + (dim,)).reshape(
        (-1, dim))
    # The flow conditioned on (possibly mixed) vectors; `model.decode` takes
    # labels, and one-hot vectors here give exactly its result.
    batches = [
        Conditioned(model.bijector(), model.flow.conditional_kwargs(
            tf.constant(c[i:i + BATCH_SIZE], model.compute_dtype)),
                    model.image_shape).forward(
                        tf.cast(flat[i:i + BATCH_SIZE], model.compute_dtype))
        .numpy() for i in range(0, len(flat), BATCH_SIZE)]
  y = np.concatenate(batches)
  y = y.reshape(tuple(z.shape))
  return np.clip(y, 0.0, pixels.MAX_PIXEL) if clip else y
