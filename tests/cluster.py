"""A `MultiWorkerMirroredStrategy` job on localhost: one `train.py` process
per worker, each watched for its thread count as training goes.

Used by the multi-worker tests and by `bench/multi_worker_bench.py` (so it
needs nothing of pytest); it starts them with `tests.processes`.
"""

import json
import re
import socket
import threading
import time

import psutil

from tests import processes

_STEP_LINE = re.compile(r"^step (\d+)/\d+ ")


def free_ports(count):
  """`count` TCP ports that were free a moment ago."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def tf_config(ports, index):
  """The `TF_CONFIG` of worker `index` of a localhost cluster."""
  return json.dumps({
      "cluster": {"worker": [f"localhost:{p}" for p in ports]},
      "task": {"type": "worker", "index": index}})


class Worker:
  """One `train.py` worker process, its output and its thread counts.

  A reader thread collects stderr as it comes and, on each progress line
  (`step N/M ...`, one a `--log_every` when stderr is not a terminal),
  records the process's thread count in `threads_at_step[N]` and the time
  since start in `seconds_at_step[N]`; a sampler records the count every
  `interval` seconds (`samples`, `max_threads`).

  Args:
    args: `train.py` arguments.
    env: extra environment variables.
    interval: seconds between samples.
  """

  def __init__(self, args, env=None, interval=0.25):
    self.process = processes.start(processes.train_py(*args), env)
    self._ps = psutil.Process(self.process.pid)
    self.threads_at_step = {}
    self.seconds_at_step = {}
    self.samples = []  # (seconds since start, threads)
    self._stdout, self._stderr = [], []
    self._start = time.monotonic()
    self._interval = interval
    self._threads = [threading.Thread(target=f, daemon=True) for f in (
        self._read_stdout, self._read_stderr, self._sample)]
    for thread in self._threads:
      thread.start()

  def _count(self):
    try:
      return self._ps.num_threads()
    except psutil.Error:  # Exited between the check and the read.
      return None

  def _read_stdout(self):
    self._stdout.extend(self.process.stdout)

  def _read_stderr(self):
    for line in self.process.stderr:
      self._stderr.append(line)
      match = _STEP_LINE.match(line)
      if match:
        self.seconds_at_step[int(match.group(1))] = (
            time.monotonic() - self._start)
        count = self._count()
        if count is not None:
          self.threads_at_step[int(match.group(1))] = count

  def _sample(self):
    while self.process.poll() is None:
      count = self._count()
      if count is not None:
        self.samples.append((time.monotonic() - self._start, count))
      time.sleep(self._interval)

  @property
  def max_threads(self):
    return max((n for _, n in self.samples), default=0)

  def wait(self, timeout):
    """Waits for the process to end: `(returncode, stdout, stderr)`.

    Raises:
      subprocess.TimeoutExpired: after `timeout` seconds.
    """
    self.process.wait(timeout)
    for thread in self._threads:
      thread.join()
    return (self.process.returncode, "".join(self._stdout),
            "".join(self._stderr))

  def kill(self):
    """Kills the process (stopped or not) if it still runs, and reaps it."""
    if self.process.poll() is None:
      self.process.kill()
    self.wait(timeout=60)


def start_workers(count, args, env=None):
  """Starts a `count`-worker localhost cluster (free ports, one `TF_CONFIG`
  each) running `train.py args --strategy=multi_worker`; the `Worker`s,
  chief first."""
  ports = free_ports(count)
  return [Worker(list(args) + ["--strategy=multi_worker"],
                 env=dict(env or {}, TF_CONFIG=tf_config(ports, i)))
          for i in range(count)]
