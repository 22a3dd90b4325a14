"""The training objective, shared by the custom loop and `RealNVP.fit`."""

import math

import tensorflow as tf

__all__ = ["bits_per_dim", "to_bits_per_dim", "training_loss"]


def to_bits_per_dim(log_prob, num_dims):
  """`-log_prob / (num_dims ln 2)`: a log-density in nats of `num_dims`
  pixels as bits per dimension (the one spelling of the conversion)."""
  return -log_prob / (num_dims * math.log(2.0))


def bits_per_dim(model, y, training, condition=None):
  """Per-example bits/dim `[N]` of uniformly dequantised pixels `y`.

  `-(log p(y_q) - log q) / (D ln 2)` with `(y_q, log q) =
  model.dequantized(y)`: `-log p(y) / (D ln 2)` under uniform dequantisation,
  the one-sample variational bound under variational dequantisation
  (`-log p(y | c)` with the conditions of a conditional model). This is the
  bits/dim reported everywhere (`RealNVP.bits_per_dim` dequantises 8-bit
  images and calls it).
  """
  y_q, log_q = model.dequantized(y, training)
  return to_bits_per_dim(
      model.log_prob(y_q, condition, training=training) - log_q,
      model.num_dims)


def training_loss(model, y, global_batch_size=None, condition=None):
  """The loss to differentiate on one replica, and its per-example bits/dim.

  `mean bits/dim over the global batch + L2 penalty (model.losses)`, scaled
  for `tf.distribute`: each replica contributes its share,
  `tf.nn.compute_average_loss(..., global_batch_size)` and
  `tf.nn.scale_regularization_loss`, since gradients are summed across
  replicas. On one device it is the plain mean plus the penalty.

  Args:
    model: a `RealNVP`.
    y: float pixels `[n, H, W, C]`, this replica's part of the batch.
    global_batch_size: examples in the global batch; `None` for
      `n * num_replicas_in_sync`.
    condition: the batch's conditions (labels `[n]` or vectors `[n, A]`) for
      a conditional model, else `None`.

  Returns:
    `(loss, per_example_bits_per_dim)`.
  """
  per_example = bits_per_dim(model, y, True, condition)
  loss = tf.nn.compute_average_loss(per_example,
                                    global_batch_size=global_batch_size)
  if model.losses:
    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
  return loss, per_example
