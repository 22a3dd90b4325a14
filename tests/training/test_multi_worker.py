"""MultiWorkerMirroredStrategy: two `train.py` worker processes on localhost
(ports picked free, `TF_CONFIG` per process) train the real Fashion-MNIST
architecture with bounded threads and agree on the weights and on their
average (`--ema_decay`); a job whose
worker stops responding ends with an error, and resumes when restarted."""

import json
import os
import signal

from tests.cluster import start_workers
from tests.training_helpers import fingerprint_of
from tests.training_helpers import wait_for_checkpoint

# A worker of this job has ~190 threads after start-up (TensorFlow's pools,
# gRPC, tf.data). TF 2.21's per-collective timeouts leaked ~400 a step, each
# alive for the timeout: thousands within seconds.
MAX_THREADS = 400


def _results(workers, timeout=600):
  """Waits for every worker: their `(returncode, stdout, stderr)`; kills
  them all if one fails to end in time."""
  try:
    return [w.wait(timeout) for w in workers]
  finally:
    for worker in workers:
      worker.kill()


def test_hung_worker_ends_the_job_which_resumes_with_bounded_threads(
    tmp_path, fashion_dir):
  workdir, scratch = tmp_path / "run", tmp_path / "scratch"
  scratch.mkdir()
  # `fashion_mnist.flags`'s model: synchronised batch norm launches one
  # collective per normalisation layer, forward and backward; a small batch.
  flags = dict(workdir=workdir, data_dir=fashion_dir, batch_size=16,
               train_steps=30, checkpoint_every=10, eval_every=30,
               eval_examples=64, likelihood_examples=32, sample_every=30,
               num_samples=4, log_every=5, ema_decay=0.9)
  args = ["--flagfile=fashion_mnist.flags"] + [f"--{k}={v}"
                                              for k, v in flags.items()]
  env = {"TMPDIR": str(scratch)}

  # A short timeout finds the hung worker soon; not too short: on a loaded
  # machine, 10 s without a heartbeat happen while the train step is being
  # built. The resumed job keeps the default.
  chief, worker = start_workers(2, args + ["--strategy_timeout=30"], env)
  try:
    wait_for_checkpoint(workdir, chief.process, min_step=10)
    # A hung worker (no connection reset, unlike a killed one): only the
    # coordination service's missing heartbeats reveal it.
    worker.process.send_signal(signal.SIGSTOP)
    code, _, stderr = chief.wait(timeout=300)
  finally:
    worker.kill()
    chief.kill()
  assert code == 1
  assert "a worker has stopped or cannot be reached" in stderr

  workers = start_workers(2, args, env)
  results = _results(workers)
  for worker, (code, _, stderr) in zip(workers, results):
    assert code == 0, stderr
    assert "Resuming from step" in stderr
    assert 0 < worker.max_threads < MAX_THREADS, worker.samples
    # Not growing: the same count after checkpoints 2 and 3 (+ evaluation
    # and samples at 30).
    at = worker.threads_at_step
    assert at[30] - at[20] < 20, at
  for averaged in (False, True):
    assert fingerprint_of(results[0][1], averaged) == fingerprint_of(
        results[1][1], averaged)
  with open(workdir / "metrics.jsonl") as f:
    assert json.loads(f.readlines()[-1])["step"] == 30
  # The worker wrote its checkpoints into a temporary directory, now removed,
  # and so is the one the hung worker left behind.
  assert not [n for n in os.listdir(scratch)
              if n.startswith("tf_realnvp_worker_")]
