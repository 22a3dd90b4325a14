"""Anomaly scores of 8-bit images under a trained flow: higher is stranger.

Every score is computed in the graph from uint8 images `x` `[N, H, W, C]`
with the estimate of their discrete likelihood that the export serves
(`tf_realnvp.likelihood`: importance-weighted over `num_draws` fixed
dequantisation draws `y_k = x + u_k`, deterministic), in bits per dimension
(`D = H W C`), and returns `[N]` float32:

* `bits_per_dim`: `b(x) = -log2 P(x) / D`, the raw negative
  log-likelihood (`RealNVP.log_likelihood`).
  Known to fail as an anomaly score: flows trained on Fashion-MNIST give
  higher likelihood to MNIST digits, on CIFAR-10 to SVHN (Nalisnick et al.,
  "Do deep generative models know what they don't know?", ICLR 2019), since
  it is dominated by how simple an image is.
* `complexity`: `b(x) - L(x) / D`, with `L(x)` the bits of `x`'s lossless PNG
  code (`tf.io.encode_png`, compression level 9; `8 * bytes`). Serra et al.,
  "Input complexity and out-of-distribution detection with likelihood-based
  generative models", ICLR 2020, `S(x) = -log2 p(x) - L(x)`, per dimension.
* `typicality`: `|b(x) - b_typical|`, the distance to the mean bits/dim of
  held-out inliers (`Calibration.typical_bits_per_dim`; scores only with a
  calibration): Nalisnick et al.,
  "Detecting out-of-distribution inputs to deep generative models using
  typicality", 2019, with a batch of one.
* `likelihood_ratio`: `b(x) - b_0(x)`, with `b_0` the bits/dim of a
  background model trained on perturbed inputs (`train.py
  --perturbation_rate`): minus Ren et al.'s log-likelihood ratio
  `log p(x) - log p_0(x)` (NeurIPS 2019, "Likelihood ratios for
  out-of-distribution detection"), per dimension and in bits. The
  background captures the local statistics of images in general; the ratio
  keeps what is specific to the training data. Scores only with a
  background model.
* `scale<i>_bits_per_dim`, one per scale `i` of the multi-scale flow: the
  bits/dim of the part of `-log2 p(y_k)` that scale `i` accounts for
  (`scale_log_likelihoods`), averaged over the draws, over the `D_i`
  dimensions it factors out. The
  finest scale models local pixel statistics and the coarser ones more
  global structure (cf. Schirrmeister et al., "Understanding anomaly
  detection with deep invertible networks through hierarchies of
  distributions and features", NeurIPS 2020), so their split shows where an
  input is unlikely.
* `png_bits_per_dim` (`L(x) / D`) and, with a background model,
  `background_bits_per_dim` (`b_0(x)`): the parts of `complexity` and
  `likelihood_ratio`, as statistics.
* `mahalanobis`: `(v(x) - m)^T S^{-1} (v(x) - m)`, the squared Mahalanobis
  distance of the vector of statistics `v(x)` = (each scale's bits/dim, PNG
  bits/dim[, background bits/dim]) from the mean `m` and covariance `S` of
  held-out inliers' (`statistic_names`): twice the negative log-density, up
  to a constant, of a Gaussian fitted to the inliers' statistics, as in
  Morningstar et al., "Density of states estimation for out-of-distribution
  detection", AISTATS 2021 (who fit kernel densities or one-class SVMs to
  such summary statistics). Unlike the one-sided scores it flags inputs
  whose statistics are atypical in any direction, e.g. too likely at the
  coarse scale and too unlikely at the fine one. Scores only with a
  calibration.

Unconditional models only (a conditional model's density depends on its
condition: score `p(x)` of a class model by hand with
`RealNVP.class_log_likelihoods`).
"""

import math

import numpy as np
import tensorflow as tf

from tf_realnvp import likelihood
from tf_realnvp import losses

__all__ = ["BACKGROUND_BITS_PER_DIM", "BITS_PER_DIM", "COMPLEXITY",
           "LIKELIHOOD_RATIO", "MAHALANOBIS", "PNG_BITS_PER_DIM", "TYPICALITY",
           "check_background", "check_unconditional", "fit_statistics",
           "png_bits_per_dim", "reference_scores", "scale_log_likelihoods",
           "scale_score_name", "score_names", "scores", "statistic_names"]

BITS_PER_DIM = "bits_per_dim"
PNG_BITS_PER_DIM = "png_bits_per_dim"
BACKGROUND_BITS_PER_DIM = "background_bits_per_dim"
MAHALANOBIS = "mahalanobis"
COMPLEXITY = "complexity"
TYPICALITY = "typicality"
LIKELIHOOD_RATIO = "likelihood_ratio"


def scale_score_name(index):
  """The name of scale `index`'s score, `scale<index>_bits_per_dim`."""
  return f"scale{index}_bits_per_dim"


def statistic_names(model, background=False):
  """The statistics of `mahalanobis`: each scale's bits/dim, the PNG
  bits/dim and, with a background model, its bits/dim."""
  return ([scale_score_name(i) for i in range(len(model.layout))] +
          [PNG_BITS_PER_DIM] + ([BACKGROUND_BITS_PER_DIM] if background
                                else []))


def score_names(model, background=False, reference=False):
  """The names `scores` returns for `model`, in a fixed order.

  Args:
    model: an unconditional `RealNVP`.
    background: whether a background model is given.
    reference: whether held-out statistics are given.
  """
  names = [BITS_PER_DIM, COMPLEXITY] + ([LIKELIHOOD_RATIO] if background
                                        else [])
  names += statistic_names(model, background)
  return names + ([TYPICALITY, MAHALANOBIS] if reference else [])


def png_bits_per_dim(images, compression=9):
  """`L(x) / D`: bits of each image's PNG code per dimension, `[N]` float32.

  Args:
    images: uint8 `[N, H, W, C]`, `C` in `{1, 2, 3, 4}` (PNG's channels).
    compression: zlib level, 0-9 (9: the smallest code, Serra et al.'s
      choice of a good general-purpose lossless compressor).
  """
  images = tf.convert_to_tensor(images)
  num_dims = math.prod(images.shape[1:])
  lengths = tf.map_fn(
      lambda image: tf.strings.length(
          tf.io.encode_png(image, compression=compression)),
      images, fn_output_signature=tf.int32)
  return 8.0 * tf.cast(lengths, tf.float32) / num_dims


def scale_log_likelihoods(model, y):
  """Each scale's share of `log p(y)`, `[N, L]`, in nats: log-density of
  the scale's latent piece plus the log-determinants of its own layers
  (`RealNVP.scale_log_likelihoods`, which gives the change of variables);
  they add up to `model.log_prob(y)`.

  Args:
    model: an unconditional `RealNVP`.
    y: float pixels `[N, H, W, C]` in `[0, 256)`.
  """
  check_unconditional(model)
  return model.scale_log_likelihoods(y)


def scores(model, images, background=None, reference=None,
           num_draws=likelihood.DEFAULT_NUM_DRAWS):
  """Every anomaly score of uint8 `images` (see the module docstring).

  Args:
    model: an unconditional `RealNVP`, in evaluation mode.
    images: uint8 `[N, H, W, C]` of the model's image shape.
    background: `None`, or the background `RealNVP` (same image shape) of
      `likelihood_ratio`.
    reference: `None`, or the held-out inliers' statistics of `typicality`
      and `mahalanobis` (a `Calibration`; see `reference_scores`).
    num_draws: the dequantisation draws of the likelihood estimates.

  Returns:
    `{name: float32 [N]}` with the keys of `score_names(model, background
    is not None, reference is not None)`.
  """
  check_unconditional(model)
  images = tf.convert_to_tensor(images)

  def log_density(y):
    shares = scale_log_likelihoods(model, y)
    return tf.reduce_sum(shares, axis=-1), shares

  log_likelihood, shares = likelihood.importance_weighted(
      model, images, num_draws, log_density)
  bits = losses.to_bits_per_dim(log_likelihood, model.num_dims)
  png = tf.cast(png_bits_per_dim(images), bits.dtype)
  result = {BITS_PER_DIM: bits, COMPLEXITY: bits - png}
  if background is not None:
    check_background(model, background)
    background_bits = tf.cast(losses.to_bits_per_dim(
        background.log_likelihood(images, num_draws=num_draws),
        background.num_dims), bits.dtype)
    result[LIKELIHOOD_RATIO] = bits - background_bits
  for i, size in enumerate(_piece_sizes(model)):
    result[scale_score_name(i)] = losses.to_bits_per_dim(shares[:, i], size)
  result[PNG_BITS_PER_DIM] = png
  if background is not None:
    result[BACKGROUND_BITS_PER_DIM] = background_bits
  result = {name: tf.cast(value, tf.float32) for name, value in result.items()}
  if reference is not None:
    result.update({name: tf.cast(value, tf.float32) for name, value in
                   reference_scores(result, reference).items()})
  return result


def reference_scores(raw, reference):
  """`typicality` and `mahalanobis` of the other scores `raw` (a dict of
  `[N]`), given the held-out inliers' statistics `reference`.

  Args:
    raw: the result of `scores(...)` without `reference`.
    reference: has `typical_bits_per_dim` (a float), `statistic_names` (the
      statistics' names, `K`), `statistics_mean` (`[K]`) and
      `statistics_precision` (`[K, K]`, the inverse covariance).
  """
  statistics = tf.stack([tf.cast(raw[name], tf.float64)
                         for name in reference.statistic_names], axis=-1)
  centred = statistics - tf.constant(reference.statistics_mean, tf.float64)
  precision = tf.constant(reference.statistics_precision, tf.float64)
  distance = tf.reduce_sum(centred * tf.linalg.matvec(precision, centred),
                           axis=-1)
  return {TYPICALITY: tf.abs(tf.cast(raw[BITS_PER_DIM], tf.float64) -
                             reference.typical_bits_per_dim),
          MAHALANOBIS: distance}


def fit_statistics(raw, names):
  """`(mean [K], precision [K, K])` of the statistics `names` of held-out
  inliers' `raw` scores (numpy `[n]` each): their mean and inverse
  covariance (pseudo-inverse, for statistics that vary together)."""
  statistics = np.stack([np.asarray(raw[name], np.float64) for name in names],
                        axis=-1)
  covariance = np.atleast_2d(np.cov(statistics, rowvar=False))
  return statistics.mean(axis=0), np.linalg.pinv(covariance)


def _piece_sizes(model):
  """`D_i`, the dimensions scale `i` factors out (they add up to `D`)."""
  return [scale.latent_size for scale in model.layout]


def check_unconditional(model):
  """A ValueError unless `model` is unconditional."""
  if model.conditioning is not None:
    raise ValueError(
        "Anomaly scores need an unconditional model: this one is "
        "conditional, and its density depends on the condition.")


def check_background(model, background):
  """A ValueError unless `background` is an unconditional model of
  `model`'s image shape."""
  check_unconditional(background)
  if tuple(background.image_shape) != tuple(model.image_shape):
    raise ValueError(
        f"The background model's image shape {tuple(background.image_shape)} "
        f"differs from the model's {tuple(model.image_shape)}.")
