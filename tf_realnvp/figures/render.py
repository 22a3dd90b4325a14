"""The figures of a training workdir: which test images, which options, and
the PNG files (`<workdir>/figures/<figure>.png`)."""

import dataclasses
import os

import numpy as np

from tf_realnvp import checks
from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp import workdirs
from tf_realnvp.figures import panels

__all__ = ["ALL", "FIGURES", "FigureOptions", "images_needed",
           "load_test_images", "render", "write_figures"]

FIGURES = ("samples", "manifold", "scales", "interpolate", "reconstruct")
ALL = "all"


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
  checks.check_int(1, count=count)
  checks.check_int(0, image_offset=offset)
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
  temperatures: tuple = panels.DEFAULT_TEMPERATURES
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
    tiles = panels.sample_panels(model, options.temperatures, options.num_samples,
                          options.seed)
    lines.append("rows: temperatures " +
                 ", ".join(f"{t:g}" for t in options.temperatures))
  elif figure == "manifold":
    tiles = panels.manifold_panels(model, images, options.grid_size)
  elif figure == "scales":
    rows = panels.resampling_rows(model.num_scales)
    tiles = panels.scale_panels(model, images, options.num_samples,
                         options.temperature, options.seed, rows)
    shapes = latents.latent_shapes(model.layout)
    for r, scales in enumerate(rows):
      lines.append(
          f"row {r} of each block: scale(s) {', '.join(map(str, scales))} "
          f"redrawn at T={options.temperature:g} ("
          + ", ".join("x".join(map(str, shapes[s])) for s in scales)
          + "), the others kept")
  elif figure == "interpolate":
    tiles = panels.interpolation_panels(model, images[0::2], images[1::2],
                                 options.grid_size)
  else:
    tiles, max_error = panels.reconstruction_panels(model, images)
    lines.append(f"max |decode(encode(y)) - y| = {max_error:.3g} "
                 "(pixel units, y = x + 0.5)")
  return io.image_grid(pixels.to_uint8(tiles).numpy()), lines


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
    path = os.path.join(workdir, workdirs.FIGURES, f"{name}.png")
    io.write_png(path, grid)
    paths.append(path)
    out(f"{name}: wrote {path} ({grid.shape[1]}x{grid.shape[0]})")
    for line in lines:
      out(f"  {line}")
  return paths


def _check_figure(figure):
  if figure not in FIGURES:
    raise ValueError(f"Unknown figure {figure!r}; figures: "
                     f"{', '.join(FIGURES)} (or {ALL}).")
  return figure


def _check_options(options):
  panels.check_temperatures(options.temperatures)
  panels.check_temperatures([options.temperature])
  checks.check_int(1, num_samples=options.num_samples,
                   num_images=options.num_images)
  checks.check_int(2, grid_size=options.grid_size)
  checks.check_int(0, image_offset=options.image_offset)
