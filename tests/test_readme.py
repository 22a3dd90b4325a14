"""The README's example runs as written (against a checkpoint made here)."""

import os
import re

import keras
import numpy as np
import tensorflow as tf

import tf_realnvp
from tf_realnvp import data
from tf_realnvp import workdirs
from tests import flow_checks
from tests.processes import REPO


def _python_blocks():
  with open(os.path.join(REPO, "README.md")) as f:
    return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_example_runs(tmp_path):
  code = _python_blocks()[0]
  model = tf_realnvp.RealNVP(image_shape=(28, 28, 1), num_scales=2,
                             num_blocks=2, num_filters=16)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), str(tmp_path / "checkpoints"), 1)
  manager.save()
  namespace = {"images_uint8": np.zeros((2, 28, 28, 1), np.uint8)}
  exec(code.replace("runs/fashion_mnist_demo", str(tmp_path)), namespace)  # pylint: disable=exec-used
  assert namespace["z"].shape == (8, 28, 28, 1)
  assert np.all(np.isfinite(namespace["mixture"].log_prob(namespace["y"])))


def test_readme_fit_example_runs(fashion_dir):
  code = _python_blocks()[1]
  for long, short in (("steps_per_epoch=1000, epochs=10",
                       "steps_per_epoch=2, epochs=1"),
                      ("seed=0)", f"seed=0, data_dir={fashion_dir!r})"),
                      ('256)', f'256, data_dir={fashion_dir!r}, max_examples=256)')):
    assert long in code
    code = code.replace(long, short)
  namespace = {"strategy": tf.distribute.get_strategy(), "keras": keras,
               "tf_realnvp": tf_realnvp, "data": data}
  exec(code, namespace)  # pylint: disable=exec-used
  assert np.isfinite(namespace["model"].evaluate(
      namespace["test"], verbose=0, return_dict=True)["bits_per_dim"])


def test_readme_conditional_example_runs(tmp_path):
  code = _python_blocks()[2]
  # A small class-conditional model with random weights stands in for the
  # trained run (the example reads it from its workdir).
  model = tf_realnvp.RealNVP((28, 28, 1), num_blocks=1, num_filters=4,
                             num_classes=10)
  flow_checks.randomize_weights(model, scale=0.05)
  workdirs.write_model_config(str(tmp_path), {
      key: model.get_config()[key] for key in (
          "image_shape", "num_scales", "num_blocks", "num_filters",
          "num_classes")})
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                             str(tmp_path / workdirs.CHECKPOINTS), 1).save()
  images = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), np.uint8)
  namespace = {"images_uint8": images, "image_labels": np.array([1, 2])}
  exec(code.replace("runs/fashion_mnist_conditional", str(tmp_path)),  # pylint: disable=exec-used
       namespace)
  assert namespace["y"].shape == (2, 3, 28, 28, 1)
  assert np.all(np.isfinite(namespace["marginal"].log_prob(namespace["y"][0])))
