"""TF Serving's APIs for an export, without TF Serving: to try a model.

  python export/local_server.py --export_dir=runs/fashion_mnist_demo/export \
      --model_name=realnvp --port=8501 --grpc_port=8500

serves the highest version under `--export_dir` as TF Serving does
(`export/client.py` and curl work unchanged). REST: `POST
/v1/models/<name>[/versions/<v>]:predict` with a columnar JSON body
(`signature_name`, `inputs`), answered `{"outputs": ...}` (a bare value for
a signature with one output) or HTTP 400 `{"error": message}`, and `GET
/v1/models/<name>[/versions/<v>]/metadata`, the signatures. gRPC:
`tensorflow.serving.PredictionService/Predict` (outputs as typed proto
fields, errors as INVALID_ARGUMENT) and `GetModelMetadata`. The SavedModel
runs in this process (`tf.saved_model.load`). For production, run TF
Serving itself (export/README.md).
"""

import http.server
import json
import os
import re
import sys

import numpy as np

__all__ = ["LocalServer", "latest_version"]


def latest_version(export_dir):
  """The highest numbered version directory under `export_dir`."""
  versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
  if not versions:
    raise ValueError(f"{export_dir} has no version directory (export one "
                     "with export/export_saved_model.py).")
  return max(versions)


class LocalServer:
  """Answers TF Serving's REST predict and metadata calls with one export.

  Args:
    path: an exported version directory.
    model_name: the name requests address.
  """

  def __init__(self, path, model_name):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel
    self.signatures = tf.saved_model.load(path).signatures
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
      saved_model.ParseFromString(f.read())
    self.signature_defs = saved_model.meta_graphs[0].signature_def
    self.metadata = {name: json_format.MessageToDict(
                         definition, preserving_proto_field_name=True)
                     for name, definition in self.signature_defs.items()}
    self.model_name = model_name
    self.requests = []  # (protocol, name, version, signature, input names)
    self._http_server = None
    self._grpc_server = None

  def run(self, signature, inputs):
    """`{output: numpy array}` of numpy `inputs`, or `ValueError(message)`."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if signature not in self.signatures:
      raise ValueError(f"Serving signature key \"{signature}\" not found.")
    function = self.signatures[signature]
    specs = function.structured_input_signature[1]
    if set(inputs) != set(specs):
      raise ValueError(f"input size does not match signature: {sorted(inputs)}"
                       f" != {sorted(specs)}")
    try:
      outputs = function(**{k: tf.constant(v, specs[k].dtype)
                            for k, v in inputs.items()})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
      raise ValueError(str(error)) from None
    return {k: v.numpy() for k, v in outputs.items()}

  def _model(self, path, suffix):
    """`(name, version)` of `/v1/models/<name>[/versions/<v>]<suffix>`."""
    match = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?"
                         + re.escape(suffix), path)
    if not match:
      return None, None
    return match.group(1), None if match.group(2) is None else int(
        match.group(2))

  def rest_metadata(self, path):
    """`(HTTP status, JSON body)` of `GET path`."""
    name, _ = self._model(path, "/metadata")
    if name != self.model_name:
      return 404, {"error": f"Servable not found: GET {path}"}
    return 200, {"model_spec": {"name": self.model_name}, "metadata": {
        "signature_def": {"signature_def": self.metadata}}}

  def rest_predict(self, path, raw):
    """`(HTTP status, JSON body)` of `POST path` with body `raw`."""
    name, version = self._model(path, ":predict")
    if name is None:
      return 404, {"error": f"Malformed request: POST {path}"}
    body = json.loads(raw)
    signature = body.get("signature_name", "serving_default")
    inputs = body.get("inputs", {})
    self.requests.append(("rest", name, version, signature, sorted(inputs)))
    if name != self.model_name:
      return 404, {"error": f"Servable not found for request: Latest({name})"}
    try:
      outputs = self.run(signature, {k: np.asarray(v)
                                     for k, v in inputs.items()})
    except ValueError as error:
      return 400, {"error": str(error)}
    values = {k: v.tolist() for k, v in outputs.items()}
    return 200, {"outputs": (next(iter(values.values())) if len(values) == 1
                             else values)}

  def start_rest(self, port=0, host="localhost"):
    """Serves in a background thread; returns `host:port`."""
    import threading  # pylint: disable=import-outside-toplevel
    self._http_server = http.server.ThreadingHTTPServer(
        (host, port), self._handler())
    threading.Thread(target=self._http_server.serve_forever,
                     daemon=True).start()
    return f"{host}:{self._http_server.server_address[1]}"

  def serve_forever(self, port, host="localhost"):
    """Serves in this thread until interrupted."""
    self._http_server = http.server.HTTPServer((host, port), self._handler())
    self._http_server.serve_forever()

  def _handler(self):
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def do_POST(self):  # pylint: disable=invalid-name
        self._answer(*server.rest_predict(
            self.path, self.rfile.read(int(self.headers["Content-Length"]))))

      def do_GET(self):  # pylint: disable=invalid-name
        self._answer(*server.rest_metadata(self.path))

      def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def log_message(self, *args):  # Quiet.
        pass

    return Handler

  # gRPC ---------------------------------------------------------------------

  def start_grpc(self, port=0, host="localhost"):
    """Serves gRPC in background threads; returns `host:port`."""
    from concurrent import futures  # pylint: disable=import-outside-toplevel
    import grpc  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=import-outside-toplevel
    server = self

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):

      def Predict(self, request, context):  # pylint: disable=invalid-name
        return server.grpc_predict(request, context)

      def GetModelMetadata(self, request, context):  # pylint: disable=invalid-name
        return server.grpc_metadata(request, context)

    self._grpc_server = grpc.server(futures.ThreadPoolExecutor(2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        Servicer(), self._grpc_server)
    port = self._grpc_server.add_insecure_port(f"{host}:{port}")
    self._grpc_server.start()
    return f"{host}:{port}"

  def grpc_predict(self, request, context):
    """`PredictionService/Predict`."""
    import grpc  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=import-outside-toplevel
    spec = request.model_spec
    signature = spec.signature_name or "serving_default"
    self.requests.append(("grpc", spec.name, spec.version.value
                          if spec.HasField("version") else None, signature,
                          sorted(request.inputs)))
    if spec.name != self.model_name:
      context.abort(grpc.StatusCode.NOT_FOUND,
                    f"Servable not found for request: Latest({spec.name})")
    try:
      outputs = self.run(signature, {k: tf.make_ndarray(v)
                                     for k, v in request.inputs.items()})
    except ValueError as error:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(spec)
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(as_proto_field(value))
    return response

  def grpc_metadata(self, request, context):
    """`PredictionService/GetModelMetadata` (the `signature_def` field)."""
    import grpc  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import get_model_metadata_pb2  # pylint: disable=import-outside-toplevel
    if request.model_spec.name != self.model_name:
      context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, definition in self.signature_defs.items():
      signature_map.signature_def[name].CopyFrom(definition)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.CopyFrom(request.model_spec)
    response.metadata["signature_def"].Pack(signature_map)
    return response

  def stop(self):
    if self._grpc_server is not None:
      self._grpc_server.stop(None)
    if self._http_server is not None:
      self._http_server.shutdown()
      self._http_server.server_close()


def as_proto_field(array):
  """A `TensorProto` with typed fields, as TF Serving's `AsProtoField`
  writes outputs (uint8 and int32 in `int_val`)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tensorflow.core.framework import tensor_pb2  # pylint: disable=import-outside-toplevel
  from tensorflow.core.framework import tensor_shape_pb2  # pylint: disable=import-outside-toplevel
  array = np.asarray(array)
  proto = tensor_pb2.TensorProto(
      dtype=tf.as_dtype(array.dtype).as_datatype_enum,
      tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[
          tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]))
  if array.dtype == np.float32:
    proto.float_val.extend(array.ravel().tolist())
  elif array.dtype == np.bool_:
    proto.bool_val.extend(array.ravel().tolist())
  else:
    proto.int_val.extend(array.ravel().astype(np.int64).tolist())
  return proto


def main(argv=None):
  """The command line."""
  from absl import app  # pylint: disable=import-outside-toplevel
  from absl import flags  # pylint: disable=import-outside-toplevel
  flags.DEFINE_string("export_dir", None, "The model's base directory (its "
                      "numbered versions); the highest is served.")
  flags.DEFINE_string("model_name", "realnvp", "The name requests address.")
  flags.DEFINE_integer("port", 8501, "REST port (TF Serving's: 8501).")
  flags.DEFINE_integer("grpc_port", 8500, "gRPC port (TF Serving's: 8500; "
                       "0: no gRPC).")
  flags.mark_flag_as_required("export_dir")

  def run(args):
    del args
    values = flags.FLAGS
    try:
      version = latest_version(values.export_dir)
    except (ValueError, OSError) as error:
      sys.stderr.write(f"local_server.py: error: {error}\n")
      return 1
    server = LocalServer(os.path.join(values.export_dir, str(version)),
                         values.model_name)
    if values.grpc_port:
      server.start_grpc(values.grpc_port)
    print(f"Serving {values.model_name} version {version}: REST at "
          f"http://localhost:{values.port}/v1/models/{values.model_name}"
          + (f", gRPC at localhost:{values.grpc_port}" if values.grpc_port
             else ""), flush=True)
    server.serve_forever(values.port)
    return 0

  app.run(run, argv=argv)


if __name__ == "__main__":
  main()
