"""Exports a trained Real NVP for TF Serving.

  python export/export_saved_model.py --workdir=runs/fashion_mnist_demo \
      --export_dir=exports/realnvp

writes `exports/realnvp/<version>/` (TF Serving's versioned layout; the
version defaults to the checkpoint's training step) and prints that path.
The signatures are described in `tf_realnvp/export.py` and
`export/README.md`; those of a conditional workdir (`num_classes` or
`condition_shape` in its `model_config.json`) take its labels or condition
vectors, and a class model's add `classify`. A workdir calibrated by
`python -m tf_realnvp.anomaly calibrate` adds the `anomaly` signature (and
the background model it names) unless `--noanomaly`; a calibration of
another checkpoint is an error. An existing version is never overwritten.
"""

import os
import sys

# Run as a script from anywhere: the package lives in the repository root.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
  sys.path.insert(0, _REPO)

from tf_realnvp import startup  # noqa: E402

startup.import_tensorflow()  # Before anything else imports TensorFlow.

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from tf_realnvp import export  # noqa: E402
from tf_realnvp import likelihood  # noqa: E402
from tf_realnvp.anomaly import calibration  # noqa: E402
from tf_realnvp.anomaly import detector as detector_lib  # noqa: E402
from tf_realnvp import workdirs  # noqa: E402
from tf_realnvp.model import DTYPE_POLICIES  # noqa: E402

flags.DEFINE_string("workdir", None,
                    f"Training workdir ({workdirs.MODEL_CONFIG} and "
                    f"{workdirs.CHECKPOINTS}/).")
flags.DEFINE_string("export_dir", None,
                    "The model's base directory for TF Serving; the "
                    "SavedModel goes to <export_dir>/<version>/.")
flags.DEFINE_string("checkpoint", None,
                    "Checkpoint to export: a name in <workdir>/checkpoints "
                    "(ckpt-40) or a path prefix. Default: the latest.")
flags.DEFINE_integer("version", None,
                     "Version directory to write. Default: the checkpoint's "
                     "training step.", lower_bound=0)
flags.DEFINE_enum("dtype_policy", "float32", list(DTYPE_POLICIES),
                  "Keras dtype policy of the exported s/t networks "
                  "(mixed_bfloat16: bfloat16 convolutions, for GPUs and AMX "
                  "CPUs; mixed_float16: float16 ones, for GPUs without fast "
                  "bfloat16; the flow stays float32). Any policy reads any "
                  "checkpoint.")

flags.DEFINE_bool("anomaly", True, "Serve the anomaly signature when the "
                  f"workdir has {calibration.CALIBRATION_FILE}.")
flags.DEFINE_integer("num_draws", likelihood.DEFAULT_NUM_DRAWS,
                     "Dequantisation draws of the served likelihoods "
                     "(importance-weighted; each costs one pass of the flow).",
                     lower_bound=1, upper_bound=likelihood.MAX_NUM_DRAWS)

FLAGS = flags.FLAGS

flags.mark_flag_as_required("workdir")
flags.mark_flag_as_required("export_dir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    detector = None
    if FLAGS.anomaly and os.path.exists(os.path.join(
        FLAGS.workdir, calibration.CALIBRATION_FILE)):
      detector, step = detector_lib.load_detector(
          FLAGS.workdir, FLAGS.checkpoint, dtype=FLAGS.dtype_policy)
      model = detector.model
    else:
      model, step = workdirs.load_trained_model(
          FLAGS.workdir, FLAGS.checkpoint, dtype=FLAGS.dtype_policy)
    version = FLAGS.version if FLAGS.version is not None else step
    if version is None:
      raise ValueError("The checkpoint records no training step; pass "
                       "--version.")
    path = export.export_saved_model(model, FLAGS.export_dir, version,
                                     detector, FLAGS.num_draws)
  except (ValueError, OSError) as error:  # FileExistsError is an OSError.
    message = " ".join(str(error).split())
    sys.stderr.write(f"export_saved_model.py: error: {message}\n")
    return 1
  print(path)
  return 0


if __name__ == "__main__":
  app.run(main)
