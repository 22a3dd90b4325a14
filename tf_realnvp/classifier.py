"""The generative classifier of a class-conditional flow: Bayes' rule."""

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import pixels
from tf_realnvp import seeds

__all__ = ["GenerativeClassifier", "log_joint", "predict"]


def log_joint(log_likelihoods, class_log_prior):
  """`log p(x | k) + log p(k)` `[N, K]`: the unnormalised log-posterior.

  `softmax` over `k` of it is `p(k | x)` (Bayes' rule), its `argmax` the
  predicted class.

  Args:
    log_likelihoods: `log p(x | k)` `[N, K]`.
    class_log_prior: `log p(k)` `[K]` (cast to the likelihoods' dtype).
  """
  log_likelihoods = tf.convert_to_tensor(log_likelihoods)
  return log_likelihoods + tf.cast(class_log_prior, log_likelihoods.dtype)


def predict(log_likelihoods, class_log_prior):
  """`(p(k | x) [N, K], argmax_k int32 [N])` by Bayes' rule."""
  joint = log_joint(log_likelihoods, class_log_prior)
  return (tf.nn.softmax(joint, axis=-1),
          tf.argmax(joint, axis=-1, output_type=tf.int32))


class GenerativeClassifier:
  """The class-model methods of `RealNVP` (mixed into it): the class prior
  `class_log_prior` `[K]` (a non-trainable weight, checkpointed; uniform
  until `set_class_prior`, which `train.py` calls with the training labels'
  counts), the likelihood of every class, and Bayes' rule."""

  def _build_class_prior(self):
    self.class_log_prior = self.add_weight(
        shape=(self.num_classes,), name="class_log_prior", trainable=False,
        initializer=keras.initializers.Constant(-np.log(self.num_classes)))

  def class_log_likelihoods(self, images, seed=None):
    """`log p(x + u | k)` `[N, K]` for every class `k` of a class model.

    Evaluation mode, one pass of the flow over `N * K` images.

    Args:
      images: uint8 `[N, H, W, C]`, dequantised once with `seed` (the same
        noise for every class; `u ~ q(u | x)` under variational
        dequantisation, see `dequantized`); or float pixels `[N, H, W, C]`
        in `[0, 256)`, used as they are (e.g. an already dequantised batch).
      seed: the dequantisation noise of uint8 images, as in `bits_per_dim`.
    """
    self._require_classes("class_log_likelihoods")
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
      y, _ = self.dequantized(tf.cast(pixels.dequantize(
          self._inputs.images(images, "class_log_likelihoods",
                              dtype=tf.uint8),
          seeds.stateless_seed(seed)), self.compute_dtype))
    else:
      y = self._inputs.images(images, "class_log_likelihoods")
    labels = tf.range(self.num_classes)[:, None]  # [K, 1] vs y [N, ...].
    return tf.transpose(self.distribution(condition=labels).log_prob(y))

  def classify(self, images, seed=None):
    """`p(k | x)` `[N, K]`: the generative classifier of a class model.

    Bayes' rule (`predict`), `p(k | x) = softmax_k(log p(x + u | k) +
    log p(k))` with the class prior `class_log_prior` and dequantisation
    noise `u` keyed by `seed` (`class_log_likelihoods`). `argmax` gives the
    predicted class.
    """
    self._require_classes("classify")
    probabilities, _ = predict(self.class_log_likelihoods(images, seed),
                               self.class_log_prior)
    return probabilities

  def set_class_prior(self, counts):
    """Sets `class_log_prior` to `log(counts / sum(counts))`.

    Args:
      counts: `[K]` positive numbers (e.g. training labels per class).
    """
    self._require_classes("set_class_prior")
    counts = np.asarray(counts, np.float64)
    if counts.shape != (self.num_classes,) or np.any(counts <= 0):
      raise ValueError(f"set_class_prior expects {self.num_classes} positive "
                       f"counts, received {counts.tolist()}.")
    self.class_log_prior.assign(np.log(counts / counts.sum()))

  def _require_classes(self, method):
    if not self.num_classes:
      raise ValueError(f"{method} needs a class-conditional model "
                       "(RealNVP(num_classes=K)).")
