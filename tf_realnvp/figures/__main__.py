"""`python -m tf_realnvp.figures --workdir=... [--figure=...]`: the paper's
figures from a training workdir (the package's docstring describes each).

Writes `<workdir>/figures/<figure>.png` and next to it `<figure>.flags`, the
flags that make it again (`--flagfile=`). A bad workdir, too few test images
or a dataset that is not prepared is a one-line error, and nothing is
written. `--figure=classes` (a row per class) needs a conditional model;
`--condition` and `--conditions` choose what conditional models' sample
figures are conditioned on.
"""

import os
import sys

from tf_realnvp import startup

startup.import_tensorflow()  # Before anything else imports TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import workdirs
from tf_realnvp.figures import panels
from tf_realnvp.figures import render

_DEFAULTS = render.FigureOptions()
PROGRAM = "python -m tf_realnvp.figures"

flags.DEFINE_string("workdir", None, "A training workdir (train.py's "
                    "--workdir); figures go to <workdir>/figures/.")
flags.DEFINE_enum("figure", render.ALL,
                  list(render.FIGURES + render.CONDITIONAL_FIGURES) +
                  [render.ALL], "Which figure (classes: conditional models "
                  "only; all: every figure of the model).")
flags.DEFINE_list("temperatures",
                  [f"{t:g}" for t in _DEFAULTS.temperatures],
                  "Temperatures of the samples figure, one row each.")
flags.DEFINE_float("temperature", _DEFAULTS.temperature, "Temperature of the "
                   "redrawn latents of the scales figure and of the classes "
                   "figure's samples.")
flags.DEFINE_integer("num_samples", _DEFAULTS.num_samples, "Samples per row "
                     "(samples, scales, classes).", lower_bound=1)
flags.DEFINE_integer("num_images", _DEFAULTS.num_images, "Test images "
                     "(scales, reconstruct; the default rows of classes for "
                     "condition vectors) or pairs of them (interpolate).",
                     lower_bound=1)
flags.DEFINE_integer("grid_size", _DEFAULTS.grid_size, "Angles per side of "
                     "the manifold and steps of the interpolation.",
                     lower_bound=2)
flags.DEFINE_integer("image_offset", _DEFAULTS.image_offset, "Index of the "
                     "first test image used.", lower_bound=0)
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed of every random draw.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the "
                    f"workdir's {workdirs.FLAGS_FILE}).")
flags.DEFINE_string("condition", None, "Conditional models: the condition of "
                    "the samples figure: a class (its index in [0, K) or its "
                    "name, e.g. Sneaker), or comma-separated attribute names "
                    "set to 1, the others 0 (e.g. Male,Smiling; empty: none). "
                    "Default: class 0, or the first test image's attributes.")
flags.DEFINE_multi_string("conditions", None, "Conditional models: the rows "
                          "of the classes figure, one condition each (as "
                          "--condition); repeat the flag for more rows. "
                          "Default: every class, or the attributes of the "
                          "first --num_images test images.")
flags.mark_flag_as_required("workdir")
flags.register_validator(
    "temperature", lambda v: v is not None and 0 <= v < float("inf"),
    message="--temperature must be finite and >= 0.")

FLAGS = flags.FLAGS
_FIGURE_FLAGS = ("workdir", "temperatures", "temperature", "num_samples",
                 "num_images", "grid_size", "image_offset", "seed", "data_dir",
                 "condition", "conditions")


@flags.validator("temperatures", message="--temperatures must be a "
                 "comma-separated list of finite numbers >= 0.")
def _valid_temperatures(values):
  try:
    panels.check_temperatures(float(v) for v in values)
  except (TypeError, ValueError):
    return False
  return True


def main(argv):
  """Writes the figures; returns the exit status (errors: one line)."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:  # TFDS logs every dataset it opens.
    logging.set_verbosity(logging.WARNING)
  options = render.FigureOptions(
      temperatures=tuple(float(t) for t in FLAGS.temperatures),
      temperature=FLAGS.temperature,
      num_samples=FLAGS.num_samples,
      num_images=FLAGS.num_images,
      grid_size=FLAGS.grid_size,
      image_offset=FLAGS.image_offset,
      seed=FLAGS.seed,
      data_dir=FLAGS.data_dir,
      condition=FLAGS.condition,
      conditions=None if FLAGS.conditions is None else tuple(FLAGS.conditions))
  try:
    paths = render.write_figures(FLAGS.workdir, FLAGS.figure, options)
    for path in paths:
      stem = os.path.splitext(path)[0]
      io.write_text(stem + ".flags", _flags_text(os.path.basename(stem)))
  except (ValueError, OSError, data.DatasetUnavailableError) as error:
    sys.stderr.write(f"{PROGRAM}: error: {io.one_line(error)}\n")
    return 1
  return 0


def _flags_text(figure):
  """The flags that make `figure` again, one `--flag=value` a line."""
  lines = [f"--figure={figure}"]
  lines += [FLAGS[n].serialize() for n in _FIGURE_FLAGS
            if FLAGS[n].value is not None]
  return "".join(line + "\n" for line in lines)


if __name__ == "__main__":
  app.run(main)
