"""Scale-out: MirroredStrategy, `model.fit` with Keras callbacks, strategy
errors (tf_realnvp/training/strategies.py; multi-worker runs:
test_multi_worker.py; kill -9: test_resume.py).

Multi-device runs need the CPU split into logical devices before TensorFlow
runs any op, so that one runs a script of `tests/scripts` in a subprocess.
"""

import json
import os
import socket

import keras
import numpy as np
import pytest

from tf_realnvp import data
from tf_realnvp.training import strategies
from tests import processes
from tests.cluster import free_ports
from tests.cluster import tf_config
from tests.training_helpers import snapshot
from tests.training_helpers import tiny_config
from tests.training_helpers import tiny_flags


def test_mirrored_on_two_logical_cpus_matches_one_device(tmp_path, fashion_dir):
  result = processes.run(processes.python_module(
      "tests.scripts.mirrored_equivalence", fashion_dir, tmp_path))
  assert result.returncode == 0, result.stderr
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["replicas"] == 2
  np.testing.assert_allclose(report["mirrored_losses"],
                             report["one_device_losses"], rtol=1e-5)
  assert report["gradient_relative_error"] < 1e-4
  # Adam divides by sqrt(v): where a gradient is ~0, float noise of 1e-7 can
  # move a weight by up to ~lr per step; everywhere else they agree closely.
  assert report["fraction_of_weights_within_1e_5"] > 0.98
  assert report["max_weight_difference"] < 2 * 1e-3 * 3
  assert report["replicas_agree"]
  float16 = report["float16_overflow"]
  assert all(np.isfinite(float16["losses"]))
  assert (float16["overflow_steps"], float16["nonfinite_steps"]) == (1, 0)
  assert float16["scale_after_overflow"] == 2.0**59
  assert float16["unchanged_by_overflow"] and float16["changed_by_second"]
  assert float16["replicas_agree"]
  assert np.isfinite(report["fit_bits_per_dim"])


def test_keras_fit_lowers_test_bits_per_dim_and_callbacks_write(
    tmp_path, fashion_dir):
  config = tiny_config(tmp_path, fashion_dir, num_filters=8, batch_size=32)
  model = config.build_model((28, 28, 1))
  model.compile(optimizer=keras.optimizers.Adam(1e-3), grad_clip_norm=100.0)
  train = data.train_dataset("fashion_mnist", 32, seed=0,
                             data_dir=fashion_dir)
  test = data.eval_dataset("fashion_mnist", 64, data_dir=fashion_dir,
                           max_examples=256)
  before = model.evaluate(test, verbose=0, return_dict=True)["bits_per_dim"]
  callbacks = [
      keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"),
                                      monitor="val_bits_per_dim",
                                      mode="min", save_best_only=True,
                                      save_weights_only=True),
      keras.callbacks.TensorBoard(str(tmp_path / "tensorboard")),
      keras.callbacks.EarlyStopping(monitor="val_bits_per_dim", mode="min",
                                    patience=2),
      keras.callbacks.BackupAndRestore(str(tmp_path / "backup"),
                                       delete_checkpoint=False),
  ]
  history = model.fit(train, steps_per_epoch=15, epochs=2, validation_data=test,
                      callbacks=callbacks, verbose=0)
  after = history.history["val_bits_per_dim"][-1]
  print(f"fit: test bits/dim {before:.3f} -> {after:.3f}")
  assert after < before - 0.3
  assert (tmp_path / "best.weights.h5").exists()
  assert os.listdir(tmp_path / "tensorboard" / "train")
  assert os.listdir(tmp_path / "backup")
  # The fit model is the same flow: its weights load into a fresh one.
  clone = config.build_model((28, 28, 1))
  clone.load_weights(str(tmp_path / "best.weights.h5"))
  y = next(iter(test))[:4]
  assert np.all(np.isfinite(clone.log_prob(y)))


@pytest.mark.parametrize("text, message", [
    (None, "needs the TF_CONFIG"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {}, "task": {"type": "worker", "index": 0}}',
     "needs cluster.worker"),
    ('{"cluster": {"worker": ["localhost:1"]}}', "needs task.type"),
    ('{"cluster": {"worker": ["localhost:1"]}, '
     '"task": {"type": "worker", "index": 3}}', "is not in the cluster"),
    ('{"cluster": {"worker": ["localhost"]}, '
     '"task": {"type": "worker", "index": 0}}', "is not host:port"),
])
def test_malformed_tf_config_is_named(text, message):
  with pytest.raises(strategies.StrategyError, match=message):
    strategies.parse_tf_config(text)


def test_multi_worker_port_in_use_is_named(monkeypatch):
  with socket.socket() as busy:
    busy.bind(("", 0))
    busy.listen()
    port = busy.getsockname()[1]
    monkeypatch.setenv("TF_CONFIG", tf_config([port, port + 1], 0))
    with pytest.raises(strategies.StrategyError, match=f"Port {port}.*in use"):
      strategies.make_strategy("multi_worker")


def test_multi_worker_leader_names_workers_that_do_not_start(monkeypatch):
  ports = free_ports(2)  # Nothing listens on the second.
  monkeypatch.setenv("TF_CONFIG", tf_config(ports, 0))
  with pytest.raises(strategies.StrategyError,
                     match=f"No worker answered at localhost:{ports[1]} "
                     r"\(TF_CONFIG\) within 1 s"):
    strategies.make_strategy("multi_worker", timeout_seconds=1)


def test_tpu_that_does_not_answer_fails_within_the_timeout():
  with socket.socket() as silent:  # Accepts connections, never speaks gRPC.
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    address = f"grpc://127.0.0.1:{silent.getsockname()[1]}"
    with pytest.raises(strategies.StrategyError, match="within 2 s"):
      strategies.make_strategy("tpu", tpu=address, timeout_seconds=2)
  with pytest.raises(strategies.StrategyError, match="No TPU at"):
    strategies.make_strategy("tpu", tpu=address, timeout_seconds=2)


def test_unknown_mirrored_device_is_named():
  with pytest.raises(strategies.StrategyError, match="/gpu:7"):
    strategies.make_strategy("mirrored", devices=["/gpu:7"])


def test_strategy_error_from_the_command_line(tmp_path, fashion_dir):
  workdir = tmp_path / "run"
  result = processes.run(
      processes.train_py(*tiny_flags(workdir, fashion_dir,
                                     strategy="multi_worker")),
      env={"TF_CONFIG": "{oops"})
  assert result.returncode == 1
  assert "train.py: error: TF_CONFIG is not valid JSON" in result.stderr
  assert not workdir.exists() or not snapshot(workdir)
