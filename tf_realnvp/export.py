"""SavedModel export of a trained `RealNVP` for TF Serving.

```python
from tf_realnvp import export, workdirs
model, step = workdirs.load_trained_model("runs/fashion_mnist_demo")
path = export.export_saved_model(model, "exports/realnvp", version=step)
# -> "exports/realnvp/2200", TF Serving's versioned layout.
```

The signatures are those of `tf_realnvp.serving.signatures` (names, inputs,
outputs, dtypes and shapes; `export/README.md` shows them): `log_prob` (also
`serving_default`), `sample`, `encode`, `decode`, `classify` for a class
model and `anomaly` with an anomaly detector. Every signature runs the model
in evaluation mode (running batch-norm averages), takes and returns named
tensors and has a `None` batch dimension.

- **Likelihoods of 8-bit images.** `log_prob` serves `log P(x)`, the
  discrete log-likelihood of each image, estimated deterministically by
  importance weighting over `num_draws` fixed dequantisation draws
  (`tf_realnvp.likelihood`, `RealNVP.log_likelihood`); `bits_per_dim =
  -log_prob / (H W C ln 2)`. It lies below training's bound in
  expectation and approaches `log P(x)` as `num_draws` grows; `classify`
  and `anomaly` use the same estimate. `encode` reads each pixel at the
  centre of its bin, `y = x + 0.5`.
- `decode` clips its pixels to `[0, 256)` and floors them to uint8
  (`tf_realnvp.pixels.to_uint8`), so `decode(encode(x)) == x` exactly.
- `sample` is reproducible: the same `seed` gives the same images.
- An empty batch (`N = 0`, `num_samples = 0`, no labels) gives an empty
  batch.
- **Bad requests** fail inside the graph with `INVALID_ARGUMENT` and a
  message that starts with the signature's name and says what is wrong
  (`tf_realnvp.request_checks`): an input of another shape, a non-scalar
  `sample` input, `num_samples` outside `[0, MAX_NUM_SAMPLES]`, a
  `temperature` that is not a finite number `> 0`, non-finite `latents`;
  for conditional models `labels` outside `[0, K)`, a non-finite
  `condition`, not one condition per image, more than `MAX_NUM_SAMPLES`
  conditions to `sample`.

The SavedModel is written with `keras.export.ExportArchive`: a plain
`tf.saved_model.save` of a `tf.Module` holding Keras 3 layers loads in TF2,
but fails in the TF1 session loader that TF Serving and `saved_model_cli run`
use, while `ExportArchive` (tracked model, endpoints with named
`tf.TensorSpec`s) passes through both.
"""

import os
import shutil
import uuid

import keras
import numpy as np
import tensorflow as tf

from tf_realnvp import classifier
from tf_realnvp import likelihood
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp import request_checks
from tf_realnvp import serving
from tf_realnvp.model import RealNVP

__all__ = ["export_archive", "export_saved_model", "signature_names"]


class _Endpoints:
  """The exported functions of one model (evaluation mode throughout),
  built from `serving.signatures`: each input is validated by its name
  (`_input_checks`), each signature computed by its name (`_compute`)."""

  def __init__(self, model, detector=None,
               num_draws=likelihood.DEFAULT_NUM_DRAWS):
    self.model = model
    self.detector = detector
    self.num_draws = likelihood.check_num_draws(num_draws)
    self.dtype = model.compute_dtype
    conditioning = model.conditioning
    self.shape_args = dict(
        image_shape=tuple(model.image_shape),
        num_classes=model.num_classes,
        condition_length=model.condition_shape and model.condition_shape[0])
    self.signatures = serving.signatures(
        conditioning, detector.score_names if detector else None)
    height, width, channels = model.image_shape
    self.descriptions = dict(
        images=(f"N uint8 images of {height}x{width} pixels with {channels} "
                f"channel{'s' if channels != 1 else ''}"),
        latents="N float32 latents of the image shape",
        labels=(f"N int32 class labels in [0, {model.num_classes})"
                if model.num_classes else None),
        condition=(f"N float32 condition vectors of length "
                   f"{self.shape_args['condition_length']}"
                   if model.condition_shape else None),
        num_samples="an int32 count", temperature="a float32 number",
        seed="an int32 seed")

  def functions(self):
    """`{signature name: (function, input signature)}`, in export order."""
    return {signature.name: (self._function(signature), [
        tf.TensorSpec(t.concrete_shape(**self.shape_args), t.dtype,
                      name=t.name) for t in signature.inputs])
            for signature in self.signatures}

  def _function(self, signature):
    names = [t.name for t in signature.inputs]

    def function(*args):
      return self._serve(signature, dict(zip(names, args)))

    return function

  def _serve(self, signature, inputs):
    """`signature`'s outputs for its (validated) `inputs` by name."""
    name = signature.name
    shaped = [(key, tensor, list(t.concrete_shape(**self.shape_args)),
               self.descriptions[key])
              for (key, tensor), t in zip(inputs.items(), signature.inputs)]
    checks = [check for key, tensor in inputs.items()
              for check in self._input_checks(name, key, tensor)]
    first = next(iter(inputs))
    condition = next((k for k in ("labels", "condition") if k in inputs),
                     None)
    same_batch = None
    if condition and first != condition:
      item = "image" if first == "images" else "latent"
      one = "label" if condition == "labels" else "condition vector"
      same_batch = (first, condition, f"one {one} per {item}")
    outputs = {t.name: (tf.as_dtype(t.dtype), t.concrete_shape(
        **self.shape_args)[1:]) for t in signature.outputs}
    keys = list(inputs)

    def batch_size(*valid):
      return valid[0] if first == "num_samples" else tf.shape(valid[0])[0]

    def compute(*valid):
      result = getattr(self, f"_{name}")(**dict(zip(keys, valid)))
      if set(result) != set(outputs):  # The table is the contract.
        raise ValueError(f"{name} computes {sorted(result)}, the serving "
                         f"table lists {sorted(outputs)}.")
      return {key: result[key] for key in outputs}

    return request_checks.serve(name, shaped, checks, batch_size, compute,
                                outputs, same_batch)

  def _input_checks(self, signature, name, tensor):
    """`Check`s of an input's values (its shape is checked by `serve`)."""
    checks = []
    if signature == "sample" and name in ("labels", "condition"):
      count = request_checks.leading_size(
          request_checks.runtime_shape(tensor))
      several = "labels" if name == "labels" else "condition vectors"
      checks.append(request_checks.Check(
          count <= serving.MAX_NUM_SAMPLES,
          f"sample: {name} must hold at most {serving.MAX_NUM_SAMPLES} "
          f"{several} (one image each); received", count))
    if name == "labels":
      flat = tf.reshape(tensor, [-1])
      in_range = tf.logical_and(flat >= 0, flat < self.model.num_classes)
      checks.append(request_checks.Check(
          request_checks.all_of(in_range),
          f"{signature}: labels must be in [0, {self.model.num_classes}); "
          "received", tf.boolean_mask(flat, tf.logical_not(in_range))))
    elif name in ("condition", "latents"):
      checks.append(request_checks.finite_check(signature, name, tensor))
    elif name == "num_samples":
      checks.append(request_checks.Check(
          request_checks.all_of(tf.logical_and(
              tensor >= 0, tensor <= serving.MAX_NUM_SAMPLES)),
          f"sample: num_samples must be in [0, {serving.MAX_NUM_SAMPLES}]; "
          "received", tensor))
    elif name == "temperature":
      checks.append(request_checks.Check(
          request_checks.all_of(tf.logical_and(tf.math.is_finite(tensor),
                                               tensor > 0)),
          "sample: temperature must be a finite number > 0; received",
          tensor))
    return checks

  # The signatures, by name: inputs by name, outputs as the table lists.

  def _condition(self, labels=None, condition=None):
    return labels if condition is None else condition

  def _log_prob(self, images, **condition):
    log_prob = self.model.log_likelihood(
        images, self._condition(**condition), num_draws=self.num_draws)
    return {"log_prob": tf.cast(log_prob, tf.float32),
            "bits_per_dim": tf.cast(losses.to_bits_per_dim(
                log_prob, self.model.num_dims), tf.float32)}

  def _encode(self, images, **condition):
    y = pixels.bin_centres(images, self.dtype)
    return {"latents": tf.cast(self.model.encode(
        y, self._condition(**condition)), tf.float32)}

  def _decode(self, latents, **condition):
    y = self.model.decode(tf.cast(latents, self.dtype),
                          self._condition(**condition))
    return {"images": pixels.to_uint8(tf.cast(y, tf.float32))}

  def _sample(self, temperature, seed, num_samples=None, **condition):
    condition = self._condition(**condition) if condition else None
    count = num_samples if condition is None else tf.shape(condition)[0]
    samples = self.model.sample(count, tf.cast(temperature, self.dtype),
                                seed=seed, condition=condition)
    return {"images": pixels.to_uint8(tf.cast(samples, tf.float32))}

  def _classify(self, images):
    log_likelihoods = self.model.class_log_likelihoods(images,
                                                       self.num_draws)
    probabilities, predicted = classifier.predict(
        log_likelihoods, self.model.class_log_prior)
    return {"probabilities": tf.cast(probabilities, tf.float32),
            "log_likelihoods": tf.cast(log_likelihoods, tf.float32),
            "class": predicted}

  def _anomaly(self, images):
    return self.detector(images)


def signature_names(model, detector=None):
  """The names of `model`'s exported signatures, in the order they are
  added (`serving_default` is the first, `log_prob`)."""
  return [s.name for s in serving.signatures(
      model.conditioning, detector.score_names if detector else None)]


def export_archive(model, detector=None,
                   num_draws=likelihood.DEFAULT_NUM_DRAWS):
  """A `keras.export.ExportArchive` with the model's signatures (not written).

  The endpoints are added in `signature_names(model, detector)` order;
  `write_out` also registers the first one, `log_prob`, as
  `serving_default`.

  Args:
    model: a built `tf_realnvp.RealNVP`.
    detector: `None`, or a calibrated `tf_realnvp.anomaly.AnomalyDetector`
      of `model` (its background model is exported with it), for the
      `anomaly` signature.
    num_draws: the dequantisation draws of the served likelihoods
      (`tf_realnvp.likelihood`); an anomaly detector uses its own.
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
      model, detector, num_draws).functions().items():
    archive.add_endpoint(name, function, input_signature=signature)
  return archive


def export_saved_model(model, export_dir, version, detector=None,
                       num_draws=likelihood.DEFAULT_NUM_DRAWS):
  """Writes the model as `export_dir/<version>/`, a SavedModel for TF Serving.

  TF Serving watches `export_dir` (a model's base path) and serves its
  numbered subdirectories. The SavedModel is written into a temporary
  sibling, `export_dir/.<version>.tmp-*` (a name TF Serving ignores), and
  renamed into place at the end, so that a version directory is always
  complete; on failure the temporary directory is removed.

  Args:
    model: a built `tf_realnvp.RealNVP`.
    export_dir: the model's base directory (created if missing).
    version: the version, an int `>= 0` (for instance the training step).
    detector: `None`, or a calibrated `tf_realnvp.anomaly.AnomalyDetector`
      of `model`: adds the `anomaly` signature.
    num_draws: the dequantisation draws of the served likelihoods.

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
  archive = export_archive(model, detector, num_draws)
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
