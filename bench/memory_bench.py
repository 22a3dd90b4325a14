"""Peak memory of a training step, with and without recomputed gradients.

  python bench/memory_bench.py [--configs=cifar10] [--json]
                               [--dtype_policy=mixed_bfloat16]

Each (configuration, mode) runs in a fresh process (`--child`): it builds
the trainer of the flagfile's architecture and batch, runs one warm-up step
(tracing and graph optimisation allocate too), then measures two steady
steps: TF's CPU allocator peak (`tf.config.experimental.get_memory_info`,
reset before the steps) and the process's resident set size sampled every
5 ms. `activations` is allocator peak minus the memory in use between steps.
"""

import json
import subprocess
import sys
import threading
import time

from absl import app
from absl import flags
import numpy as np

import common  # pylint: disable=g-bad-import-order

from tf_realnvp.model import DTYPE_POLICIES  # noqa: E402

flags.DEFINE_list("configs", ["cifar10"], "Configurations to measure.")
flags.DEFINE_string("child", None, "Internal: measure `config:mode` here.")
flags.DEFINE_enum("dtype_policy", "float32", list(DTYPE_POLICIES),
                  "Keras dtype policy of the s/t networks.")
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS

MODES = ("standard", "recompute")
MIB = 2**20


def _measure(config, mode):
  import psutil  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  kwargs, batch_size = common.architecture(config)
  trainer = common.trainer(config, recompute_gradients=mode == "recompute",
                           dtype_policy=FLAGS.dtype_policy)
  batch = tf.constant(np.random.default_rng(0).uniform(
      0, 256, (batch_size,) + kwargs["image_shape"]).astype(np.float32))
  trainer.train_step(batch)
  process = psutil.Process()
  resident = [process.memory_info().rss]
  in_use = tf.config.experimental.get_memory_info("CPU:0")["current"]
  tf.config.experimental.reset_memory_stats("CPU:0")
  done = threading.Event()

  def sample():
    while not done.is_set():
      resident.append(process.memory_info().rss)
      time.sleep(0.005)

  sampler = threading.Thread(target=sample)
  sampler.start()
  start = time.perf_counter()
  for _ in range(2):
    trainer.train_step(batch)
  seconds = (time.perf_counter() - start) / 2
  done.set()
  sampler.join()
  peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
  return dict(config=config, mode=mode, batch=batch_size,
              tf_peak_mib=peak / MIB, activations_mib=(peak - in_use) / MIB,
              peak_rss_mib=max(resident) / MIB, seconds_per_step=seconds)


def main(argv):
  del argv
  if FLAGS.child:
    print(json.dumps(_measure(*FLAGS.child.split(":"))))
    return
  rows = []
  for config in FLAGS.configs:
    for mode in MODES:
      output = subprocess.run(
          [sys.executable, __file__, f"--child={config}:{mode}",
           f"--dtype_policy={FLAGS.dtype_policy}"],
          capture_output=True, text=True, check=True).stdout
      rows.append(json.loads(output.strip().splitlines()[-1]))
    standard, recompute = rows[-2], rows[-1]
    recompute["vs_standard"] = recompute["tf_peak_mib"] / standard["tf_peak_mib"]
  common.report(rows, ["config", "mode", "batch", "tf_peak_mib",
                       "activations_mib", "peak_rss_mib", "seconds_per_step",
                       "vs_standard"], FLAGS.json,
                f"Training-step memory (dtype_policy={FLAGS.dtype_policy})")


if __name__ == "__main__":
  app.run(main)
