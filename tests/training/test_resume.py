"""Bit-identical resume: runs killed with SIGKILL at two points and started
again end with exactly the weights of an uninterrupted run."""

import json
import re
import signal

from tests import processes
from tests.training_helpers import fingerprint_of
from tests.training_helpers import tiny_flags
from tests.training_helpers import wait_for_checkpoint


def test_kill_9_at_two_points_then_resume_is_bit_identical_and_exports(
    tmp_path, fashion_dir):
  flags = dict(train_steps=50, checkpoint_every=5, eval_every=1000,
               sample_every=1000, deterministic=True)
  runs = {name: tmp_path / name for name in ("whole", "early", "late")}
  export_dir = tmp_path / "export"
  args = {name: tiny_flags(path, fashion_dir, **flags) for name, path in
          runs.items()}
  args["late"].append(f"--export_dir={export_dir}")
  running = {name: processes.start(processes.train_py(*args[name]))
             for name in runs}
  killed_after = {}
  for name, min_step in (("early", 5), ("late", 25)):
    killed_after[name] = wait_for_checkpoint(runs[name], running[name],
                                             min_step=min_step)
    running[name].send_signal(signal.SIGKILL)
    running[name].wait()
  fingerprints = {}
  for name in runs:
    if name != "whole":
      running[name] = processes.start(processes.train_py(*args[name]))
    finished = processes.finish(running[name])
    stdout, stderr = finished.stdout, finished.stderr
    assert finished.returncode == 0, stderr
    if name == "whole":
      assert "Resuming" not in stderr
    else:
      resumed = re.search(r"Resuming from step (\d+)", stderr)
      assert resumed and killed_after[name] <= int(resumed.group(1)) < 50
    with open(runs[name] / "metrics.jsonl") as f:
      assert json.loads(f.readlines()[-1])["step"] == 50
    fingerprints[name] = fingerprint_of(stdout)
  assert fingerprints["early"] == fingerprints["whole"]
  assert fingerprints["late"] == fingerprints["whole"]
  # The resumed run ends with a SavedModel of its last step.
  assert f"SavedModel for TF Serving: {export_dir / '50'}" in stdout
  assert (export_dir / "50" / "saved_model.pb").exists()
