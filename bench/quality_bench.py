"""Test bits/dim after a wall-clock budget, and against TFP's own `tfb.Glow`.

  python bench/quality_bench.py --models=real_nvp --minutes=20   # budget
  python bench/quality_bench.py --models=real_nvp,glow --minutes=5  # vs Glow
  python bench/quality_bench.py --models=real_nvp,real_nvp_bf16 --minutes=5

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
import time

from absl import app
from absl import flags

import common  # pylint: disable=g-bad-import-order

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

from tf_realnvp import data  # noqa: E402
from tf_realnvp import losses  # noqa: E402
from tf_realnvp.bijectors import PixelLogit  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions

MODELS = ("real_nvp", "real_nvp_bf16", "glow")
flags.DEFINE_list("models", ["real_nvp", "glow"],
                  f"Models to train, among {', '.join(MODELS)}.")
flags.register_validator("models", lambda names: set(names) <= set(MODELS),
                         message=f"--models must be among {', '.join(MODELS)}.")
flags.DEFINE_float("minutes", 5.0, "Training budget of each model.")
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


def _train_for(step, batches, seconds):
  """Runs `step` on `batches` for `seconds` after one warm-up; steps, img/s."""
  step(next(batches))
  steps, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    step(next(batches))
    steps += 1
  return steps, steps * BATCH / (time.perf_counter() - start)


def _evaluate(log_prob):
  dataset = data.eval_dataset("fashion_mnist", 500, data_dir=FLAGS.data_dir,
                              max_examples=FLAGS.eval_examples)
  total = count = 0.0
  for y in dataset:
    total += float(tf.reduce_sum(losses.to_bits_per_dim(log_prob(y), D)))
    count += int(y.shape[0])
  return total / count


def _real_nvp(dtype_policy, batches):
  trainer = common.trainer("fashion_mnist", batch_size=BATCH,
                           dtype_policy=dtype_policy)
  steps, rate = _train_for(trainer.train_step, batches, FLAGS.minutes * 60)
  log_prob = tf.function(trainer.model.log_prob)
  return dict(model=f"real_nvp (fashion_mnist.flags, {dtype_policy})",
              parameters=trainer.model.count_params(), steps=steps,
              images_per_sec=rate, test_bits_per_dim=_evaluate(log_prob))


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

  steps, rate = _train_for(step, batches, FLAGS.minutes * 60)
  return dict(model=f"tfb.Glow (2 blocks x {FLAGS.glow_steps} steps, "
                    f"{FLAGS.glow_hidden} hidden)",
              parameters=sum(int(tf.size(v)) for v in variables), steps=steps,
              images_per_sec=rate,
              test_bits_per_dim=_evaluate(tf.function(dist.log_prob)))


def main(argv):
  del argv
  data.prepare("fashion_mnist", FLAGS.data_dir)
  rows = []
  for name in FLAGS.models:
    build = {"real_nvp": functools.partial(_real_nvp, "float32"),
             "real_nvp_bf16": functools.partial(_real_nvp, "mixed_bfloat16"),
             "glow": _glow}[name]
    batches = iter(data.train_dataset("fashion_mnist", BATCH, seed=0,
                                      data_dir=FLAGS.data_dir))
    rows.append(build(batches))
  common.report(rows, ["model", "parameters", "steps", "images_per_sec",
                       "test_bits_per_dim"], FLAGS.json,
                f"Fashion-MNIST test bits/dim after {FLAGS.minutes:g} min of "
                "training each")


if __name__ == "__main__":
  app.run(main)
