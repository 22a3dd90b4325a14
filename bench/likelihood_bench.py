"""Served bits/dim against the training bound and large-K estimates.

  python bench/likelihood_bench.py --workdir=runs/fashion_mnist_demo \
      [--examples=256] [--draws=1,16,256] [--bound_repeats=16] [--json]

Restores the workdir's final checkpoint (the weight average when the run
kept one, as `tf_realnvp.workdirs.load_trained_model` does) and evaluates
the first `--examples` test images of its dataset:

- `training bound`: `model.bits_per_dim`, the one-draw dequantisation bound
  that training reports, averaged over `--bound_repeats` noise seeds;
- `K = k`: `model.log_likelihood(images, num_draws=k)` in bits/dim, the
  importance-weighted estimate of the discrete likelihood
  (`tf_realnvp.likelihood`), for each `k` of `--draws`; `K = 16`
  (`tf_realnvp.likelihood.DEFAULT_NUM_DRAWS`) is what the export serves.
  Called through `tf.function` (one graph per `k`): eagerly, each of the
  `K` passes of the flow would run op by op.

Each row is the mean over the images, with the difference to the largest
`K`. A served value above the training bound, or more than a few
hundredths of a bit from the largest `K`, would mean the estimate does not
do its job.
"""

import numpy as np

from absl import app
from absl import flags

import common  # The path and TensorFlow first; the table.
import tensorflow as tf  # noqa: E402

from tf_realnvp import data
from tf_realnvp import likelihood
from tf_realnvp import losses
from tf_realnvp import workdirs

flags.DEFINE_string("workdir", "runs/fashion_mnist_demo", "A trained workdir.")
flags.DEFINE_integer("examples", 256, "First test images evaluated.")
flags.DEFINE_list("draws", ["1", "16", "256"], "Numbers of draws K.")
flags.DEFINE_integer("bound_repeats", 16, "Noise seeds of the bound.")
flags.DEFINE_integer("batch_size", 64, "Images per call.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS


def _images(config):
  """The first `--examples` uint8 test images `[<= batch_size, H, W, C]`."""
  images = data.load_images(
      config.dataset, data.dataset_spec(config.dataset).test_split,
      data_dir=FLAGS.data_dir or config.data_dir,
      image_size=config.image_size, folder_crop=config.folder_crop)
  return list(images.take(FLAGS.examples).batch(FLAGS.batch_size))


def main(argv):
  del argv
  config = workdirs.read_run_config(FLAGS.workdir)
  model, _ = workdirs.load_trained_model(FLAGS.workdir)
  batches = _images(config)
  dims = model.num_dims
  log_likelihood = tf.function(model.log_likelihood, reduce_retracing=True)

  def mean_bits(per_batch):
    return float(np.mean(np.concatenate([np.asarray(v) for v in per_batch])))

  bound = np.mean([mean_bits(model.bits_per_dim(x, seed=seed)
                             for x in batches)
                   for seed in range(FLAGS.bound_repeats)])
  rows = [dict(estimate=f"training bound ({FLAGS.bound_repeats} seeds)",
               bits_per_dim=bound)]
  for k in sorted(int(k) for k in FLAGS.draws):
    likelihood.check_num_draws(k)
    rows.append(dict(
        estimate=f"K = {k}" + (" (served)" if k == likelihood.DEFAULT_NUM_DRAWS
                               else ""),
        bits_per_dim=mean_bits(losses.to_bits_per_dim(
            log_likelihood(x, num_draws=k), dims) for x in batches)))
  largest = rows[-1]["bits_per_dim"]
  for row in rows:
    row["minus_largest_k"] = row["bits_per_dim"] - largest
  common.report(rows, ["estimate", "bits_per_dim", "minus_largest_k"],
                FLAGS.json,
                f"Bits/dim of the first {FLAGS.examples} test images of "
                f"{config.dataset}, {FLAGS.workdir}")


if __name__ == "__main__":
  app.run(main)
