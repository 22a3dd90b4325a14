"""Tests of tf_realnvp/startup.py: TensorFlow's start-up without the lines
that only look like problems."""

import pytest

from tf_realnvp import startup
from tests import processes

# Lines TensorFlow 2.21 writes while it starts, whatever TF_CPP_MIN_LOG_LEVEL
# says (a CPU-only machine).
ONEDNN = ("I0000 00:00:1760000000.000000   123 port.cc:153] oneDNN custom "
          "operations are on. You may see slightly different numerical "
          "results due to floating-point round-off errors from different "
          "computation orders. To turn them off, set the environment "
          "variable `TF_ENABLE_ONEDNN_OPTS=0`.")
INITIALIZE_LOG = ("WARNING: All log messages before absl::InitializeLog() is "
                  "called are written to STDERR")
CPU_INSTRUCTIONS = (
    "I0000 00:00:1760000000.000000   123 cpu_feature_guard.cc:210] This "
    "TensorFlow binary is optimized to use available CPU instructions in "
    "performance-critical operations.")
ENABLE_INSTRUCTIONS = ("To enable the following instructions: AVX2 AVX512F "
                       "FMA, in other operations, rebuild TensorFlow with the "
                       "appropriate compiler flags.")
CUINIT = ("E0000 00:00:1760000000.000000   123 cuda_executor.cc:1309] failed "
          "call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: "
          "UNKNOWN ERROR (303)")
NO_CUDA_DRIVERS = ("I0000 00:00:1760000000.000000   123 cudart_stub.cc:31] "
                   "Could not find cuda drivers on your machine, GPU will not "
                   "be used.")
WARNING = ("W0000 00:00:1760000000.000000   123 op_kernel.cc:1857] OP_REQUIRES "
           "failed at save_restore_v2_ops.cc:123 : NOT_FOUND: checkpoint")

# Writes a real warning while TensorFlow is imported (an import hook, called
# inside `import_tensorflow`) and one after it.
_WARNINGS_AROUND_START_UP = """
import os
import sys


class WarnOnImport:
  def find_spec(self, name, path=None, target=None):
    if name == "tensorflow":
      sys.meta_path.remove(self)
      os.write(2, b"real warning during start-up\\n")
    return None


sys.meta_path.insert(0, WarnOnImport())
from tf_realnvp import startup
startup.import_tensorflow()
sys.stderr.write("real warning after start-up\\n")
"""


@pytest.mark.parametrize("line", [ONEDNN, INITIALIZE_LOG, CPU_INSTRUCTIONS,
                                  ENABLE_INSTRUCTIONS])
def test_start_up_noise_is_noise_on_any_machine(line):
  assert startup.is_noise(line, has_driver=False)
  assert startup.is_noise(line + "\n", has_driver=True)


@pytest.mark.parametrize("line", [CUINIT, NO_CUDA_DRIVERS])
def test_cuda_lines_are_noise_only_without_a_driver(line):
  assert startup.is_noise(line, has_driver=False)
  assert not startup.is_noise(line, has_driver=True)


@pytest.mark.parametrize("has_driver", [False, True, None])
def test_other_lines_are_kept(has_driver):
  assert not startup.is_noise(WARNING, has_driver)
  assert not startup.is_noise("real warning during start-up", has_driver)


def test_import_tensorflow_prints_what_is_not_noise():
  """A fresh process: only the real warnings remain of its stderr, while a
  plain import of TensorFlow does write noise (so the filter is tested)."""
  plain = processes.start(processes.python_code(
      "import tensorflow as tf; tf.config.list_physical_devices()"))
  filtered = processes.run(processes.python_code(_WARNINGS_AROUND_START_UP))
  assert filtered.returncode == 0, filtered.stderr
  assert filtered.stderr.splitlines() == ["real warning during start-up",
                                          "real warning after start-up"]
  noise = [line for line in processes.finish(plain).stderr.splitlines()
           if startup.is_noise(line)]
  assert noise
