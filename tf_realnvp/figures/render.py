"""The figures of a training workdir: which test images, which options, and
the PNG files (`<workdir>/figures/<figure>.png`)."""

import dataclasses
import numbers
import os

import numpy as np

from tf_realnvp import checks
from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import pixels
from tf_realnvp import workdirs
from tf_realnvp.figures import panels

__all__ = ["ALL", "CONDITIONAL_FIGURES", "FIGURES", "FigureOptions",
           "condition_names", "describe_condition", "figures_of",
           "images_needed", "load_test_images", "render", "resolve_condition",
           "write_figures"]

# The figures of every model, and those of conditional models only.
FIGURES = ("samples", "manifold", "scales", "interpolate", "reconstruct")
CONDITIONAL_FIGURES = ("classes",)
ALL = "all"
# The figures that encode test images (under their own conditions).
_ENCODING = ("manifold", "scales", "interpolate", "reconstruct")


def load_test_images(workdir, count, offset=0, data_dir=None,
                     conditional=False):
  """uint8 `[count, H, W, C]`: test images `offset, ..., offset + count - 1`.

  From the test split of the workdir's dataset (`flags.txt`), in its fixed
  order; if the workdir trained on some `--classes`, their test images only.

  Args:
    workdir: a training workdir.
    count: images wanted, `>= 1`.
    offset: index of the first one, `>= 0`.
    data_dir: overrides the workdir's `--data_dir`.
    conditional: also return the images' conditions.

  Returns:
    The images; with `conditional`, `(images, conditions)`, the conditions
    int32 labels `[count]` or float32 vectors `[count, A]`
    (`tf_realnvp.data.load_images`).

  Raises:
    ValueError: when the split has fewer than `offset + count` images, or
      `flags.txt` is missing (or, with `conditional`, the dataset has no
      labels).
    tf_realnvp.data.DatasetUnavailableError: the dataset is not prepared.
  """
  checks.check_int(1, count=count)
  checks.check_int(0, image_offset=offset)
  name, image_size, data_dir, classes, folder_crop = _dataset_of(workdir,
                                                                 data_dir)
  split = data.dataset_spec(name, image_size, folder_crop).test_split
  examples = list(data.load_images(name, split, data_dir, image_size,
                                   conditional=conditional, classes=classes,
                                   folder_crop=folder_crop)
                  .skip(offset).take(count).as_numpy_iterator())
  if len(examples) < count:
    of_classes = f" of classes {list(classes)}" if classes else ""
    raise ValueError(
        f"The figure needs {count} test image(s) from --image_offset={offset} "
        f"on, but the {split!r} split of {name!r} has only "
        f"{offset + len(examples)}{of_classes}.")
  if conditional:
    return (np.stack([image for image, _ in examples]),
            np.stack([condition for _, condition in examples]))
  return np.stack(examples)


def condition_names(workdir):
  """The class names (or attribute names, in vector order) of the workdir's
  dataset (`flags.txt`), or `None` when they are unknown: no `flags.txt`, or
  a dataset without labels (`tf_realnvp.data.condition_spec`)."""
  try:
    name = _dataset_of(workdir, None)[0]
    return tuple(data.condition_spec(name).names)
  except ValueError:
    return None


@dataclasses.dataclass
class FigureOptions:
  """Sizes, temperatures, seeds and conditions of the figures (the
  command's flags).

  `condition` (the `samples` figure's) and each of `conditions` (the rows of
  the `classes` figure) are for conditional models, in any form
  `resolve_condition` takes: a class (int, or its name), a comma-separated
  string of attribute names, or a vector. `None`: the defaults (see
  `tf_realnvp.figures`).
  """
  temperatures: tuple = panels.DEFAULT_TEMPERATURES
  temperature: float = 0.7
  num_samples: int = 8
  num_images: int = 4
  grid_size: int = 9
  image_offset: int = 0
  seed: int = 0
  data_dir: str = None
  condition: object = None
  conditions: tuple = None


def figures_of(model):
  """The figures `all` makes for `model`: `FIGURES`, and for a conditional
  model `CONDITIONAL_FIGURES` too."""
  if model.conditioning is None:
    return FIGURES
  return FIGURES + CONDITIONAL_FIGURES


def images_needed(figure, options, conditioning=None):
  """How many test images `figure` uses (0 for `samples` and `classes`,
  except for their default conditions of a condition-vector model: those of
  the first test images).

  Args:
    figure: a name from `FIGURES` or `CONDITIONAL_FIGURES`.
    options: a `FigureOptions`.
    conditioning: the model's `conditioning` (`None`: unconditional).
  """
  vectors = conditioning is not None and not conditioning.is_class
  return {"samples": int(vectors and options.condition is None),
          "classes": (options.num_images if vectors and
                      options.conditions is None else 0),
          "manifold": 4, "scales": options.num_images,
          "interpolate": 2 * options.num_images,
          "reconstruct": options.num_images}[_check_figure(figure)]


def resolve_condition(value, conditioning, names=None):
  """A user's condition as the model takes it.

  Args:
    value: for a class model, a class: an int in `[0, K)`, or a string, its
      index or its name (`names`; case does not matter). For a
      condition-vector model, a string of comma-separated attribute names
      (`names`) set to 1, the others 0 (`""`: none), or a vector of `A`
      numbers.
    conditioning: the model's `tf_realnvp.conditions.Conditioning`.
    names: the class or attribute names (`condition_names`), or `None`.

  Returns:
    An int label, or a float32 vector `[A]`.

  Raises:
    ValueError: naming `value`: a class outside `[0, K)` or of no known
      name, an unknown attribute, a vector of another length.
  """
  if conditioning is None:
    raise ValueError(f"Condition {value!r} for an unconditional model.")
  names = _usable_names(names, conditioning)
  if conditioning.is_class:
    return _class_label(value, conditioning.num_classes, names)
  size = conditioning.dim
  if isinstance(value, str):
    if names is None:
      raise ValueError(f"Condition {value!r}: the attribute names of the "
                       "model's dataset are unknown; give a vector of "
                       f"{size} numbers.")
    vector = np.zeros(size, np.float32)
    for attribute in (a.strip() for a in value.split(",")):
      if attribute:
        if attribute not in names:
          raise ValueError(f"Unknown attribute {attribute!r} in condition "
                           f"{value!r}; attributes: {', '.join(names)}.")
        vector[names.index(attribute)] = 1.0
    return vector
  vector = np.asarray(value, np.float32)
  if vector.shape != (size,) or not np.all(np.isfinite(vector)):
    raise ValueError(f"A condition of this model is {size} finite numbers or "
                     f"attribute names, received {value!r}.")
  return vector


def describe_condition(condition, conditioning, names=None):
  """A condition in words: `class 7 (Sneaker)`, or the attributes set
  (`Male, Smiling`; values other than 0 and 1 as `name=value`; `no
  attribute` for zeros)."""
  names = _usable_names(names, conditioning)
  if conditioning.is_class:
    label = int(condition)
    return f"class {label}" + (f" ({names[label]})" if names else "")
  vector = np.asarray(condition, np.float64)
  named = names or [f"attribute {i}" for i in range(len(vector))]
  words = [named[i] if v == 1 else f"{named[i]}={v:g}"
           for i, v in enumerate(vector) if v != 0]
  return ", ".join(words) or "no attribute"


def render(figure, model, images, options, image_conditions=None,
           names=None):
  """One figure: `(uint8 grid image, lines to print)`.

  Args:
    figure: a name from `FIGURES` (or `CONDITIONAL_FIGURES`, for a
      conditional model).
    model: a `RealNVP`.
    images: uint8 test images, at least `images_needed(figure, options,
      model.conditioning)`; the figure uses the first ones.
    options: a `FigureOptions`.
    image_conditions: the test images' conditions (labels `[n]` or vectors
      `[n, A]`), for a conditional model whose figure uses test images.
    names: the class or attribute names of the model's dataset, for the
      options' conditions and the printed lines (`condition_names`).
  """
  _check_figure(figure)
  conditioning = model.conditioning
  needed = images_needed(figure, options, conditioning)
  if needed and (images is None or len(images) < needed):
    raise ValueError(f"{figure} needs {needed} test images, received "
                     f"{0 if images is None else len(images)}.")
  if conditioning is None:
    if figure in CONDITIONAL_FIGURES:
      raise ValueError(f"The {figure} figure needs a conditional model "
                       "(RealNVP(num_classes=K) or condition_shape=(A,)); this "
                       "model is unconditional.")
    if image_conditions is not None:
      raise ValueError("image_conditions for an unconditional model.")
    if options.condition is not None or options.conditions is not None:
      raise ValueError("The options' condition and conditions are for "
                       "conditional models; this model is unconditional.")
  elif needed and (image_conditions is None or
                   len(image_conditions) < needed):
    received = 0 if image_conditions is None else len(image_conditions)
    raise ValueError(f"{figure} of a conditional model needs the conditions "
                     f"of its {needed} test images, received {received}.")
  images = None if images is None else images[:needed]
  if image_conditions is not None:
    image_conditions = image_conditions[:needed]
  lines = []
  if figure == "samples":
    condition = _sample_condition(options, conditioning, names,
                                  image_conditions)
    tiles = panels.sample_panels(model, options.temperatures,
                                 options.num_samples, options.seed, condition)
    lines.append("rows: temperatures " +
                 ", ".join(f"{t:g}" for t in options.temperatures))
    if conditioning is not None:
      lines.append("condition: " +
                   describe_condition(condition, conditioning, names))
  elif figure == "classes":
    conditions = _row_conditions(options, conditioning, names,
                                 image_conditions)
    tiles = panels.class_panels(model, options.num_samples,
                                options.temperature, options.seed, conditions)
    lines += [f"row {r}: {describe_condition(c, conditioning, names)}"
              for r, c in enumerate(conditions)]
  elif figure == "manifold":
    tiles = panels.manifold_panels(model, images, options.grid_size,
                                   image_conditions)
  elif figure == "scales":
    rows = panels.resampling_rows(model.num_scales)
    tiles = panels.scale_panels(model, images, options.num_samples,
                                options.temperature, options.seed, rows,
                                image_conditions)
    shapes = model.flow.latent_shapes
    for r, scales in enumerate(rows):
      lines.append(
          f"row {r} of each block: scale(s) {', '.join(map(str, scales))} "
          f"redrawn at T={options.temperature:g} ("
          + ", ".join("x".join(map(str, shapes[s])) for s in scales)
          + "), the others kept")
  elif figure == "interpolate":
    ends = (None, None) if image_conditions is None else (
        image_conditions[0::2], image_conditions[1::2])
    tiles = panels.interpolation_panels(model, images[0::2], images[1::2],
                                        options.grid_size, *ends)
  else:
    tiles, max_error = panels.reconstruction_panels(model, images,
                                                    image_conditions)
    lines.append(f"max |decode(encode(y)) - y| = {max_error:.3g} "
                 "(pixel units, y = x + 0.5)")
  if conditioning is not None and figure in _ENCODING:
    lines.append("test images under their own conditions: " + "; ".join(
        describe_condition(c, conditioning, names) for c in image_conditions))
  return io.image_grid(pixels.to_uint8(tiles).numpy()), lines


def write_figures(workdir, figure, options, out=print):
  """Makes `figure` (or every figure of the model, for `"all"`:
  `figures_of`) from a workdir.

  Writes `<workdir>/figures/<figure>.png` atomically and reports each file
  and the figure's notes with `out`; the `classes` figure's rows, one a
  line, also go to `<workdir>/figures/classes.txt` (the PNG has no
  captions). Everything is checked (model, figures, conditions, images)
  before the first file is written.

  Returns:
    The paths of the PNGs written, in the order of `figures_of(model)`.
  """
  if figure != ALL:
    _check_figure(figure)
  _check_options(options)
  model, _ = workdirs.load_trained_model(workdir)
  conditioning = model.conditioning
  figures = figures_of(model) if figure == ALL else (figure,)
  names = None
  if conditioning is None:
    if figure in CONDITIONAL_FIGURES:
      raise ValueError(
          f"The {figure} figure needs a conditional model (num_classes or "
          f"condition_shape in {workdirs.MODEL_CONFIG}); the model of "
          f"{workdir} is unconditional.")
    if options.condition is not None or options.conditions is not None:
      raise ValueError(
          "--condition and --conditions are for conditional models; the "
          f"model of {workdir} is unconditional.")
  else:
    names = condition_names(workdir)
    _sample_condition(options, conditioning, names, None, check_only=True)
    _row_conditions(options, conditioning, names, None, check_only=True)
  needed = max(images_needed(f, options, conditioning) for f in figures)
  images = image_conditions = None
  if needed:
    loaded = load_test_images(workdir, needed, options.image_offset,
                              options.data_dir,
                              conditional=conditioning is not None)
    images, image_conditions = (loaded if conditioning is not None else
                                (loaded, None))
  if images is not None and images.shape[1:] != model.image_shape:
    raise ValueError(f"The test images of {workdir} are {images.shape[1:]}, "
                     f"the model's are {model.image_shape}.")
  paths = []
  for name in figures:
    grid, lines = render(name, model, images, options, image_conditions,
                         names)
    path = os.path.join(workdir, workdirs.FIGURES, f"{name}.png")
    io.write_png(path, grid)
    if name == "classes":
      io.write_text(os.path.splitext(path)[0] + ".txt",
                    "".join(line + "\n" for line in lines))
    paths.append(path)
    out(f"{name}: wrote {path} ({grid.shape[1]}x{grid.shape[0]})")
    for line in lines:
      out(f"  {line}")
  return paths


def _dataset_of(workdir, data_dir):
  """`(dataset name, image_size, data_dir, classes, folder_crop)` of a
  workdir (`workdirs.read_run_config`; `classes`: a tuple of int, or `None`
  for all; `folder_crop`: `None` for the default); `data_dir` overrides its
  run's."""
  config = workdirs.read_run_config(workdir)
  return (config.dataset, config.image_size, data_dir or config.data_dir,
          config.classes, config.folder_crop)


def _usable_names(names, conditioning):
  """`names` as a tuple if there is one per class / attribute, else None."""
  if names is None or len(names) != conditioning.dim:
    return None
  return tuple(names)


def _class_label(value, num_classes, names):
  """The label of a class given as an int, its index or its name."""
  label = value
  if isinstance(value, str):
    text = value.strip()
    if text.lstrip("-").isdigit():
      label = int(text)
    else:
      matches = [i for i, n in enumerate(names or ())
                 if n.lower() == text.lower()]
      if len(matches) != 1:
        known = (f"classes: {', '.join(names)}" if names else
                 "the class names of the model's dataset are unknown")
        raise ValueError(f"No class named {value!r} ({known}); or give its "
                         f"index in [0, {num_classes}).")
      label = matches[0]
  if isinstance(label, bool) or not isinstance(label, numbers.Integral):
    raise ValueError(f"A class is an int in [0, {num_classes}) or a class "
                     f"name, received {value!r}.")
  if not 0 <= label < num_classes:
    raise ValueError(f"Class {value!r} is outside [0, {num_classes}): the "
                     f"model has {num_classes} classes.")
  return int(label)


def _sample_condition(options, conditioning, names, image_conditions,
                      check_only=False):
  """The condition of the `samples` figure: `options.condition`, else class
  0, else the first test image's vector."""
  if conditioning is None:
    return None
  if options.condition is not None:
    return resolve_condition(options.condition, conditioning, names)
  if check_only:
    return None
  return 0 if conditioning.is_class else image_conditions[0]


def _row_conditions(options, conditioning, names, image_conditions,
                    check_only=False):
  """The rows of the `classes` figure: `options.conditions`, else every
  class, else the first `num_images` test images' vectors."""
  if options.conditions is not None:
    return [resolve_condition(c, conditioning, names)
            for c in options.conditions]
  if check_only:
    return None
  if conditioning.is_class:
    return list(range(conditioning.num_classes))
  return list(image_conditions[:options.num_images])


def _check_figure(figure):
  if figure not in FIGURES + CONDITIONAL_FIGURES:
    raise ValueError(f"Unknown figure {figure!r}; figures: "
                     f"{', '.join(FIGURES + CONDITIONAL_FIGURES)} (or {ALL}).")
  return figure


def _check_options(options):
  panels.check_temperatures(options.temperatures)
  panels.check_temperatures([options.temperature])
  checks.check_int(1, num_samples=options.num_samples,
                   num_images=options.num_images)
  checks.check_int(2, grid_size=options.grid_size)
  checks.check_int(0, image_offset=options.image_offset)
  if options.conditions is not None and (
      isinstance(options.conditions, str) or not len(options.conditions)):
    raise ValueError("conditions must be a non-empty list of conditions (one "
                     f"per row of the classes figure), received "
                     f"{options.conditions!r}.")
