"""Creating the `tf.distribute.Strategy` named by `train.py --strategy`.

- `default`: the default strategy (one device).
- `mirrored`: `MirroredStrategy` over all local GPUs, or the devices given
  (e.g. `/cpu:0,/cpu:1` after `logical_cpus`).
- `multi_worker`: `MultiWorkerMirroredStrategy` configured by `TF_CONFIG`
  (every worker runs the same command with its own `task`).
- `tpu`: `TPUStrategy` on the TPU at `tpu` (a name or `grpc://host:port`).

Anything that cannot start raises `StrategyError` naming the problem within
`timeout_seconds`, instead of hanging: a malformed `TF_CONFIG`, a port of
this task already in use, an unknown device, no TPU at the address. Under
`multi_worker`, TensorFlow's coordination service watches the workers: a
worker that has not joined within `timeout_seconds`, or whose heartbeats stop
for `timeout_seconds`, makes the others stop with an error (restart the job:
it resumes from the chief's last checkpoint).

Why not a timeout on every collective operation
(`CommunicationOptions(timeout_seconds=...)`, as before): TensorFlow 2.21
implements it with two watchdog threads per launched collective, one for
resolving its parameters and one for running it
(`BaseCollectiveExecutor::CompleteParamsAsync` and `ExecuteAsync` ->
`SchedNonBlockingClosureAfter`: a new detached thread that sleeps for the
whole timeout, "TODO: share the timeout watchdog thread among
collectives"). Synchronised batch norm launches a collective per
normalisation layer per step, forward and backward: with
`fashion_mnist.flags` a worker gained ~400 threads a step, each alive for the
timeout, and aborted at ~16,000 ("Resource temporarily unavailable"). The
coordination service needs one heartbeat per worker instead, however many
collectives a step launches.
"""

import hashlib
import json
import os
import shutil
import socket
import threading
import tempfile
import time
import urllib.parse

import grpc
import tensorflow as tf
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.eager import context

from tf_realnvp import io

__all__ = ["STRATEGIES", "StrategyError", "is_chief", "logical_cpus",
           "make_strategy", "worker_scratch",
           "parse_tf_config"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
DEFAULT_TIMEOUT_SECONDS = 120


class StrategyError(RuntimeError):
  """The requested strategy cannot start; the message says why."""


def logical_cpus(count):
  """Splits the CPU into `count` logical devices (before any op runs).

  Gives a real multi-device `MirroredStrategy` on a CPU-only machine
  (`--devices=/cpu:0,/cpu:1`), used by the tests.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name, devices=None, tpu=None,
                  timeout_seconds=DEFAULT_TIMEOUT_SECONDS):
  """Returns the strategy `name` (one of `STRATEGIES`).

  Args:
    name: the strategy.
    devices: for `mirrored`: device names; `None` for all local GPUs (the CPU
      if there are none).
    tpu: for `tpu`: the TPU's name or `grpc://host:port` address.
    timeout_seconds: how long to wait for a TPU, for every worker to join, or
      for a silent worker's heartbeat, before giving up.

  Raises:
    StrategyError: when the strategy cannot start.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return _mirrored(devices)
  if name == "multi_worker":
    return _multi_worker(timeout_seconds)
  if name == "tpu":
    return _tpu(tpu, timeout_seconds)
  raise StrategyError(f"Unknown strategy {name!r}; expected one of "
                      f"{', '.join(STRATEGIES)}.")


def _mirrored(devices):
  if devices:
    available = {_device_key(d.name) for d in tf.config.list_logical_devices()}
    unknown = [d for d in devices if _device_key(d) not in available]
    if unknown:
      raise StrategyError(
          f"--devices names devices this machine does not have: {unknown}; "
          f"it has {sorted(f'/{t.lower()}:{i}' for t, i in available)}.")
  return tf.distribute.MirroredStrategy(devices or None)


def _device_key(name):
  spec = tf.DeviceSpec.from_string(name)
  return (spec.device_type or "").upper(), spec.device_index


def parse_tf_config(text):
  """Checks a `TF_CONFIG` for `multi_worker`; returns `(cluster, task)`.

  Raises:
    StrategyError: naming what is wrong (JSON, missing keys, bad index or
      address).
  """
  if not text:
    raise StrategyError("--strategy=multi_worker needs the TF_CONFIG "
                        "environment variable (cluster and task), e.g. "
                        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                        '"task": {"type": "worker", "index": 0}}.')
  try:
    config = json.loads(text)
  except json.JSONDecodeError as error:
    raise StrategyError(f"TF_CONFIG is not valid JSON ({error}): {text!r}.") from None
  if not isinstance(config, dict):
    raise StrategyError(f"TF_CONFIG must be a JSON object, received {text!r}.")
  cluster, task = config.get("cluster"), config.get("task")
  if not isinstance(cluster, dict) or not cluster.get("worker"):
    raise StrategyError(
        f"TF_CONFIG needs cluster.worker, a list of host:port; received {text!r}.")
  if not isinstance(task, dict) or "type" not in task or "index" not in task:
    raise StrategyError(
        f"TF_CONFIG needs task.type and task.index; received {text!r}.")
  tasks = cluster.get(task["type"])
  if not isinstance(tasks, list) or not (
      isinstance(task["index"], int) and 0 <= task["index"] < len(tasks)):
    raise StrategyError(
        f"TF_CONFIG task {task['type']}:{task['index']} is not in the cluster "
        f"{cluster}.")
  for address in (a for jobs in cluster.values() for a in jobs):
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
      raise StrategyError(
          f"TF_CONFIG address {address!r} is not host:port.")
  return cluster, task


def _check_port_free(address):
  """Raises StrategyError if this task's port is already bound here."""
  port = int(address.rpartition(":")[2])
  with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
      s.bind(("", port))
    except OSError as error:
      raise StrategyError(
          f"Port {port} of this task ({address} in TF_CONFIG) is in use "
          f"({error.strerror}); stop what holds it or pick another port.") from None


def _multi_worker(timeout_seconds):
  cluster, task = parse_tf_config(os.environ.get("TF_CONFIG"))
  _check_port_free(cluster[task["type"]][task["index"]])
  if _is_leader(cluster, task):
    _wait_for_workers(cluster, task, timeout_seconds)
  _configure_coordination_service(cluster, timeout_seconds)
  return tf.distribute.MultiWorkerMirroredStrategy()


def _is_leader(cluster, task):
  """Whether this task leads the coordination service (see below)."""
  return (task["index"] == 0 and
          task["type"] == ("chief" if "chief" in cluster else "worker"))


def _wait_for_workers(cluster, task, timeout_seconds):
  """Waits until every other task's address accepts TCP connections.

  The coordination service's leader waits for the others to join without a
  deadline (the others give up after `cluster_register_timeout`), inside a
  TensorFlow call that holds the GIL, so no Python timeout could stop it.
  Every task starts its server before it registers, so an address that
  accepts connections is a task on its way in.

  Raises:
    StrategyError: naming the tasks that did not start in time.
  """
  me = cluster[task["type"]][task["index"]]
  others = [a for jobs in cluster.values() for a in jobs if a != me]
  deadline = time.monotonic() + timeout_seconds
  while True:
    missing = [a for a in others
               if io.connection_error(*a.rsplit(":", 1), timeout=1)]
    if not missing:
      return
    if time.monotonic() > deadline:
      raise StrategyError(
          f"No worker answered at {', '.join(missing)} (TF_CONFIG) within "
          f"{timeout_seconds} s: start the same command on every host of "
          "TF_CONFIG, each with its own task index.")
    time.sleep(0.5)


def _configure_coordination_service(cluster, timeout_seconds):
  """The coordination service `MultiWorkerMirroredStrategy` would configure,
  with `timeout_seconds` for joining and for heartbeats (its defaults: wait
  for ever to join, 10 s heartbeats). Must run before TensorFlow's context is
  initialised (as `make_strategy` does, before any op).

  There is no public API for these two settings; the strategy itself calls
  this same function, and leaves a service configured beforehand as it is.
  """
  jobs = [job for job in ("chief", "worker") if job in cluster]
  leader = f"/job:{jobs[0]}/replica:0/task:0"
  milliseconds = int(timeout_seconds * 1000)
  context.context().configure_coordination_service(
      service_type="standalone",
      service_leader=leader,
      cluster_register_timeout_in_ms=milliseconds,
      heartbeat_timeout_in_ms=milliseconds,
      coordinated_jobs=[
          coordination_config_pb2.CoordinatedJob(name=job,
                                                 num_tasks=len(cluster[job]))
          for job in jobs])


def _tpu(address, timeout_seconds):
  """`TPUStrategy` at `address`, or `StrategyError` within `timeout_seconds`.

  A `grpc://` address is first checked to answer gRPC at all: a port that
  accepts TCP connections but never speaks gRPC would otherwise block inside
  TensorFlow's `set_server_def`, which holds the GIL, so that no Python
  timeout could fire. The connection itself runs in a daemon thread, bounded
  by the same timeout.
  """
  if not address:
    raise StrategyError("--strategy=tpu needs --tpu (a TPU name or "
                        "grpc://host:port).")
  parsed = urllib.parse.urlparse(address)
  if parsed.scheme == "grpc":
    _probe(parsed.hostname, parsed.port, timeout_seconds, address)

  def connect():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)

  # A daemon thread: a connection attempt that never returns must not keep
  # the process alive after the error below.
  outcome = {}

  def attempt():
    try:
      outcome["strategy"] = connect()
    except Exception as error:  # pylint: disable=broad-except
      outcome["error"] = error

  thread = threading.Thread(target=attempt, daemon=True)
  thread.start()
  thread.join(timeout_seconds)
  if thread.is_alive():
    raise _no_answer(address, timeout_seconds)
  if "error" in outcome:
    error = outcome["error"]
    raise StrategyError(f"Cannot connect to the TPU {address}: "
                        f"{type(error).__name__}: {error}")
  return outcome["strategy"]


def _no_answer(address, timeout_seconds):
  return StrategyError(f"No TPU answered at {address} within "
                       f"{timeout_seconds} s.")


def _probe(host, port, timeout_seconds, address):
  """Raises `StrategyError` unless `host:port` accepts a gRPC channel."""
  if not host or not port:
    raise StrategyError(f"--tpu {address!r} is not grpc://host:port.")
  error = io.connection_error(host, port, min(timeout_seconds, 10))
  if error:
    raise StrategyError(f"No TPU at {address}: {error}.")
  channel = grpc.insecure_channel(f"{host}:{port}")
  try:
    grpc.channel_ready_future(channel).result(timeout=timeout_seconds)
  except grpc.FutureTimeoutError:
    raise _no_answer(address, timeout_seconds) from None
  finally:
    channel.close()


def is_chief(strategy):
  """Whether this process writes the job's outputs (worker 0, or `chief`)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  return (resolver.task_type == "worker" and resolver.task_id == 0 and
          "chief" not in resolver.cluster_spec().as_dict())


def worker_scratch(strategy, workdir):
  """A non-chief worker's empty checkpoint directory under the temp dir.

  Named after the task and the workdir, so that a restarted worker replaces
  what a killed one left behind instead of adding to it.
  """
  resolver = strategy.cluster_resolver
  digest = hashlib.sha256(os.path.abspath(workdir).encode()).hexdigest()[:16]
  path = os.path.join(
      tempfile.gettempdir(),
      f"tf_realnvp_worker_{resolver.task_type}{resolver.task_id}_{digest}")
  shutil.rmtree(path, ignore_errors=True)
  os.makedirs(path)
  return path
