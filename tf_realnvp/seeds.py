"""Stateless random seeds from user-facing seed arguments."""

import tensorflow as tf

__all__ = ["stateless_seed"]

_MAX_INT32 = 2**31 - 1


def stateless_seed(seed=None):
  """Returns a shape `[2]` int32 seed for `tf.random.stateless_*` ops.

  Args:
    seed: `None` (a fresh random seed on each call), a Python int or scalar
      integer `Tensor` (the same int always gives the same seed), or a shape
      `[2]` integer seed, returned as is.
  """
  if seed is None:
    return tf.random.uniform([2], maxval=_MAX_INT32, dtype=tf.int32)
  seed = tf.convert_to_tensor(seed)
  if not seed.dtype.is_integer:
    raise ValueError(f"seed must be an int, received dtype {seed.dtype.name}.")
  seed = tf.cast(seed, tf.int32)
  if seed.shape.rank == 0:
    return tf.stack([seed, tf.zeros_like(seed)])
  if seed.shape != [2]:
    raise ValueError(
        f"seed must be an int or a stateless seed of shape [2], received shape "
        f"{seed.shape}.")
  return seed
