"""Multi-worker training on this machine: threads, speed, and bits/dim next
to one device.

  python bench/multi_worker_bench.py [--steps=300] [--workers=2]
                                     [--config=fashion_mnist.flags] [--json]

Trains the flagfile's model (prepared Fashion-MNIST by default) for
`--steps` steps three ways, each a real `train.py` run from a new workdir
with the same seed and global batch: on one device (and with another seed,
for the run-to-run spread of the bits/dim); as `--workers` worker
processes on localhost under `--strategy=multi_worker` (`TF_CONFIG` per
process, the README's "Several hosts" on one machine) with synchronised batch
norm (the default); and the same without it. The workers share this
machine's cores, so this measures what the path costs (collectives over
gRPC, one per batch-norm layer per step forward and backward), not a
speed-up.

Printed per run: each process's thread count after step 1, step 30 and the
last step, and the largest seen (sampled every 0.25 s); training images/sec
between step 10 and the last step (evaluation and checkpoints excluded by
`train.py`'s own throughput, as reported in `metrics.jsonl`); the chief's test
bits/dim on the whole test split after the last step.
"""

import json
import os
import tempfile

from absl import app
from absl import flags

import common  # pylint: disable=g-bad-import-order

from tf_realnvp import data  # noqa: E402
from tests import cluster  # noqa: E402

flags.DEFINE_integer("steps", 300, "Training steps of each run.", lower_bound=31)
flags.DEFINE_integer("workers", 2, "Worker processes.", lower_bound=2)
flags.DEFINE_string("config", "fashion_mnist.flags", "Flagfile in configs/.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS


def _args(workdir, steps, seed):
  return [f"--flagfile={FLAGS.config}", f"--workdir={workdir}",
          f"--train_steps={steps}", f"--checkpoint_every={steps // 3}",
          f"--eval_every={steps}", "--eval_examples=0",
          f"--sample_every={steps}", "--log_every=1", f"--seed={seed}"] + (
              [f"--data_dir={FLAGS.data_dir}"] if FLAGS.data_dir else [])


def _train(root, name, count, steps, extra=(), seed=0):
  """Runs one job of `count` processes to the end: its table row."""
  workdir = os.path.join(root, f"run{len(os.listdir(root))}")
  args = _args(workdir, steps, seed) + list(extra)
  workers = (cluster.start_workers(count, args) if count > 1 else
             [cluster.Worker(args)])
  results = [w.wait(timeout=None) for w in workers]
  for code, _, stderr in results:
    if code:
      raise RuntimeError(f"{name} failed:\n{stderr[-3000:]}")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    last = json.loads(f.readlines()[-1])
  chief = workers[0]
  seconds = chief.seconds_at_step[steps] - chief.seconds_at_step[10]
  batch = common.run_config(FLAGS.config).batch_size
  row = dict(run=name, images_per_sec=(steps - 10) * batch / seconds,
             test_bits_per_dim=last["test_bits_per_dim"])
  for step, column in ((1, "threads_step_1"), (30, "threads_step_30"),
                       (steps, "threads_last")):
    row[column] = "/".join(str(w.threads_at_step.get(step)) for w in workers)
  row["threads_max"] = "/".join(str(w.max_threads) for w in workers)
  return row


def main(argv):
  del argv
  data.prepare(common.run_config(FLAGS.config).dataset, FLAGS.data_dir)
  workers = f"{FLAGS.workers} workers"
  with tempfile.TemporaryDirectory() as root:
    rows = [_train(root, "one device", 1, FLAGS.steps),
            _train(root, "one device, --seed=1", 1, FLAGS.steps, seed=1),
            _train(root, workers, FLAGS.workers, FLAGS.steps),
            _train(root, f"{workers}, unsynchronised batch norm",
                   FLAGS.workers, FLAGS.steps, ["--nosynchronized_batch_norm"])]
  common.report(rows, ["run", "images_per_sec", "test_bits_per_dim",
                       "threads_step_1", "threads_step_30", "threads_last",
                       "threads_max"],
                FLAGS.json, f"Multi-worker training, {FLAGS.config}, "
                f"{FLAGS.steps} steps (threads per process)")


if __name__ == "__main__":
  app.run(main)
