"""MultiWorkerMirroredStrategy: two `train.py` worker processes on localhost
(ports picked free, `TF_CONFIG` per process) agree on the weights, and the
job completes and resumes after one worker is killed."""

import json
import os
import signal

from tests.training_helpers import fingerprint_of
from tests.training_helpers import free_ports
from tests.training_helpers import tf_config
from tests.training_helpers import tiny_flags
from tests.training_helpers import train_py
from tests.training_helpers import wait_for_checkpoint


def _start_workers(ports, workdir, data_dir, tmp, **flags):
  """Starts one `train.py` per port; non-chief scratch goes under `tmp`."""
  args = tiny_flags(workdir, data_dir, strategy="multi_worker",
                    strategy_timeout=20, **flags)
  return [train_py(args, env={"TF_CONFIG": tf_config(ports, i),
                              "TMPDIR": str(tmp)})
          for i in range(len(ports))]


def test_multi_worker_agrees_and_resumes_after_a_worker_is_killed(
    tmp_path, fashion_dir):
  workdir, scratch = tmp_path / "run", tmp_path / "scratch"
  scratch.mkdir()
  flags = dict(train_steps=40, checkpoint_every=10, eval_every=1000,
               sample_every=1000)
  chief, worker = _start_workers(free_ports(2), workdir, fashion_dir, scratch,
                                 **flags)
  wait_for_checkpoint(workdir, chief, min_step=10)
  worker.send_signal(signal.SIGKILL)
  worker.wait()
  _, stderr = chief.communicate(timeout=120)  # Not a hang: heartbeats fail.
  assert chief.returncode == 1
  assert "a worker has stopped or cannot be reached" in stderr

  processes = _start_workers(free_ports(2), workdir, fashion_dir, scratch,
                             **flags)
  outputs = [p.communicate(timeout=600) for p in processes]
  for process, (stdout, stderr) in zip(processes, outputs):
    assert process.returncode == 0, stderr
    assert "Resuming from step" in stderr
  assert fingerprint_of(outputs[0][0]) == fingerprint_of(outputs[1][0])
  with open(workdir / "metrics.jsonl") as f:
    assert json.loads(f.readlines()[-1])["step"] == 40
  # The worker wrote its checkpoints into a temporary directory, now removed,
  # and so is the one the killed worker left behind.
  assert not [n for n in os.listdir(scratch) if n.startswith("tf_realnvp_worker_")]
