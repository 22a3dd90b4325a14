"""Client for a Real NVP served by TF Serving, over REST or gRPC.

  python export/client.py --server=localhost --model_name=realnvp \
      --signature=log_prob --images=a.png,b.png
  python export/client.py --protocol=grpc --signature=sample \
      --num_samples=16 --temperature=0.7 --seed=1 --output_dir=samples
  # A class-conditional model: one sample per label; classify images.
  python export/client.py --signature=sample --labels=0,7,9 --seed=1
  python export/client.py --signature=classify --images=a.png,b.png

Building requests and parsing responses are pure functions
(`input_names`, `signature_inputs`, `rest_url`, `build_rest_request`,
`parse_rest_response`, `build_grpc_request`, `parse_grpc_response`,
`request_text`); `predict_rest`, `predict_grpc` and `predict` send them. The
signatures (see `export/README.md` and `tf_realnvp/export.py`):

  log_prob, serving_default: images uint8 [N, H, W, C]
                             -> log_prob float32 [N], bits_per_dim float32 [N]
  sample: num_samples int32 [], temperature float32 [], seed int32 []
          -> images uint8 [N, H, W, C]
  encode: images uint8 [N, H, W, C] -> latents float32 [N, H, W, C]
  decode: latents float32 [N, H, W, C] -> images uint8 [N, H, W, C]

A conditional model's signatures also take the condition, one per image:
`labels` int32 [N] (class models) or `condition` float32 [N, A] (vector
models); its `sample` takes `labels` (or `condition`), `temperature` and
`seed`, and draws one image per label (`input_names`). A class model has

  classify: images uint8 [N, H, W, C] -> probabilities float32 [N, K],
            log_likelihoods float32 [N, K], class int32 [N]

A calibrated workdir's export (`python -m tf_realnvp.anomaly calibrate`) has

  anomaly: images uint8 [N, H, W, C] -> anomaly_score float32 [N],
           p_value float32 [N], is_anomaly bool [N], and every score [N]

This file needs only numpy, tensorflow, grpcio and tensorflow-serving-api
(not the tf_realnvp package), so it can be copied to a client machine.
"""

# Heavy imports (tensorflow, grpc) are deferred to the functions that need
# them, so that building and parsing REST requests needs numpy only.
# pylint: disable=import-outside-toplevel

import json
import os
import sys
import urllib.error
import urllib.request

import numpy as np

REST_PORT = 8501
GRPC_PORT = 8500

# Input and output names of each signature, with their dtypes. The inputs
# are an unconditional model's; `input_names` adds a condition.
SIGNATURES = {
    "serving_default": (("images",), ("log_prob", "bits_per_dim")),
    "log_prob": (("images",), ("log_prob", "bits_per_dim")),
    "sample": (("num_samples", "temperature", "seed"), ("images",)),
    "encode": (("images",), ("latents",)),
    "decode": (("latents",), ("images",)),
    "classify": (("images",), ("probabilities", "log_likelihoods", "class")),
    # Also every score by name (they depend on the model; see export/README).
    "anomaly": (("images",), ("anomaly_score", "p_value", "is_anomaly")),
}
# The inputs that condition a conditional model: class labels, or vectors.
CONDITIONS = ("labels", "condition")
DTYPES = {
    "images": np.uint8,
    "latents": np.float32,
    "num_samples": np.int32,
    "temperature": np.float32,
    "seed": np.int32,
    "labels": np.int32,
    "condition": np.float32,
    "log_prob": np.float32,
    "bits_per_dim": np.float32,
    "probabilities": np.float32,
    "log_likelihoods": np.float32,
    "class": np.int32,
    "anomaly_score": np.float32,
    "p_value": np.float32,
    "is_anomaly": np.bool_,
}
# Signatures that also return outputs not listed in `SIGNATURES` (each
# anomaly score, which depend on the model), as float32.
MORE_OUTPUTS = ("anomaly",)
SCALARS = ("num_samples", "temperature", "seed")


class ServingError(RuntimeError):
  """The server answered with an error (its message is the text)."""


# --- Pure request building and response parsing ------------------------------


def input_names(signature, condition=None):
  """The input names of `signature`, for a model conditioned on `condition`.

  Args:
    signature: a key of `SIGNATURES`.
    condition: `None` (an unconditional model, or `classify`), `"labels"`
      (a class model) or `"condition"` (a model of condition vectors): the
      input added to every signature but `classify`. A conditional `sample`
      has no `num_samples`: it draws one image per label (condition row).

  Raises:
    ValueError: an unknown signature or condition, or a condition for
      `classify` (which tries every class).
  """
  names = _signature(signature)[0]
  if condition is None:
    return names
  if condition not in CONDITIONS:
    raise ValueError(f"Unknown condition input {condition!r}; one of "
                     f"{', '.join(CONDITIONS)}.")
  if signature == "classify":
    raise ValueError(f"classify takes images only, not {condition}: it "
                     "computes the likelihood of every class.")
  if signature == "sample":
    return (condition,) + tuple(n for n in names if n != "num_samples")
  return names + (condition,)


def signature_inputs(signature, images=None, latents=None, num_samples=None,
                     temperature=None, seed=None, labels=None,
                     condition=None):
  """The named numpy inputs of one request to `signature`, with their dtypes.

  Args:
    signature: a key of `SIGNATURES`.
    images: uint8 `[N, H, W, C]` (`log_prob`, `serving_default`, `encode`,
      `classify`).
    latents: float `[N, H, W, C]` (`decode`).
    num_samples, temperature, seed: numbers (`sample`; a conditional
      `sample` takes no `num_samples`).
    labels: ints `[N]`, one per image (a class model's signatures but
      `classify`; for `sample`, one image each).
    condition: floats `[N, A]`, one row per image (a model of condition
      vectors; for `sample`, one image each).

  Raises:
    ValueError: an unknown signature, a missing or an unexpected input,
      both `labels` and `condition`, or images, labels or a condition that
      are not uint8 `[N, H, W, C]`, ints `[N]` or `[N, A]`.
  """
  given = dict(images=images, latents=latents, num_samples=num_samples,
               temperature=temperature, seed=seed, labels=labels,
               condition=condition)
  conditions = [n for n in CONDITIONS if given[n] is not None]
  if len(conditions) > 1:
    raise ValueError("Pass labels (a class model) or condition (a model of "
                     "condition vectors), not both.")
  names = input_names(signature, conditions[0] if conditions else None)
  missing = [n for n in names if given[n] is None]
  extra = [n for n in given if given[n] is not None and n not in names]
  if missing or extra:
    raise ValueError(f"{signature} takes {', '.join(names)}; "
                     f"missing: {missing or 'none'}, unexpected: "
                     f"{extra or 'none'}.")
  inputs = {}
  for name in names:
    value = np.asarray(given[name])
    if name == "images" and (value.dtype != np.uint8 or value.ndim != 4):
      raise ValueError("images must be uint8 [N, H, W, C], received "
                       f"{value.dtype} {list(value.shape)}.")
    if name == "labels" and (value.ndim != 1 or (
        value.size and value.dtype.kind not in "iu")):
      raise ValueError("labels must be ints [N], one per image, received "
                       f"{value.dtype} {list(value.shape)}.")
    if name == "condition" and value.ndim != 2:
      raise ValueError("condition must be [N, A], one vector per image, "
                       f"received shape {list(value.shape)}.")
    if name in SCALARS and value.ndim != 0:
      raise ValueError(f"{name} must be a number, received shape "
                       f"{list(value.shape)}.")
    inputs[name] = value.astype(DTYPES[name])
  return inputs


def rest_url(server, model_name, version=None):
  """`http://host:port/v1/models/<name>[/versions/<v>]:predict`.

  `server` is `host` or `host:port` (default port 8501) or a full
  `http(s)://` URL prefix.
  """
  base = server if server.startswith(("http://", "https://")) else (
      f"http://{_with_port(server, REST_PORT)}")
  path = f"/v1/models/{model_name}"
  if version is not None:
    path += f"/versions/{int(version)}"
  return base.rstrip("/") + path + ":predict"


def build_rest_request(signature, inputs):
  """The JSON body (a dict) of a REST predict request, columnar format.

  `{"signature_name": ..., "inputs": {name: nested lists or number}}`;
  floats are written with enough digits to round-trip float32 exactly.
  """
  _signature(signature)
  return {"signature_name": signature,
          "inputs": {name: np.asarray(value).tolist()
                     for name, value in inputs.items()}}


def parse_rest_response(signature, body):
  """`{output name: numpy array}` from a REST predict response.

  Args:
    signature: the signature requested (names and dtypes of its outputs).
    body: the response body, as bytes, str or an already decoded dict.
      TF Serving answers `{"outputs": {name: value, ...}}`, or
      `{"outputs": value}` when the signature has a single output, or
      `{"error": message}`.

  Raises:
    ServingError: the body holds an error.
    ValueError: the body is not a predict response for `signature`.
  """
  if isinstance(body, (bytes, str)):
    body = json.loads(body)
  if "error" in body:
    raise ServingError(body["error"])
  if "outputs" not in body:
    raise ValueError(f"Not a columnar predict response: keys {sorted(body)}.")
  names = _signature(signature)[1]
  outputs = body["outputs"]
  if len(names) == 1 and not isinstance(outputs, dict):
    outputs = {names[0]: outputs}
  _check_outputs(signature, names, outputs)
  return {name: np.asarray(value, DTYPES.get(name, np.float32))
          for name, value in outputs.items()}


def _check_outputs(signature, names, outputs):
  """A ValueError unless a response's `outputs` are the signature's `names`
  (or include them, for `MORE_OUTPUTS`)."""
  found = set(outputs) if hasattr(outputs, "keys") else set()
  expected = set(names)
  if found != expected and not (signature in MORE_OUTPUTS and
                                expected <= found):
    raise ValueError(f"{signature} returns {', '.join(names)}; the response "
                     f"holds {sorted(found) if found else 'one tensor'}.")


def build_grpc_request(model_name, signature, inputs, version=None):
  """A `tensorflow_serving.apis.predict_pb2.PredictRequest`."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2
  _signature(signature)
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  if version is not None:
    request.model_spec.version.value = int(version)
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(
        tf.make_tensor_proto(np.asarray(value, DTYPES[name])))
  return request


def parse_grpc_response(signature, response):
  """`{output name: numpy array}` from a `PredictResponse`.

  Accepts both of TF Serving's tensor encodings (typed fields such as
  `float_val`/`int_val`, and `tensor_content`).
  """
  import tensorflow as tf
  _check_outputs(signature, _signature(signature)[1], response.outputs)
  return {name: tf.make_ndarray(tensor).astype(DTYPES.get(name, np.float32))
          for name, tensor in response.outputs.items()}


def request_text(protocol, model_name, signature, inputs, version=None):
  """A request as text: REST, its JSON body (for `curl -d @file`); gRPC, the
  `PredictRequest` in protobuf text format."""
  if protocol == "rest":
    return json.dumps(build_rest_request(signature, inputs))
  from google.protobuf import text_format
  return text_format.MessageToString(
      build_grpc_request(model_name, signature, inputs, version))


def _signature(signature):
  if signature not in SIGNATURES:
    raise ValueError(f"Unknown signature {signature!r}; one of "
                     f"{', '.join(SIGNATURES)}.")
  return SIGNATURES[signature]


def _with_port(server, port):
  return server if ":" in server.rsplit("]", 1)[-1] else f"{server}:{port}"


# --- Sending ------------------------------------------------------------------


def predict_rest(server, model_name, signature, inputs, version=None,
                 timeout=60.0):
  """POSTs a predict request; returns `{output name: numpy array}`.

  Raises:
    ServingError: the server answered with an error (HTTP 4xx/5xx with
      `{"error": ...}`); its message is the server's.
    ConnectionError: the server cannot be reached.
  """
  body = json.dumps(build_rest_request(signature, inputs)).encode()
  request = urllib.request.Request(
      rest_url(server, model_name, version), data=body, method="POST",
      headers={"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      return parse_rest_response(signature, response.read())
  except urllib.error.HTTPError as error:
    text = error.read()
    try:
      message = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
      message = text.decode(errors="replace")
    raise ServingError(f"HTTP {error.code}: {message}") from None
  except urllib.error.URLError as error:
    raise ConnectionError(
        f"Cannot reach {request.full_url}: {error.reason}") from None


def predict_grpc(server, model_name, signature, inputs, version=None,
                 timeout=60.0):
  """Calls `PredictionService/Predict`; returns `{output: numpy array}`.

  Raises:
    ServingError: the call failed (its status code and details).
  """
  import grpc
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  request = build_grpc_request(model_name, signature, inputs, version)
  # Raise the 4 MiB default message limits: a batch of images can be larger.
  options = [("grpc.max_send_message_length", 256 << 20),
             ("grpc.max_receive_message_length", 256 << 20)]
  with grpc.insecure_channel(_with_port(server, GRPC_PORT),
                             options=options) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      response = stub.Predict(request, timeout=timeout)
    except grpc.RpcError as error:
      raise ServingError(f"{error.code().name}: {error.details()}") from None
  return parse_grpc_response(signature, response)


def predict(protocol, server, model_name, signature, inputs, version=None,
            timeout=60.0):
  """`predict_rest` or `predict_grpc`."""
  send = {"rest": predict_rest, "grpc": predict_grpc}[protocol]
  return send(server, model_name, signature, inputs, version, timeout)


# --- Command line --------------------------------------------------------------


def read_pngs(paths):
  """uint8 `[N, H, W, C]` from PNG files of one size and channel count."""
  import tensorflow as tf
  images = [tf.io.decode_png(tf.io.read_file(p)).numpy() for p in paths]
  shapes = {image.shape for image in images}
  if len(shapes) != 1:
    raise ValueError(f"The images differ in shape: {sorted(shapes)}.")
  return np.stack(images)


def write_pngs(images, directory, prefix):
  """Writes uint8 `[N, H, W, C]` as `directory/<prefix>_<i>.png`."""
  import tensorflow as tf
  os.makedirs(directory, exist_ok=True)
  paths = []
  for i, image in enumerate(images):
    path = os.path.join(directory, f"{prefix}_{i:04d}.png")
    tf.io.write_file(path, tf.io.encode_png(image))
    paths.append(path)
  return paths


def _define_flags():
  from absl import flags
  flags.DEFINE_string("server", "localhost", "host or host:port of TF Serving "
                      "(ports default to 8501 for REST, 8500 for gRPC).")
  flags.DEFINE_string("model_name", "realnvp", "The model's name in "
                      "TF Serving's models.config.")
  flags.DEFINE_integer("model_version", None, "A version to call (default: "
                       "the one TF Serving serves).")
  flags.DEFINE_enum("signature", "log_prob", list(SIGNATURES),
                    "Signature to call.")
  flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "REST or gRPC.")
  flags.DEFINE_list("images", None, "PNG files (log_prob, serving_default, "
                    "encode, classify).")
  flags.DEFINE_string("latents", None, ".npy file of float32 latents "
                      "[N, H, W, C] (decode).")
  flags.DEFINE_integer("num_samples", None, "Images to sample (sample of an "
                       "unconditional model).")
  flags.DEFINE_list("labels", None, "Class labels of a class-conditional "
                    "model, one per image or latent, or for sample one per "
                    "image to draw: 0,7,9.")
  flags.DEFINE_string("condition", None, ".npy file of float32 condition "
                      "vectors [N, A] of a model conditioned on vectors, one "
                      "per image or latent (sample: one per image to draw).")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature (sample).")
  flags.DEFINE_integer("seed", 0, "Sampling seed (sample).")
  flags.DEFINE_string("output_dir", ".", "Where sampled/decoded PNGs and "
                      "encoded latents (latents.npy) go.")
  flags.DEFINE_float("timeout", 60.0, "Seconds to wait for the server.")
  flags.DEFINE_bool("print_request", False, "Print the request (REST: its "
                    "JSON body, for curl -d @file; gRPC: the PredictRequest "
                    "as text) instead of sending it.")


def _cli_inputs(flag_values):
  signature = flag_values.signature
  condition = {}
  if flag_values.labels is not None:
    try:
      condition["labels"] = [int(label) for label in flag_values.labels]
    except ValueError:
      raise ValueError("--labels must be ints, received "
                       f"{','.join(flag_values.labels)}.") from None
  if flag_values.condition:
    condition["condition"] = np.load(flag_values.condition)
  if signature == "sample":
    return signature_inputs(signature,
                            num_samples=flag_values.num_samples,
                            temperature=flag_values.temperature,
                            seed=flag_values.seed, **condition)
  if signature == "decode":
    if not flag_values.latents:
      raise ValueError("decode needs --latents=file.npy.")
    return signature_inputs(signature, latents=np.load(flag_values.latents),
                            **condition)
  if not flag_values.images:
    raise ValueError(f"{signature} needs --images=a.png,b.png,...")
  return signature_inputs(signature, images=read_pngs(flag_values.images),
                          **condition)


def _report(outputs, flag_values):
  """Prints the outputs (and writes images/latents); returns the lines."""
  lines = []
  if "log_prob" in outputs:
    for name, lp, bpd in zip(flag_values.images, outputs["log_prob"],
                             outputs["bits_per_dim"]):
      lines.append(f"{name}\tlog_prob {lp:.3f}\tbits/dim {bpd:.4f}")
  elif "anomaly_score" in outputs:
    for name, score, p_value, flagged in zip(
        flag_values.images, outputs["anomaly_score"], outputs["p_value"],
        outputs["is_anomaly"]):
      lines.append(f"{name}\tanomaly_score {score:.3f}\tp_value "
                   f"{p_value:.4f}\t{'ANOMALY' if flagged else 'ok'}")
  elif "probabilities" in outputs:
    for name, k, probabilities in zip(flag_values.images, outputs["class"],
                                      outputs["probabilities"]):
      lines.append(f"{name}\tclass {k}\tp {probabilities[k]:.4f}")
  elif "latents" in outputs:
    path = os.path.join(flag_values.output_dir, "latents.npy")
    os.makedirs(flag_values.output_dir, exist_ok=True)
    np.save(path, outputs["latents"])
    lines.append(f"latents {list(outputs['latents'].shape)} -> {path}")
  else:
    lines.extend(write_pngs(outputs["images"], flag_values.output_dir,
                            flag_values.signature))
  return lines


def _run(argv):
  from absl import app
  from absl import flags
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  values = flags.FLAGS
  try:
    inputs = _cli_inputs(values)
    if values.print_request:
      print(request_text(values.protocol, values.model_name, values.signature,
                         inputs, values.model_version))
      return 0
    outputs = predict(values.protocol, values.server, values.model_name,
                      values.signature, inputs, values.model_version,
                      values.timeout)
    for line in _report(outputs, values):
      print(line)
  except (ValueError, OSError, ServingError) as error:
    message = " ".join(str(error).split())
    sys.stderr.write(f"client.py: error: {message}\n")
    return 1
  return 0


def main(argv=None):
  """The command line. Flags are defined here, not on import, so that
  importing this module defines no absl flags."""
  from absl import app
  _define_flags()
  app.run(_run, argv=argv)


if __name__ == "__main__":
  main()
