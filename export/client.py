"""Client for a Real NVP served by TF Serving, over REST or gRPC.

  python export/client.py --server=localhost --model_name=realnvp \
      --signature=log_prob --images=a.png,b.png
  python export/client.py --protocol=grpc --signature=sample \
      --num_samples=16 --temperature=0.7 --seed=1 --output_dir=samples
  # A class-conditional model: one sample per label; classify images.
  python export/client.py --signature=sample --labels=0,7,9 --seed=1
  python export/client.py --signature=classify --images=a.png,b.png

The signatures' inputs and outputs come from TF Serving's model metadata
(`fetch_signatures`; `--saved_model` reads an exported directory instead):
requests are built from the flags a signature takes, typed as the metadata
says; outputs are reported by kind (uint8 images as PNGs, other tensors of
rank > 2 as `.npy`, the rest a line per item). Building and parsing are pure
functions; `predict` sends. Needs numpy, tensorflow, grpcio and
tensorflow-serving-api only (not tf_realnvp): it can be copied anywhere.
"""

# tensorflow and grpc are imported by the functions that need them.
# pylint: disable=import-outside-toplevel

import json
import os
import sys
import urllib.error
import urllib.request

import numpy as np

REST_PORT = 8501
GRPC_PORT = 8500


class ServingError(RuntimeError):
  """The server answered with an error (its message)."""


# --- Signatures: `{name: {"inputs": {tensor: (dtype, shape)}, "outputs": ...}}`
# as the server describes them (-1: any size, the batch; `None`: any rank).


def signatures_from_defs(signature_defs):
  """The signature table of a map of `SignatureDef` protos."""

  def describe(infos):
    import tensorflow as tf
    return {name: (tf.dtypes.as_dtype(info.dtype).name,
                   None if info.tensor_shape.unknown_rank else
                   [int(d.size) for d in info.tensor_shape.dim])
            for name, info in infos.items()}

  return {name: {"inputs": describe(d.inputs), "outputs": describe(d.outputs)}
          for name, d in signature_defs.items() if not name.startswith("__")}


def read_signatures(saved_model_dir):
  """The signature table of an exported version directory."""
  from tensorflow.core.protobuf import saved_model_pb2
  saved_model = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
    saved_model.ParseFromString(f.read())
  return signatures_from_defs(saved_model.meta_graphs[0].signature_def)


def rest_metadata_url(server, model_name, version=None):
  """`http://host:port/v1/models/<name>[/versions/<v>]/metadata`."""
  return _rest_base(server, model_name, version) + "/metadata"


def parse_rest_metadata(body):
  """The signature table of a REST metadata response."""
  from google.protobuf import json_format
  from tensorflow_serving.apis import get_model_metadata_pb2
  if isinstance(body, (bytes, str)):
    body = json.loads(body)
  if "error" in body:
    raise ServingError(body["error"])
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  json_format.ParseDict(body["metadata"]["signature_def"], signature_map,
                        ignore_unknown_fields=True)
  return signatures_from_defs(signature_map.signature_def)


def fetch_signatures(protocol, server, model_name, version=None,
                     timeout=60.0):
  """The signature table of a served model, from TF Serving's metadata."""
  if protocol == "rest":
    return parse_rest_metadata(_http("GET", rest_metadata_url(
        server, model_name, version), None, timeout))
  from tensorflow_serving.apis import get_model_metadata_pb2
  request = get_model_metadata_pb2.GetModelMetadataRequest()
  request.model_spec.name = model_name
  if version is not None:
    request.model_spec.version.value = int(version)
  request.metadata_field.append("signature_def")
  response = _grpc_call(server, "GetModelMetadata", request, timeout)
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  response.metadata["signature_def"].Unpack(signature_map)
  return signatures_from_defs(signature_map.signature_def)


def _signature(signatures, name):
  if name not in signatures:
    raise ValueError(f"The model has no signature {name!r}; it serves "
                     f"{', '.join(sorted(signatures))}.")
  return signatures[name]


# --- Pure request building and response parsing ------------------------------


def signature_inputs(signatures, signature, **given):
  """The named numpy inputs of one request to `signature`, typed and
  checked against the model's signature table (`fetch_signatures`): a
  value for each input by name (`images`, `labels`, `num_samples`, ...;
  `None` values are left out). A ValueError names an unknown signature, a
  missing or unexpected input, or one of another rank or fixed size."""
  expected = _signature(signatures, signature)["inputs"]
  given = {k: v for k, v in given.items() if v is not None}
  missing = sorted(set(expected) - set(given))
  extra = sorted(set(given) - set(expected))
  if missing or extra:
    raise ValueError(f"{signature} takes {', '.join(expected)}; missing: "
                     f"{missing or 'none'}, unexpected: {extra or 'none'}.")
  inputs = {}
  for name, (dtype, shape) in expected.items():
    value = np.asarray(given[name])
    if shape is not None and (value.ndim != len(shape) or any(
        d not in (-1, n) for d, n in zip(shape, value.shape))):
      wanted = "a number" if not shape else "shape [" + ", ".join(
          "N" if d == -1 else str(d) for d in shape) + "]"
      raise ValueError(f"{signature}: {name} must be {dtype} {wanted}, "
                       f"received {value.dtype} {list(value.shape)}.")
    if np.dtype(dtype).kind in "iub" and value.size and (
        value.dtype.kind not in "iub"):
      raise ValueError(f"{signature}: {name} must be {dtype}, received "
                       f"{value.dtype} values.")
    inputs[name] = value.astype(dtype)
  return inputs


def _rest_base(server, model_name, version):
  base = server if server.startswith(("http://", "https://")) else (
      f"http://{_with_port(server, REST_PORT)}")
  path = f"/v1/models/{model_name}"
  if version is not None:
    path += f"/versions/{int(version)}"
  return base.rstrip("/") + path


def rest_url(server, model_name, version=None):
  """`http://host:port/v1/models/<name>[/versions/<v>]:predict`; `server`
  is `host`, `host:port` (port 8501 by default) or an `http(s)://` prefix."""
  return _rest_base(server, model_name, version) + ":predict"


def build_rest_request(signature, inputs):
  """The JSON body of a REST predict request, columnar: `{"signature_name":
  ..., "inputs": {name: nested lists or number}}` (float32 round-trips)."""
  return {"signature_name": signature,
          "inputs": {name: np.asarray(value).tolist()
                     for name, value in inputs.items()}}


def _outputs(signatures, signature, found):
  """`{name: dtype name}` of `signature`'s outputs, or a ValueError unless
  a response holds exactly them."""
  outputs = {name: dtype for name, (dtype, _) in
             _signature(signatures, signature)["outputs"].items()}
  if set(found) != set(outputs):
    raise ValueError(f"{signature} returns {', '.join(outputs)}; the response "
                     f"holds {sorted(found) if found else 'one tensor'}.")
  return outputs


def parse_rest_response(signatures, signature, body):
  """`{output name: numpy array}` from a REST predict response `body`
  (bytes, str or decoded): TF Serving answers `{"outputs": {name: value,
  ...}}`, `{"outputs": value}` for a single output, or `{"error": message}`
  (a `ServingError`); anything else for `signature` is a ValueError."""
  if isinstance(body, (bytes, str)):
    body = json.loads(body)
  if "error" in body:
    raise ServingError(body["error"])
  if "outputs" not in body:
    raise ValueError(f"Not a columnar predict response: keys {sorted(body)}.")
  outputs = body["outputs"]
  names = list(_signature(signatures, signature)["outputs"])
  if len(names) == 1 and not isinstance(outputs, dict):
    outputs = {names[0]: outputs}
  dtypes = _outputs(signatures, signature,
                    outputs if isinstance(outputs, dict) else {})
  return {name: np.asarray(value, dtypes[name])
          for name, value in outputs.items()}


def build_grpc_request(model_name, signature, inputs, version=None):
  """A `tensorflow_serving.apis.predict_pb2.PredictRequest` of typed
  `inputs` (`signature_inputs`)."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  if version is not None:
    request.model_spec.version.value = int(version)
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
  return request


def parse_grpc_response(signatures, signature, response):
  """`{output name: numpy array}` from a `PredictResponse` (typed fields
  such as `float_val`, or `tensor_content`)."""
  import tensorflow as tf
  dtypes = _outputs(signatures, signature, response.outputs)
  return {name: tf.make_ndarray(tensor).astype(dtypes[name])
          for name, tensor in response.outputs.items()}


def request_text(protocol, model_name, signature, inputs, version=None):
  """REST: the JSON body (for `curl -d @file`); gRPC: the `PredictRequest`
  as protobuf text."""
  if protocol == "rest":
    return json.dumps(build_rest_request(signature, inputs))
  from google.protobuf import text_format
  return text_format.MessageToString(
      build_grpc_request(model_name, signature, inputs, version))


def _with_port(server, port):
  return server if ":" in server.rsplit("]", 1)[-1] else f"{server}:{port}"


# --- Sending ------------------------------------------------------------------


def _http(method, url, body, timeout):
  """The decoded JSON answer of an HTTP request to TF Serving; a
  `ServingError` with the server's message for HTTP 4xx/5xx, a
  `ConnectionError` if it cannot be reached."""
  request = urllib.request.Request(
      url, data=None if body is None else json.dumps(body).encode(),
      method=method, headers={"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      return json.loads(response.read())
  except urllib.error.HTTPError as error:
    text = error.read()
    try:
      message = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
      message = text.decode(errors="replace")
    raise ServingError(f"HTTP {error.code}: {message}") from None
  except urllib.error.URLError as error:
    raise ConnectionError(f"Cannot reach {url}: {error.reason}") from None


def predict_rest(server, model_name, signatures, signature, inputs,
                 version=None, timeout=60.0):
  """POSTs a predict request; returns `{output name: numpy array}`."""
  return parse_rest_response(signatures, signature, _http(
      "POST", rest_url(server, model_name, version),
      build_rest_request(signature, inputs), timeout))


def predict_grpc(server, model_name, signatures, signature, inputs,
                 version=None, timeout=60.0):
  """Calls `PredictionService/Predict`; returns `{output: numpy array}`."""
  request = build_grpc_request(model_name, signature, inputs, version)
  return parse_grpc_response(signatures, signature,
                             _grpc_call(server, "Predict", request, timeout))


def _grpc_call(server, method, request, timeout):
  """`PredictionService/<method>(request)`; a `ServingError` with the
  status code and details if the call fails."""
  import grpc
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  # Raise the 4 MiB default message limits: a batch of images can be larger.
  options = [("grpc.max_send_message_length", 256 << 20),
             ("grpc.max_receive_message_length", 256 << 20)]
  with grpc.insecure_channel(_with_port(server, GRPC_PORT),
                             options=options) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      return getattr(stub, method)(request, timeout=timeout)
    except grpc.RpcError as error:
      raise ServingError(f"{error.code().name}: {error.details()}") from None


def predict(protocol, server, model_name, signatures, signature, inputs,
            version=None, timeout=60.0):
  """`predict_rest` or `predict_grpc`."""
  send = {"rest": predict_rest, "grpc": predict_grpc}[protocol]
  return send(server, model_name, signatures, signature, inputs, version,
              timeout)


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
  paths = [os.path.join(directory, f"{prefix}_{i:04d}.png")
           for i in range(len(images))]
  for path, image in zip(paths, images):
    tf.io.write_file(path, tf.io.encode_png(image))
  return paths


def _define_flags():
  from absl import flags
  flags.DEFINE_string("server", "localhost", "host[:port] of TF Serving "
                      "(ports 8501 REST, 8500 gRPC by default).")
  flags.DEFINE_string("model_name", "realnvp", "The model's served name.")
  flags.DEFINE_integer("model_version", None, "A version (default: served).")
  flags.DEFINE_string("signature", "log_prob", "Signature to call (the "
                      "model's metadata lists them).")
  flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "REST or gRPC.")
  flags.DEFINE_string("saved_model", None, "Read the signatures from this "
                      "exported version directory, not from the server.")
  flags.DEFINE_list("images", None, "PNG files (signatures taking images).")
  flags.DEFINE_string("latents", None, ".npy file of float32 latents "
                      "[N, H, W, C] (decode).")
  flags.DEFINE_integer("num_samples", None, "Images to sample (sample of an "
                       "unconditional model).")
  flags.DEFINE_list("labels", None, "Class labels, one per image or latent "
                    "(sample: per image to draw), e.g. 0,7,9.")
  flags.DEFINE_string("condition", None, ".npy file of condition vectors "
                      "[N, A], one per image or latent (or image to draw).")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature (sample).")
  flags.DEFINE_integer("seed", 0, "Sampling seed (sample).")
  flags.DEFINE_string("output_dir", ".", "Where PNGs and .npy outputs go.")
  flags.DEFINE_float("timeout", 60.0, "Seconds to wait for the server.")
  flags.DEFINE_bool("print_request", False, "Print the request instead of "
                    "sending it (REST: JSON for curl -d @file).")


# Inputs whose flags have defaults: given only to signatures that take them.
_DEFAULTED = ("temperature", "seed")


def _cli_inputs(flag_values, signatures):
  """The request's inputs from the flags, typed by the signature table."""
  signature = flag_values.signature
  given = dict(num_samples=flag_values.num_samples)
  takes = _signature(signatures, signature)["inputs"]
  for name in _DEFAULTED:
    if name in takes:
      given[name] = flag_values[name].value
  if flag_values.labels is not None:
    try:
      given["labels"] = [int(label) for label in flag_values.labels]
    except ValueError:
      raise ValueError("--labels must be ints, received "
                       f"{','.join(flag_values.labels)}.") from None
  if flag_values.condition:
    given["condition"] = np.load(flag_values.condition)
  if flag_values.latents:
    given["latents"] = np.load(flag_values.latents)
  if flag_values.images:
    given["images"] = read_pngs(flag_values.images)
  return signature_inputs(signatures, signature, **given)


def _report(outputs, flag_values):
  """Prints the outputs (writes images as PNGs, other tensors of more than
  one dimension per item as .npy); returns the lines."""
  lines = []
  per_item = {}
  for name, value in sorted(outputs.items()):
    if value.dtype == np.uint8 and value.ndim == 4:
      lines.extend(write_pngs(value, flag_values.output_dir,
                              f"{flag_values.signature}_{name}"))
    elif value.ndim > 2:
      os.makedirs(flag_values.output_dir, exist_ok=True)
      path = os.path.join(flag_values.output_dir, f"{name}.npy")
      np.save(path, value)
      lines.append(f"{name} {list(value.shape)} -> {path}")
    else:
      per_item[name] = value
  if per_item:  # A line per item, named by its image file or its index.
    count = len(next(iter(per_item.values())))
    names = flag_values.images or []
    for i, item in enumerate(names if len(names) == count else
                             map(str, range(count))):
      lines.append("\t".join([item] + [f"{name} {_format(value[i])}"
                                        for name, value in per_item.items()]))
  return lines


def _format(value):  # A number, or a row of numbers.
  if np.ndim(value):
    return "[" + " ".join(_format(v) for v in value) + "]"
  if isinstance(value, (np.floating, float)):
    return f"{value:.4f}"
  return str(value)


def _run(argv):
  from absl import app
  from absl import flags
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  values = flags.FLAGS
  try:
    signatures = (read_signatures(values.saved_model) if values.saved_model
                  else fetch_signatures(values.protocol, values.server,
                                        values.model_name,
                                        values.model_version, values.timeout))
    inputs = _cli_inputs(values, signatures)
    if values.print_request:
      print(request_text(values.protocol, values.model_name, values.signature,
                         inputs, values.model_version))
      return 0
    outputs = predict(values.protocol, values.server, values.model_name,
                      signatures, values.signature, inputs,
                      values.model_version, values.timeout)
    for line in _report(outputs, values):
      print(line)
  except (ValueError, OSError, ServingError) as error:
    message = " ".join(str(error).split())
    sys.stderr.write(f"client.py: error: {message}\n")
    return 1
  return 0


def main(argv=None):
  """The command line (flags defined here, not on import)."""
  from absl import app
  _define_flags()
  app.run(_run, argv=argv)


if __name__ == "__main__":
  main()
