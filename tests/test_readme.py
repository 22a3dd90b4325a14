"""Every code block of README.md and export/README.md, run as written.

The blocks run one after the other, as a newcomer would, from a stand-in for
the repository's root (`readme_blocks.checkout`): `make demo` trains the
flagfile's model at a tiny size (its `ARGS`, on the test's Fashion-MNIST)
with the flagfile's weight average, and everything after works on that
workdir: the Python examples, the next-steps targets, the export, the local
server and every request. What cannot run here is named with its reason
(`make test` is this suite; no CUDA wheels, no Docker engine, one host).
"""

import json
import os
import subprocess
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

import tf_realnvp
from tf_realnvp import workdirs
from tests import processes
from tests import readme_blocks
from tests import training_helpers

README = os.path.join(processes.REPO, "README.md")
EXPORT_README = os.path.join(processes.REPO, "export", "README.md")
DEMO = "runs/fashion_mnist_demo"
STEPS = 6

# The README's blocks in order; a new block fails here until a test runs it.
SH_BLOCKS = ("set_up", "next_steps", "other_datasets", "gpu", "hosts")
PYTHON_BLOCKS = ("tfp", "fit")
EXPORT_SH_BLOCKS = ("export", "server", "images", "client", "curl",
                    "conditional", "docker")


def _tiny_args(data_dir, **overrides):
  """train.py flags on top of a flagfile that make its run take seconds."""
  values = dict(training_helpers.TINY, data_dir=data_dir, train_steps=STEPS,
                eval_every=3, checkpoint_every=3, sample_every=3, log_every=3)
  del values["dataset"]  # The flagfile's.
  values.update(overrides)
  return " ".join(f"--{k}={v}" for k, v in values.items())


def _blocks(path, language, names):
  found = readme_blocks.blocks(path, language)
  assert len(found) == len(names), (path, language, found)
  return dict(zip(names, found))


@pytest.fixture(scope="module")
def demo(tmp_path_factory, fashion_dir):
  """The stand-in root after the set-up block: `make demo` (at a tiny size;
  `make test` is this suite) and the next-steps block (figures, anomaly
  calibration, export, try-serving). Returns `(root, outputs by block)`."""
  root = readme_blocks.checkout(tmp_path_factory.mktemp("checkout"))
  blocks = _blocks(README, "sh", SH_BLOCKS)
  outputs = {}
  outputs["set_up"] = readme_blocks.run_sh(readme_blocks.replace(
      blocks["set_up"], {
          "make demo": readme_blocks.make("demo", _tiny_args(fashion_dir)),
          "make test   # the test suite\n": ""}), root)
  outputs["next_steps"] = readme_blocks.run_sh(readme_blocks.replace(
      blocks["next_steps"], {
          "make figures": readme_blocks.make(
              "figures", "--num_samples=2 --num_images=2 --grid_size=3"),
          "make calibrate": readme_blocks.make("calibrate",
                                               "--max_examples=40"),
          "make export": readme_blocks.make("export"),
          "make try-serving": readme_blocks.make("try-serving")}), root)
  return root, outputs


def test_make_demo_trains_the_flagfile_with_a_weight_average_and_reports(
    demo):
  root, outputs = demo
  workdir = os.path.join(root, DEMO)
  config = workdirs.read_run_config(workdir)
  assert (config.dataset, config.ema_decay, config.train_steps) == (
      "fashion_mnist", 0.995, STEPS)
  assert "test bits/dim" in outputs["set_up"]
  assert os.listdir(os.path.join(workdir, workdirs.SAMPLES))


def test_next_steps_run_one_after_the_other_on_the_demo(demo):
  root, outputs = demo
  workdir = os.path.join(root, DEMO)
  assert os.listdir(os.path.join(workdir, "figures"))
  (version,) = os.listdir(os.path.join(workdir, "export"))
  assert version == str(STEPS)
  printed = outputs["next_steps"]
  for request in ("== log_prob", "== anomaly", "== sample"):
    assert request in printed
  assert "is_anomaly" in printed


def test_tfp_example_uses_the_averaged_weights(demo, fashion_dir):
  root, _ = demo
  workdir = os.path.join(root, DEMO)
  code = readme_blocks.replace(_blocks(README, "python", PYTHON_BLOCKS)["tfp"], {
      f'"{DEMO}"': repr(workdir),
      '"test")': f'"test", data_dir={fashion_dir!r})'})
  namespace = {}
  exec(code, namespace)  # pylint: disable=exec-used
  model, step = namespace["model"], namespace["step"]
  assert step == STEPS
  averaged, _ = workdirs.load_trained_model(workdir)
  raw, _ = workdirs.load_trained_model(workdir, averaged=False)
  y = namespace["y"]
  np.testing.assert_array_equal(model.log_prob(y), averaged.log_prob(y))
  assert not np.allclose(model.log_prob(y), raw.log_prob(y))
  assert namespace["z"].shape == (8, 28, 28, 1)
  assert np.all(np.isfinite(namespace["mixture"].log_prob(y)))


def test_fit_example_trains_with_the_train_step_and_an_average(fashion_dir):
  code = readme_blocks.replace(_blocks(README, "python", PYTHON_BLOCKS)["fit"], {
      "steps_per_epoch=1000, epochs=10": "steps_per_epoch=2, epochs=1",
      "seed=0)": f"seed=0, data_dir={fashion_dir!r})",
      "256)": f"256, data_dir={fashion_dir!r}, max_examples=256)"})
  namespace = {}
  exec(code, namespace)  # pylint: disable=exec-used
  model = namespace["model"]
  assert isinstance(model.averaged_model, tf_realnvp.RealNVP)
  assert np.isfinite(model.evaluate(namespace["test"], verbose=0,
                                    return_dict=True)["bits_per_dim"])


def test_other_flagfile_command_trains_with_fashion_mnist_for_cifar10(
    tmp_path, fashion_dir):
  """CIFAR-10 is not on this machine: the command runs with the flagfile's
  model (8 blocks of 64 maps) on Fashion-MNIST, for one step."""
  root = readme_blocks.checkout(tmp_path)
  command = _blocks(README, "sh", SH_BLOCKS)["other_datasets"]
  readme_blocks.run_sh(readme_blocks.replace(command, {
      "--workdir=runs/cifar10": "--workdir=runs/cifar10 --dataset=fashion_mnist "
                                + _tiny_args(fashion_dir, train_steps=1,
                                             num_blocks=8, num_filters=64,
                                             batch_size=8, eval_examples=8,
                                             likelihood_examples=8)}), root)
  config = workdirs.read_run_config(os.path.join(root, "runs", "cifar10"))
  assert (config.model.num_blocks, config.model.num_filters) == (8, 64)


def test_gpu_check_runs_without_installing_the_cuda_build(tmp_path):
  """`pip install tensorflow[and-cuda]` downloads gigabytes of CUDA wheels
  and is not run here; the check after it prints no GPU on this machine."""
  root = readme_blocks.checkout(tmp_path)
  block = _blocks(README, "sh", SH_BLOCKS)["gpu"]
  install = '.venv/bin/pip install "tensorflow[and-cuda]==2.21.0"\n'
  assert readme_blocks.run_sh(readme_blocks.replace(block, {install: ""}),
                              root).strip() == "[]"


def test_multi_host_command_parses(tmp_path):
  """One host here: the TF_CONFIG is valid JSON naming two workers and the
  command's flags parse (`--helpfull` prints the help, after parsing every
  flag, and exits 1); the two-worker run itself is
  tests/training/test_distributed.py's, with local ports."""
  root = readme_blocks.checkout(tmp_path)
  block = _blocks(README, "sh", SH_BLOCKS)["hosts"]
  config = json.loads(block.split("TF_CONFIG='")[1].split("'")[0])
  assert len(config["cluster"]["worker"]) == 2
  printed = readme_blocks.run_sh(readme_blocks.replace(block, {
      "--data_dir=/shared/tensorflow_datasets":
          "--data_dir=/shared/tensorflow_datasets --helpfull || true"}), root)
  assert "--strategy_timeout" in printed


def _wait_for_rest(port, server, timeout=300):
  url = f"http://localhost:{port}/v1/models/realnvp/metadata"
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    assert server.poll() is None, server.communicate()
    try:
      with urllib.request.urlopen(url, timeout=10):
        return
    except OSError:
      time.sleep(1)
  raise TimeoutError(url)


def start_server(block, root, ports):
  """The server block (`... &`) started in `root`, answering; its Popen."""
  command = readme_blocks.replace(block.strip(), ports).removesuffix("&")
  server = subprocess.Popen(["bash", "-c", "exec " + command], cwd=root,
                            env=processes.environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
  _wait_for_rest(ports["8501"], server)
  return server


def test_export_readme_runs_against_the_demo(demo):
  root, _ = demo
  blocks = _blocks(EXPORT_README, "sh", EXPORT_SH_BLOCKS)
  printed = readme_blocks.run_sh(blocks["export"], root)
  assert printed.strip().endswith(f"exports/realnvp/{STEPS}")
  ports = {"8501": str(readme_blocks.free_port()),
           "8500": str(readme_blocks.free_port())}
  server = start_server(blocks["server"], root, ports)
  try:
    readme_blocks.run_sh(blocks["images"], root)
    printed = readme_blocks.run_sh(
        readme_blocks.replace(blocks["client"], ports), root)
    assert printed.count("bits_per_dim") >= 3, printed
    assert "is_anomaly" in printed
    assert len(os.listdir(os.path.join(root, "samples"))) == 16
    assert os.path.exists(os.path.join(root, "out", "decode_images_0000.png"))
    (sampled, scored), _ = readme_blocks.leading_json(readme_blocks.run_sh(
        readme_blocks.replace(blocks["curl"], {"8501": ports["8501"]}),
        root))
    assert np.asarray(sampled["outputs"]).shape == (4, 28, 28, 1)
    assert np.isfinite(scored["outputs"]["bits_per_dim"]).all()
  finally:
    server.kill()
    server.communicate()


def test_export_readme_docker_command_matches_the_local_server():
  """No Docker engine here: the image is TensorFlow's version and its ports
  are the local server's, so the requests above work the same."""
  docker = _blocks(EXPORT_README, "sh", EXPORT_SH_BLOCKS)["docker"]
  assert f"tensorflow/serving:{tf.__version__}" in docker
  assert "-p 8500:8500 -p 8501:8501" in docker
  server = _blocks(EXPORT_README, "sh", EXPORT_SH_BLOCKS)["server"]
  assert "--port=8501 --grpc_port=8500" in server
