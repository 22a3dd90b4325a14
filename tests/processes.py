"""Fresh processes for the tests: the commands of this repository, started
from its root with a quiet TensorFlow and the repository on `PYTHONPATH`.

```python
from tests import processes
result = processes.run(processes.train_py("--workdir=/tmp/x"))
result.returncode, result.stdout, result.stderr

process = processes.start(processes.export_script(...))  # runs meanwhile
...
processes.finish(process)  # or processes.stop(process)
```

A command is a list of arguments (`train_py`, `export_script`, `client`,
`saved_model_cli`, `python_module`, `python_code` build them); `start` runs
it with stdout and stderr piped as text. Needs nothing of pytest (used by
`tests/cluster.py` and so by `bench/multi_worker_bench.py`).
"""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(REPO, "train.py")
EXPORT_SCRIPT = os.path.join(REPO, "export", "export_saved_model.py")
CLIENT_SCRIPT = os.path.join(REPO, "export", "client.py")
# TensorFlow's C++ logging: errors only (start-up noise: tf_realnvp.startup).
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2"}
TIMEOUT_SECONDS = 600


def environment(env=None):
  """This process's environment with a quiet TensorFlow, the repository
  first on `PYTHONPATH`, and `env` (extra variables) on top."""
  result = dict(os.environ, **QUIET)
  result["PYTHONPATH"] = os.pathsep.join(
      [REPO] + [p for p in [result.get("PYTHONPATH")] if p])
  result.update(env or {})
  return result


def start(command, env=None):
  """Starts `command` (a list) from the repository root: a
  `subprocess.Popen` with stdout and stderr piped as text.

  Args:
    command: the program and its arguments.
    env: extra environment variables.
  """
  return subprocess.Popen(list(command), cwd=REPO, env=environment(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def finish(process, timeout=TIMEOUT_SECONDS):
  """Waits for a started process: a `subprocess.CompletedProcess` (stdout
  and stderr as text). Kills it if it does not end within `timeout`."""
  try:
    stdout, stderr = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    stop(process)
    raise
  return subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                     stderr)


def stop(process):
  """Kills `process` if it is still running, and reaps it."""
  if process.poll() is None:
    process.kill()
  process.communicate()


def run(command, env=None, timeout=TIMEOUT_SECONDS):
  """Runs `command` to its end: a `subprocess.CompletedProcess`."""
  return finish(start(command, env), timeout)


# --- Commands -----------------------------------------------------------------


def train_py(*args):
  """`python train.py args...`."""
  return [sys.executable, TRAIN_PY, *map(str, args)]


def export_script(*args):
  """`python export/export_saved_model.py args...`."""
  return [sys.executable, EXPORT_SCRIPT, *map(str, args)]


def client(*args):
  """`python export/client.py args...`."""
  return [sys.executable, CLIENT_SCRIPT, *map(str, args)]


def saved_model_cli(*args):
  """TensorFlow's `saved_model_cli args...` (its module if the script is
  not next to this Python)."""
  script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  program = [script] if os.path.exists(script) else [
      sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
  return program + list(map(str, args))


def python_module(module, *args):
  """`python -m module args...`."""
  return [sys.executable, "-m", module, *map(str, args)]


def python_code(code):
  """`python -c code`."""
  return [sys.executable, "-c", code]
