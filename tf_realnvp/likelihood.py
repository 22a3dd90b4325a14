r"""The discrete likelihood of 8-bit images, estimated by importance weighting.

The flow is a density `p` on pixel space `[0, 256)^D`; an 8-bit image `x`
has the probability of its bins, `P(x) = \int_{[0,1)^D} p(x + u) du`. For
the dequantisation noise density `q(u | x)` (uniform, `q = 1`, or the
learned `tf_realnvp.dequantization.VariationalDequantizer`):

$$\log P(x) = \log \mathbb E_{u \sim q}\Big[\frac{p(x + u)}{q(u | x)}\Big]
  \ge \mathbb E_{u \sim q}\big[\log p(x + u) - \log q(u | x)\big],$$

the right-hand side being the bound training reports (`bits_per_dim`).
`importance_weighted` estimates the left-hand side with `K` draws
(Burda et al., "Importance weighted autoencoders", ICLR 2016):

$$\log \hat P_K(x) = \log \frac1K \sum_{k=1}^K
    \frac{p(x + u_k)}{q(u_k | x)}.$$

`K = 1` is the bound; in expectation the estimate increases with `K`
towards `log P(x)`, never above it. The draws are fixed, so the estimate is
deterministic: `u_k` is `q`'s transform of the uniform noise `e_k` of the
image's shape drawn with the stateless seed `DRAWS_SEED` folded with `k`,
the same `e_k` for every image (an image's estimate does not depend on the
batch it comes in). `DEFAULT_NUM_DRAWS` is what `RealNVP.log_likelihood`,
the export, the anomaly scores and the generative classifier use;
`MAX_NUM_DRAWS` bounds the cost (`K` passes of the flow per image).
"""

import math

import tensorflow as tf

from tf_realnvp import checks
from tf_realnvp import pixels

__all__ = ["DEFAULT_NUM_DRAWS", "DRAWS_SEED", "MAX_NUM_DRAWS",
           "check_num_draws", "importance_weighted"]

DEFAULT_NUM_DRAWS = 16
MAX_NUM_DRAWS = 1024
DRAWS_SEED = (20170411, 1605)


def check_num_draws(num_draws):
  """`num_draws` as an int in `[1, MAX_NUM_DRAWS]`, or a ValueError."""
  checks.check_int(1, num_draws=num_draws)
  if num_draws > MAX_NUM_DRAWS:
    raise ValueError(f"num_draws must be at most {MAX_NUM_DRAWS}, received "
                     f"{num_draws}.")
  return int(num_draws)


def draw_noise(image_shape, k, dtype=tf.float32):
  """The uniform noise `e_k` `[H, W, C]` of draw `k` (a scalar tensor)."""
  seed = tf.random.experimental.stateless_fold_in(
      tf.constant(DRAWS_SEED, tf.int64), tf.cast(k, tf.int64))
  return tf.random.stateless_uniform(image_shape, seed, dtype=dtype)


def importance_weighted(model, images, num_draws, log_density):
  """`log P_K(x)` and the mean over the draws of per-draw statistics.

  Args:
    model: a `RealNVP` (its `dequantized` gives `u_k` and `log q`).
    images: uint8 `[N, H, W, C]`.
    num_draws: `K`, checked by `check_num_draws`.
    log_density: a function of dequantised pixels `y_q` `[N, H, W, C]` (in
      the model's dtype) returning `log p(y_q)` `[..., N]`, or a tuple whose
      first element is that and whose others are statistics to average.

  Returns:
    `log P_K(x)` `[..., N]` (nats, the model's dtype), or with statistics a
    tuple of it and their means over the draws. One pass of the flow per
    draw, in a `tf.while_loop` (one copy of the flow in a graph).
  """
  num_draws = check_num_draws(num_draws)
  images = tf.convert_to_tensor(images)
  bins = tf.cast(images, model.compute_dtype)

  def draw(k):
    noise = draw_noise(tuple(model.image_shape), k, model.compute_dtype)
    y_q, log_q = model.dequantized(pixels.in_bin(bins, noise))
    out = log_density(y_q)
    log_p, statistics = (out[0], tuple(out[1:])) if isinstance(
        out, tuple) else (out, ())
    return log_p - log_q, statistics

  first, first_statistics = draw(tf.constant(0))

  def body(k, total, sums):
    log_weight, statistics = draw(k)
    return (k + 1, tf.reduce_logsumexp(tf.stack([total, log_weight]), axis=0),
            tuple(s + t for s, t in zip(sums, statistics)))

  _, total, sums = tf.while_loop(
      lambda k, *_: k < num_draws, body,
      (tf.constant(1), first, first_statistics))
  estimate = total - math.log(num_draws)
  if not sums:
    return estimate
  return (estimate,) + tuple(s / num_draws for s in sums)
