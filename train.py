"""Trains Real NVP: `python train.py --flagfile=celeba.flags --workdir=...`.

Flagfiles live in `configs/` (one per dataset, the paper's hyperparameters);
`--flagfile=NAME` finds `configs/NAME` too. Flags given after the flagfile
override it. The resolved flags are written to `<workdir>/flags.txt`; an
interrupted run resumes from its last checkpoint when started again with the
same `--workdir`.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

from tf_realnvp import data
from tf_realnvp import flagfiles
from tf_realnvp import training

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
flags.DEFINE_integer("image_size", None, "Side of the square images of "
                     "celeb_a, lsun and folder datasets (default 64, 64, 32).")
flags.DEFINE_integer("train_steps", _DEFAULTS.train_steps, "Training steps.")
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size,
                     "Global batch size (all replicas together).")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Adam's step size.")
flags.DEFINE_integer("num_scales", _DEFAULTS.num_scales,
                     "Scales of the multi-scale architecture; the image side "
                     "must be divisible by 2**(num_scales - 1).")
flags.DEFINE_integer("num_blocks", _DEFAULTS.num_blocks,
                     "Residual blocks per scale/shift network.")
flags.DEFINE_integer("num_filters", _DEFAULTS.num_filters,
                     "Feature maps of the first scale (doubling per scale).")
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
flags.DEFINE_enum("strategy", "default", ["default"],
                  "tf.distribute strategy: default (one device).")
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
flags.DEFINE_integer("seed", _DEFAULTS.seed,
                     "Seed of data order, dequantisation, flips and samples.")

FLAGS = flags.FLAGS

flags.mark_flag_as_required("workdir")
for _name in ("train_steps", "batch_size", "num_scales", "num_filters",
              "eval_every", "checkpoint_every", "sample_every", "num_samples",
              "log_every", "max_nonfinite_steps", "shuffle_buffer"):
  flags.register_validator(_name, lambda v: v is not None and v > 0,
                           message=f"--{_name} must be a positive integer.")
for _name in ("num_blocks", "eval_examples"):
  flags.register_validator(_name, lambda v: v is not None and v >= 0,
                           message=f"--{_name} must be >= 0.")
for _name in ("learning_rate", "grad_clip_norm", "temperature"):
  flags.register_validator(_name, lambda v: v is not None and v > 0,
                           message=f"--{_name} must be positive.")


@flags.validator("dataset")
def _known_dataset(name):
  try:
    data.dataset_spec(name)
  except ValueError as error:
    raise flags.ValidationError(str(error)) from None
  return True


def _config():
  names = [f.name for f in FLAGS.get_flags_for_module(sys.modules[__name__])]
  values = {n: FLAGS[n].value for n in names if n != "strategy"}
  return training.TrainConfig(**values)


def _flags_text():
  return "".join(f.serialize() + "\n"
                 for f in FLAGS.get_flags_for_module(sys.modules[__name__])
                 if f.value is not None)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:  # TFDS logs every dataset it opens.
    logging.set_verbosity(logging.WARNING)
  try:
    trainer = training.prepare_trainer(_config())
    training.write_text(os.path.join(FLAGS.workdir, "flags.txt"), _flags_text())
    result = training.run(trainer)
  except (ValueError, training.TrainingError,
          data.DatasetUnavailableError) as error:
    sys.stderr.write(f"train.py: error: {error}\n")
    return 1
  print(f"test bits/dim {result['test_bits_per_dim']:.4f} at step "
        f"{result['step']} ({FLAGS.workdir})")
  return 0


if __name__ == "__main__":
  try:
    _argv = flagfiles.resolve_flagfiles(sys.argv, [_CONFIG_DIR])
  except FileNotFoundError as error:
    sys.exit(f"train.py: error: {error}")
  app.run(main, argv=_argv)
