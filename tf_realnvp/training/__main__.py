"""Trains Real NVP: `python -m tf_realnvp.training --flagfile=celeba.flags
--workdir=...` (also `python train.py ...` in the repository, and the
`tf-realnvp-train` command of a pip install).

Flagfiles live in `tf_realnvp/configs/` (the repository's `configs/`; one
per dataset, the paper's hyperparameters); `--flagfile=NAME` finds them. Flags given after the flagfile
override it. The resolved flags are written to `<workdir>/flags.txt`; an
interrupted run resumes from its last checkpoint when started again with the
same `--workdir`.
"""

import os
import sys

from tf_realnvp import startup

tf = startup.import_tensorflow()  # Before anything else imports TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging

from tf_realnvp import data
from tf_realnvp import export
from tf_realnvp import flagfiles
from tf_realnvp import io
from tf_realnvp import run_config
from tf_realnvp import training
from tf_realnvp import workdirs
from tf_realnvp.training import strategies

# Every setting of the run: `tf_realnvp.run_config.TrainConfig` and
# `tf_realnvp.ModelConfig` (their names, defaults, help and validation).
_SETTINGS = run_config.define_flags()
# How this process runs it.
flags.DEFINE_enum("strategy", "default", list(strategies.STRATEGIES),
                  "tf.distribute strategy: default (one device), mirrored "
                  "(local GPUs or --devices), multi_worker (TF_CONFIG), tpu "
                  "(--tpu).")
flags.DEFINE_list("devices", None, "Devices of --strategy=mirrored, e.g. "
                  "/gpu:0,/gpu:1 (default: all local GPUs).")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical "
                     "devices (/cpu:0, /cpu:1, ...) for a multi-device run "
                     "without GPUs.")
flags.DEFINE_string("tpu", None, "TPU name or grpc://host:port of "
                    "--strategy=tpu.")
flags.DEFINE_integer("strategy_timeout", strategies.DEFAULT_TIMEOUT_SECONDS,
                     "Seconds to wait for a TPU, or for the other workers in "
                     "a collective operation, before failing.")
flags.DEFINE_bool("deterministic", False, "tf.config.experimental."
                  "enable_op_determinism(): bit-identical runs and resumes "
                  "on GPUs too (CPU kernels already are; measured cost on 2 "
                  "CPU cores: within noise).")
flags.DEFINE_string("export_dir", None, "After training, export the final "
                    "checkpoint as a SavedModel for TF Serving to "
                    "<export_dir>/<step>/ (see export/README.md), under "
                    "--dtype_policy.")

FLAGS = flags.FLAGS

flags.mark_flag_as_required("workdir")


def _flags_text():
  """The resolved flags, one `--name=value` a line (settings first)."""
  names = _SETTINGS + [f.name for f in FLAGS.get_flags_for_module(
      sys.modules[__name__])]
  return "".join(FLAGS[name].serialize() + "\n" for name in names
                 if FLAGS[name].value is not None)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:  # TFDS logs every dataset it opens.
    logging.set_verbosity(logging.WARNING)
  if FLAGS.logical_cpus:
    strategies.logical_cpus(FLAGS.logical_cpus)
  if FLAGS.deterministic:
    tf.config.experimental.enable_op_determinism()
  try:
    strategy = strategies.make_strategy(
        FLAGS.strategy, devices=FLAGS.devices, tpu=FLAGS.tpu,
        timeout_seconds=FLAGS.strategy_timeout)
    trainer = training.prepare_trainer(run_config.from_flags(FLAGS),
                                       strategy)
    if trainer.is_chief:
      io.write_text(os.path.join(FLAGS.workdir, workdirs.FLAGS_FILE),
                    _flags_text())
    result = training.run(trainer)
    if FLAGS.export_dir and trainer.is_chief:
      exported = _export(FLAGS.workdir, FLAGS.export_dir, FLAGS.dtype_policy)
  except (ValueError, training.TrainingError, training.TrainingDiverged,
          strategies.StrategyError,
          data.DatasetUnavailableError) as error:
    sys.stderr.write(f"train.py: error: {error}\n")
    return 1
  except OSError as error:  # An unwritable or full --workdir, mostly.
    sys.stderr.write(f"train.py: error: {io.one_line(error)} (--workdir="
                     f"{FLAGS.workdir}).\n")
    return 1
  except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
          tf.errors.AbortedError, tf.errors.CancelledError) as error:
    sys.stderr.write(
        f"train.py: error: communication between replicas failed "
        f"({type(error).__name__}: {io.one_line(error)}). Under "
        "--strategy=multi_worker a worker has stopped or cannot be reached: "
        "restart every worker with the same --workdir; training resumes from "
        "the chief's last checkpoint.\n")
    return 1
  print(f"test bits/dim {result['test_bits_per_dim']:.4f} (the bound "
        f"training minimises), {result[training.DISCRETE_BITS_PER_DIM]:.4f} "
        f"(-log2 P(x)/D, as served) at step {result['step']} "
        f"({FLAGS.workdir})")
  print(f"weights fingerprint {training.fingerprint(trainer.model, strategy)}")
  if trainer.average:
    print("averaged weights fingerprint "
          f"{training.fingerprint(trainer.average.average, strategy)}")
  if FLAGS.export_dir and trainer.is_chief:
    print(exported)
  return 0


def _export(workdir, export_dir, dtype_policy):
  """Exports the workdir's last checkpoint, under the policy it trained with;
  returns what to tell the user."""
  model, step = workdirs.load_trained_model(workdir, dtype=dtype_policy)
  try:
    path = export.export_saved_model(model, export_dir, step)
  except FileExistsError:  # A finished run started again: same checkpoint.
    path = os.path.join(export_dir, str(step))
    return f"SavedModel of step {step} already in {path} (kept as it is)"
  return f"SavedModel for TF Serving: {path}"


def run():
  """The command line: `--flagfile=NAME` resolved, then absl's `app.run`."""
  try:
    argv = flagfiles.resolve_flagfiles(sys.argv, [flagfiles.CONFIG_DIR])
  except FileNotFoundError as error:
    sys.exit(f"train.py: error: {error}")
  app.run(main, argv=argv)


if __name__ == "__main__":
  run()
