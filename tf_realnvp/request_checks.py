"""In-graph validation of served requests: every bad request fails with
`INVALID_ARGUMENT` and a message that starts with the signature's name and
says what is wrong; the model never sees it (`serve`). Why the checks look
as they do is below.
"""

import tensorflow as tf

__all__ = ["Check", "all_of", "finite_check", "leading_size", "runtime_shape",
           "serve", "shape_check"]

# Entries of a tensor printed in an error message (a shape has a few).
_SUMMARIZE = 16


# What TF Serving does with a wrong-shaped input, found by feeding this
# export's placeholders through the TF1 session loader with the C API call
# that TF Serving's C++ `Session::Run` makes (no Python-side checks): nothing.
# TF Serving does not compare a request's shape with the SignatureDef
# (`predict_util.cc` only checks the input names), and the C++ session does
# not check a fed placeholder's shape either. Without the checks below,
# `images` of shape [N, 4, 4, 1] for an 8x8x1 model failed deep inside with
# "Input to reshape is a tensor with 32 values, but the requested shape
# requires a multiple of 64", and [N, 8, 4, 2] or [N, 64, 1, 1] (as many
# values per image) were silently accepted and returned a log-density.
# (`saved_model_cli run` and `Session.run` in Python do refuse, with "Cannot
# feed value of shape ...", but that check is in Python's `session.py`.)
#
# The signatures still declare the full shape `[None, H, W, C]`, so that
# `saved_model_cli show` and TF Serving's model metadata tell clients what to
# send. The checks therefore must not rely on static shapes, which claim that
# every request is well-formed:
# - the runtime shape is read from a copy of the tensor whose static shape
#   is unknown to everyone: `tf.io.parse_tensor(tf.io.serialize_tensor(x))`.
#   Cheaper ways were folded: Python's `tf.shape`, `tf.rank`, `tf.size`,
#   `tf.reduce_all` use static shapes; Grappler materialises `Shape` of a
#   known shape, and folded the check of a scalar input to "valid" even
#   behind a `PlaceholderWithDefault` of unknown shape (in TF2, which
#   optimises a function for its declared argument shapes, and in the TF1
#   session once an `EnsureShape` of that input was in the graph);
# - every condition is computable for a tensor of any shape (no `tf.equal`
#   of vectors of different lengths; reductions over a flattened tensor);
# - the model runs only in the true branch of a `tf.cond` on all conditions
#   (`_validated`); the false branch holds the `Assert`s. An `Assert` merely
#   ordered before the model with `tf.control_dependencies` was not enough:
#   the ordering did not survive the runtime's graph rewriting, and another
#   op's error (an `EnsureShape` in the TF1 session, the `LogicalAnd` of a
#   later check in TF2) was reported instead of the `Assert`'s. Gated, the
#   model never sees a bad request, and these messages are the only errors.
# - the true branch starts with an `EnsureShape` of each input: a second,
#   independent guard (TF's message, "Shape of tensor ... [2,4,8,1] is not
#   compatible with expected shape [?,4,8,2]") should a check ever pass a
#   bad shape, rather than a deep error or, for a `[2]` temperature that
#   broadcasts, silently wrong samples.
# Each message starts with the signature's name, says what was expected and
# what was received; the status is INVALID_ARGUMENT.


class Check:
  """A scalar bool `condition`, and the error's message and values if not."""

  def __init__(self, condition, message, *values):
    self.condition = condition
    self.message = message
    self.values = list(values)


def all_of(condition):
  """`condition` reduced to one bool, for a tensor of any runtime shape.

  Not `tf.reduce_all(condition)`: it reduces over the statically known axes,
  none for a declared scalar, and a `[1]` request would stay `[1]`.
  """
  return tf.reduce_all(tf.reshape(condition, [-1]))


def runtime_shape(tensor):
  """`tensor`'s shape at run time, int32 `[rank]` (see the notes above).

  A serialise-and-parse round trip (a copy of the request's values, small
  next to the flow) gives a tensor whose shape no optimiser can infer.
  """
  opaque = tf.io.parse_tensor(tf.io.serialize_tensor(tensor), tensor.dtype)
  return tf.raw_ops.Shape(input=opaque, out_type=tf.int32)


def shape_check(signature, name, shape, expected, description):
  """A `Check` that an input has shape `expected`.

  Args:
    signature: the signature's name, for the message.
    name: the input's name.
    shape: the input's `runtime_shape`.
    expected: a list of ints and `None` (any size); `[]` for a scalar.
    description: what the shape means, e.g. "N images of 8x8 pixels".
  """
  rank = len(expected)
  # Pad with -1 (never a real size): entries `0..rank-1` are sizes of the
  # tensor (>= 0) exactly when its rank is at least `rank`, and entry `rank`
  # is -1 exactly when its rank is at most `rank`.
  padded = tf.concat([shape, tf.fill([rank + 1], -1)], axis=0)[:rank + 1]
  wanted = tf.constant([-1 if d is None else d for d in expected] + [-1],
                       tf.int32)
  known = tf.constant([d is not None for d in expected] + [True])
  matches = tf.where(known, tf.equal(padded, wanted),
                     tf.greater_equal(padded, 0))
  if expected:
    shape_text = ", ".join("N" if d is None else str(d) for d in expected)
    requirement = f"must have shape [{shape_text}] ({description})"
  else:
    requirement = f"must be a scalar ({description})"
  return Check(all_of(matches),
                f"{signature}: {name} {requirement}; received shape", shape)


def leading_size(shape):
  """The first entry of a `runtime_shape`, -1 for a scalar's."""
  return tf.concat([shape, [-1]], axis=0)[0]


def _validated(checks, compute, outputs):
  """`compute()` if every check holds, else an `INVALID_ARGUMENT` error.

  Args:
    checks: `Check`s, each computable for inputs of any shape.
    compute: builds the outputs, a dict of tensors; it may assume valid
      inputs, and may look at their shapes.
    outputs: `{name: (dtype, event shape)}` of `compute`'s result.
  """

  def fail():
    asserts = [tf.debugging.Assert(check.condition,
                                   [check.message] + check.values,
                                   summarize=_SUMMARIZE)
               for check in checks]
    with tf.control_dependencies(asserts):  # Never returns: an Assert fails.
      return _empty(outputs)

  valid = tf.reduce_all(tf.stack([check.condition for check in checks]))
  return tf.cond(valid, compute, fail)


def _empty(outputs):
  return {name: tf.zeros((0,) + tuple(shape), dtype)
          for name, (dtype, shape) in outputs.items()}


def _unless_empty(batch_size, compute, outputs):
  """`compute()`, or empty `outputs` when `batch_size` is 0.

  The model cannot run on an empty batch: TF 2.21's oneDNN `Conv2D` returns
  a wrongly shaped result for one (`[0, h, w, c_in]` instead of
  `[0, h, w, c_out]`), and the next op fails. An empty request is valid
  (`num_samples=0`, or no images), so it is answered without the model.
  """
  return tf.cond(batch_size > 0, compute, lambda: _empty(outputs))


def serve(signature, inputs, checks, batch_size, compute, outputs,
          same_batch=None):
  """A signature's body: its inputs validated, then `compute` on them.

  Args:
    signature: the signature's name, for the messages.
    inputs: `(name, tensor, expected shape, description)` of each input
      (see `shape_check`).
    checks: further `Check`s on the inputs' values.
    batch_size: from the valid inputs, the number of results; 0 answers
      with empty outputs without running the model (`_unless_empty`).
    compute: from the valid inputs (their static shapes asserted by
      `EnsureShape`, the second guard), the outputs.
    outputs: `{name: (dtype, event shape)}` of `compute`'s result.
    same_batch: `None`, or `(reference, name, what)`: the inputs named
      `reference` and `name` must have the same first dimension; the
      message says that `name` "must hold `what`" (e.g. "one label per
      image"). It is checked only when both shapes are right, which their
      own checks report otherwise.
  """
  shapes = {name: runtime_shape(tensor) for name, tensor, _, _ in inputs}
  shape_checks = [shape_check(signature, name, shapes[name], expected, text)
                  for name, _, expected, text in inputs]
  if same_batch is not None:
    reference, name, what = same_batch
    shapes_valid = tf.reduce_all(tf.stack(
        [check.condition for check in shape_checks]))
    shape_checks.append(Check(
        tf.logical_or(tf.logical_not(shapes_valid), tf.equal(
            leading_size(shapes[name]), leading_size(shapes[reference]))),
        f"{signature}: {name} must hold {what}; received {name} of shape",
        shapes[name], f"for {reference} of shape", shapes[reference]))

  def run():
    valid = [tf.ensure_shape(tensor, expected)
             for _, tensor, expected, _ in inputs]
    return _unless_empty(batch_size(*valid), lambda: compute(*valid),
                         outputs)

  return _validated(shape_checks + list(checks), run, outputs)


def finite_check(signature, name, tensor):
  """A `Check` that every value of `tensor` is finite (any shape)."""
  non_finite = tf.reduce_sum(tf.cast(
      tf.logical_not(tf.math.is_finite(tf.reshape(tensor, [-1]))), tf.int32))
  return Check(
      tf.equal(non_finite, 0),
      f"{signature}: {name} must be finite; non-finite values received:",
      non_finite)


