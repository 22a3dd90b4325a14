"""Shared pieces of the benchmarks: configurations, FLOP counts, output.

Every benchmark runs from the repository root as `python bench/<name>.py`
and prints a table (or one JSON object with `--json`).
"""

import json
import os
import platform
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import psutil  # noqa: E402

from tf_realnvp import data  # noqa: E402
from tf_realnvp import flagfiles  # noqa: E402
from tf_realnvp import run_config as run_config_lib  # noqa: E402
from tf_realnvp import training  # noqa: E402
from tf_realnvp.flow import multiscale_layout  # noqa: E402

# name -> flagfile in configs/ (the architectures the benchmarks measure by
# default; any flagfile's name, e.g. celeba.flags, is a configuration too).
CONFIGS = {
    "fashion_mnist": "fashion_mnist.flags",
    "cifar10": "cifar10.flags",
    "imagenet32": "imagenet32.flags",
}


def flagfile(config):
  """The flagfile of a configuration: a `CONFIGS` name or a flagfile's."""
  return CONFIGS.get(config, config)


def run_config(config, **overrides):
  """The `TrainConfig` of a configuration's flagfile (`flagfile`), with
  settings `overrides` (no workdir is written)."""
  path = flagfiles.resolve_flagfiles(
      [flagfiles.FLAGFILE_PREFIX + flagfile(config)], [flagfiles.CONFIG_DIR])
  with open(path[0][len(flagfiles.FLAGFILE_PREFIX):]) as f:
    lines = f.read().splitlines()
  return run_config_lib.from_flag_lines(lines, **dict(
      dict(workdir="/unused"), **overrides))


def architecture(config):
  """`RealNVP` keyword arguments of a configuration (`flagfile`), and its
  batch size."""
  settings = run_config(config)
  spec = data.dataset_spec(settings.dataset, settings.image_size)
  kwargs = dict(image_shape=tuple(spec.image_shape),
                num_scales=settings.model.num_scales,
                num_blocks=settings.model.num_blocks,
                num_filters=settings.model.num_filters)
  return kwargs, settings.batch_size


def trainer(config, strategy=None, rewrites=None, **overrides):
  """A `training.Trainer` of a configuration's dataset, architecture and
  batch (not the rest of its recipe; no workdir is written), with settings
  `overrides` (`TrainConfig` and `ModelConfig` fields) and the Trainer's
  `strategy` and Grappler `rewrites`."""
  settings = run_config(config)
  fields = dict(workdir="/unused", dataset=settings.dataset,
                image_size=settings.image_size,
                num_scales=settings.model.num_scales,
                num_blocks=settings.model.num_blocks,
                num_filters=settings.model.num_filters,
                batch_size=settings.batch_size)
  fields.update(overrides)
  return training.Trainer(training.TrainConfig.from_settings(**fields),
                          strategy, rewrites=rewrites)


def conv_shapes(image_shape, num_scales, num_blocks, num_filters):
  """The 3x3 convolutions of each coupling network: `(height, width, in, out)`.

  One list per coupling network, in order: the input convolution, two per
  residual block, and the output convolution (to `s` and `t`).
  """
  networks = []
  for spec in (step for scale in multiscale_layout(
      image_shape, num_scales, num_filters) for step in scale.steps):
    mask = spec.mask()
    height, width, _ = spec.event_shape
    filters = spec.num_filters
    networks.append(
        [(height, width, mask.network_input_channels, filters)] +
        [(height, width, filters, filters)] * (2 * num_blocks) +
        [(height, width, filters, 2 * mask.transformed_channels)])
  return networks


def forward_flops_per_image(networks, kernel_size=3):
  """Multiply-adds x 2 of the convolutions, per image, forward only.

  Training costs about 3x this (the backward pass computes the gradients of
  each convolution's input and of its kernel, each as costly as the
  forward); batch norm, activations and the coupling arithmetic are not
  counted (they are a few FLOPs per element, against ~2 * 9 * C_in per
  element for a convolution).
  """
  return sum(2 * h * w * kernel_size**2 * c_in * c_out
             for shapes in networks for h, w, c_in, c_out in shapes)


def cpu_model():
  """The CPU's model name and the vector extensions that decide CPU speed
  here (AVX-512, its bfloat16 instructions, AMX), from /proc/cpuinfo."""
  try:
    with open("/proc/cpuinfo") as f:
      info = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  fields = dict(line.split(":", 1) for line in info.splitlines()
                if ":" in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  flags = set(fields.get("flags", "").split())
  extensions = [name for name, flag in (("AVX-512", "avx512f"),
                                        ("AVX512-BF16", "avx512_bf16"),
                                        ("AMX", "amx_tile")) if flag in flags]
  return (f"{fields.get('model name', platform.machine())} "
          f"({', '.join(extensions) or 'no AVX-512, no AMX'})")


def machine():
  """A one-line description of where the numbers come from."""
  return (f"{cpu_model()}, "
          f"{psutil.cpu_count(logical=True)} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}")


def report(rows, columns, as_json, title):
  """Prints `rows` (dicts) as a table under `title`, or as one JSON object.

  Table columns that no row has are left out.
  """
  if as_json:
    print(json.dumps({"benchmark": title, "machine": machine(), "rows": rows}))
    return
  print(f"{title}\n({machine()})")
  columns = [c for c in columns if any(c in row for row in rows)]
  widths = [max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns]
  print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
  for row in rows:
    print("  ".join(_cell(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _cell(value):
  if isinstance(value, float):
    return f"{value:.4g}"
  return "" if value is None else str(value)
