"""Speed of the exported `log_prob` and `sample` signatures against the
in-process model.

  python bench/export_bench.py [--workdir=runs/fashion_mnist_demo] [--json]
                               [--dtype_policy=mixed_bfloat16]

Builds the architecture of `configs/fashion_mnist.flags` (untrained: speed
does not depend on the weights) or restores `--workdir`, exports it with
`tf_realnvp.export.export_saved_model` into a temporary directory, and
measures `log_prob` of uint8 images and `sample` of uint8 images
(temperature 1, seed 0):

- throughput, images/sec at `--batch_size` (default 256) images per call,
  the median of `--repeats` turns;
- latency of one image, median and 90th percentile of all calls;

with each of these runners:
- `saved_model`: `tf.saved_model.load(path).signatures[...]`;
- `tf1_session`: the TF1 session loader (TF Serving's runtime), the
  signature's tensors fed through `Session.run`;
- `in_process_function`: `model.log_prob(images + 0.5)` or `model.sample`
  in a `tf.function` (the same computation, without the export's request
  checks);
- `in_process_eager`: the same, called eagerly.

`--json` prints one JSON object per table instead (`bench/common.py`).
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
from tf_realnvp import pixels  # noqa: E402
from tf_realnvp.model import DTYPE_POLICIES  # noqa: E402
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
flags.DEFINE_enum("dtype_policy", "float32", list(DTYPE_POLICIES),
                  "Policy of the s/t networks of the exported model.")
flags.DEFINE_bool("json", False, "Print one JSON object.")

FLAGS = flags.FLAGS

COLUMNS = ("runner", "images_per_sec", "batch1_median_ms", "batch1_p90_ms")


def throughput(function, argument, size, calls):
  """Images per second of `calls` calls `function(argument)`, each of `size`
  images."""
  start = time.perf_counter()
  for _ in range(calls):
    function(argument)
  return calls * size / (time.perf_counter() - start)


def latencies(function, argument, calls):
  """Milliseconds of each of `calls` calls `function(argument)`."""
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    function(argument)
    times.append(1000 * (time.perf_counter() - start))
  return times


def measure(functions, batch, single, size, slow=()):
  """One row per runner; the runners take turns, `--repeats` times, so that
  a change of the machine's load affects all of them alike.

  Args:
    functions: `{name: function(argument)}`.
    batch: the argument of the throughput calls, `size` images each.
    single: the argument of the latency calls, one image each.
    size: images per throughput call.
    slow: names timed with one batch and `--eager_latency_calls` per turn.
  """
  for function in functions.values():  # Warm-up: tracing, Grappler.
    function(batch)
    function(single)
  rates = {name: [] for name in functions}
  times = {name: [] for name in functions}
  for _ in range(FLAGS.repeats):
    for name, function in functions.items():
      rates[name].append(throughput(
          function, batch, size,
          1 if name in slow else FLAGS.throughput_batches))
      times[name] += latencies(function, single, FLAGS.eager_latency_calls
                               if name in slow else FLAGS.latency_calls)
  return [{"runner": name,
           "images_per_sec": float(np.median(rates[name])),
           "batch1_median_ms": float(np.median(times[name])),
           "batch1_p90_ms": float(np.percentile(times[name], 90))}
          for name in functions]


class Loaded:
  """The export loaded as TF Serving does (TF1 session) and with
  `tf.saved_model.load`; `call_*(signature, **inputs)` -> `{output: numpy}`."""

  def __init__(self, path):
    self._signatures = tf.saved_model.load(path).signatures
    self.session = tf.compat.v1.Session(graph=tf.Graph())
    self._defs = tf.compat.v1.saved_model.loader.load(
        self.session, [tf.saved_model.SERVING], path).signature_def

  def call_saved_model(self, signature, **inputs):
    outputs = self._signatures[signature](
        **{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}

  def call_tf1_session(self, signature, **inputs):
    tensors = self._defs[signature]
    tensor = self.session.graph.get_tensor_by_name
    names = list(tensors.outputs)
    values = self.session.run(
        [tensor(tensors.outputs[k].name) for k in names],
        {tensor(tensors.inputs[k].name): v for k, v in inputs.items()})
    return dict(zip(names, values))


def log_prob_runners(model, loaded):
  """`{name: function(uint8 images) -> log_prob as numpy}`."""

  @tf.function(input_signature=[tf.TensorSpec((None,) + model.image_shape,
                                              tf.uint8)])
  def in_process(images):
    return model.log_prob(tf.cast(images, tf.float32) + 0.5)

  return {
      "saved_model": lambda x: loaded.call_saved_model(
          "log_prob", images=x)["log_prob"],
      "tf1_session": lambda x: loaded.call_tf1_session(
          "log_prob", images=x)["log_prob"],
      "in_process_function": lambda x: in_process(x).numpy(),
      "in_process_eager": lambda x: model.log_prob(
          x.astype(np.float32) + 0.5).numpy(),
  }


def sample_runners(model, loaded):
  """`{name: function(n) -> n uint8 images}` at temperature 1, seed 0."""
  inputs = lambda n: dict(num_samples=np.int32(n), temperature=np.float32(1),
                          seed=np.int32(0))

  @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
  def in_process(n):
    return pixels.to_uint8(model.sample(n, seed=0))

  return {
      "saved_model": lambda n: loaded.call_saved_model(
          "sample", **inputs(n))["images"],
      "tf1_session": lambda n: loaded.call_tf1_session(
          "sample", **inputs(n))["images"],
      "in_process_function": lambda n: in_process(np.int32(n)).numpy(),
      "in_process_eager": lambda n: pixels.to_uint8(
          model.sample(n, seed=0)).numpy(),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  if FLAGS.workdir:
    model, step = workdirs.load_trained_model(FLAGS.workdir,
                                              dtype=FLAGS.dtype_policy)
    source = f"{FLAGS.workdir}, step {step}"
  else:
    model = tf_realnvp.RealNVP(**common.architecture("fashion_mnist")[0],
                               dtype=FLAGS.dtype_policy)
    source = "untrained, configs/fashion_mnist.flags"
  images = np.random.default_rng(0).integers(
      0, 256, (FLAGS.batch_size,) + model.image_shape, dtype=np.uint8)
  folder = tempfile.mkdtemp(prefix="export-bench-")
  try:
    start = time.perf_counter()
    path = export.export_saved_model(model, folder, 1)
    export_seconds = time.perf_counter() - start
    loaded = Loaded(path)
    log_prob = log_prob_runners(model, loaded)
    sample = sample_runners(model, loaded)
    # Every runner computes the same log-densities and the same samples (in
    # bfloat16 up to the rounding of the kernels each graph fuses).
    exact = FLAGS.dtype_policy == "float32"
    reference = log_prob["in_process_function"](images[:4])
    for function in log_prob.values():
      np.testing.assert_allclose(function(images[:4]), reference,
                                 rtol=1e-4 if exact else 5e-3)
    reference = sample["in_process_function"](4).astype(int)
    for function in sample.values():
      difference = np.abs(function(4).astype(int) - reference)
      # bfloat16 eager vs graph: measured 25% of pixels, mean 0.31 levels.
      assert (np.mean(difference > 0) < 1e-3 if exact else
              np.mean(difference) < 1.0)
    slow = ("in_process_eager",)
    tables = {
        "log_prob of uint8 images": measure(
            log_prob, images, images[:1], FLAGS.batch_size, slow),
        "sample (uint8 images, temperature 1)": measure(
            sample, FLAGS.batch_size, 1, FLAGS.batch_size, slow),
    }
    loaded.session.close()
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  architecture = ", ".join(f"{k}={getattr(model, k)}" for k in (
      "image_shape", "num_scales", "num_blocks", "num_filters")) + (
          f", {model.network_dtype_policy.name}")
  for title, rows in tables.items():
    common.report(
        rows, COLUMNS, FLAGS.json,
        f"{title}: {architecture} ({source}); throughput at batch "
        f"{FLAGS.batch_size}, latency at batch 1; export took "
        f"{export_seconds:.1f} s")
  return 0


if __name__ == "__main__":
  app.run(main)
