"""Helpers of the export tests: loading in a fresh process, the signature table.

`PendingSignatures` runs requests against an exported SavedModel in a fresh
Python process (`python -m tests.export_helpers`), loaded twice (or with
`loaders=("tf1",)`, once):

- `tf2`: `tf.saved_model.load(path).signatures[name](**inputs)`;
- `tf1`: TF Serving's route. The TF1 session loader
  (`tf.compat.v1.saved_model.loader.load`), the SignatureDef's tensor names,
  and `Session._call_tf_sessionrun`: the C API `TF_SessionRun`, i.e. the C++
  `Session::Run` that TF Serving calls, without the feed-shape check that
  Python's `Session.run` adds (TF Serving has no such check).
"""

import os
import pickle
import re
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from tests import processes


def saved_conv_dtypes(path):
  """The dtypes of the Conv2D ops a SavedModel's functions contain."""
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  return {tf.as_dtype(node.attr["T"].type)
          for function in proto.meta_graphs[0].graph_def.library.function
          for node in function.node_def if node.op == "Conv2D"}


def random_images(num, image_shape, seed=0):
  """uint8 images `[num, H, W, C]` covering the whole range 0..255."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (num,) + tuple(image_shape), dtype=np.uint8)


LOADERS = ("tf1", "tf2")


class PendingSignatures:
  """Requests to an exported SavedModel, running in a fresh process.

  Args:
    path: an exported version directory.
    requests: `{key: (signature_name, {input_name: numpy array})}`.
    loaders: which of `LOADERS` answer them.
  """

  def __init__(self, path, requests, loaders=LOADERS):
    self._folder = tempfile.mkdtemp(prefix="export-requests-")
    request_file = os.path.join(self._folder, "requests.pkl")
    self._result_file = os.path.join(self._folder, "results.pkl")
    with open(request_file, "wb") as f:
      pickle.dump(requests, f)
    self.process = processes.start(processes.python_module(
        "tests.export_helpers", path, request_file, self._result_file,
        ",".join(loaders)))

  def result(self, timeout=300):
    """Waits for the process.

    Returns:
      `{"tf1": results, "tf2": results, "signature_defs": {name: {"inputs":
      {name: (dtype name, shape)}, "outputs": ...}}}` (the loaders asked
      for) where `results[key]` is `{"outputs": {name: array}}` or
      `{"error": type name, "code": int or None, "message": str}`.
    """
    try:
      finished = processes.finish(self.process, timeout)
      assert finished.returncode == 0, finished.stderr[-3000:]
      with open(self._result_file, "rb") as f:
        return pickle.load(f)
    finally:
      shutil.rmtree(self._folder, ignore_errors=True)


# --- Expected signatures and `saved_model_cli show` ---------------------------


def expected_signatures(image_shape, num_classes=None, condition_shape=None,
                        score_names=None):
  """The serving table (`tf_realnvp.serving`) as `saved_model_cli` and the
  SignatureDefs describe it: `{name: {"inputs"/"outputs": {tensor: (dtype
  name, shape with -1 for the batch)}}}`, `serving_default` being
  `log_prob`; of an unconditional model, or of a class model (`num_classes`)
  or one of condition vectors (`condition_shape`, `(A,)`)."""
  # Not at the top: see `write_workdir`.
  from tf_realnvp import conditions  # pylint: disable=import-outside-toplevel
  from tf_realnvp import serving  # pylint: disable=import-outside-toplevel
  conditioning = None if num_classes is None and condition_shape is None else (
      conditions.Conditioning(num_classes, condition_shape))
  sizes = dict(image_shape=image_shape, num_classes=num_classes,
               condition_length=condition_shape and condition_shape[0])

  def describe(tensors):
    return {t.name: (t.dtype, [-1 if d is None else d
                               for d in t.concrete_shape(**sizes)])
            for t in tensors}

  table = {s.name: {"inputs": describe(s.inputs),
                    "outputs": describe(s.outputs)}
           for s in serving.signatures(conditioning, score_names)}
  table[serving.SERVING_DEFAULT] = table["log_prob"]
  return table


def write_workdir(model, workdir, step):
  """`workdir` as training leaves it for `model` (built with only
  `image_shape`, `num_scales`, `num_blocks`, `num_filters` and its
  condition, in float32): its `model_config.json` and a checkpoint of the
  model's current weights at `step`, for the export script."""
  # Not at the top: the fresh process that loads exports runs this module,
  # and must show that they load without this package.
  from tf_realnvp import workdirs  # pylint: disable=import-outside-toplevel
  config = dict(image_shape=list(model.image_shape),
                num_scales=model.num_scales, num_blocks=model.config.num_blocks,
                num_filters=model.config.num_filters)
  if model.conditioning is not None:
    config.update(model.conditioning.get_config())
  workdirs.write_model_config(workdir, config)
  checkpoint = tf.train.Checkpoint(model=model,
                                   step=tf.Variable(step, dtype=tf.int64))
  tf.train.CheckpointManager(
      checkpoint, os.path.join(workdir, workdirs.CHECKPOINTS),
      max_to_keep=1).save(checkpoint_number=step)


_CLI_TENSOR = re.compile(
    r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: DT_(\w+)\s+"
    r"shape: \(([-\d, ]*)\)")


def _dtype_name(enum_name):
  """`"float32"` for `"DT_FLOAT"`."""
  return tf.dtypes.as_dtype(types_pb2.DataType.Value(enum_name)).name


def parse_saved_model_cli_show(text):
  """The signatures listed by `saved_model_cli show --all`, in the format of
  `expected_signatures` (signatures whose names start with `__` skipped)."""
  signatures = {}
  blocks = re.split(r"^signature_def\['([^']+)'\]:$", text, flags=re.M)
  for name, block in zip(blocks[1::2], blocks[2::2]):
    if name.startswith("__"):
      continue
    block = block.split("\nConcrete Functions:")[0]
    table = signatures.setdefault(name, {"inputs": {}, "outputs": {}})
    for kind, tensor, dtype, shape in _CLI_TENSOR.findall(block):
      table[kind][tensor] = (_dtype_name(f"DT_{dtype}"), [
          int(d) for d in shape.replace(" ", "").split(",") if d])
  return signatures


# --- The fresh process -------------------------------------------------------


def _error(error):
  return {"error": type(error).__name__,
          "code": getattr(error, "error_code", None),
          "message": str(error)}


def _run_tf2(path, requests):
  loaded = tf.saved_model.load(path)
  results = {}
  for key, (name, inputs) in requests.items():
    try:
      outputs = loaded.signatures[name](
          **{k: tf.constant(v) for k, v in inputs.items()})
      results[key] = {"outputs": {k: v.numpy() for k, v in outputs.items()}}
    except Exception as error:  # pylint: disable=broad-except
      results[key] = _error(error)
  return results


def _signature_defs(meta_graph):

  def describe(infos):
    return {k: (tf.dtypes.as_dtype(v.dtype).name,
                None if v.tensor_shape.unknown_rank else
                [d.size for d in v.tensor_shape.dim])
            for k, v in infos.items()}

  return {name: {"inputs": describe(sig.inputs),
                 "outputs": describe(sig.outputs)}
          for name, sig in meta_graph.signature_def.items()
          if not name.startswith("__")}


# pylint: disable=protected-access
def _c_session_run(session, feeds, fetches):
  """`Session::Run` through the C API, as TF Serving calls it.

  `Session.run` would first compare each fed array's shape with the
  placeholder's and raise "Cannot feed value of shape ..." in Python: a
  check TF Serving does not make. `_call_tf_sessionrun` is what
  `Session.run` calls after its Python-side checks.

  Args:
    session: a `tf.compat.v1.Session`.
    feeds: `{tensor name: numpy array}`.
    fetches: tensor names.
  """
  graph = session.graph
  return session._call_tf_sessionrun(
      None, {graph.get_tensor_by_name(name)._as_tf_output(): np.asarray(value)
             for name, value in feeds.items()},
      [graph.get_tensor_by_name(name)._as_tf_output() for name in fetches],
      [], None)
# pylint: enable=protected-access


def _run_tf1(path, requests):
  results = {}
  with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(
        session, [tf.saved_model.SERVING], path)
    for key, (name, inputs) in requests.items():
      signature = meta_graph.signature_def[name]  # Tensor names from here.
      output_names = sorted(signature.outputs)
      try:
        values = _c_session_run(
            session, {signature.inputs[k].name: v for k, v in inputs.items()},
            [signature.outputs[k].name for k in output_names])
        results[key] = {"outputs": dict(zip(output_names, values))}
      except Exception as error:  # pylint: disable=broad-except
        results[key] = _error(error)
    return results, _signature_defs(meta_graph)


def main(argv):
  path, request_file, result_file, loaders = argv[1:]
  with open(request_file, "rb") as f:
    requests = pickle.load(f)
  tf1, signature_defs = _run_tf1(path, requests)
  results = {"tf1": tf1, "signature_defs": signature_defs}
  if "tf2" in loaders.split(","):
    results["tf2"] = _run_tf2(path, requests)
  with open(result_file, "wb") as f:
    pickle.dump(results, f)


if __name__ == "__main__":
  main(sys.argv)
