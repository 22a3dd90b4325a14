"""SavedModel export of a trained `RealNVP` for TF Serving.

```python
from tf_realnvp import export, workdirs
model, step = workdirs.load_trained_model("runs/fashion_mnist_demo")
path = export.export_saved_model(model, "exports/realnvp", version=step)
# -> "exports/realnvp/1200", TF Serving's versioned layout.
```

The SavedModel is written with `keras.export.ExportArchive`: a plain
`tf.saved_model.save` of a `tf.Module` holding Keras 3 layers loads in TF2,
but fails in the TF1 session loader that TF Serving and `saved_model_cli run`
use, while `ExportArchive` (tracked model, endpoints with named
`tf.TensorSpec`s) passes through both. Every signature runs
the model in evaluation mode (running batch-norm averages), takes and returns
named tensors and has a `None` batch dimension:

| signature | inputs | outputs |
|---|---|---|
| `log_prob`, `serving_default` | `images` uint8 `[N, H, W, C]` | `log_prob` float32 `[N]`, `bits_per_dim` float32 `[N]` |
| `sample` | `num_samples` int32 `[]`, `temperature` float32 `[]`, `seed` int32 `[]` | `images` uint8 `[N, H, W, C]` |
| `encode` | `images` uint8 `[N, H, W, C]` | `latents` float32 `[N, H, W, C]` |
| `decode` | `latents` float32 `[N, H, W, C]` | `images` uint8 `[N, H, W, C]` |

**Conditional models** (`RealNVP(num_classes=K)` or
`RealNVP(condition_shape=(A,))`) serve `p(x | c)`: every signature above
also takes the condition, one per image, as `labels` int32 `[N]` (class
models; each in `[0, K)`) or `condition` float32 `[N, A]` (vector models).
It is required, as the density depends on it. `sample` then draws one
image per label (condition row) and has no `num_samples` input: its inputs
are `labels` (or `condition`), `temperature` and `seed`. Class models have
one more signature, the generative classifier by Bayes' rule with the class
prior the model stores (`RealNVP.classify`, at bin centres):

| signature | inputs | outputs |
|---|---|---|
| `classify` | `images` uint8 `[N, H, W, C]` | `probabilities` float32 `[N, K]`, `log_likelihoods` float32 `[N, K]`, `class` int32 `[N]` |

`log_likelihoods[n, k] = log p(x_n + 0.5 | k)`, `probabilities[n, k] =
p(k | x_n)` (softmax over `k` of `log_likelihoods + class_log_prior`), and
`class` their argmax.

**Anomaly scores.** Exported with a calibrated
`tf_realnvp.anomaly.AnomalyDetector` (`export_saved_model(..., detector=)`;
unconditional models), the SavedModel has one more signature, and holds the
detector's background model too:

| signature | inputs | outputs |
|---|---|---|
| `anomaly` | `images` uint8 `[N, H, W, C]` | `anomaly_score` float32 `[N]`, `p_value` float32 `[N]`, `is_anomaly` bool `[N]`, and each score of `detector.score_names` float32 `[N]` |

The SignatureDefs (TF Serving's model metadata) thereby describe the
model: a `labels` input for a class model, whose `K` is the last dimension
of `classify`'s outputs, or a `condition` input `[-1, A]`.

**Bin centres.** A served density must be deterministic, so `log_prob`,
`encode` and `classify` dequantise 8-bit pixels at the centre of their bins,
`y = x + 0.5`, not with the noise `y = x + u` of training's bits/dim
(`RealNVP.bits_per_dim`: uniform `u`, or `u ~ q(u | x)` and the variational
bound for `dequantization="variational"`): a served `bits_per_dim` is the
density at one point of each pixel's bin, `-log p(x + 0.5) / (D ln 2)`, not
a draw of the training metric, and the two differ. `decode` clips its pixels to `[0, 256)` and floors them to
uint8 (`tf_realnvp.pixels.to_uint8`), so `decode(encode(x)) == x` exactly.
`sample` is reproducible: the same `seed` gives the same images. An empty
batch (`N = 0`, `num_samples = 0`, no labels) gives an empty batch.

**Bad requests** fail inside the graph with `INVALID_ARGUMENT` and a message
that starts with the signature's name and says what is wrong: `images` or
`latents` not `[N, H, W, C]`, a non-scalar `sample` input, `num_samples`
outside `[0, MAX_NUM_SAMPLES]`, a `temperature` that is not a finite number
`> 0`, non-finite `latents`; for conditional models `labels` not `[N]` or
outside `[0, K)`, a `condition` not `[N, A]` or not finite, not one
condition per image, more than `MAX_NUM_SAMPLES` conditions to `sample` (see
"In-graph request validation" below for why TF Serving needs this, and how).
"""

import collections
import os
import shutil
import uuid

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import classifier
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp.model import RealNVP

# The largest `num_samples` one `sample` request may ask for: bounds the
# memory (and time) of a single request to that of a batch of this size.
MAX_NUM_SAMPLES = 1024

# The endpoints, in the order they are added: `write_out` also registers
# the first one as `serving_default` (ExportArchive's rule; tested). A class
# model's export has `CLASSIFY` too (`signature_names`).
SIGNATURE_NAMES = ("log_prob", "sample", "encode", "decode")
CLASSIFY = "classify"
ANOMALY = "anomaly"

__all__ = ["ANOMALY", "CLASSIFY", "MAX_NUM_SAMPLES", "SIGNATURE_NAMES", "export_archive",
           "export_saved_model", "signature_names"]

# Entries of a tensor printed in an error message (a shape has a few).
_SUMMARIZE = 16


# --- In-graph request validation ---------------------------------------------
#
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


class _Check:
  """A scalar bool `condition`, and the error's message and values if not."""

  def __init__(self, condition, message, *values):
    self.condition = condition
    self.message = message
    self.values = list(values)


def _all(condition):
  """`condition` reduced to one bool, for a tensor of any runtime shape.

  Not `tf.reduce_all(condition)`: it reduces over the statically known axes,
  none for a declared scalar, and a `[1]` request would stay `[1]`.
  """
  return tf.reduce_all(tf.reshape(condition, [-1]))


def _runtime_shape(tensor):
  """`tensor`'s shape at run time, int32 `[rank]` (see the notes above).

  A serialise-and-parse round trip (a copy of the request's values, small
  next to the flow) gives a tensor whose shape no optimiser can infer.
  """
  opaque = tf.io.parse_tensor(tf.io.serialize_tensor(tensor), tensor.dtype)
  return tf.raw_ops.Shape(input=opaque, out_type=tf.int32)


def _shape_check(signature, name, shape, expected, description):
  """A `_Check` that an input has shape `expected`.

  Args:
    signature: the signature's name, for the message.
    name: the input's name.
    shape: the input's `_runtime_shape`.
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
  return _Check(_all(matches),
                f"{signature}: {name} {requirement}; received shape", shape)


def _leading_size(shape):
  """The first entry of a `_runtime_shape`, -1 for a scalar's."""
  return tf.concat([shape, [-1]], axis=0)[0]


def _validated(checks, compute, outputs):
  """`compute()` if every check holds, else an `INVALID_ARGUMENT` error.

  Args:
    checks: `_Check`s, each computable for inputs of any shape.
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


def _serve(signature, inputs, checks, batch_size, compute, outputs,
           same_batch=None):
  """A signature's body: its inputs validated, then `compute` on them.

  Args:
    signature: the signature's name, for the messages.
    inputs: `(name, tensor, expected shape, description)` of each input
      (see `_shape_check`).
    checks: further `_Check`s on the inputs' values.
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
  shapes = {name: _runtime_shape(tensor) for name, tensor, _, _ in inputs}
  shape_checks = [_shape_check(signature, name, shapes[name], expected, text)
                  for name, _, expected, text in inputs]
  if same_batch is not None:
    reference, name, what = same_batch
    shapes_valid = tf.reduce_all(tf.stack(
        [check.condition for check in shape_checks]))
    shape_checks.append(_Check(
        tf.logical_or(tf.logical_not(shapes_valid), tf.equal(
            _leading_size(shapes[name]), _leading_size(shapes[reference]))),
        f"{signature}: {name} must hold {what}; received {name} of shape",
        shapes[name], f"for {reference} of shape", shapes[reference]))

  def run():
    valid = [tf.ensure_shape(tensor, expected)
             for _, tensor, expected, _ in inputs]
    return _unless_empty(batch_size(*valid), lambda: compute(*valid),
                         outputs)

  return _validated(shape_checks + list(checks), run, outputs)


# --- Endpoints ---------------------------------------------------------------

# The condition input of a conditional model's signatures: its name, spec
# shape and dtype, what it holds (for `_shape_check`), and what one and
# several of its rows are called in messages.
_ConditionInput = collections.namedtuple(
    "_ConditionInput", "name shape dtype description one several")


class _Endpoints:
  """The exported functions of one model (evaluation mode throughout).

  `functions()` gives each signature's function and input signature; a
  conditional model's take the condition input (`labels` or `condition`)
  as well, see the module docstring.
  """

  def __init__(self, model, detector=None):
    self.model = model
    self.detector = detector
    self.image_shape = tuple(model.image_shape)
    self.dtype = model.compute_dtype
    height, width, channels = self.image_shape
    self.images_text = (f"N uint8 images of {height}x{width} pixels with "
                        f"{channels} channel{'s' if channels != 1 else ''}")
    conditioning = model.conditioning
    if conditioning is None:
      self.condition = None
    elif conditioning.is_class:
      self.condition = _ConditionInput(
          "labels", [None], tf.int32,
          f"N int32 class labels in [0, {conditioning.num_classes})",
          "label", "labels")
    else:
      (length,) = conditioning.condition_shape
      self.condition = _ConditionInput(
          "condition", [None, length], tf.float32,
          f"N float32 condition vectors of length {length}",
          "condition vector", "condition vectors")

  def signature_names(self):
    """`SIGNATURE_NAMES`, `CLASSIFY` for a class model, `ANOMALY` with a
    detector."""
    return (SIGNATURE_NAMES + ((CLASSIFY,) if self.model.num_classes else ())
            + ((ANOMALY,) if self.detector is not None else ()))

  def functions(self):
    """`{signature name: (function, input signature)}`, in order."""
    images = tf.TensorSpec((None,) + self.image_shape, tf.uint8, name="images")
    latents = tf.TensorSpec((None,) + self.image_shape, tf.float32,
                            name="latents")
    scalars = [tf.TensorSpec([], tf.float32, name="temperature"),
               tf.TensorSpec([], tf.int32, name="seed")]
    if self.condition is None:
      functions = {
          "log_prob": (self.log_prob, [images]),
          "sample": (self.sample, [tf.TensorSpec([], tf.int32,
                                                 name="num_samples")] +
                     scalars),
          "encode": (self.encode, [images]),
          "decode": (self.decode, [latents]),
      }
      if self.detector is not None:
        functions[ANOMALY] = (self.anomaly, [images])
      return functions
    condition = tf.TensorSpec(self.condition.shape, self.condition.dtype,
                              name=self.condition.name)

    # Named after their inputs (the SignatureDef's keys come from the specs).
    def log_prob(images, condition):
      return self.log_prob(images, condition)

    def sample(condition, temperature, seed):
      return self.sample_conditional(condition, temperature, seed)

    def encode(images, condition):
      return self.encode(images, condition)

    def decode(latents, condition):
      return self.decode(latents, condition)

    functions = {
        "log_prob": (log_prob, [images, condition]),
        "sample": (sample, [condition] + scalars),
        "encode": (encode, [images, condition]),
        "decode": (decode, [latents, condition]),
    }
    if self.model.num_classes:
      functions[CLASSIFY] = (self.classify, [images])
    return functions

  # Conditions ---------------------------------------------------------------

  def _condition_input(self, condition):
    """`_serve`'s `(name, tensor, expected shape, description)`."""
    return (self.condition.name, condition, self.condition.shape,
            self.condition.description)

  def _condition_checks(self, signature, condition):
    """`_Check`s of a condition's values: labels in `[0, K)`, finite
    vectors."""
    if self.condition.name == "labels":
      num_classes = self.model.num_classes
      flat = tf.reshape(condition, [-1])
      in_range = tf.logical_and(flat >= 0, flat < num_classes)
      return [_Check(_all(in_range),
                     f"{signature}: labels must be in [0, {num_classes}); "
                     "received", tf.boolean_mask(flat,
                                                 tf.logical_not(in_range)))]
    return [_finite_check(signature, self.condition.name, condition)]

  def _with_condition(self, signature, reference, tensor, condition, checks):
    """`_serve`'s inputs, checks and `same_batch` for `tensor` (named
    `reference`) and, unless `condition` is `None`, one condition per row."""
    inputs = [(reference, tensor, [None] + list(self.image_shape),
               self.images_text if reference == "images" else
               "N float32 latents of the image shape")]
    if condition is None:
      return inputs, list(checks), None
    item = "image" if reference == "images" else "latent"
    return (inputs + [self._condition_input(condition)],
            list(checks) + self._condition_checks(signature, condition),
            (reference, self.condition.name,
             f"one {self.condition.one} per {item}"))

  # Signatures ---------------------------------------------------------------

  def _on_images(self, signature, images, condition, compute, outputs):
    """`compute(y, condition)` on the bin centres `y = images + 0.5`
    (`condition` `None` for an unconditional model), validated."""
    inputs, checks, same_batch = self._with_condition(
        signature, "images", images, condition, ())
    return _serve(
        signature, inputs, checks,
        lambda valid, condition=None: tf.shape(valid)[0],
        lambda valid, condition=None: compute(
            pixels.bin_centres(valid, self.dtype), condition),
        outputs, same_batch)

  def log_prob(self, images, condition=None):
    """`log p(x + 0.5)` (conditional: `log p(x + 0.5 | c)`) and its bits/dim,
    `[N]` each, of uint8 `images`."""

    def compute(y, c):
      log_prob = self.model.log_prob(y, c, training=False)
      bits_per_dim = losses.to_bits_per_dim(log_prob, self.model.num_dims)
      return {"log_prob": tf.cast(log_prob, tf.float32),
              "bits_per_dim": tf.cast(bits_per_dim, tf.float32)}

    return self._on_images("log_prob", images, condition, compute,
                           {"log_prob": (tf.float32, ()),
                            "bits_per_dim": (tf.float32, ())})

  def encode(self, images, condition=None):
    """Latents `[N, H, W, C]` of uint8 `images` at their bin centres."""

    def compute(y, c):
      return {"latents": tf.cast(self.model.encode(y, c, training=False),
                                 tf.float32)}

    return self._on_images("encode", images, condition, compute,
                           {"latents": (tf.float32, self.image_shape)})

  def classify(self, images):
    """`p(k | x + 0.5)` and `log p(x + 0.5 | k)` `[N, K]`, and the argmax.

    `RealNVP.classify` at the bin centres: one pass of the flow over
    `N * K` images, Bayes' rule with the stored `class_log_prior`.
    """
    num_classes = self.model.num_classes

    def compute(y, unused_condition):
      log_likelihoods = self.model.class_log_likelihoods(y)
      probabilities, predicted = classifier.predict(
          log_likelihoods, self.model.class_log_prior)
      return {"probabilities": tf.cast(probabilities, tf.float32),
              "log_likelihoods": tf.cast(log_likelihoods, tf.float32),
              "class": predicted}

    return self._on_images(CLASSIFY, images, None, compute,
                           {"probabilities": (tf.float32, (num_classes,)),
                            "log_likelihoods": (tf.float32, (num_classes,)),
                            "class": (tf.int32, ())})

  def anomaly(self, images):
    """Every anomaly score of uint8 `images` `[N]` and the calibrated
    decision (`tf_realnvp.anomaly.AnomalyDetector`)."""
    outputs = {name: (tf.float32, ()) for name in self.detector.score_names}
    outputs.update(anomaly_score=(tf.float32, ()), p_value=(tf.float32, ()),
                   is_anomaly=(tf.bool, ()))
    inputs, checks, _ = self._with_condition(ANOMALY, "images", images, None,
                                             ())
    return _serve(ANOMALY, inputs, checks, lambda valid: tf.shape(valid)[0],
                  self.detector, outputs)

  def _temperature_check(self, temperature):
    return _Check(_all(tf.logical_and(tf.math.is_finite(temperature),
                                      temperature > 0)),
                  "sample: temperature must be a finite number > 0; received",
                  temperature)

  def _scalar_inputs(self, temperature, seed):
    return [("temperature", temperature, [], "a float32 number"),
            ("seed", seed, [], "an int32 seed")]

  def sample(self, num_samples, temperature, seed):
    """`num_samples` uint8 images at `temperature`, reproducible by `seed`."""
    ranges = [
        _Check(_all(tf.logical_and(num_samples >= 0,
                                   num_samples <= MAX_NUM_SAMPLES)),
               f"sample: num_samples must be in [0, {MAX_NUM_SAMPLES}]; "
               "received", num_samples),
        self._temperature_check(temperature),
    ]

    def compute(n, t, s):
      samples = self.model.sample(n, tf.cast(t, self.dtype), seed=s)
      return {"images": pixels.to_uint8(tf.cast(samples, tf.float32))}

    return _serve(
        "sample", [("num_samples", num_samples, [], "an int32 count")] +
        self._scalar_inputs(temperature, seed), ranges,
        lambda n, t, s: n, compute, {"images": (tf.uint8, self.image_shape)})

  def sample_conditional(self, condition, temperature, seed):
    """One uint8 image per label / condition vector, at `temperature`,
    reproducible by `seed`."""
    count = _leading_size(_runtime_shape(condition))  # -1: bad shape.
    checks = [
        _Check(count <= MAX_NUM_SAMPLES,
               f"sample: {self.condition.name} must hold at most "
               f"{MAX_NUM_SAMPLES} {self.condition.several} (one image "
               "each); received", count),
        self._temperature_check(temperature),
    ] + self._condition_checks("sample", condition)

    def compute(c, t, s):
      samples = self.model.sample(tf.shape(c)[0], tf.cast(t, self.dtype),
                                  seed=s, condition=c)
      return {"images": pixels.to_uint8(tf.cast(samples, tf.float32))}

    return _serve(
        "sample", [self._condition_input(condition)] +
        self._scalar_inputs(temperature, seed), checks,
        lambda c, t, s: tf.shape(c)[0], compute,
        {"images": (tf.uint8, self.image_shape)})

  def decode(self, latents, condition=None):
    """uint8 images of float32 `latents`: `decode(encode(x)) == x`."""
    inputs, checks, same_batch = self._with_condition(
        "decode", "latents", latents, condition,
        [_finite_check("decode", "latents", latents)])

    def compute(z, c=None):
      y = self.model.decode(tf.cast(z, self.dtype), c)
      return {"images": pixels.to_uint8(tf.cast(y, tf.float32))}

    return _serve("decode", inputs, checks,
                  lambda z, condition=None: tf.shape(z)[0], compute, {"images": (tf.uint8, self.image_shape)},
                  same_batch)


def _finite_check(signature, name, tensor):
  """A `_Check` that every value of `tensor` is finite (any shape)."""
  non_finite = tf.reduce_sum(tf.cast(
      tf.logical_not(tf.math.is_finite(tf.reshape(tensor, [-1]))), tf.int32))
  return _Check(
      tf.equal(non_finite, 0),
      f"{signature}: {name} must be finite; non-finite values received:",
      non_finite)


def signature_names(model, detector=None):
  """The names of `model`'s exported signatures, in the order they are
  added (`serving_default` is the first, `log_prob`): `SIGNATURE_NAMES`,
  `CLASSIFY` for a class model, `ANOMALY` with a `detector`."""
  return _Endpoints(model, detector).signature_names()


def export_archive(model, detector=None):
  """A `keras.export.ExportArchive` with the model's signatures (not written).

  The endpoints are added in `signature_names(model, detector)` order;
  `write_out` also registers the first one, `log_prob`, as
  `serving_default`.

  Args:
    model: a built `tf_realnvp.RealNVP`.
    detector: `None`, or a calibrated `tf_realnvp.anomaly.AnomalyDetector`
      of `model` (its background model is exported with it), for the
      `anomaly` signature.
  """
  if not isinstance(model, RealNVP):
    raise ValueError(f"export expects a tf_realnvp.RealNVP, received "
                     f"{type(model).__name__}.")
  if detector is not None and (detector.model is not model or
                               detector.calibration is None):
    raise ValueError("export: the anomaly detector must be a calibrated "
                     "detector of the exported model.")
  archive = keras.export.ExportArchive()
  archive.track(model)
  if detector is not None and detector.background is not None:
    archive.track(detector.background)
  for name, (function, signature) in _Endpoints(
      model, detector).functions().items():
    archive.add_endpoint(name, function, input_signature=signature)
  return archive


def export_saved_model(model, export_dir, version, detector=None):
  """Writes the model as `export_dir/<version>/`, a SavedModel for TF Serving.

  TF Serving watches `export_dir` (a model's base path) and serves its
  numbered subdirectories. The SavedModel is written into a temporary
  sibling, `export_dir/.<version>.tmp-*` (a name TF Serving ignores), and
  renamed into place at the end, so that a version directory is always
  complete; on failure the temporary directory is removed.

  Signatures (all in evaluation mode; see the module docstring): `log_prob`
  (also `serving_default`), `sample`, `encode`, `decode`, and `classify`
  for a class model; a conditional model's take its condition, `labels`
  or `condition`, one per image (`sample`: one image per label). `log_prob`,
  `encode` and `classify` dequantise uint8 pixels at their bin centres,
  `y = x + 0.5`: deterministic, unlike the uniform dequantisation of
  training's bits/dim.

  Args:
    model: a built `tf_realnvp.RealNVP`.
    export_dir: the model's base directory (created if missing).
    version: the version, an int `>= 0` (for instance the training step).
    detector: `None`, or a calibrated `tf_realnvp.anomaly.AnomalyDetector`
      of `model`: adds the `anomaly` signature.

  Returns:
    The path written, `export_dir/<version>`.

  Raises:
    ValueError: a bad `version` or model.
    FileExistsError: `export_dir/<version>` exists already; it is left
      untouched (choose another version, or remove it first).
  """
  if (isinstance(version, bool) or not isinstance(version, (int, np.integer))
      or version < 0):
    raise ValueError(f"version must be an int >= 0 (TF Serving's version "
                     f"directories are numbers), received {version!r}.")
  export_dir = os.fspath(export_dir)
  target = os.path.join(export_dir, str(int(version)))
  if os.path.exists(target):
    raise FileExistsError(
        f"{target} exists already; refusing to overwrite an exported "
        "version. Pass another version, or remove it first.")
  archive = export_archive(model, detector)
  os.makedirs(export_dir, exist_ok=True)
  # Not `tempfile.mkdtemp`: its mode 0700 would keep a server running as
  # another user out of the renamed directory; `os.mkdir` follows the umask.
  temporary = os.path.join(
      export_dir, f".{int(version)}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  os.mkdir(temporary)
  try:
    archive.write_out(temporary, verbose=False)
    if os.path.exists(target):  # Written by someone else meanwhile.
      raise FileExistsError(
          f"{target} appeared while exporting; refusing to overwrite it.")
    os.rename(temporary, target)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  return target
