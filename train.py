"""Trains Real NVP: `python train.py --flagfile=celeba.flags --workdir=...`.

Flagfiles live in `configs/` (one per dataset, the paper's hyperparameters);
`--flagfile=NAME` finds `configs/NAME` too. Flags given after the flagfile
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
from tf_realnvp import training
from tf_realnvp import workdirs
from tf_realnvp.dequantization import DEQUANTIZATIONS
from tf_realnvp.flow import STEP_TYPES
from tf_realnvp.model import DTYPE_POLICIES
from tf_realnvp.training import config as config_lib
from tf_realnvp.training import strategies
from tf_realnvp.optimization.schedules import LR_SCHEDULES

_DEFAULTS = training.TrainConfig(workdir="unused")
_CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "configs")

flags.DEFINE_string("workdir", None, "Checkpoints, metrics, samples and "
                    "summaries go here; an existing run resumes.")
flags.DEFINE_string("dataset", _DEFAULTS.dataset,
                    "TFDS name (fashion_mnist, mnist, cifar10, celeb_a, "
                    "imagenet_resized/32x32, imagenet_resized/64x64, "
                    "lsun/<category>) or folder:/path/to/images.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS's).")
flags.DEFINE_string("manual_dir", None, "Folder of the dataset's files "
                    "downloaded by hand, read once into --data_dir when the "
                    "dataset is not prepared there: CelebA's release "
                    "(img_align_celeba.zip or img_align_celeba/ and the four "
                    "annotation files, flat or in Img/ Anno/ Eval/), "
                    "downsampled ImageNet's npz zips, LSUN's LMDB zips "
                    "(docs/datasets.md).")
flags.DEFINE_integer("image_size", None, "Side of the square images of "
                     "celeb_a, lsun and folder datasets (default 64, 64, 32).")
flags.DEFINE_enum("folder_crop", None, list(data.FOLDER_CROPS),
                  "Crop of a folder dataset's images before resizing to "
                  "--image_size: square (the central square, the default), "
                  "celeb_a (the paper's CelebA crop, the central 148x148, for "
                  "a folder of CelebA's aligned 178x218 faces), none (the "
                  "whole image).")
flags.DEFINE_integer("train_steps", _DEFAULTS.train_steps, "Training steps.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size,
                     "Global batch size (all replicas together).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate,
                   "Adam's step size (the peak of --lr_schedule).")
flags.DEFINE_integer("warmup_steps", _DEFAULTS.warmup_steps,
                     "Raise the learning rate linearly from 0 over this many "
                     "steps.")
flags.DEFINE_enum("lr_schedule", _DEFAULTS.lr_schedule, list(LR_SCHEDULES),
                  "After the warm-up: constant (the paper's), or cosine "
                  "(decaying to 0 at --train_steps).")
flags.DEFINE_float("ema_decay", _DEFAULTS.ema_decay,
                   "Keep an exponential moving average of the weights with "
                   "this decay (e.g. 0.999; 0: none). Evaluations, samples, "
                   "figures, anomaly scores and exports use the average; the "
                   "optimizer trains the raw weights; checkpoints hold both.")
flags.DEFINE_integer("num_scales", _DEFAULTS.num_scales,
                     "Scales of the multi-scale architecture; the image side "
                     "must be divisible by 2**(num_scales - 1).")
flags.DEFINE_integer("num_blocks", _DEFAULTS.num_blocks,
                     "Residual blocks per scale/shift network.")
flags.DEFINE_integer("num_filters", _DEFAULTS.num_filters,
                     "Feature maps of the first scale (doubling per scale).")
flags.DEFINE_enum("step_type", _DEFAULTS.step_type, list(STEP_TYPES),
                  "What each step of the flow is: real_nvp (the paper's: an "
                  "affine coupling, then batch normalisation) or glow (actnorm "
                  "with data-dependent initialisation, an invertible 1x1 "
                  "convolution, then the affine coupling).")
flags.DEFINE_float("l2_scale", _DEFAULTS.l2_scale,
                   "L2 penalty on the weight-norm scales.")
flags.DEFINE_float("batch_norm_momentum", _DEFAULTS.batch_norm_momentum,
                   "Decay of the running batch-norm averages.")
flags.DEFINE_bool("average_in_training", _DEFAULTS.average_in_training,
                  "Normalise with running averages in training (paper, "
                  "appendix E).")
flags.DEFINE_float("grad_clip_norm", _DEFAULTS.grad_clip_norm,
                   "Clip gradients to this global norm.")
flags.DEFINE_integer("max_nonfinite_steps", _DEFAULTS.max_nonfinite_steps,
                     "Stop after this many consecutive non-finite steps.")
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
flags.DEFINE_bool("synchronized_batch_norm", _DEFAULTS.synchronized_batch_norm,
                  "Batch-norm statistics of the global batch across "
                  "replicas (so any replica count trains the same model).")
flags.DEFINE_bool("recompute_gradients", _DEFAULTS.recompute_gradients,
                  "Recompute each coupling network's activations in the "
                  "backward pass instead of storing them: less memory, more "
                  "compute.")
flags.DEFINE_bool("conditional", _DEFAULTS.conditional,
                  "Train p(x | label): class labels (fashion_mnist, mnist, "
                  "cifar10, imagenet_resized, a folder's sub-folders) or "
                  "celeb_a's 40 attributes. Adds the generative classifier's "
                  "test accuracy to the metrics; sample grids get one row per "
                  "class.")
flags.DEFINE_enum("dequantization", _DEFAULTS.dequantization,
                  list(DEQUANTIZATIONS),
                  "uniform: bits/dim of x + u, u ~ U[0, 1) (the paper's). "
                  "variational: learn the noise density q(u | x) with the "
                  "model (Flow++); bits/dim is then the variational bound "
                  "-log p(x + u) + log q(u | x), an upper bound on the "
                  "discrete model's.")
flags.DEFINE_float("perturbation_rate", _DEFAULTS.perturbation_rate,
                   "Replace each training pixel value by a uniform one with "
                   "this probability (Ren et al. 2019): trains the "
                   "background model of the likelihood-ratio anomaly score "
                   "(python -m tf_realnvp.anomaly --background_workdir=...). "
                   "Evaluation stays on clean test images.")
flags.DEFINE_list("classes", None,
                  "Train and evaluate test bits/dim on the examples of these "
                  "classes only, e.g. 3 or 3,5 (class indices of "
                  "fashion_mnist, mnist, cifar10, imagenet_resized or a "
                  "folder's sub-folders; default: all): one-class anomaly "
                  "detection.")
flags.DEFINE_integer("classify_examples", _DEFAULTS.classify_examples,
                     "Test examples of the classification accuracy of a "
                     "--conditional class model (each costs one flow pass "
                     "per class; 0: none).")
flags.DEFINE_enum("dtype_policy", _DEFAULTS.dtype_policy,
                  list(DTYPE_POLICIES),
                  "Keras dtype policy of the s/t networks. mixed_bfloat16 "
                  "runs their convolutions in bfloat16 (GPUs, TPUs, CPUs with "
                  "AMX); mixed_float16 in float16 with dynamic loss scaling "
                  "(GPUs without fast bfloat16: T4, V100, P100; slow on "
                  "CPUs); weights, coupling arithmetic and log-determinants "
                  "stay float32. Checkpoints are float32 either way, so a run "
                  "can resume under another policy.")
flags.DEFINE_bool("deterministic", False, "tf.config.experimental."
                  "enable_op_determinism(): bit-identical runs and resumes "
                  "on GPUs too (CPU kernels already are; measured cost on 2 "
                  "CPU cores: within noise).")
flags.DEFINE_integer("eval_every", _DEFAULTS.eval_every,
                     "Evaluate test bits/dim every this many steps.")
flags.DEFINE_integer("eval_examples", _DEFAULTS.eval_examples,
                     "Test examples per evaluation (0: the whole split).")
flags.DEFINE_integer("checkpoint_every", _DEFAULTS.checkpoint_every,
                     "Checkpoint every this many steps.")
flags.DEFINE_integer("sample_every", _DEFAULTS.sample_every,
                     "Write sample grids every this many steps.")
flags.DEFINE_integer("num_samples", _DEFAULTS.num_samples,
                     "Images per sample grid.")
flags.DEFINE_float("temperature", _DEFAULTS.temperature,
                   "Temperature of the second sample grid (the first is 1.0).")
flags.DEFINE_integer("log_every", _DEFAULTS.log_every,
                     "Progress and train summaries every this many steps.")
flags.DEFINE_integer("shuffle_buffer", _DEFAULTS.shuffle_buffer,
                     "Training examples shuffled together (one block).")
flags.DEFINE_string("export_dir", None, "After training, export the final "
                    "checkpoint as a SavedModel for TF Serving to "
                    "<export_dir>/<step>/ (see export/README.md), under "
                    "--dtype_policy.")
flags.DEFINE_integer("seed", _DEFAULTS.seed,
                     "Seed of data order, dequantisation, flips and samples.")

FLAGS = flags.FLAGS

flags.mark_flag_as_required("workdir")
for _names, _minimum in config_lib.CONSTRAINTS:  # Those of TrainConfig.
  for _name in _names:
    if _name in FLAGS:
      flags.register_validator(
          _name, lambda v, m=_minimum: config_lib.valid(v, m),
          message=f"--{_name} must be {config_lib.requirement(_minimum)}.")


@flags.validator("dataset")
def _known_dataset(name):
  try:
    data.dataset_spec(name)
  except ValueError as error:
    raise flags.ValidationError(str(error)) from None
  return True


_NOT_CONFIG = ("strategy", "devices", "logical_cpus", "tpu", "strategy_timeout",
               "deterministic", "export_dir")


def _config():
  names = [f.name for f in FLAGS.get_flags_for_module(sys.modules[__name__])]
  values = {n: FLAGS[n].value for n in names if n not in _NOT_CONFIG}
  values["classes"] = _class_indices(values["classes"])
  return training.TrainConfig(**values)


def _class_indices(values):
  """`--classes` (a list of strings, or None) as a tuple of ints."""
  if values is None:
    return None
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise ValueError(f"--classes must be comma-separated class indices, "
                     f"received {','.join(values)!r}.") from None


def _flags_text():
  return "".join(f.serialize() + "\n"
                 for f in FLAGS.get_flags_for_module(sys.modules[__name__])
                 if f.value is not None)


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
    trainer = training.prepare_trainer(_config(), strategy)
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
  print(f"test bits/dim {result['test_bits_per_dim']:.4f} at step "
        f"{result['step']} ({FLAGS.workdir})")
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


if __name__ == "__main__":
  try:
    _argv = flagfiles.resolve_flagfiles(sys.argv, [_CONFIG_DIR])
  except FileNotFoundError as error:
    sys.exit(f"train.py: error: {error}")
  app.run(main, argv=_argv)
