"""Speed of the exported `log_prob` signature against the in-process model.

  python bench/export_bench.py [--workdir=runs/fashion_mnist_demo] [--json]

Builds the architecture of `configs/fashion_mnist.flags` (untrained: speed
does not depend on the weights) or restores `--workdir`, exports it with
`tf_realnvp.export.export_saved_model` into a temporary directory, and
measures `log_prob` on uint8 images:

- throughput, images/sec at `--batch_size` (default 256), the median of
  `--repeats` turns;
- latency of one image, median and 90th percentile of all calls;

with each of these runners:
- `saved_model`: `tf.saved_model.load(path).signatures["log_prob"]`;
- `tf1_session`: the TF1 session loader (TF Serving's runtime), the
  signature's tensors fed through `Session.run`;
- `in_process_function`: `model.log_prob(images + 0.5)` in a `tf.function`
  (the same computation, without the export's request checks);
- `in_process_eager`: `model.log_prob(images + 0.5)` called eagerly.

`--json` prints one JSON object instead of the table (`bench/common.py`).
"""

import shutil
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common  # pylint: disable=g-bad-import-order

import tensorflow as tf  # noqa: E402

import tf_realnvp  # noqa: E402
from tf_realnvp import export  # noqa: E402
from tf_realnvp import workdirs  # noqa: E402

flags.DEFINE_string("workdir", None, "A training workdir to restore "
                    "(default: an untrained model of fashion_mnist.flags).")
flags.DEFINE_integer("batch_size", 256, "Batch of the throughput runs.",
                     lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Turns of each runner (the median "
                     "throughput is reported).", lower_bound=1)
flags.DEFINE_integer("throughput_batches", 4, "Timed batches per turn.",
                     lower_bound=1)
flags.DEFINE_integer("latency_calls", 100, "Timed batch-1 calls per turn.",
                     lower_bound=1)
flags.DEFINE_integer("eager_latency_calls", 10, "Timed batch-1 calls per "
                     "turn of the (slow) eager model.", lower_bound=1)
flags.DEFINE_bool("json", False, "Print one JSON object.")

FLAGS = flags.FLAGS

COLUMNS = ("runner", "images_per_sec", "batch1_median_ms", "batch1_p90_ms")


def throughput(function, batch, batches):
  """Images per second of `function` on `batches` calls with `batch`."""
  start = time.perf_counter()
  for _ in range(batches):
    function(batch)
  return batches * len(batch) / (time.perf_counter() - start)


def latencies(function, image, calls):
  """Milliseconds of each of `calls` calls of `function` on one image."""
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    function(image)
    times.append(1000 * (time.perf_counter() - start))
  return times


def measure(functions, images, slow=()):
  """One row per runner; the runners take turns, `--repeats` times, so that
  a change of the machine's load affects all of them alike.

  Args:
    functions: `{name: function(uint8 images)}`.
    images: uint8 `[batch_size, H, W, C]`.
    slow: names timed with one batch and `--eager_latency_calls` per turn.
  """
  for function in functions.values():  # Warm-up: tracing, Grappler.
    function(images)
    function(images[:1])
  rates = {name: [] for name in functions}
  times = {name: [] for name in functions}
  for _ in range(FLAGS.repeats):
    for name, function in functions.items():
      rates[name].append(throughput(
          function, images, 1 if name in slow else FLAGS.throughput_batches))
      times[name] += latencies(function, images[:1], FLAGS.eager_latency_calls
                               if name in slow else FLAGS.latency_calls)
  return [{"runner": name,
           "images_per_sec": float(np.median(rates[name])),
           "batch1_median_ms": float(np.median(times[name])),
           "batch1_p90_ms": float(np.percentile(times[name], 90))}
          for name in functions]


def runners(model, path):
  """`{name: function(uint8 images) -> log_prob as numpy}`, and a closer."""
  signature = tf.saved_model.load(path).signatures["log_prob"]

  session = tf.compat.v1.Session(graph=tf.Graph())
  meta_graph = tf.compat.v1.saved_model.loader.load(
      session, [tf.saved_model.SERVING], path)
  tensors = meta_graph.signature_def["log_prob"]
  feed = session.graph.get_tensor_by_name(tensors.inputs["images"].name)
  fetch = session.graph.get_tensor_by_name(tensors.outputs["log_prob"].name)

  @tf.function(input_signature=[tf.TensorSpec((None,) + model.image_shape,
                                              tf.uint8)])
  def in_process(images):
    return model.log_prob(tf.cast(images, tf.float32) + 0.5)

  return {
      "saved_model": lambda x: signature(images=x)["log_prob"].numpy(),
      "tf1_session": lambda x: session.run(fetch, {feed: x}),
      "in_process_function": lambda x: in_process(x).numpy(),
      "in_process_eager": lambda x: model.log_prob(
          x.astype(np.float32) + 0.5).numpy(),
  }, session.close


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  if FLAGS.workdir:
    model, step = workdirs.load_trained_model(FLAGS.workdir)
    source = f"{FLAGS.workdir}, step {step}"
  else:
    model = tf_realnvp.RealNVP(**common.architecture("fashion_mnist")[0])
    source = "untrained, configs/fashion_mnist.flags"
  images = np.random.default_rng(0).integers(
      0, 256, (FLAGS.batch_size,) + model.image_shape, dtype=np.uint8)
  folder = tempfile.mkdtemp(prefix="export-bench-")
  try:
    start = time.perf_counter()
    path = export.export_saved_model(model, folder, 1)
    export_seconds = time.perf_counter() - start
    functions, close = runners(model, path)
    reference = functions["in_process_function"](images[:4])
    for function in functions.values():
      # Every runner computes the same log-densities.
      np.testing.assert_allclose(function(images[:4]), reference, rtol=1e-4)
    rows = measure(functions, images, slow=("in_process_eager",))
    close()
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  architecture = ", ".join(f"{k}={getattr(model, k)}" for k in (
      "image_shape", "num_scales", "num_blocks", "num_filters"))
  common.report(
      rows, COLUMNS, FLAGS.json,
      f"log_prob of uint8 images: {architecture} ({source}); throughput at "
      f"batch {FLAGS.batch_size}, latency at batch 1; export took "
      f"{export_seconds:.1f} s")
  return 0


if __name__ == "__main__":
  app.run(main)
