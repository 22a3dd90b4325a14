"""The generative classifier of a class-conditional flow: Bayes' rule."""

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import likelihood

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

  def class_log_likelihoods(self, images,
                            num_draws=likelihood.DEFAULT_NUM_DRAWS):
    """`log P(x | k)` `[N, K]` for every class `k` of a class model: the
    discrete likelihood of uint8 `images` `[N, H, W, C]` under each class,
    estimated as `log_likelihood` does (the same `num_draws` fixed draws
    for every class). Evaluation mode, `num_draws` passes of the flow over
    `N * K` images."""
    self._require_classes("class_log_likelihoods")
    images = self._inputs.images(images, "class_log_likelihoods",
                                 dtype=tf.uint8)
    labels = tf.range(self.num_classes)[:, None]  # [K, 1] vs y [N, ...].
    distribution = self.distribution(condition=labels)
    return tf.transpose(likelihood.importance_weighted(
        self, images, num_draws, distribution.log_prob))

  def classify(self, images, num_draws=likelihood.DEFAULT_NUM_DRAWS):
    """`p(k | x)` `[N, K]`: the generative classifier of a class model.

    Bayes' rule (`predict`), `p(k | x) = softmax_k(log P(x | k) + log p(k))`
    with the class prior `class_log_prior` and the likelihoods of
    `class_log_likelihoods`. `argmax` gives the predicted class.
    """
    self._require_classes("classify")
    probabilities, _ = predict(self.class_log_likelihoods(images, num_draws),
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
