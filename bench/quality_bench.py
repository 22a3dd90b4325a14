"""Test bits/dim after a wall-clock budget, and against TFP's own `tfb.Glow`.

  python bench/quality_bench.py --models=real_nvp --minutes=20   # budget
  python bench/quality_bench.py --models=real_nvp,glow --minutes=5  # vs Glow
  python bench/quality_bench.py --models=real_nvp,real_nvp_bf16 --minutes=5
  python bench/quality_bench.py --models=real_nvp --minutes=5 \
      --variants=baseline,ema,cosine,variational,all   # the training levers
  python bench/quality_bench.py --models=real_nvp --minutes=8 \
      --variants=baseline,glow_step --seeds=0,1 --grids_dir=G  # the steps

`--variants` trains `real_nvp` once per entry of `VARIANTS` and seed of
`--seeds` (training options on top of the flagfile's model, e.g. `ema`:
`--ema_decay`, `glow_step`: `--step_type=glow`). Every
variant trains for its budget's worth of steps: the steps per second of a
probe run of the variant (`--probe_steps` after one compiled step) times
the budget, so that a schedule that decays to 0 at `train_steps` ends with
the budget. The probes of all variants run first, interleaved in chunks of
10 steps, so that a machine whose speed drifts (or is shared) sizes every
variant alike; the training itself may then be slowed without changing the
result (`images_per_sec` is its own rate, for information). Its test bits/dim is `Trainer.evaluate`'s: the averaged
weights of `ema`, the variational bound of `variational`.

Each model is trained on Fashion-MNIST (prepared offline, see
`tf_realnvp.data`) with the same input pipeline, batch (64), Adam at 1e-3 and
wall-clock budget, then evaluated on the same test examples with the same
dequantisation noise (`--eval_examples`, default the whole test split).
Both are densities on pixel space through the same `PixelLogit`
preprocessing, so their bits/dim compare directly:

- `real_nvp`: `configs/fashion_mnist.flags`' model, trained by
  `tf_realnvp.training` (the `train.py` step);
- `real_nvp_bf16`: the same under `--dtype_policy=mixed_bfloat16` (trained
  and evaluated with bfloat16 s/t networks);
- `tfb.Glow`: `tfb.Glow(output_shape=(28, 28, 1), num_glow_blocks=2,
  num_steps_per_block=--glow_steps)` with `GlowDefaultNetwork` couplings of
  `--glow_hidden` channels, under `tfd.TransformedDistribution(Sample(Normal),
  Chain([PixelLogit(), glow]))`, trained by a plain `tf.function` step.

Reported: parameters, steady images/sec, steps done, test bits/dim.
"""

import functools
import math
import os
import sys
import time

from absl import app
from absl import flags

import common  # pylint: disable=g-bad-import-order

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tf_realnvp import data  # noqa: E402
from tf_realnvp import io  # noqa: E402
from tf_realnvp import losses  # noqa: E402
from tf_realnvp.bijectors import PixelLogit  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions

MODELS = ("real_nvp", "real_nvp_bf16", "glow")
flags.DEFINE_list("models", ["real_nvp", "glow"],
                  f"Models to train, among {', '.join(MODELS)}.")
flags.register_validator("models", lambda names: set(names) <= set(MODELS),
                         message=f"--models must be among {', '.join(MODELS)}.")
flags.DEFINE_float("minutes", 5.0, "Training budget of each model.")
# name -> `TrainConfig` fields on top of fashion_mnist.flags.
VARIANTS = {
    "baseline": {},
    "ema": dict(ema_decay=0.995),
    "cosine": dict(warmup_steps=100, lr_schedule="cosine"),
    "variational": dict(dequantization="variational"),
    "all": dict(ema_decay=0.995, warmup_steps=100, lr_schedule="cosine",
                dequantization="variational"),
    "ema_cosine": dict(ema_decay=0.995, warmup_steps=100,
                       lr_schedule="cosine"),
    "ema_cosine_2e3": dict(ema_decay=0.995, warmup_steps=100,
                           lr_schedule="cosine", learning_rate=2e-3),
    "glow_step": dict(step_type="glow"),
    "glow_step_ema": dict(step_type="glow", ema_decay=0.995),
}
flags.DEFINE_list("variants", ["baseline"],
                  f"Training options of real_nvp, among {', '.join(VARIANTS)}.")
flags.register_validator(
    "variants", lambda names: set(names) <= set(VARIANTS),
    message=f"--variants must be among {', '.join(VARIANTS)}.")
flags.DEFINE_list("seeds", ["0"], "Seeds of the real_nvp variants (data "
                  "order, initial weights): a row per variant and seed.")
flags.DEFINE_string("grids_dir", None, "If set, a sample grid (T=0.7) of "
                    "each real_nvp row is written there as "
                    "<variant>_<minutes>min_seed<seed>.png.")
flags.DEFINE_integer("probe_steps", 60, "Steps timed to size each variant's "
                     "run to the budget.")
PROBE_CHUNK = 10
# 8 x 80 gives 210k parameters, next to the 222k of fashion_mnist.flags.
flags.DEFINE_integer("glow_steps", 8, "Glow steps per block.")
flags.DEFINE_integer("glow_hidden", 80, "Hidden channels of Glow's couplings.")
flags.DEFINE_integer("eval_examples", 10000, "Test examples evaluated.")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS

IMAGE_SHAPE = (28, 28, 1)
D = math.prod(IMAGE_SHAPE)
BATCH = 64


def _glow_distribution():
  glow = tfb.Glow(output_shape=IMAGE_SHAPE, num_glow_blocks=2,
                  num_steps_per_block=FLAGS.glow_steps,
                  coupling_bijector_fn=functools.partial(
                      tfb.GlowDefaultNetwork, num_hidden=FLAGS.glow_hidden),
                  exit_bijector_fn=tfb.GlowDefaultExitNetwork)
  base = tfd.Sample(tfd.Normal(0.0, 1.0), [D])
  return tfd.TransformedDistribution(base, tfb.Chain([PixelLogit(), glow]))


def _train_for(step, batches, seconds=None, steps=None, warm_up=True):
  """Runs `step` on `batches` (after one compiling step if `warm_up`) for
  `seconds` or for `steps` more steps; returns the steps after the warm-up
  and the seconds they took."""
  if warm_up:
    step(next(batches))
  done, start = 0, time.perf_counter()
  while (time.perf_counter() - start < seconds if steps is None else
         done < steps):
    step(next(batches))
    done += 1
  return done, time.perf_counter() - start


def _evaluate(log_prob):
  dataset = data.eval_dataset("fashion_mnist", 500, data_dir=FLAGS.data_dir,
                              max_examples=FLAGS.eval_examples)
  total = count = 0.0
  for y in dataset:
    total += float(tf.reduce_sum(losses.to_bits_per_dim(log_prob(y), D)))
    count += int(y.shape[0])
  return total / count


def _options(dtype_policy, variant, seed):
  return dict(VARIANTS[variant], batch_size=BATCH, data_dir=FLAGS.data_dir,
              dtype_policy=dtype_policy, eval_examples=FLAGS.eval_examples,
              seed=seed)


def _probe_rates(dtype_policy, runs):
  """images/sec of each `(variant, seed)` of `runs`, timed in interleaved
  chunks of `PROBE_CHUNK` steps (after one compiled step and an untimed
  chunk each), so that a
  drift of the machine's speed reaches every variant alike."""
  steps = {}
  for run in runs:
    probe = common.trainer("fashion_mnist", **_options(dtype_policy, *run))
    probe.initialize_new_run()
    batches = iter(probe.train_dataset(0))
    # The compiling step and a chunk that fills the input pipeline.
    _train_for(probe.train_step, batches, steps=PROBE_CHUNK)
    steps[run] = (probe.train_step, batches)
  seconds = dict.fromkeys(runs, 0.0)
  done = dict.fromkeys(runs, 0)
  while min(done.values()) < FLAGS.probe_steps:
    for run, (step, batches) in steps.items():
      chunk, elapsed = _train_for(step, batches, steps=PROBE_CHUNK,
                                  warm_up=False)
      seconds[run] += elapsed
      done[run] += chunk
  return {run: done[run] * BATCH / seconds[run] for run in runs}


def _real_nvp(dtype_policy, variant, seed, rate):
  """The flagfile's model with the options of `variant`, trained for the
  budget's worth of steps at `rate` images/sec (see the module docstring)."""
  steps = int(FLAGS.minutes * 60 * rate / BATCH)
  trainer = common.trainer("fashion_mnist", train_steps=steps,
                           **_options(dtype_policy, variant, seed))
  trainer.initialize_new_run()  # No workdir here.
  batches = iter(trainer.train_dataset(0))
  trainer.train_step(next(batches))
  done, elapsed = _train_for(trainer.train_step, batches, steps=steps - 1,
                             warm_up=False)
  row = dict(model=f"real_nvp (fashion_mnist.flags, {dtype_policy})",
             variant=variant, seed=seed,
             parameters=trainer.model.count_params(), steps=done + 1,
             probe_images_per_sec=rate,
             images_per_sec=done * BATCH / elapsed,
             test_bits_per_dim=trainer.evaluate())
  if FLAGS.grids_dir:
    io.write_png(os.path.join(
        FLAGS.grids_dir, f"{variant}_{FLAGS.minutes:g}min_seed{seed}.png"),
                 trainer.sample_grid(0.7))
  print(row, file=sys.stderr, flush=True)  # Each row as soon as it is known.
  return row


def _glow(batches):
  dist = _glow_distribution()
  # Creates the variables; Glow's actnorm initialises from this first batch.
  dist.log_prob(next(batches))
  optimizer = keras.optimizers.Adam(1e-3)
  variables = dist.trainable_variables

  @tf.function
  def step(y):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(losses.to_bits_per_dim(dist.log_prob(y), D))
    grads = tape.gradient(loss, variables)
    grads, _ = tf.clip_by_global_norm(grads, 100.0)
    optimizer.apply_gradients(zip(grads, variables))

  steps, elapsed = _train_for(step, batches, FLAGS.minutes * 60)
  return dict(model=f"tfb.Glow (2 blocks x {FLAGS.glow_steps} steps, "
                    f"{FLAGS.glow_hidden} hidden)",
              parameters=sum(int(tf.size(v)) for v in variables), steps=steps,
              images_per_sec=steps * BATCH / elapsed,
              test_bits_per_dim=_evaluate(tf.function(dist.log_prob)))


def main(argv):
  del argv
  data.prepare("fashion_mnist", FLAGS.data_dir)
  rows = []
  for name in FLAGS.models:
    if name == "glow":
      rows.append(_glow(iter(data.train_dataset(
          "fashion_mnist", BATCH, seed=0, data_dir=FLAGS.data_dir))))
      continue
    policy = "mixed_bfloat16" if name == "real_nvp_bf16" else "float32"
    runs = [(variant, int(seed))
            for seed in FLAGS.seeds for variant in FLAGS.variants]
    rates = _probe_rates(policy, runs)
    rows += [_real_nvp(policy, *run, rates[run]) for run in runs]
  common.report(rows, ["model", "variant", "seed", "parameters", "steps",
                       "probe_images_per_sec", "images_per_sec",
                       "test_bits_per_dim"], FLAGS.json,
                f"Fashion-MNIST test bits/dim after {FLAGS.minutes:g} min of "
                "training each")


if __name__ == "__main__":
  app.run(main)
