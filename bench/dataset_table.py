"""Training FLOPs per flagfile, and the time per 1000 steps they mean on a GPU.

  python bench/dataset_table.py [--gpu_tflops=6.3] [--json]

For every flagfile in `configs/`: its dataset, image shape and batch, the
convolution FLOPs of one training image (`common.forward_flops_per_image`,
x3 for forward + backward), the TFLOP of 1000 steps, and the seconds those
take at `--gpu_tflops` sustained (default: 40% of an NVIDIA V100's 15.7
TFLOP/s float32 peak; 3x3 convolutions of these widths rarely sustain more
without tensor cores). The CPU column of docs/datasets.md is measured with
`bench/train_bench.py --configs=<flagfile>` (its `images_per_sec`).
"""

import glob
import os

from absl import app
from absl import flags

import common  # pylint: disable=g-bad-import-order


flags.DEFINE_float("gpu_tflops", 0.4 * 15.7, "Sustained float32 TFLOP/s of "
                   "the GPU the estimate is for.", lower_bound=0)
flags.DEFINE_bool("json", False, "Print one JSON object instead of a table.")
FLAGS = flags.FLAGS

STEPS = 1000


def rows(gpu_tflops):
  """One dict per flagfile of `configs/`, sorted by name."""
  table = []
  for path in sorted(glob.glob(os.path.join(common.REPO, "configs",
                                            "*.flags"))):
    name = os.path.basename(path)
    kwargs, batch_size = common.architecture(name)
    train_flops = 3 * common.forward_flops_per_image(
        common.conv_shapes(**kwargs))
    step_tflop = STEPS * batch_size * train_flops / 1e12
    table.append(dict(
        flagfile=name, dataset=common.run_config(name).dataset,
        image_shape="x".join(map(str, kwargs["image_shape"])),
        batch=batch_size, gflop_per_image=train_flops / 1e9,
        tflop_per_1000_steps=step_tflop,
        gpu_sec_per_1000_steps=step_tflop / gpu_tflops))
  return table


def main(argv):
  del argv
  common.report(rows(FLAGS.gpu_tflops),
                ["flagfile", "dataset", "image_shape", "batch",
                 "gflop_per_image", "tflop_per_1000_steps",
                 "gpu_sec_per_1000_steps"], FLAGS.json,
                f"Training FLOPs per flagfile; GPU at {FLAGS.gpu_tflops:g} "
                "TFLOP/s sustained")


if __name__ == "__main__":
  app.run(main)
