"""The README's example runs as written (against a checkpoint made here)."""

import os
import re

import numpy as np
import tensorflow as tf

import tf_realnvp
from tests.training_helpers import REPO


def _first_python_block():
  with open(os.path.join(REPO, "README.md")) as f:
    return re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)


def test_readme_example_runs(tmp_path):
  code = _first_python_block()
  model = tf_realnvp.RealNVP(image_shape=(28, 28, 1), num_scales=2,
                             num_blocks=2, num_filters=16)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), str(tmp_path / "checkpoints"), 1)
  manager.save()
  namespace = {"images_uint8": np.zeros((2, 28, 28, 1), np.uint8)}
  exec(code.replace("runs/fashion_mnist_demo", str(tmp_path)), namespace)  # pylint: disable=exec-used
  assert namespace["z"].shape == (8, 28, 28, 1)
  assert np.all(np.isfinite(namespace["mixture"].log_prob(namespace["y"])))
