"""Train-step throughput, FLOP/s, and the conv-stack ceiling of this machine.

  python bench/train_bench.py [--configs=fashion_mnist,cifar10,imagenet32]
                              [--steps=5] [--jit_compile] [--keras_adam]
                              [--tf_grappler] [--half_chains]
                              [--rewrites=tensorflow]
                              [--mirrored_cpus=2] [--intra_op_threads=1]
                              [--inter_op_threads=2]
                              [--dtype_policy=mixed_bfloat16] [--json]

For each configuration (the architecture and batch of its flagfile in
`configs/`), times steady-state training steps of `tf_realnvp.training`'s
step (median, after 2 warm-up steps; synthetic pixels, so the input
pipeline is not part of it: see `--pipeline` for its own rate), and counts
the model's convolution FLOPs per image (`common.forward_flops_per_image`,
x3 for training). The ceiling is measured in the same run: a plain Keras stack of
`Conv2D`+ReLU layers with exactly the same convolution shapes and batch,
trained the same way (forward + backward + SGD), under the same Keras dtype
policy, its steps alternating with the model's (see `_time_interleaved`).
`ratio` is the model's achieved FLOP/s over the stack's: the median over
rounds of each round's ratio, with its smallest and largest.

`first_step_sec` is the first call (tracing, Grappler, the graph's
instantiation and the step). Later variants' first steps run with what the
earlier ones left in oneDNN's primitive cache; compare first steps across
processes (`--rewrites`). Thread pools (`--intra_op_threads`,
`--inter_op_threads`) and `--mirrored_cpus` apply to the whole process:
compare them across processes too, alternating runs.
"""

import time

from absl import app
from absl import flags
import numpy as np

import common  # pylint: disable=g-bad-import-order

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_realnvp import data  # noqa: E402
from tf_realnvp import losses  # noqa: E402
from tf_realnvp.model import DTYPE_POLICIES  # noqa: E402
from tf_realnvp.optimization import graph_options  # noqa: E402
from tf_realnvp.training import strategies  # noqa: E402

flags.DEFINE_list("configs", list(common.CONFIGS), "Configurations to time.")
flags.DEFINE_integer("steps", 5, "Timed rounds per configuration (one step "
                     "of the model and one of the conv stack each).",
                     lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed steps first.", lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
flags.DEFINE_bool("grappler", True, "Grappler graph optimisations on.")
flags.DEFINE_bool("recompute_gradients", False, "Train with recomputation.")
flags.DEFINE_bool("keras_adam", False, "Also time the model trained with "
                  "keras.optimizers.Adam (the trainer's FusedAdam does the "
                  "same math), interleaved with the others.")
flags.DEFINE_enum("rewrites", "trainer", ["trainer", "tensorflow"],
                  "Grappler passes of the model's step: the trainer's "
                  "(`graph_options.rewrites_for` its devices) or "
                  "TensorFlow's defaults; first steps compare fairly only "
                  "across processes (oneDNN caches what a first step built).")
flags.DEFINE_integer("mirrored_cpus", 0, "Split the CPU into this many "
                     "logical devices and train the model (not the ceiling) "
                     "under MirroredStrategy across them (0: one device).",
                     lower_bound=0)
flags.DEFINE_integer("intra_op_threads", 0, "Threads per op (0: TensorFlow's "
                     "default, the core count).", lower_bound=0)
flags.DEFINE_integer("inter_op_threads", 0, "Ops at once (0: TensorFlow's "
                     "default).", lower_bound=0)
flags.DEFINE_bool("half_chains", False, "Also time the model whose loss is "
                  "computed on two half-batches in one graph (two independent "
                  "chains that can run at once), interleaved.")
flags.DEFINE_bool("tf_grappler", False, "Also time the model compiled with "
                  "TensorFlow's default Grappler passes (the trainer's are "
                  "`graph_options.rewrites_for` its devices), interleaved.")
flags.DEFINE_enum("dtype_policy", "float32", list(DTYPE_POLICIES),
                  "Policy of the s/t networks and of the conv stack.")
flags.DEFINE_bool("ceiling", True, "Also time the plain conv stack.")
flags.DEFINE_bool("pipeline", False, "Also time the Fashion-MNIST input "
                  "pipeline alone (needs the dataset prepared).")
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS


def _time_interleaved(steps, batch, warmup, rounds):
  """Seconds per call of each of `steps`, `[len(steps), rounds]`, and of
  each one's first call.

  After `warmup` calls of each (the first includes tracing), the steps are
  called in turn, one call each per round, so that the machine's drift over
  the run (large on shared virtual machines) affects all of them alike, and
  the ratio of two steps' times can be taken round by round.
  """
  first = []
  for step in steps:
    start = time.perf_counter()
    step(batch)
    first.append(time.perf_counter() - start)
    for _ in range(warmup - 1):
      step(batch)
  seconds = np.zeros((len(steps), rounds))
  for r in range(rounds):
    for i, step in enumerate(steps):
      start = time.perf_counter()
      step(batch)
      seconds[i, r] = time.perf_counter() - start
  return seconds, first


def _model_step(config, batch, keras_adam=False, rewrites=None):
  """The trainer's guarded step on `batch` (its argument is ignored)."""
  strategy = (strategies.make_strategy("mirrored", [
      f"/cpu:{i}" for i in range(FLAGS.mirrored_cpus)])
              if FLAGS.mirrored_cpus else None)
  trainer = common.trainer(config, strategy=strategy, rewrites=rewrites,
                           recompute_gradients=FLAGS.recompute_gradients,
                           dtype_policy=FLAGS.dtype_policy)
  if strategy:
    parts = tf.split(batch, FLAGS.mirrored_cpus)
    batch = strategy.experimental_distribute_values_from_function(
        lambda context: parts[context.replica_id_in_sync_group])
  if keras_adam:
    with trainer.strategy.scope():
      trainer.optimizer = keras.optimizers.Adam(trainer.config.learning_rate)
      trainer.optimizer.build(trainer.model.trainable_variables)
    trainer.step_fn.optimizer = trainer.optimizer
  if FLAGS.jit_compile:
    step = trainer.step_fn
    step._compiled = tf.function(  # pylint: disable=protected-access
        step._distributed_step, jit_compile=True, autograph=False)  # pylint: disable=protected-access
  return lambda _: trainer.train_step(batch)


def _in_half_chains(step):
  """`step`, its graph traced with the loss of each half of the batch
  computed by its own chain of the flow (`losses.bits_per_dim` replaced
  while it runs): TensorFlow can run the two chains' ops at once. Batch
  norm then uses each half's statistics, so this bounds from above the
  speed of two chains that share whole-batch statistics."""
  plain = losses.bits_per_dim

  def halves(model, y, training, condition=None):
    del condition  # The benchmark's models are unconditional.
    return tf.concat([plain(model, h, training) for h in tf.split(y, 2)], 0)

  def call(batch):
    losses.bits_per_dim = halves
    try:
      return step(batch)
    finally:
      losses.bits_per_dim = plain

  return call


def _conv_stack_step(networks, batch_size):
  """A training step of plain conv stacks with the model's conv shapes.

  One `keras.Sequential` of `Conv2D`+ReLU per coupling network, fed random
  inputs of that network's input shape.
  """
  stacks = [keras.Sequential(
      [keras.Input(shapes[0][:3])] +
      [keras.layers.Conv2D(c_out, 3, padding="same", activation="relu",
                           dtype=FLAGS.dtype_policy)
       for _, _, _, c_out in shapes]) for shapes in networks]
  inputs = [tf.random.uniform((batch_size,) + shapes[0][:3])
            for shapes in networks]
  variables = [v for s in stacks for v in s.trainable_variables]
  optimizer = keras.optimizers.SGD(1e-6)

  @tf.function
  def step(_):
    with tf.GradientTape() as tape:
      loss = tf.add_n([tf.reduce_mean(tf.cast(s(x), tf.float32))
                       for s, x in zip(stacks, inputs)])
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  return step


def _pipeline_rate(batch_size, batches=50):
  dataset = data.train_dataset("fashion_mnist", batch_size, seed=0)
  iterator = iter(dataset)
  next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * batch_size / (time.perf_counter() - start)


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
  if FLAGS.mirrored_cpus:
    strategies.logical_cpus(FLAGS.mirrored_cpus)
  if not FLAGS.grappler:
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
  rows = []
  for config in FLAGS.configs:
    kwargs, batch_size = common.architecture(config)
    networks = common.conv_shapes(**kwargs)
    train_flops = 3 * common.forward_flops_per_image(networks)
    batch = tf.constant(np.random.default_rng(0).uniform(
        0, 256, (batch_size,) + kwargs["image_shape"]).astype(np.float32))
    steps = {"model": _model_step(config, batch, rewrites=(
        graph_options.TENSORFLOW_DEFAULTS if FLAGS.rewrites == "tensorflow"
        else None))}
    if FLAGS.ceiling:
      steps["ceiling"] = _conv_stack_step(networks, batch_size)
    if FLAGS.keras_adam:
      steps["keras_adam"] = _model_step(config, batch, keras_adam=True)
    if FLAGS.half_chains:
      steps["half_chains"] = _in_half_chains(_model_step(config, batch))
    if FLAGS.tf_grappler:
      steps["tf_grappler"] = _model_step(
          config, batch, rewrites=graph_options.TENSORFLOW_DEFAULTS)
    seconds, first = _time_interleaved(list(steps.values()), batch,
                                       FLAGS.warmup, FLAGS.steps)
    seconds = dict(zip(steps, seconds))
    first = dict(zip(steps, first))
    model_seconds = np.median(seconds["model"])
    row = dict(config=config, batch=batch_size,
               gflop_per_image=train_flops / 1e9,
               images_per_sec=batch_size / model_seconds,
               gflops=train_flops * batch_size / model_seconds / 1e9,
               first_step_sec=first["model"])
    if FLAGS.ceiling:
      ratios = seconds["ceiling"] / seconds["model"]
      row.update(ceiling_gflops=train_flops * batch_size /
                 np.median(seconds["ceiling"]) / 1e9,
                 ratio=np.median(ratios), ratio_min=ratios.min(),
                 ratio_max=ratios.max())
    for variant in ("keras_adam", "half_chains", "tf_grappler"):
      if variant in steps:
        row.update({
            f"{variant}_images_per_sec": batch_size / np.median(
                seconds[variant]),
            f"{variant}_first_step_sec": first[variant]})
    rows.append(row)
  if FLAGS.pipeline:
    rows.append(dict(config="fashion_mnist input pipeline", batch=64,
                     images_per_sec=_pipeline_rate(64)))
  options = (f"jit_compile={FLAGS.jit_compile} grappler={FLAGS.grappler} "
             f"rewrites={FLAGS.rewrites} "
             f"mirrored_cpus={FLAGS.mirrored_cpus} "
             f"intra_op_threads={FLAGS.intra_op_threads} "
             f"inter_op_threads={FLAGS.inter_op_threads} "
             f"recompute_gradients={FLAGS.recompute_gradients} "
             f"dtype_policy={FLAGS.dtype_policy}")
  common.report(rows, ["config", "batch", "gflop_per_image", "images_per_sec",
                       "gflops", "ceiling_gflops", "ratio", "ratio_min",
                       "ratio_max", "first_step_sec",
                       "keras_adam_images_per_sec",
                       "keras_adam_first_step_sec",
                       "half_chains_images_per_sec",
                       "half_chains_first_step_sec",
                       "tf_grappler_images_per_sec",
                       "tf_grappler_first_step_sec"],
                FLAGS.json, f"Train step ({options})")


if __name__ == "__main__":
  app.run(main)
