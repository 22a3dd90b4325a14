"""Bit-identical resume: a run killed with SIGKILL at two points (the second
time after resuming) and started again ends with exactly the weights of an
uninterrupted run, and exactly its weight average (`--ema_decay`), under a
warm-up and cosine learning rate."""

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
               sample_every=1000, deterministic=True, ema_decay=0.9,
               warmup_steps=10, lr_schedule="cosine")
  runs = {name: tmp_path / name for name in ("whole", "killed")}
  export_dir = tmp_path / "export"
  args = {name: tiny_flags(path, fashion_dir, **flags) for name, path in
          runs.items()}
  args["killed"].append(f"--export_dir={export_dir}")
  whole = processes.start(processes.train_py(*args["whole"]))
  # Killed early, started again, killed late (the resumed run), started
  # again to the end.
  killed = processes.start(processes.train_py(*args["killed"]))
  for min_step in (5, 25):
    killed_after = wait_for_checkpoint(runs["killed"], killed,
                                       min_step=min_step)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed = processes.start(processes.train_py(*args["killed"]))
    line = killed.stderr.readline()
    while line and "Resuming" not in line:  # Until its first message.
      line = killed.stderr.readline()
    resumed = re.search(r"Resuming from step (\d+)", line)
    assert resumed and killed_after <= int(resumed.group(1)) < 50
  results = {name: processes.finish(process)
             for name, process in (("whole", whole), ("killed", killed))}
  fingerprints = {}
  for name, finished in results.items():
    assert finished.returncode == 0, finished.stderr
    with open(runs[name] / "metrics.jsonl") as f:
      assert json.loads(f.readlines()[-1])["step"] == 50
    fingerprints[name] = (fingerprint_of(finished.stdout),
                          fingerprint_of(finished.stdout, averaged=True))
  assert "Resuming" not in results["whole"].stderr
  assert fingerprints["whole"][0] != fingerprints["whole"][1]
  assert fingerprints["killed"] == fingerprints["whole"]
  # The resumed run ends with a SavedModel of its last step.
  assert (f"SavedModel for TF Serving: {export_dir / '50'}" in
          results["killed"].stdout)
  assert (export_dir / "50" / "saved_model.pb").exists()
