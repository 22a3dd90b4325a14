"""Tests of the SavedModel export: tf_realnvp/export.py, export/*.py.

A tiny model with randomised weights is exported once per module; a fresh
Python process loads it with `tf.saved_model.load` and with the TF1 session
loader that TF Serving uses, and every signature is compared with the
in-process model. Bad requests go through the same C++ `Session::Run` as in
TF Serving (see `tests/export_helpers.py`).

The slow subprocesses start as soon as their input exists and run while the
tests that need none of them do (2 cores): the fresh-process loading and
`saved_model_cli` in `exported`, the export script of `trained_workdir`
(tests/conftest.py) in `script_export`. Hence the order of the sections:
in-process tests first, then the ones that wait for a subprocess.
"""

import argparse
import json
import math
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.config import model_server_config_pb2

from export import client
from export import local_server
from tf_realnvp import conditions
from tf_realnvp import export
from tf_realnvp import io
from tf_realnvp import likelihood
from tf_realnvp import pixels
from tf_realnvp import serving
from tests import export_helpers as helpers
from tests import flow_checks
from tests import processes
from tests import readme_blocks
from tests.training_helpers import snapshot

VERSION = 7
NUM_IMAGES = 3
SAMPLE = dict(num_samples=np.int32(3), temperature=np.float32(0.7),
              seed=np.int32(5))
MODEL_NAME = "realnvp"
# Distinct H, W and C, so that a mix-up of axes cannot go unnoticed.
IMAGE_SHAPE = (4, 8, 2)
H, W, C = IMAGE_SHAPE
# The unconditional model's signatures, in the client's format (what TF
# Serving's model metadata says; checked against the export below).
SIGNATURES = helpers.expected_signatures(IMAGE_SHAPE)


# --- Requests, and what the in-process model answers -------------------------


def _images(seed=0, num=NUM_IMAGES):
  return helpers.random_images(num, IMAGE_SHAPE, seed)


def _latents():
  rng = np.random.default_rng(1)
  return rng.standard_normal((NUM_IMAGES,) + IMAGE_SHAPE).astype(np.float32)


def good_requests():
  """`{key: (signature, inputs)}` of valid requests."""
  images, latents = _images(), _latents()
  return {
      "log_prob": ("log_prob", {"images": images}),
      "serving_default": ("serving_default", {"images": images}),
      "encode": ("encode", {"images": images}),
      "decode": ("decode", {"latents": latents}),
      "sample": ("sample", dict(SAMPLE)),
      "sample_other_seed": ("sample", dict(SAMPLE, seed=np.int32(6))),
      "sample_hotter": ("sample", dict(SAMPLE, temperature=np.float32(1.0))),
      "sample_none": ("sample", dict(SAMPLE, num_samples=np.int32(0))),
      "log_prob_none": ("log_prob", {"images": images[:0]}),
      "encode_none": ("encode", {"images": images[:0]}),
      "decode_none": ("decode", {"latents": latents[:0]}),
  }


def expected_outputs(model, key):
  """What the in-process model gives for `good_requests()[key]`."""
  return model_outputs(model, *good_requests()[key])


# Event shapes of the outputs that are not images.
_EVENTS = {"log_prob": (), "bits_per_dim": (), "class": ()}


def model_outputs(model, signature, inputs):
  """What the in-process model gives for one request to `signature`, of an
  unconditional or a conditional model (`labels` or `condition` in
  `inputs`).

  uint8 outputs come as the float pixels they are floored from (for
  `assert_same_uint8`).
  """
  condition = inputs.get("labels", inputs.get("condition"))
  if signature == "sample":
    batch = int(inputs["num_samples"]) if condition is None else len(
        condition)
  else:
    batch = len(inputs["images"] if "images" in inputs else
                inputs["latents"])
  if batch == 0:
    # Empty requests: TF 2.21's oneDNN Conv2D gets an empty batch wrong, so
    # the model itself cannot give these (see `export._unless_empty`).
    events = dict(_EVENTS, probabilities=(model.num_classes,),
                  log_likelihoods=(model.num_classes,))
    outputs = helpers.expected_signatures(
        IMAGE_SHAPE, model.num_classes, model.condition_shape)[signature][
            "outputs"]
    return {name: np.zeros((0,) + events.get(name, IMAGE_SHAPE),
                           np.float32) for name in outputs}
  if signature == "sample":
    return {"images": model.sample(batch, float(inputs["temperature"]),
                                   seed=int(inputs["seed"]),
                                   condition=condition).numpy()}
  if signature == "decode":
    return {"images": model.decode(inputs["latents"], condition).numpy()}
  images = inputs["images"]
  if signature == "encode":  # At the bin centres.
    y = images.astype(np.float32) + 0.5
    return {"latents": model.encode(y, condition).numpy()}
  if signature == "classify":  # Each class's likelihood, then Bayes' rule.
    log_likelihoods = np.stack(
        [model.log_likelihood(images, np.full(batch, k, np.int32)).numpy()
         for k in range(model.num_classes)], axis=1)
    log_joint = log_likelihoods + model.class_log_prior.numpy()
    return {"log_likelihoods": log_likelihoods,
            "probabilities": tf.nn.softmax(log_joint).numpy(),
            "class": np.argmax(log_joint, axis=1).astype(np.int32)}
  log_prob = model.log_likelihood(images, condition).numpy()
  return {"log_prob": log_prob,
          "bits_per_dim": -log_prob / (model.num_dims * math.log(2))}


def assert_same_uint8(actual, float_pixels, tolerance=1e-3):
  """`actual == to_uint8(float_pixels)`, except by 1 where a float pixel is
  within `tolerance` of a bin edge (graph and eager round differently)."""
  expected = pixels.to_uint8(float_pixels).numpy()
  assert actual.dtype == np.uint8 and actual.shape == expected.shape
  near_edge = np.abs(float_pixels - np.round(float_pixels)) < tolerance
  differ = actual != expected
  assert not np.any(differ & ~near_edge)
  assert np.all(np.abs(actual.astype(int) - expected) <= 1)


def assert_outputs_match(outputs, expected):
  assert set(outputs) == set(expected)
  for name, value in expected.items():
    if outputs[name].dtype == np.uint8:
      assert_same_uint8(outputs[name], value)
    elif outputs[name].dtype == np.int32:
      np.testing.assert_array_equal(outputs[name], value)
    else:
      assert outputs[name].dtype == np.float32
      np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-4)


def _shape_error(signature, name, shape):
  """The texts of the error for `name` of `shape` (not the expected one)."""
  received = " ".join(str(d) for d in shape)
  return [f"{signature}: {name} must have shape [N, {H}, {W}, {C}]",
          f"received shape] [{received}]"]


def _zeros(shape, dtype=np.uint8):
  return np.zeros(shape, dtype)


# Bad requests: `{key: (signature, inputs, texts the error must contain)}`.
BAD_REQUESTS = {
    "images_transposed": ("log_prob", {"images": _zeros((2, W, H, C))},
                          _shape_error("log_prob", "images", (2, W, H, C))),
    "images_smaller": ("log_prob", {"images": _zeros((2, H // 2, W // 2, C))},
                       _shape_error("log_prob", "images",
                                    (2, H // 2, W // 2, C))),
    "images_channels": ("encode", {"images": _zeros((2, H, W, C - 1))},
                        _shape_error("encode", "images", (2, H, W, C - 1))),
    "images_without_batch": ("serving_default", {"images": _zeros((H, W, C))},
                             _shape_error("log_prob", "images", (H, W, C))),
    "latents_shape": ("decode", {"latents": _zeros((2, H, W, 1), np.float32)},
                      _shape_error("decode", "latents", (2, H, W, 1))),
    "latents_not_finite": ("decode", {"latents": np.stack(
        [_zeros(IMAGE_SHAPE, np.float32),
         np.full(IMAGE_SHAPE, np.inf, np.float32)])},
                           ["decode: latents must be finite",
                            f"received:] [{H * W * C}]"]),
    "num_samples_negative": ("sample", dict(SAMPLE, num_samples=np.int32(-1)),
                             [f"sample: num_samples must be in [0, "
                              f"{serving.MAX_NUM_SAMPLES}]; received] [-1]"]),
    "num_samples_over_cap": ("sample", dict(
        SAMPLE, num_samples=np.int32(serving.MAX_NUM_SAMPLES + 1)),
                             ["sample: num_samples must be in",
                              f"received] [{serving.MAX_NUM_SAMPLES + 1}]"]),
    "num_samples_not_scalar": ("sample", dict(SAMPLE,
                                              num_samples=np.int32([3])),
                               ["sample: num_samples must be a scalar",
                                "received shape] [1]"]),
    "temperature_not_scalar": ("sample", dict(
        SAMPLE, temperature=np.float32([0.7, 1.0])),
                               ["sample: temperature must be a scalar",
                                "received shape] [2]"]),
    "temperature_zero": ("sample", dict(SAMPLE, temperature=np.float32(0)),
                         ["sample: temperature must be a finite number > 0",
                          "received] [0]"]),
    "temperature_negative": ("sample", dict(SAMPLE,
                                            temperature=np.float32(-1)),
                             ["temperature must be a finite number > 0",
                              "received] [-1]"]),
    "temperature_nan": ("sample", dict(SAMPLE, temperature=np.float32("nan")),
                        ["temperature must be a finite number > 0",
                         "received] [nan]"]),
}

# A float batch for uint8 images: no in-graph check needed, TF refuses it.
FLOAT_IMAGES = ("log_prob", {"images": _zeros((2,) + IMAGE_SHAPE,
                                              np.float32)})


# --- Fixtures: the exports, and what reads them ------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """`(model, path, background)`: a tiny randomised model (2 scales, 1 block,
  4 filters, variational dequantisation), its export (version 7), and the
  subprocesses reading it, just started:

  - `signatures`: every good and bad request, loaded both ways;
  - `show`: `saved_model_cli show --all`;
  - `run`: `saved_model_cli run` of `log_prob` (outputs in `cli_out`).
  """
  model = flow_checks.tiny_model(dtype="float32", image_shape=IMAGE_SHAPE,
                                 dequantization="variational")
  base = tmp_path_factory.mktemp("exports") / MODEL_NAME
  path = export.export_saved_model(model, str(base), VERSION)
  requests = good_requests()
  requests.update({k: v[:2] for k, v in BAD_REQUESTS.items()})
  requests["float_images"] = FLOAT_IMAGES
  folder = tmp_path_factory.mktemp("saved_model_cli")
  np.save(folder / "images.npy", _images())
  background = {
      "signatures": helpers.PendingSignatures(path, requests),
      "show": processes.start(processes.saved_model_cli(
          "show", "--dir", path, "--all")),
      "run": processes.start(processes.saved_model_cli(
          "run", "--dir", path, "--tag_set", "serve", "--signature_def",
          "log_prob", "--inputs", f"images={folder / 'images.npy'}",
          "--outdir", folder / "out")),
      "cli_out": folder / "out",
  }
  yield model, path, background
  for name in ("show", "run"):
    processes.stop(background[name])
  processes.stop(background["signatures"].process)


@pytest.fixture(scope="module")
def served(exported):
  """Every good and bad request, answered by a fresh process (tf1 and tf2)."""
  return exported[2]["signatures"].result()


@pytest.fixture(scope="module")
def saved_model_cli(exported):
  """`{"show": CompletedProcess, "run": CompletedProcess}`."""
  return {name: processes.finish(exported[2][name])
          for name in ("show", "run")}


@pytest.fixture(scope="module")
def loaded(exported):
  """The export loaded in this process with `tf.saved_model.load`."""
  return tf.saved_model.load(exported[1])


@pytest.fixture(scope="module")
def fake_serving(exported):
  serving = local_server.LocalServer(exported[1], MODEL_NAME)
  servers = {"grpc": serving.start_grpc(), "rest": serving.start_rest()}
  yield serving, servers
  serving.stop()


@pytest.fixture(scope="module")
def script_export(trained_workdir, tmp_path_factory):
  """The export script on `trained_workdir` (tests/conftest.py: one scale,
  checkpoints at steps 12 and 20 of different random weights), just started.

  Returns:
    `{"export_dir", "script": the running export script}`.
  """
  export_dir = str(tmp_path_factory.mktemp("script") / "exports")
  script = processes.start(processes.export_script(
      f"--workdir={trained_workdir.path}", f"--export_dir={export_dir}"))
  yield dict(export_dir=export_dir, script=script)
  processes.stop(script)


# --- The client: requests and responses in TF Serving's formats --------------


def client_inputs():
  """Inputs of one request per signature (those of `good_requests()`),
  built by the client from the signature table."""
  images = _images()
  return {
      "log_prob": client.signature_inputs(SIGNATURES, "log_prob",
                                          images=images),
      "serving_default": client.signature_inputs(
          SIGNATURES, "serving_default", images=images),
      "encode": client.signature_inputs(SIGNATURES, "encode", images=images),
      "decode": client.signature_inputs(SIGNATURES, "decode",
                                        latents=_latents()),
      "sample": client.signature_inputs(
          SIGNATURES, "sample", **{k: v.item() for k, v in SAMPLE.items()}),
  }


_PROTO_DTYPES = {"uint8": types_pb2.DT_UINT8, "int32": types_pb2.DT_INT32,
                 "float32": types_pb2.DT_FLOAT}


@pytest.mark.parametrize("version", [None, 3])
def test_grpc_request_is_a_valid_predict_request(version):
  for signature, inputs in client_inputs().items():
    built = client.build_grpc_request(MODEL_NAME, signature, inputs, version)
    request = predict_pb2.PredictRequest.FromString(
        built.SerializeToString())
    assert request.model_spec.name == MODEL_NAME
    assert request.model_spec.signature_name == signature
    assert request.model_spec.HasField("version") == (version is not None)
    assert request.model_spec.version.value == (version or 0)
    expected = SIGNATURES[signature]["inputs"]
    assert set(request.inputs) == set(expected)
    for name, value in inputs.items():
      tensor = request.inputs[name]
      assert tensor.dtype == _PROTO_DTYPES[expected[name][0]]
      assert [d.size for d in tensor.tensor_shape.dim] == list(
          np.shape(value))
      np.testing.assert_array_equal(tf.make_ndarray(tensor), value)


def test_rest_request_is_the_documented_json():
  for signature, inputs in client_inputs().items():
    body = json.loads(json.dumps(client.build_rest_request(signature,
                                                           inputs)))
    assert body.keys() == {"signature_name", "inputs"}
    assert body["signature_name"] == signature
    expected = SIGNATURES[signature]["inputs"]
    assert body["inputs"].keys() == set(expected)
    for name, value in inputs.items():
      sent = np.asarray(body["inputs"][name], expected[name][0])
      np.testing.assert_array_equal(sent, value)  # float32 round-trips.
      if not expected[name][1]:  # A scalar.
        assert isinstance(body["inputs"][name], (int, float))


def test_rest_url():
  assert client.rest_url("localhost", "m") == (
      "http://localhost:8501/v1/models/m:predict")
  assert client.rest_url("host:9000", "m", 4) == (
      "http://host:9000/v1/models/m/versions/4:predict")
  assert client.rest_url("https://serving.example/", "m") == (
      "https://serving.example/v1/models/m:predict")
  assert client.rest_metadata_url("host:9000", "m", 4) == (
      "http://host:9000/v1/models/m/versions/4/metadata")


def _outputs_by_signature():
  """Outputs of the right names, dtypes and shapes, one or several each."""
  rng = np.random.default_rng(2)
  return {
      "log_prob": {"log_prob": rng.normal(-900, 50, NUM_IMAGES),
                   "bits_per_dim": rng.uniform(1, 8, NUM_IMAGES)},
      "encode": {"latents": rng.standard_normal((NUM_IMAGES,) + IMAGE_SHAPE)},
      "decode": {"images": _images(seed=4)},
  }


def _dtype(signature, name):
  return SIGNATURES[signature]["outputs"][name][0]


@pytest.mark.parametrize("encoding", ["typed_fields", "tensor_content"])
def test_grpc_response_is_parsed(encoding):
  encode = {"typed_fields": local_server.as_proto_field,
            "tensor_content": tf.make_tensor_proto}[encoding]
  for signature, outputs in _outputs_by_signature().items():
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(
          encode(np.asarray(value, _dtype(signature, name))))
    parsed = client.parse_grpc_response(
        SIGNATURES, signature, predict_pb2.PredictResponse.FromString(
            response.SerializeToString()))
    for name, value in outputs.items():
      assert parsed[name].dtype == _dtype(signature, name)
      np.testing.assert_array_equal(
          parsed[name], np.asarray(value, _dtype(signature, name)))


def test_rest_response_is_parsed_in_both_forms_and_errors_raise():
  for signature, outputs in _outputs_by_signature().items():
    values = {k: np.asarray(v, _dtype(signature, k)).tolist()
              for k, v in outputs.items()}
    # TF Serving omits the name of a signature's only output.
    body = {"outputs": values if len(values) > 1 else
            next(iter(values.values()))}
    parsed = client.parse_rest_response(SIGNATURES, signature,
                                        json.dumps(body).encode())
    for name, value in outputs.items():
      assert parsed[name].dtype == _dtype(signature, name)
      np.testing.assert_array_equal(
          parsed[name], np.asarray(value, _dtype(signature, name)))
  with pytest.raises(client.ServingError, match="num_samples must be"):
    client.parse_rest_response(SIGNATURES, "sample",
                               '{"error": "num_samples must be"}')
  with pytest.raises(ValueError, match="returns log_prob, bits_per_dim"):
    client.parse_rest_response(SIGNATURES, "log_prob", '{"outputs": [1.0]}')


def test_client_refuses_inputs_that_do_not_fit_the_signature():
  with pytest.raises(ValueError, match="missing: .'images'."):
    client.signature_inputs(SIGNATURES, "log_prob")
  with pytest.raises(ValueError, match="unexpected: .'seed'."):
    client.signature_inputs(SIGNATURES, "encode", images=_images(), seed=1)
  with pytest.raises(ValueError, match=r"images must be uint8 shape \[N, 4, "
                     r"8, 2\], received float32 \[3, 4, 8\]"):
    client.signature_inputs(SIGNATURES, "encode", images=_latents()[..., 0])
  with pytest.raises(ValueError, match="must be int32, received float"):
    client.signature_inputs(SIGNATURES, "sample", num_samples=2.5,
                            temperature=1.0, seed=0)
  with pytest.raises(ValueError, match="no signature 'interpolate'"):
    client.signature_inputs(SIGNATURES, "interpolate")


# --- In process: export_saved_model, the round trip, the client --------------


def test_export_writes_a_versioned_saved_model_and_nothing_else(exported):
  path = exported[1]
  base = os.path.dirname(path)
  assert path == os.path.join(base, str(VERSION))
  assert os.listdir(base) == [str(VERSION)]  # No temporary left.
  assert os.path.isfile(os.path.join(path, "saved_model.pb"))


def test_export_holds_the_dequantizer_of_a_variational_model(exported,
                                                            loaded):
  model = exported[0]
  saved = {v.name: v.numpy() for v in loaded.variables}
  weights = model.dequantizer.weights
  assert weights
  for weight in weights:
    np.testing.assert_array_equal(saved[weight.value.name], weight.numpy())


@pytest.mark.parametrize("version", [-1, "3", 2.0, True])
def test_export_refuses_a_bad_version(exported, tmp_path, version):
  model = exported[0]
  with pytest.raises(ValueError, match="version must be an int >= 0"):
    export.export_saved_model(model, str(tmp_path), version)
  assert not os.listdir(tmp_path)


def test_export_refuses_to_overwrite_a_version(exported):
  model, path, _ = exported
  before = snapshot(path)
  with pytest.raises(FileExistsError, match="refusing to overwrite"):
    export.export_saved_model(model, os.path.dirname(path), VERSION)
  assert snapshot(path) == before


def test_a_failed_export_leaves_nothing_behind(exported, tmp_path,
                                               monkeypatch):
  model = exported[0]

  def write_half_and_fail(self, filepath, **unused_kwargs):
    del self
    with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
      f.write(b"half")
    raise OSError("disk full")

  monkeypatch.setattr(type(export.export_archive(model)), "write_out",
                      write_half_and_fail)
  with pytest.raises(OSError, match="disk full"):
    export.export_saved_model(model, str(tmp_path / "base"), 1)
  assert os.listdir(tmp_path / "base") == []


def test_decode_of_encode_is_the_identity_on_uint8_images(loaded):
  every_value = np.arange(256, dtype=np.uint8).reshape(
      (-1,) + IMAGE_SHAPE)  # 4 images: each value 0..255 once.
  images = np.concatenate([every_value, _images(seed=3)])
  latents = loaded.signatures["encode"](images=images)["latents"]
  decoded = loaded.signatures["decode"](latents=latents)["images"].numpy()
  np.testing.assert_array_equal(decoded, images)


# --- The client against a server with TF Serving's predict APIs --------------


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_reads_the_signatures_from_the_server_and_the_export(
    exported, fake_serving, protocol):
  _, servers = fake_serving
  assert client.fetch_signatures(protocol, servers[protocol],
                                 MODEL_NAME) == SIGNATURES
  assert client.read_signatures(exported[1]) == SIGNATURES


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_calls_every_signature(exported, fake_serving, protocol):
  model = exported[0]
  serving, servers = fake_serving
  for signature, inputs in client_inputs().items():
    outputs = client.predict(protocol, servers[protocol], MODEL_NAME,
                             SIGNATURES, signature, inputs, version=VERSION,
                             timeout=processes.TIMEOUT_SECONDS)
    assert_outputs_match(outputs, expected_outputs(model, signature))
    assert serving.requests[-1] == (protocol, MODEL_NAME, VERSION, signature,
                                    sorted(inputs))


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_raises_the_servers_error(fake_serving, protocol):
  _, servers = fake_serving
  inputs = client.signature_inputs(SIGNATURES, "sample", num_samples=-2,
                                   temperature=1.0, seed=0)
  with pytest.raises(client.ServingError,
                     match=r"num_samples must be in \[0, 1024\]"):
    client.predict(protocol, servers[protocol], MODEL_NAME, SIGNATURES,
                   "sample", inputs)


def test_client_command_line_prints_log_prob_of_png_files(exported,
                                                          fake_serving,
                                                          tmp_path):
  model = exported[0]
  _, servers = fake_serving
  images = _images()
  paths = client.write_pngs(images, str(tmp_path), "image")
  process = processes.run(processes.client(
      f"--server={servers['rest']}", f"--model_name={MODEL_NAME}",
      "--signature=log_prob", f"--images={','.join(paths)}"))
  assert process.returncode == 0, process.stderr
  expected = expected_outputs(model, "log_prob")
  lines = process.stdout.strip().splitlines()
  assert [line.split("\t")[0] for line in lines] == paths
  for line, bits in zip(lines, expected["bits_per_dim"]):
    assert line.split("\t")[1] == f"bits_per_dim {bits:.4f}"


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_request_text_is_the_request(protocol):
  """What `client.py --print_request` prints: curl's JSON body for REST."""
  inputs = client.signature_inputs(SIGNATURES, "sample", num_samples=2,
                                   temperature=0.5, seed=3)
  text = client.request_text(protocol, MODEL_NAME, "sample", inputs, 4)
  if protocol == "rest":
    assert json.loads(text) == client.build_rest_request("sample", inputs)
  else:
    assert text_format.Parse(text, predict_pb2.PredictRequest()) == (
        client.build_grpc_request(MODEL_NAME, "sample", inputs, 4))


# --- export/README.md ---------------------------------------------------------


README_PATH = os.path.join(processes.REPO, "export", "README.md")


def _readme():
  with open(README_PATH) as f:
    return f.read()


def test_readme_models_config_names_the_model_and_its_base_path():
  text = re.search(r"```\n(model_config_list.*?)```", _readme(), re.S).group(1)
  config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
  (model,) = config.model_config_list.config
  assert (model.name, model.base_path, model.model_platform) == (
      MODEL_NAME, "/models/realnvp", "tensorflow")
  assert '-v "$PWD/exports:/models"' in _readme()


_CLASSES = conditions.Conditioning(num_classes=2)
_VECTORS = conditions.Conditioning(condition_shape=(2,))


def test_readme_shows_the_serving_table_states_the_cap_and_the_estimate():
  text = _readme()
  for conditioning, with_anomaly in ((None, True), (_CLASSES, False),
                                     (_VECTORS, False)):
    assert serving.markdown_table(conditioning, with_anomaly) in text
  flat = " ".join(text.split())
  assert f"capped at {serving.MAX_NUM_SAMPLES}" in flat
  assert f"{likelihood.DEFAULT_NUM_DRAWS} fixed dequantisation draws" in flat


# --- What a fresh process gets: both loaders, saved_model_cli -------------


def test_signature_defs_have_the_documented_names_dtypes_and_shapes(served):
  assert served["signature_defs"] == helpers.expected_signatures(IMAGE_SHAPE)


@pytest.mark.parametrize("loader", ["tf1", "tf2"])
@pytest.mark.parametrize("key", sorted(good_requests()))
def test_each_signature_matches_the_in_process_model(served, exported, loader,
                                                     key):
  model = exported[0]
  result = served[loader][key]
  assert "error" not in result, result
  assert_outputs_match(result["outputs"], expected_outputs(model, key))


def test_sample_inputs_reach_the_graph(served):
  """Seed and temperature change the samples (so the matches above show that
  each is passed through), and `num_samples` sets the batch.

  A briefly trained model clips many pixels to 0 or 255 in every sample, so
  most of the pixels that are not clipped in both images must differ (a
  whole-image share failed at 0.48 when a third of the pixels were clipped)."""
  images = {k: served["tf1"][k]["outputs"]["images"]
            for k in ("sample", "sample_other_seed", "sample_hotter",
                      "sample_none")}
  assert images["sample"].shape[0] == SAMPLE["num_samples"]
  assert images["sample_none"].shape[0] == 0
  for other in ("sample_other_seed", "sample_hotter"):
    pair = np.stack([images[other], images["sample"]])
    clipped_in_both = np.all((pair == 0) | (pair == 255), axis=0)
    differ = images[other] != images["sample"]
    assert np.mean(~clipped_in_both) > 0.25
    assert np.mean(differ[~clipped_in_both]) > 0.5


def _assert_invalid_argument(result):
  assert result.get("error") == "InvalidArgumentError", result
  assert result["code"] == 3  # INVALID_ARGUMENT, TF Serving's status too.


@pytest.mark.parametrize("loader", ["tf1", "tf2"])
@pytest.mark.parametrize("key", sorted(BAD_REQUESTS))
def test_bad_request_is_refused_with_a_clear_message(served, loader, key):
  """`tf1` is TF Serving's route; `tf2` calls the loaded signatures, which
  do not check shapes either."""
  result = served[loader][key]
  _assert_invalid_argument(result)
  for text in BAD_REQUESTS[key][2]:
    assert text in result["message"]


def test_tf1_session_reports_a_wrong_dtype(served):
  """TF Serving feeds what a gRPC request holds: the runtime itself refuses a
  float batch for uint8 images (REST converts JSON to the declared dtype)."""
  result = served["tf1"]["float_images"]
  _assert_invalid_argument(result)
  assert "Expects arg[0] to be uint8 but float is provided" in result[
      "message"]


def test_saved_model_cli_show_lists_the_signatures(saved_model_cli):
  show = saved_model_cli["show"]
  assert show.returncode == 0, show.stderr
  assert helpers.parse_saved_model_cli_show(show.stdout) == (
      helpers.expected_signatures(IMAGE_SHAPE))


def test_saved_model_cli_run_computes_log_prob(exported, saved_model_cli):
  model, _, background = exported
  assert saved_model_cli["run"].returncode == 0, saved_model_cli["run"].stderr
  out = background["cli_out"]
  outputs = {name: np.load(out / f"{name}.npy")
             for name in ("log_prob", "bits_per_dim")}
  assert_outputs_match(outputs, expected_outputs(model, "log_prob"))


# --- The export script ------------------------------------------------------


def test_export_script_writes_the_step_and_refuses_to_overwrite(
    trained_workdir, script_export):
  weights = trained_workdir.weights
  export_dir = script_export["export_dir"]
  first = processes.finish(script_export["script"])
  assert first.returncode == 0, first.stderr
  path = os.path.join(export_dir, "20")
  assert first.stdout.strip().splitlines()[-1] == path
  assert os.listdir(export_dir) == ["20"]
  # The export holds the latest checkpoint's weights, not a fresh model's.
  reader = tf.train.load_checkpoint(os.path.join(path, "variables",
                                                 "variables"))
  values = {np.asarray(reader.get_tensor(key)).tobytes()
            for key in reader.get_variable_to_shape_map()}
  assert {w.tobytes() for w in weights[20].values()} <= values
  assert not {w.tobytes() for w in weights[12].values()} & values

  before = snapshot(export_dir)
  second = processes.run(first.args)  # The same command.
  assert second.returncode != 0
  error = second.stderr.strip().splitlines()[-1]
  assert error.startswith("export_saved_model.py: error: ")
  assert f"{path} exists already" in error
  assert snapshot(export_dir) == before


def test_export_script_reports_a_bad_workdir_on_one_line(tmp_path):
  process = processes.run(processes.export_script(
      f"--workdir={tmp_path}", f"--export_dir={tmp_path / 'out'}"))
  assert process.returncode != 0
  assert process.stderr.strip().splitlines()[-1] == (
      f"export_saved_model.py: error: {tmp_path} has no model_config.json: "
      "it is not a tf_realnvp training workdir (train.py writes the file "
      "when it starts).")
  assert not os.path.exists(tmp_path / "out")


# --- Conditional models ---------------------------------------------------
#
# A class model (K = 3, exported here with the library) and a model of
# condition vectors (A = 5, one scale, exported by the export script from a
# workdir), each read by a fresh process through the TF1 session loader
# only (TF Serving's route; `tf.saved_model.load` is covered above).

NUM_CLASSES = 3
CONDITION_SHAPE = (5,)
LABELS = [0, 2, 1]  # One per image of `_images()`.
# A prior that outweighs the likelihoods of this random model for some
# images (checked), so that `classify` shows that it applies it.
CLASS_LOG_PRIOR = [0.0, 0.0, 150.0]
VECTOR_STEP = 11  # The vector model's checkpoint: its version.
# The conditional models' signatures, in the client's format.
CLASS_SIGNATURES = helpers.expected_signatures(IMAGE_SHAPE,
                                               num_classes=NUM_CLASSES)
VECTOR_SIGNATURES = helpers.expected_signatures(
    IMAGE_SHAPE, condition_shape=CONDITION_SHAPE)


def _conditions(seed=3):
  """Multi-hot condition vectors `[NUM_IMAGES, A]`, like CelebA's."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, 2, (NUM_IMAGES,) + CONDITION_SHAPE).astype(
      np.float32)


def _readme_json_requests():
  """The JSON request bodies of export/README.md (```json blocks)."""
  return [json.loads(block) for block in
          re.findall(r"```json\n(.*?)```", _readme(), re.S)]


def class_requests():
  """Valid requests to the class model's export, built by the client."""
  images, latents = _images(), _latents()

  def inputs(signature, **given):
    return client.signature_inputs(CLASS_SIGNATURES, signature, **given)

  sample = dict(temperature=0.7, seed=5)
  requests = {
      "log_prob": ("log_prob", inputs("log_prob", images=images,
                                      labels=LABELS)),
      "log_prob_other_labels": ("log_prob", inputs(
          "log_prob", images=images, labels=[1, 0, 2])),
      "serving_default": ("serving_default", inputs(
          "serving_default", images=images, labels=LABELS)),
      "encode": ("encode", inputs("encode", images=images, labels=LABELS)),
      "decode": ("decode", inputs("decode", latents=latents, labels=LABELS)),
      "sample": ("sample", inputs("sample", labels=[0, 1, 2], **sample)),
      "sample_reversed": ("sample", inputs("sample", labels=[2, 1, 0],
                                           **sample)),
      "sample_five": ("sample", inputs("sample", labels=[1] * 5, **sample)),
      "sample_none": ("sample", inputs("sample", labels=[], **sample)),
      "classify": ("classify", inputs("classify", images=images)),
      "classify_none": ("classify", inputs("classify", images=images[:0])),
  }
  for i, body in enumerate(_readme_json_requests()):
    requests[f"readme_{i}"] = (body["signature_name"], inputs(
        body["signature_name"], **body["inputs"]))
  return requests


def vector_requests():
  """Valid requests to the vector model's export, built by the client."""
  conditions = _conditions()
  other = conditions.copy()
  other[[0, 2]] = 1 - other[[0, 2]]  # Rows 0 and 2 changed, row 1 not.
  sample = dict(temperature=0.7, seed=5)
  return {
      "log_prob": ("log_prob", client.signature_inputs(
          VECTOR_SIGNATURES, "log_prob", images=_images(),
          condition=conditions)),
      "sample": ("sample", client.signature_inputs(
          VECTOR_SIGNATURES, "sample", condition=conditions, **sample)),
      "sample_other": ("sample", client.signature_inputs(
          VECTOR_SIGNATURES, "sample", condition=other, **sample)),
  }


_TEMPERATURE_SEED = dict(temperature=np.float32(0.7), seed=np.int32(5))

# Bad requests: `{key: (signature, inputs, texts the error must contain)}`.
CLASS_BAD_REQUESTS = {
    "labels_out_of_range": ("log_prob", {
        "images": _images(), "labels": np.int32([0, 3, 1])},
                            ["log_prob: labels must be in [0, 3); "
                             "received] [3]"]),
    "labels_negative": ("sample", dict(_TEMPERATURE_SEED,
                                       labels=np.int32([1, -1, 7])),
                        ["sample: labels must be in [0, 3); received] [-1 7]"]),
    "labels_per_image": ("log_prob", {
        "images": _images(), "labels": np.int32([0, 1])},
                         ["log_prob: labels must hold one label per image; "
                          "received labels of shape] [2] [for images of "
                          f"shape] [3 {H} {W} {C}]"]),
    "labels_per_latent": ("decode", {
        "latents": _latents(), "labels": np.int32([0, 1, 2, 0])},
                          ["decode: labels must hold one label per latent",
                           "received labels of shape] [4]"]),
    "labels_not_a_vector": ("encode", {
        "images": _images(), "labels": np.int32([[0], [1], [2]])},
                            ["encode: labels must have shape [N] (N int32 "
                             "class labels in [0, 3)); received shape] "
                             "[3 1]"]),
    "labels_scalar": ("sample", dict(_TEMPERATURE_SEED, labels=np.int32(1)),
                      ["sample: labels must have shape [N]",
                       "received shape] []"]),
    "labels_over_cap": ("sample", dict(
        _TEMPERATURE_SEED,
        labels=np.zeros(serving.MAX_NUM_SAMPLES + 1, np.int32)),
                        [f"sample: labels must hold at most "
                         f"{serving.MAX_NUM_SAMPLES} labels (one image each); "
                         f"received] [{serving.MAX_NUM_SAMPLES + 1}]"]),
    "classify_images_shape": ("classify", {"images": _zeros((2, W, H, C))},
                              _shape_error("classify", "images",
                                           (2, W, H, C))),
}
VECTOR_BAD_REQUESTS = {
    "condition_length": ("log_prob", {
        "images": _images(), "condition": _zeros((NUM_IMAGES, 4),
                                                 np.float32)},
                         ["log_prob: condition must have shape [N, 5] (N "
                          "float32 condition vectors of length 5); received "
                          f"shape] [{NUM_IMAGES} 4]"]),
    "condition_per_image": ("log_prob", {
        "images": _images(), "condition": _conditions()[:2]},
                            ["log_prob: condition must hold one condition "
                             "vector per image; received condition of "
                             f"shape] [2 5] [for images of shape] [3 {H} "
                             f"{W} {C}]"]),
    "condition_not_finite": ("sample", dict(
        _TEMPERATURE_SEED, condition=np.where(
            np.eye(NUM_IMAGES, 5) > 0, np.nan, 0).astype(np.float32)),
                             ["sample: condition must be finite; non-finite "
                              f"values received:] [{NUM_IMAGES}]"]),
}


def _class_model():
  model = flow_checks.tiny_model(seed=4, num_classes=NUM_CLASSES,
                                 dtype="float32", image_shape=IMAGE_SHAPE)
  model.set_class_prior(np.exp(CLASS_LOG_PRIOR))
  return model


@pytest.fixture(scope="module")
def vector_script(tmp_path_factory):
  """A tiny randomised model of condition vectors (one scale), a workdir of
  it (`model_config.json` with `condition_shape`, a checkpoint at step
  `VECTOR_STEP`), and the export script on that workdir, just started."""
  model = flow_checks.tiny_model(seed=5, condition_shape=CONDITION_SHAPE,
                                 num_scales=1, dtype="float32",
                                 image_shape=IMAGE_SHAPE)
  workdir = str(tmp_path_factory.mktemp("vector_workdir"))
  helpers.write_workdir(model, workdir, VECTOR_STEP)
  export_dir = str(tmp_path_factory.mktemp("vector") / "exports")
  script = processes.start(processes.export_script(
      f"--workdir={workdir}", f"--export_dir={export_dir}"))
  yield dict(model=model, export_dir=export_dir, script=script)
  processes.stop(script)


@pytest.fixture(scope="module")
def class_exported(vector_script, tmp_path_factory):
  """`(model, path, pending)`: the class model, its export, and the fresh
  process answering `class_requests()` and `CLASS_BAD_REQUESTS` (TF1).
  The export script of `vector_script` runs meanwhile."""
  del vector_script  # Started first, to run while this one exports.
  model = _class_model()
  base = tmp_path_factory.mktemp("class_exports") / MODEL_NAME
  path = export.export_saved_model(model, str(base), VERSION)
  requests = class_requests()
  requests.update({k: v[:2] for k, v in CLASS_BAD_REQUESTS.items()})
  pending = helpers.PendingSignatures(path, requests, loaders=("tf1",))
  yield model, path, pending
  processes.stop(pending.process)


@pytest.fixture(scope="module")
def class_served(class_exported):
  return class_exported[2].result()


@pytest.fixture(scope="module")
def vector_served(vector_script):
  """`(model, script's CompletedProcess, results of `vector_requests()` and
  `VECTOR_BAD_REQUESTS` (TF1))`."""
  script = processes.finish(vector_script["script"])
  assert script.returncode == 0, script.stderr
  path = os.path.join(vector_script["export_dir"], str(VECTOR_STEP))
  requests = vector_requests()
  requests.update({k: v[:2] for k, v in VECTOR_BAD_REQUESTS.items()})
  pending = helpers.PendingSignatures(path, requests, loaders=("tf1",))
  try:
    return vector_script["model"], script, pending.result()
  finally:
    processes.stop(pending.process)


def test_client_builds_conditional_requests():
  labels = client.signature_inputs(CLASS_SIGNATURES, "sample", labels=[0, 7],
                                   temperature=1.0, seed=2)
  assert sorted(labels) == ["labels", "seed", "temperature"]
  assert labels["labels"].dtype == np.int32
  condition = client.signature_inputs(VECTOR_SIGNATURES, "decode",
                                      latents=_latents(),
                                      condition=_conditions().astype(int))
  assert condition["condition"].dtype == np.float32
  request = client.build_grpc_request(MODEL_NAME, "sample", labels)
  np.testing.assert_array_equal(tf.make_ndarray(request.inputs["labels"]),
                                [0, 7])
  body = json.loads(json.dumps(client.build_rest_request("sample", labels)))
  assert body["inputs"] == {"labels": [0, 7], "temperature": 1.0, "seed": 2}


@pytest.mark.parametrize("signatures, kwargs, message", [
    (CLASS_SIGNATURES, dict(num_samples=2, labels=[0, 1]),
     r"unexpected: \['num_samples'\]"),
    (CLASS_SIGNATURES, dict(labels=[0], condition=[[1.0]]),
     r"unexpected: \['condition'\]"),
    (CLASS_SIGNATURES, dict(labels=[[0], [1]]),
     r"labels must be int32 shape \[N\]"),
    (CLASS_SIGNATURES, dict(labels=[0.5]), "labels must be int32, received "
     "float64 values"),
    (VECTOR_SIGNATURES, dict(condition=[1.0, 0.0]),
     r"condition must be float32 shape \[N, 5\]"),
])
def test_client_refuses_bad_conditional_inputs(signatures, kwargs, message):
  with pytest.raises(ValueError, match=message):
    client.signature_inputs(signatures, "sample", temperature=1.0, seed=0,
                            **kwargs)


def test_client_refuses_a_condition_for_classify():
  with pytest.raises(ValueError, match=r"unexpected: \['labels'\]"):
    client.signature_inputs(CLASS_SIGNATURES, "classify", images=_images(),
                            labels=LABELS)


@pytest.mark.parametrize("encoding", ["rest", "typed_fields"])
def test_client_parses_a_classify_response(encoding):
  outputs = {"probabilities": np.float32([[0.25, 0.75, 0.0]]),
             "log_likelihoods": np.float32([[-900.5, -899.25, -1e4]]),
             "class": np.int32([1])}
  if encoding == "rest":
    parsed = client.parse_rest_response(CLASS_SIGNATURES, "classify",
                                        json.dumps({"outputs": {
                                            k: v.tolist()
                                            for k, v in outputs.items()}}))
  else:
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(local_server.as_proto_field(value))
    parsed = client.parse_grpc_response(CLASS_SIGNATURES, "classify",
                                        response)
  for name, value in outputs.items():
    assert parsed[name].dtype == value.dtype
    np.testing.assert_array_equal(parsed[name], value)


def test_client_command_line_reads_labels_and_reports_each_output(tmp_path):
  flag_values = argparse.Namespace(
      signature="sample", labels=["2", "0"], condition=None, num_samples=None,
      temperature=0.5, seed=3, images=None, latents=None)
  values = _Flags(flag_values)
  assert sorted(client._cli_inputs(values, CLASS_SIGNATURES)) == [  # pylint: disable=protected-access
      "labels", "seed", "temperature"]
  values.labels = ["two"]
  with pytest.raises(ValueError, match="--labels must be ints"):
    client._cli_inputs(values, CLASS_SIGNATURES)  # pylint: disable=protected-access
  lines = client._report(  # pylint: disable=protected-access
      {"probabilities": np.float32([[0.1, 0.9], [0.8, 0.2]]),
       "class": np.int32([1, 0]),
       "images": np.zeros((2, 2, 2, 1), np.uint8)},
      argparse.Namespace(images=["a.png", "b.png"], signature="classify",
                         output_dir=str(tmp_path)))
  assert lines == [str(tmp_path / "classify_images_0000.png"),
                   str(tmp_path / "classify_images_0001.png"),
                   "a.png\tclass 1\tprobabilities [0.1000 0.9000]",
                   "b.png\tclass 0\tprobabilities [0.8000 0.2000]"]


class _Flags:
  """absl's FlagValues as `_cli_inputs` reads them: by attribute, and
  `values[name].value`."""

  def __init__(self, namespace):
    self.__dict__.update(vars(namespace))

  def __getitem__(self, name):
    return argparse.Namespace(value=getattr(self, name))


def test_readme_shows_a_conditional_sample_request():
  """Sent to the class model's export in `class_requests()`."""
  (body,) = _readme_json_requests()
  assert body["signature_name"] == "sample"
  assert sorted(body["inputs"]) == ["labels", "seed", "temperature"]


def test_readme_conditional_requests_run_against_a_class_model(
    class_exported, tmp_path):
  """export/README.md's conditional block, as written, against the class
  model's export served by the local server (tests/test_readme.py runs the
  other blocks against an unconditional demo)."""
  model, path, _ = class_exported
  root = readme_blocks.checkout(tmp_path)
  (body,) = readme_blocks.blocks(README_PATH, "json")
  io.write_text(os.path.join(root, "sample_labels.json"), body)
  images = _images()
  for i in range(2):
    io.write_png(os.path.join(root, "requests",
                              f"fashion_mnist_test_{i:04d}.png"), images[i])
  server = local_server.LocalServer(path, MODEL_NAME)
  try:
    address = server.start_rest()
    blocks = readme_blocks.blocks(README_PATH, "sh")
    (block,) = [b for b in blocks if "sample_labels.json" in b]
    (sampled,), printed = readme_blocks.leading_json(readme_blocks.run_sh(
        readme_blocks.replace(block, {"localhost:8501": address}), root))
    classified = printed.splitlines()
  finally:
    server.stop()
  assert np.asarray(sampled["outputs"]).shape == (
      (len(json.loads(body)["inputs"]["labels"]),) + model.image_shape)
  assert [line.split("\t")[0] for line in classified] == [
      f"requests/fashion_mnist_test_{i:04d}.png" for i in range(2)]
  assert all("class " in line for line in classified)


def test_export_signature_names_follow_the_model(exported, class_exported):
  names = ["log_prob", "sample", "encode", "decode"]
  assert export.signature_names(exported[0]) == names
  assert export.signature_names(class_exported[0]) == names + ["classify"]


def test_conditional_signature_defs_describe_the_model(class_served,
                                                      vector_served):
  """TF Serving's metadata: the condition input and its shape, and K."""
  assert class_served["signature_defs"] == CLASS_SIGNATURES
  assert vector_served[2]["signature_defs"] == VECTOR_SIGNATURES


@pytest.mark.parametrize("key", sorted(class_requests()))
def test_class_model_signature_matches_the_in_process_model(
    class_exported, class_served, key):
  result = class_served["tf1"][key]
  assert "error" not in result, result
  assert_outputs_match(result["outputs"],
                       model_outputs(class_exported[0], *class_requests()[key]))


def test_class_model_outputs_depend_on_the_labels(class_served):
  """One image per label; with the same seed and number of labels, image
  `i` changes with `labels[i]` alone (the same latents)."""
  outputs = {k: v["outputs"] for k, v in class_served["tf1"].items()
             if "outputs" in v}
  assert [len(outputs[k]["images"]) for k in (
      "sample", "sample_five", "sample_none")] == [3, 5, 0]
  forward, reversed_ = outputs["sample"]["images"], outputs[
      "sample_reversed"]["images"]
  np.testing.assert_array_equal(forward[1], reversed_[1])  # Label 1 both.
  for i in (0, 2):  # (Many pixels of this random model are clipped to 0.)
    assert np.mean(forward[i] != reversed_[i]) > 0.25
  assert not np.allclose(outputs["log_prob"]["log_prob"],
                         outputs["log_prob_other_labels"]["log_prob"])


def test_classify_applies_the_class_prior(class_served):
  """Bayes' rule: the stored prior changes some image's class (else the
  match with `model_outputs` would not show that the prior is used)."""
  outputs = class_served["tf1"]["classify"]["outputs"]
  likeliest = np.argmax(outputs["log_likelihoods"], axis=1)
  assert np.any(outputs["class"] != likeliest)
  np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1,
                             rtol=1e-6)


@pytest.mark.parametrize("key", sorted(CLASS_BAD_REQUESTS))
def test_class_model_refuses_bad_labels(class_served, key):
  result = class_served["tf1"][key]
  _assert_invalid_argument(result)
  for text in CLASS_BAD_REQUESTS[key][2]:
    assert text in result["message"]


def test_export_script_exports_a_conditional_workdir(vector_served):
  script = vector_served[1]
  assert script.stdout.strip().splitlines()[-1].endswith(
      os.path.join("exports", str(VECTOR_STEP)))


@pytest.mark.parametrize("key", sorted(vector_requests()))
def test_vector_model_signature_matches_the_in_process_model(vector_served,
                                                             key):
  model, _, served = vector_served
  result = served["tf1"][key]
  assert "error" not in result, result
  assert_outputs_match(result["outputs"],
                       model_outputs(model, *vector_requests()[key]))


def test_vector_model_samples_depend_on_the_condition(vector_served):
  served = vector_served[2]["tf1"]
  first, other = (served[k]["outputs"]["images"]
                  for k in ("sample", "sample_other"))
  np.testing.assert_array_equal(first[1], other[1])  # Row 1 unchanged.
  for i in (0, 2):
    assert np.mean(first[i] != other[i]) > 0.25


@pytest.mark.parametrize("key", sorted(VECTOR_BAD_REQUESTS))
def test_vector_model_refuses_bad_conditions(vector_served, key):
  result = vector_served[2]["tf1"][key]
  _assert_invalid_argument(result)
  for text in VECTOR_BAD_REQUESTS[key][2]:
    assert text in result["message"]
