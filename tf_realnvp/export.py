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

**Bin centres.** A served density must be deterministic, so `log_prob`
and `encode` dequantise 8-bit pixels at the centre of their bins,
`y = x + 0.5`, not with the uniform noise `y = x + u` of training's bits/dim
(`RealNVP.bits_per_dim`): a served `bits_per_dim` is the density at one
point of each pixel's bin, not a draw of the training metric, and the two
differ slightly. `decode` clips its pixels to `[0, 256)` and floors them to
uint8 (`tf_realnvp.pixels.to_uint8`), so `decode(encode(x)) == x` exactly.
`sample` is reproducible: the same `seed` gives the same images. An empty
batch (`N = 0`, `num_samples = 0`) gives an empty batch.

**Bad requests** fail inside the graph with `INVALID_ARGUMENT` and a message
that starts with the signature's name and says what is wrong: `images` or
`latents` not `[N, H, W, C]`, a non-scalar `sample` input, `num_samples`
outside `[0, MAX_NUM_SAMPLES]`, a `temperature` that is not a finite number
`> 0`, non-finite `latents` (see "In-graph request validation" below for
why TF Serving needs this, and how).
"""

import os
import shutil
import uuid

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp.model import RealNVP

# The largest `num_samples` one `sample` request may ask for: bounds the
# memory (and time) of a single request to that of a batch of this size.
MAX_NUM_SAMPLES = 1024

# The endpoints, in the order they are added: `write_out` also registers
# the first one as `serving_default` (ExportArchive's rule; tested).
SIGNATURE_NAMES = ("log_prob", "sample", "encode", "decode")

__all__ = ["MAX_NUM_SAMPLES", "SIGNATURE_NAMES", "export_archive",
           "export_saved_model"]

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


def _shape_check(signature, name, tensor, expected, description):
  """A `_Check` that `tensor` has shape `expected`.

  Args:
    signature: the signature's name, for the message.
    name: the input's name.
    tensor: the input.
    expected: a list of ints and `None` (any size); `[]` for a scalar.
    description: what the shape means, e.g. "N images of 8x8 pixels".
  """
  rank = len(expected)
  shape = _runtime_shape(tensor)
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


def _serve(signature, inputs, checks, batch_size, compute, outputs):
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
  """
  shape_checks = [_shape_check(signature, name, tensor, expected, text)
                  for name, tensor, expected, text in inputs]

  def run():
    valid = [tf.ensure_shape(tensor, expected)
             for _, tensor, expected, _ in inputs]
    return _unless_empty(batch_size(*valid), lambda: compute(*valid),
                         outputs)

  return _validated(shape_checks + list(checks), run, outputs)


# --- Endpoints ---------------------------------------------------------------


class _Endpoints:
  """The exported functions of one model (evaluation mode throughout)."""

  def __init__(self, model):
    self.model = model
    self.image_shape = tuple(model.image_shape)
    self.dtype = model.compute_dtype
    height, width, channels = self.image_shape
    self.images_text = (f"N uint8 images of {height}x{width} pixels with "
                        f"{channels} channel{'s' if channels != 1 else ''}")

  def input_signatures(self):
    images = tf.TensorSpec((None,) + self.image_shape, tf.uint8, name="images")
    return {
        "log_prob": [images],
        "sample": [tf.TensorSpec([], tf.int32, name="num_samples"),
                   tf.TensorSpec([], tf.float32, name="temperature"),
                   tf.TensorSpec([], tf.int32, name="seed")],
        "encode": [images],
        "decode": [tf.TensorSpec((None,) + self.image_shape, tf.float32,
                                 name="latents")],
    }

  def functions(self):
    return {name: getattr(self, name) for name in SIGNATURE_NAMES}

  def _on_images(self, signature, images, compute, outputs):
    """`compute(y)` on the bin centres `y = images + 0.5`, validated."""
    return _serve(
        signature, [("images", images, [None] + list(self.image_shape),
                     self.images_text)], (),
        lambda valid: tf.shape(valid)[0],
        lambda valid: compute(pixels.bin_centres(valid, self.dtype)), outputs)

  def log_prob(self, images):
    """`log p(x + 0.5)` and its bits/dim, `[N]` each, of uint8 `images`."""

    def compute(y):
      log_prob = self.model.log_prob(y, training=False)
      bits_per_dim = losses.to_bits_per_dim(log_prob, self.model.num_dims)
      return {"log_prob": tf.cast(log_prob, tf.float32),
              "bits_per_dim": tf.cast(bits_per_dim, tf.float32)}

    return self._on_images("log_prob", images, compute,
                           {"log_prob": (tf.float32, ()),
                            "bits_per_dim": (tf.float32, ())})

  def encode(self, images):
    """Latents `[N, H, W, C]` of uint8 `images` at their bin centres."""

    def compute(y):
      return {"latents": tf.cast(self.model.encode(y, training=False),
                                 tf.float32)}

    return self._on_images("encode", images, compute,
                           {"latents": (tf.float32, self.image_shape)})

  def sample(self, num_samples, temperature, seed):
    """`num_samples` uint8 images at `temperature`, reproducible by `seed`."""
    ranges = [
        _Check(_all(tf.logical_and(num_samples >= 0,
                                   num_samples <= MAX_NUM_SAMPLES)),
               f"sample: num_samples must be in [0, {MAX_NUM_SAMPLES}]; "
               "received", num_samples),
        _Check(_all(tf.logical_and(tf.math.is_finite(temperature),
                                   temperature > 0)),
               "sample: temperature must be a finite number > 0; received",
               temperature),
    ]

    def compute(n, t, s):
      samples = self.model.sample(n, tf.cast(t, self.dtype), seed=s)
      return {"images": pixels.to_uint8(tf.cast(samples, tf.float32))}

    return _serve(
        "sample", [("num_samples", num_samples, [], "an int32 count"),
                   ("temperature", temperature, [], "a float32 number"),
                   ("seed", seed, [], "an int32 seed")], ranges,
        lambda n, t, s: n, compute, {"images": (tf.uint8, self.image_shape)})

  def decode(self, latents):
    """uint8 images of float32 `latents`: `decode(encode(x)) == x`."""
    non_finite = tf.reduce_sum(tf.cast(
        tf.logical_not(tf.math.is_finite(tf.reshape(latents, [-1]))),
        tf.int32))
    finite = _Check(
        tf.equal(non_finite, 0),
        "decode: latents must be finite; non-finite values received:",
        non_finite)

    def compute(z):
      y = self.model.decode(tf.cast(z, self.dtype))
      return {"images": pixels.to_uint8(tf.cast(y, tf.float32))}

    return _serve(
        "decode", [("latents", latents, [None] + list(self.image_shape),
                    "N float32 latents of the image shape")], [finite],
        lambda z: tf.shape(z)[0], compute,
        {"images": (tf.uint8, self.image_shape)})


def export_archive(model):
  """A `keras.export.ExportArchive` with the model's signatures (not written).

  The endpoints are added in `SIGNATURE_NAMES` order; `write_out` also
  registers the first one, `log_prob`, as `serving_default`.
  """
  if not isinstance(model, RealNVP):
    raise ValueError(f"export expects a tf_realnvp.RealNVP, received "
                     f"{type(model).__name__}.")
  endpoints = _Endpoints(model)
  archive = keras.export.ExportArchive()
  archive.track(model)
  signatures = endpoints.input_signatures()
  for name, function in endpoints.functions().items():
    archive.add_endpoint(name, function, input_signature=signatures[name])
  return archive


def export_saved_model(model, export_dir, version):
  """Writes the model as `export_dir/<version>/`, a SavedModel for TF Serving.

  TF Serving watches `export_dir` (a model's base path) and serves its
  numbered subdirectories. The SavedModel is written into a temporary
  sibling, `export_dir/.<version>.tmp-*` (a name TF Serving ignores), and
  renamed into place at the end, so that a version directory is always
  complete; on failure the temporary directory is removed.

  Signatures (all in evaluation mode; see the module docstring): `log_prob`
  (also `serving_default`), `sample`, `encode`, `decode`. `log_prob` and
  `encode` dequantise uint8 pixels at their bin centres, `y = x + 0.5`:
  deterministic, unlike the uniform dequantisation of training's bits/dim.

  Args:
    model: a built `tf_realnvp.RealNVP`.
    export_dir: the model's base directory (created if missing).
    version: the version, an int `>= 0` (for instance the training step).

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
  archive = export_archive(model)
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
