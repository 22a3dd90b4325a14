"""The paper's figures from a trained model, as PNG grids.

```sh
python -m tf_realnvp.figures --workdir=runs/fashion_mnist_demo --figure=all
```

writes `<workdir>/figures/<figure>.png` (atomically), and next to each
`<figure>.flags`, the flags that make it again (`--flagfile=`). Figures
(Dinh et al. 2017, section 5 and figure 6):

* `samples`: one row per temperature `T` (`--temperatures`, default
  0.5, 0.7, 0.85, 1.0) of `--num_samples` samples `decode(T z)`,
  `z ~ N(0, I)`; every row uses the same `z` (`--seed`), so a column shows
  one latent direction at several temperatures.
* `manifold`: the paper's figure 6: four test images encoded to
  `z1 .. z4` and `cos(a) (cos(b) z1 + sin(b) z2) + sin(a) (cos(b) z3 +
  sin(b) z4)` decoded on a `--grid_size` x `--grid_size` grid of angles
  `a` (rows) and `b` (columns) in `[0, pi/2]`: the corners are the images.
* `scales`: what each scale of the factor-out encodes. For each of
  `--num_images` test images a block of rows (`resampling_rows`): each row
  starts with the image, then `--num_samples` decodes of its latent with the
  pieces of some scales redrawn from `N(0, T^2)` (`--temperature`) and the
  others kept. Rows: each scale alone (fine to coarse), then, with 3 or more
  scales, the finest `k` scales together (coarse kept) and the coarsest
  together (fine kept). With 2 scales: row 0 redraws the fine scale (the
  coarse structure is kept), row 1 the coarse one (the fine detail is kept).
* `interpolate`: one row per pair of test images (`--num_images` pairs),
  `decode(cos(t) z1 + sin(t) z2)` for `--grid_size` angles `t` in
  `[0, pi/2]`: the manifold's `a = 0` row, for the pair's latents.
* `reconstruct`: row 0 test images, row 1 `decode(encode(y))`; the command
  prints the largest absolute pixel error, which is only float rounding: the
  flow is exactly invertible.

Test images are the first images, from `--image_offset` on, of the test
split of the workdir's dataset (its `flags.txt`: `--dataset`, `--data_dir`,
`--image_size`), in the dataset's fixed order. They enter the flow at the
centres of their pixel bins, `y = x + 0.5` (deterministic, no noise: the
same images give the same figure), so `to_uint8(decode(encode(y))) == x`.
Decoded pixels are clipped to `[0, 256)` and floored (`pixels.to_uint8`).
Tiles are separated by `GAP` pixels of value `GAP_VALUE`.

The model is `RealNVP(**model_config.json)` with the latest checkpoint in
`<workdir>/checkpoints` (`workdirs.load_trained_model`: only the model is
restored, in evaluation mode; every model variable must be in the
checkpoint).
"""

import dataclasses
import os
import sys

from absl import flags
import numpy as np
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp import seeds
from tf_realnvp import training
from tf_realnvp import workdirs

FIGURES = ("samples", "manifold", "scales", "interpolate", "reconstruct")
ALL = "all"
DEFAULT_TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
GAP = 1
GAP_VALUE = 128
# Images per `encode` / `decode` call: bounds memory for large grids.
BATCH_SIZE = 64


# --- Figures from a model and uint8 test images -------------------------------
#
# Each returns float pixels `[rows, cols, H, W, C]` in `[0, 256)`, the tiles
# of the figure; `to_grid` makes the PNG image of them.


def bin_centres(images, dtype=tf.float32):
  """`y = x + 0.5` of uint8 images `x`: the centres of their pixel bins."""
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    raise ValueError(f"expected uint8 images, received dtype "
                     f"{images.dtype.name}.")
  return tf.cast(images, dtype) + tf.constant(0.5, dtype)


def sample_panels(model, temperatures=DEFAULT_TEMPERATURES, num_samples=8,
                  seed=0):
  """`[len(temperatures), num_samples, H, W, C]` samples, a row per `T`.

  Row `r` is `model.sample(num_samples, temperatures[r], seed)`: the same
  base noise `z` scaled by each temperature. `T = 0` decodes `z = 0`.
  """
  temperatures = _check_temperatures(temperatures)
  _check_count(num_samples=num_samples)
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
  _check_count(minimum=2, grid_size=grid_size)
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
  _check_count(num_scales=num_scales)
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
  _check_count(num_samples=num_samples)
  _check_temperatures([temperature])
  rows = resampling_rows(model.num_scales) if rows is None else rows
  if not rows:
    raise ValueError("scales: rows must name at least one set of scales.")
  pieces = model.encode(bin_centres(images, model.compute_dtype),
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
      bin_centres(images).numpy()[:, None, None],
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
  _check_count(minimum=2, steps=steps)
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
  y = bin_centres(images, model.compute_dtype).numpy()
  reconstructed = _decode(model, _encode(model, images), clip=False)
  max_error = float(np.max(np.abs(reconstructed - y)))
  tiles = np.stack([y, np.clip(reconstructed, 0.0, pixels.MAX_PIXEL)])
  return tiles, max_error


def to_grid(tiles):
  """The uint8 image `[R (H + GAP) - GAP, K (W + GAP) - GAP, C]` of tiles.

  Args:
    tiles: float pixels `[R, K, H, W, C]` in `[0, 256)`, floored to uint8
      (`pixels.to_uint8`, which also clips).
  """
  tiles = pixels.to_uint8(tf.convert_to_tensor(tiles, tf.float32)).numpy()
  if tiles.ndim != 5:
    raise ValueError(f"to_grid expects tiles [rows, cols, H, W, C], received "
                     f"shape {tiles.shape}.")
  rows, cols, height, width, channels = tiles.shape
  grid = np.full((rows * (height + GAP) - GAP, cols * (width + GAP) - GAP,
                  channels), GAP_VALUE, np.uint8)
  for r in range(rows):
    for c in range(cols):
      top, left = r * (height + GAP), c * (width + GAP)
      grid[top:top + height, left:left + width] = tiles[r, c]
  return grid


# --- A training workdir -------------------------------------------------------


def load_test_images(workdir, count, offset=0, data_dir=None):
  """uint8 `[count, H, W, C]`: test images `offset, ..., offset + count - 1`.

  From the test split of the workdir's dataset (`flags.txt`), in its fixed
  order.

  Args:
    workdir: a training workdir.
    count: images wanted, `>= 1`.
    offset: index of the first one, `>= 0`.
    data_dir: overrides the workdir's `--data_dir`.

  Raises:
    ValueError: when the split has fewer than `offset + count` images, or
      `flags.txt` is missing.
    tf_realnvp.data.DatasetUnavailableError: the dataset is not prepared.
  """
  _check_count(count=count)
  _check_count(minimum=0, image_offset=offset)
  values = workdirs.read_flags(workdir)
  name = values.get("dataset", data.DEFAULT_NAME)
  image_size = int(values["image_size"]) if values.get("image_size") else None
  data_dir = data_dir or values.get("data_dir") or None
  split = data.dataset_spec(name, image_size).test_split
  images = list(data.load_images(name, split, data_dir, image_size)
                .skip(offset).take(count).as_numpy_iterator())
  if len(images) < count:
    raise ValueError(
        f"The figure needs {count} test image(s) from --image_offset={offset} "
        f"on, but the {split!r} split of {name!r} has only "
        f"{offset + len(images)}.")
  return np.stack(images)


@dataclasses.dataclass
class FigureOptions:
  """Sizes, temperatures and seeds of the figures (the command's flags)."""
  temperatures: tuple = DEFAULT_TEMPERATURES
  temperature: float = 0.7
  num_samples: int = 8
  num_images: int = 4
  grid_size: int = 9
  image_offset: int = 0
  seed: int = 0
  data_dir: str = None


def images_needed(figure, options):
  """How many test images `figure` uses (0 for `samples`)."""
  return {"samples": 0, "manifold": 4, "scales": options.num_images,
          "interpolate": 2 * options.num_images,
          "reconstruct": options.num_images}[_check_figure(figure)]


def render(figure, model, images, options):
  """One figure: `(uint8 grid image, lines to print)`.

  Args:
    figure: a name from `FIGURES`.
    model: a `RealNVP`.
    images: uint8 test images, at least `images_needed(figure, options)`;
      the figure uses the first ones.
    options: a `FigureOptions`.
  """
  _check_figure(figure)
  needed = images_needed(figure, options)
  if needed and (images is None or len(images) < needed):
    raise ValueError(f"{figure} needs {needed} test images, received "
                     f"{0 if images is None else len(images)}.")
  images = None if images is None else images[:needed]
  lines = []
  if figure == "samples":
    tiles = sample_panels(model, options.temperatures, options.num_samples,
                          options.seed)
    lines.append("rows: temperatures " +
                 ", ".join(f"{t:g}" for t in options.temperatures))
  elif figure == "manifold":
    tiles = manifold_panels(model, images, options.grid_size)
  elif figure == "scales":
    rows = resampling_rows(model.num_scales)
    tiles = scale_panels(model, images, options.num_samples,
                         options.temperature, options.seed, rows)
    shapes = latents.latent_shapes(model.layout)
    for r, scales in enumerate(rows):
      lines.append(
          f"row {r} of each block: scale(s) {', '.join(map(str, scales))} "
          f"redrawn at T={options.temperature:g} ("
          + ", ".join("x".join(map(str, shapes[s])) for s in scales)
          + "), the others kept")
  elif figure == "interpolate":
    tiles = interpolation_panels(model, images[0::2], images[1::2],
                                 options.grid_size)
  else:
    tiles, max_error = reconstruction_panels(model, images)
    lines.append(f"max |decode(encode(y)) - y| = {max_error:.3g} "
                 "(pixel units, y = x + 0.5)")
  return to_grid(tiles), lines


def write_figures(workdir, figure, options, out=print):
  """Makes `figure` (or every figure, for `"all"`) from a workdir.

  Writes `<workdir>/figures/<figure>.png` atomically and reports each file
  and the figure's notes with `out`. Everything is checked (model, images)
  before the first file is written.

  Returns:
    The paths written, in the order of `FIGURES`.
  """
  figures = FIGURES if figure == ALL else (_check_figure(figure),)
  _check_options(options)
  model, _ = workdirs.load_trained_model(workdir)
  needed = max(images_needed(f, options) for f in figures)
  images = load_test_images(workdir, needed, options.image_offset,
                            options.data_dir) if needed else None
  if images is not None and images.shape[1:] != model.image_shape:
    raise ValueError(f"The test images of {workdir} are {images.shape[1:]}, "
                     f"the model's are {model.image_shape}.")
  paths = []
  for name in figures:
    grid, lines = render(name, model, images, options)
    path = os.path.join(workdir, "figures", f"{name}.png")
    training.write_png(path, grid)
    paths.append(path)
    out(f"{name}: wrote {path} ({grid.shape[1]}x{grid.shape[0]})")
    for line in lines:
      out(f"  {line}")
  return paths


# --- Checks and helpers -------------------------------------------------------


def _check_figure(figure):
  if figure not in FIGURES:
    raise ValueError(f"Unknown figure {figure!r}; figures: "
                     f"{', '.join(FIGURES)} (or {ALL}).")
  return figure


def _check_options(options):
  _check_temperatures(options.temperatures)
  _check_temperatures([options.temperature])
  _check_count(num_samples=options.num_samples,
               num_images=options.num_images)
  _check_count(minimum=2, grid_size=options.grid_size)
  _check_count(minimum=0, image_offset=options.image_offset)


def _check_temperatures(temperatures):
  temperatures = tuple(temperatures)
  if not temperatures:
    raise ValueError("temperatures must not be empty.")
  for t in temperatures:
    if not (isinstance(t, (int, float, np.floating, np.integer)) and
            0 <= t < float("inf")):
      raise ValueError(f"temperatures must be finite and >= 0, received "
                       f"{t!r}.")
  return temperatures


def _check_count(minimum=1, **values):
  for name, value in values.items():
    if not isinstance(value, (int, np.integer)) or value < minimum:
      raise ValueError(f"{name} must be an int >= {minimum}, received "
                       f"{value!r}.")


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
  y = bin_centres(images, model.compute_dtype)
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


def _first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


# --- The command --------------------------------------------------------------


def define_flags(flag_values):
  """Defines the command's flags on `flag_values` (not absl's global FLAGS,
  so that importing this module defines nothing); returns it."""
  defaults = FigureOptions()
  flags.DEFINE_string("workdir", None, "A training workdir (train.py's "
                      "--workdir); figures go to <workdir>/figures/.",
                      flag_values=flag_values)
  flags.DEFINE_enum("figure", ALL, list(FIGURES) + [ALL], "Which figure.",
                    flag_values=flag_values)
  flags.DEFINE_list("temperatures",
                    [f"{t:g}" for t in defaults.temperatures],
                    "Temperatures of the samples figure, one row each.",
                    flag_values=flag_values)
  flags.DEFINE_float("temperature", defaults.temperature, "Temperature of "
                     "the redrawn latents of the scales figure.",
                     flag_values=flag_values)
  flags.DEFINE_integer("num_samples", defaults.num_samples, "Samples per row "
                       "(samples, scales).", flag_values=flag_values)
  flags.DEFINE_integer("num_images", defaults.num_images, "Test images "
                       "(scales, reconstruct) or pairs of them (interpolate).",
                       flag_values=flag_values)
  flags.DEFINE_integer("grid_size", defaults.grid_size, "Angles per side of "
                       "the manifold and steps of the interpolation.",
                       flag_values=flag_values)
  flags.DEFINE_integer("image_offset", defaults.image_offset, "Index of the "
                       "first test image used.", flag_values=flag_values)
  flags.DEFINE_integer("seed", defaults.seed, "Seed of every random draw.",
                       flag_values=flag_values)
  flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the "
                      f"workdir's {workdirs.FLAGS_FILE}).",
                      flag_values=flag_values)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)
  for name, minimum in (("num_samples", 1), ("num_images", 1),
                        ("grid_size", 2), ("image_offset", 0)):
    flags.register_validator(
        name, lambda v, m=minimum: v is not None and v >= m,
        message=f"--{name} must be an integer >= {minimum}.",
        flag_values=flag_values)
  flags.register_validator(
      "temperature", lambda v: v is not None and 0 <= v < float("inf"),
      message="--temperature must be finite and >= 0.",
      flag_values=flag_values)
  flags.register_validator(
      "temperatures", _valid_temperatures,
      message="--temperatures must be a comma-separated list of finite "
      "numbers >= 0.", flag_values=flag_values)
  return flag_values


def _valid_temperatures(values):
  try:
    _check_temperatures(float(v) for v in values)
  except (TypeError, ValueError):
    return False
  return True


def main(argv=None, stdout=None, stderr=None):
  """Runs the command; returns its exit status (errors: one line on stderr).

  Args:
    argv: `sys.argv`-like, program name first.
    stdout, stderr: streams (default `sys.stdout`, `sys.stderr`).
  """
  argv = sys.argv if argv is None else list(argv)
  stdout = stdout or sys.stdout
  stderr = stderr or sys.stderr
  program = "python -m tf_realnvp.figures"
  flag_values = define_flags(flags.FlagValues())
  if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
    stdout.write(f"{__doc__}\nflags:\n{flag_values.get_help()}\n")
    return 0
  try:
    rest = flag_values(argv)
  except flags.Error as error:
    stderr.write(f"{program}: error: {_first_line(error)}\n")
    return 2
  if len(rest) > 1:
    stderr.write(f"{program}: error: unexpected arguments: "
                 f"{' '.join(rest[1:])}\n")
    return 2
  options = FigureOptions(
      temperatures=tuple(float(t) for t in flag_values.temperatures),
      temperature=flag_values.temperature,
      num_samples=flag_values.num_samples,
      num_images=flag_values.num_images,
      grid_size=flag_values.grid_size,
      image_offset=flag_values.image_offset,
      seed=flag_values.seed,
      data_dir=flag_values.data_dir)
  try:
    paths = write_figures(flag_values.workdir, flag_values.figure, options,
                          out=lambda line: stdout.write(line + "\n"))
  except (ValueError, data.DatasetUnavailableError) as error:
    stderr.write(f"{program}: error: {_first_line(error)}\n")
    return 1
  for path in paths:
    stem = os.path.splitext(path)[0]
    training.write_text(stem + ".flags",
                        _flags_text(flag_values, os.path.basename(stem)))
  return 0


def _flags_text(flag_values, figure):
  """The flags that make `figure` again, one `--flag=value` a line."""
  names = ("workdir", "temperatures", "temperature", "num_samples",
           "num_images", "grid_size", "image_offset", "seed", "data_dir")
  lines = [f"--figure={figure}"]
  lines += [flag_values[n].serialize() for n in names
            if flag_values[n].value is not None]
  return "".join(line + "\n" for line in lines)


if __name__ == "__main__":
  sys.exit(main())
