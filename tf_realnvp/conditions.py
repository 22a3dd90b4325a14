"""What a conditional `RealNVP` is conditioned on: a class label, or a vector.

A conditional model's density is `p(y | c)`. Users give `c` as

- a class label, for `RealNVP(num_classes=K)`: an int in `[0, K)`, or an
  int tensor of labels of any shape `[...]`;
- a condition vector, for `RealNVP(condition_shape=(A,))`: floats `[..., A]`,
  e.g. CelebA's 40 binary attributes as a multi-hot vector of 0s and 1s
  (any real values work: the flow is conditioned on the vector as given).

Inside the flow every condition is a float vector `[..., dim]` (a label
becomes its one-hot vector, `dim = K`; a vector stays as it is, `dim = A`),
and its leading axes are the condition's batch shape: labels `[N]` give a
distribution of batch shape `[N]`.
"""

import numpy as np
import tensorflow as tf

__all__ = ["Conditioning"]


class Conditioning:
  """The kind of condition of a conditional model, and its checks.

  Args:
    num_classes: `K >= 2` for class labels, else `None`.
    condition_shape: `(A,)`, `A >= 1`, for condition vectors, else `None`.
      Exactly one of the two is given.
  """

  def __init__(self, num_classes=None, condition_shape=None):
    if (num_classes is None) == (condition_shape is None):
      raise ValueError("A conditional model takes exactly one of num_classes "
                       f"and condition_shape, received num_classes="
                       f"{num_classes!r}, condition_shape={condition_shape!r}.")
    if num_classes is not None and (
        isinstance(num_classes, bool) or int(num_classes) != num_classes or
        num_classes < 2):
      raise ValueError(f"num_classes must be an int >= 2, received "
                       f"{num_classes!r}.")
    if condition_shape is not None:
      shape = tuple(condition_shape)
      if len(shape) != 1 or int(shape[0]) != shape[0] or shape[0] < 1:
        raise ValueError("condition_shape must be (A,) with an int A >= 1, "
                         f"received {condition_shape!r}.")
      condition_shape = (int(shape[0]),)
    self.num_classes = None if num_classes is None else int(num_classes)
    self.condition_shape = condition_shape

  @property
  def is_class(self):
    """Whether conditions are class labels."""
    return self.num_classes is not None

  @property
  def dim(self):
    """The length of the condition vector inside the flow."""
    return self.num_classes if self.is_class else self.condition_shape[0]

  def describe(self):
    """How a condition must look, for messages."""
    if self.is_class:
      return f"int class labels in [0, {self.num_classes})"
    return f"float condition vectors [..., {self.dim}]"

  def vector(self, condition, dtype=tf.float32, name="condition"):
    """The float condition vectors `[..., dim]` of a user's `condition`.

    Raises:
      ValueError: naming `name` and what was expected: a missing condition,
        a label outside `[0, K)` (checked eagerly; in a graph by an
        assertion, an `InvalidArgumentError`), a float where labels are
        expected, or vectors of another length.
    """
    if condition is None:
      raise ValueError(f"This model is conditional: pass {name} "
                       f"({self.describe()}).")
    if self.is_class:
      return tf.one_hot(self.labels(condition, name), self.num_classes,
                        dtype=dtype)
    condition = tf.convert_to_tensor(condition)
    if not (condition.dtype.is_floating or condition.dtype.is_integer or
            condition.dtype == tf.bool):
      raise ValueError(f"{name} must be {self.describe()}, received dtype "
                       f"{condition.dtype.name}.")
    if condition.shape.rank == 0 or (
        condition.shape.rank is not None and
        condition.shape[-1] not in (None, self.dim)):
      raise ValueError(f"{name} must be {self.describe()}, received shape "
                       f"{condition.shape}.")
    return tf.cast(condition, dtype)

  def labels(self, labels, name="labels"):
    """`labels` as int32 `[...]`, checked to lie in `[0, K)`."""
    labels = tf.convert_to_tensor(labels)
    if not labels.dtype.is_integer:
      raise ValueError(f"{name} must be {self.describe()}, received dtype "
                       f"{labels.dtype.name}.")
    labels = tf.cast(labels, tf.int32)
    if tf.executing_eagerly():
      values = labels.numpy()
      bad = values[(values < 0) | (values >= self.num_classes)]
      if bad.size:
        raise ValueError(f"{name} must be {self.describe()}, received "
                         f"{np.unique(bad).tolist()[:8]}.")
      return labels
    in_range = tf.reduce_all((labels >= 0) & (labels < self.num_classes))
    with tf.control_dependencies([tf.debugging.Assert(
        in_range, [f"{name} must be {self.describe()}, received", labels],
        summarize=8)]):
      return tf.identity(labels)

  def get_config(self):
    """`num_classes` and `condition_shape` (a list), JSON-ready."""
    return dict(num_classes=self.num_classes,
                condition_shape=None if self.condition_shape is None else
                list(self.condition_shape))
