"""`TrainConfig`: every setting of a training run, written once.

The dataclass fields are the settings; their metadata holds each one's
help. `train.py`'s flags are generated from them (`define_flags`, the
model's settings from `tf_realnvp.ModelConfig` the same way), validation is
the dataclasses' own, and a workdir keeps its run's config as JSON
(`to_dict`, `workdirs.RUN_CONFIG`), which figures, anomaly detection, the
export and the benchmarks read (`workdirs.read_run_config`).
"""

import dataclasses

from absl import flags

from tf_realnvp import data
from tf_realnvp.model import DTYPE_POLICIES
from tf_realnvp.model import RealNVP
from tf_realnvp.model_config import ModelConfig
from tf_realnvp.model_config import setting
from tf_realnvp.optimization.schedules import LR_SCHEDULES

__all__ = ["TrainConfig", "define_flags", "flag_fields", "from_flag_lines",
           "from_flags"]

POSITIVE_INTS = ("train_steps", "batch_size", "eval_every",
                 "checkpoint_every", "sample_every", "num_samples",
                 "log_every", "max_nonfinite_steps", "shuffle_buffer",
                 "max_checkpoints")
NON_NEGATIVE_INTS = ("eval_examples", "classify_examples",
                     "likelihood_examples", "warmup_steps")
POSITIVE_FLOATS = ("learning_rate", "grad_clip_norm", "temperature")


@dataclasses.dataclass
class TrainConfig:
  """A training run: its data, schedule, evaluations and model settings.

  `model` holds the `ModelConfig` settings; the image shape and, with
  `conditional`, the number of classes or the condition's shape come from
  the dataset (`model_config`).
  """
  workdir: str = setting(None, "Checkpoints, metrics, samples and summaries "
                         "go here; an existing run resumes.")
  dataset: str = setting(
      data.DEFAULT_NAME, "TFDS name (fashion_mnist, mnist, cifar10, celeb_a, "
      "imagenet_resized/32x32, imagenet_resized/64x64, lsun/<category>) or "
      "folder:/path/to/images.")
  data_dir: str = setting(None, "TFDS data directory (default: TFDS's).")
  manual_dir: str = setting(
      None, "Folder of the dataset's files downloaded by hand, read once "
      "into --data_dir when the dataset is not prepared there: CelebA's "
      "release (img_align_celeba.zip or img_align_celeba/ and the four "
      "annotation files, flat or in Img/ Anno/ Eval/), downsampled "
      "ImageNet's npz zips, LSUN's LMDB zips (docs/datasets.md).")
  image_size: int = setting(None, "Side of the square images of celeb_a, "
                            "lsun and folder datasets (default 64, 64, 32).")
  folder_crop: str = setting(
      None, "Crop of a folder dataset's images before resizing to "
      "--image_size: square (the central square, the default), celeb_a (the "
      "paper's CelebA crop, the central 148x148, for a folder of CelebA's "
      "aligned 178x218 faces), none (the whole image).",
      choices=data.FOLDER_CROPS)
  train_steps: int = setting(1000, "Training steps.")
  batch_size: int = setting(64, "Global batch size (all replicas together).")
  learning_rate: float = setting(1e-3, "Adam's step size (the peak of "
                                 "--lr_schedule).")
  warmup_steps: int = setting(0, "Raise the learning rate linearly from 0 "
                              "over this many steps.")
  lr_schedule: str = setting(
      "constant", "After the warm-up: constant (the paper's), or cosine "
      "(decaying to 0 at --train_steps).", choices=LR_SCHEDULES)
  ema_decay: float = setting(
      0.0, "Keep an exponential moving average of the weights with this "
      "decay (e.g. 0.999; 0: none). Evaluations, samples, figures, anomaly "
      "scores and exports use the average; the optimizer trains the raw "
      "weights; checkpoints hold both.")
  grad_clip_norm: float = setting(100.0, "Clip gradients to this global "
                                  "norm.")
  max_nonfinite_steps: int = setting(10, "Stop after this many consecutive "
                                     "non-finite steps.")
  conditional: bool = setting(
      False, "Train p(x | label): class labels (fashion_mnist, mnist, "
      "cifar10, imagenet_resized, a folder's sub-folders) or celeb_a's 40 "
      "attributes. Adds the generative classifier's test accuracy to the "
      "metrics; sample grids get one row per class.")
  perturbation_rate: float = setting(
      0.0, "Replace each training pixel value by a uniform one with this "
      "probability (Ren et al. 2019): trains the background model of the "
      "likelihood-ratio anomaly score (python -m tf_realnvp.anomaly "
      "--background_workdir=...). Evaluation stays on clean test images.")
  classes: tuple = setting(
      None, "Train and evaluate on the examples of these classes only, e.g. "
      "3 or 3,5 (class indices of fashion_mnist, mnist, cifar10, "
      "imagenet_resized or a folder's sub-folders; default: all): one-class "
      "anomaly detection.")
  classify_examples: int = setting(
      1000, "Test examples of the classification accuracy of a "
      "--conditional class model (each costs one flow pass per class and "
      "dequantisation draw; 0: none).")
  likelihood_examples: int = setting(
      1000, "Test examples of the final estimate of the discrete likelihood "
      "-log2 P(x)/D (importance-weighted over tf_realnvp.likelihood's "
      "draws; 0: the whole test split).")
  dtype_policy: str = setting(
      "float32", "Keras dtype policy of the s/t networks. mixed_bfloat16 "
      "runs their convolutions in bfloat16 (GPUs, TPUs, CPUs with AMX); "
      "mixed_float16 in float16 with dynamic loss scaling (GPUs without fast "
      "bfloat16: T4, V100, P100; slow on CPUs); weights, coupling arithmetic "
      "and log-determinants stay float32. Checkpoints are float32 either "
      "way, so a run can resume under another policy.",
      choices=DTYPE_POLICIES)
  eval_every: int = setting(500, "Evaluate test bits/dim every this many "
                            "steps.")
  eval_examples: int = setting(0, "Test examples per evaluation (0: the "
                               "whole split).")
  checkpoint_every: int = setting(500, "Checkpoint every this many steps.")
  max_checkpoints: int = setting(3, "Checkpoints kept (the latest ones).")
  sample_every: int = setting(500, "Write sample grids every this many "
                              "steps.")
  num_samples: int = setting(64, "Images per sample grid.")
  temperature: float = setting(0.7, "Temperature of the second sample grid "
                               "(the first is 1.0).")
  log_every: int = setting(10, "Progress and train summaries every this "
                           "many steps.")
  shuffle_buffer: int = setting(data.DEFAULT_SHUFFLE_BUFFER,
                                "Training examples shuffled together (one "
                                "block).")
  seed: int = setting(0, "Seed of data order, dequantisation, flips and "
                      "samples.")
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)

  def __post_init__(self):
    if isinstance(self.model, dict):
      self.model = ModelConfig(**self.model)
    for names, check in ((POSITIVE_INTS, lambda v: _is_int(v) and v >= 1),
                         (NON_NEGATIVE_INTS, lambda v: _is_int(v) and v >= 0),
                         (POSITIVE_FLOATS, lambda v: v is not None and v > 0)):
      for name in names:
        value = getattr(self, name)
        if not check(value):
          requirement = {POSITIVE_INTS: "a positive integer",
                         NON_NEGATIVE_INTS: "an integer >= 0",
                         POSITIVE_FLOATS: "positive"}[names]
          raise ValueError(f"{name} must be {requirement}, received "
                           f"{value!r}.")
    if not self.workdir:
      raise ValueError("workdir is required.")
    for field in dataclasses.fields(self):
      choices = field.metadata.get("choices")
      value = getattr(self, field.name)
      if choices and value is not None and value not in choices:
        raise ValueError(f"{field.name} must be one of {tuple(choices)}, "
                         f"received {value!r}.")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), received "
                       f"{self.ema_decay!r}.")
    if not 0.0 <= self.perturbation_rate < 1.0:
      raise ValueError(f"perturbation_rate must be in [0, 1), received "
                       f"{self.perturbation_rate!r}.")
    # A ValueError for an unknown dataset, or a folder_crop of another one.
    data.dataset_spec(self.dataset, folder_crop=self.folder_crop)
    if self.conditional:
      data.condition_spec(self.dataset)  # A ValueError if it has no labels.
    if self.classes is not None:
      self.classes = data.check_classes(self.dataset, _class_indices(
          self.classes))

  @classmethod
  def from_settings(cls, **settings):
    """A `TrainConfig` of flat settings, `TrainConfig` and `ModelConfig`
    fields alike (as `train.py`'s flags give them)."""
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model = {k: settings.pop(k) for k in list(settings) if k in model_fields}
    return cls(**settings, model=ModelConfig(**model))

  def model_config(self, image_shape, condition=None):
    """The `ModelConfig` of this run's model for images of `image_shape`
    and, for a conditional run, the dataset's `ConditionSpec`."""
    return dataclasses.replace(
        self.model, image_shape=tuple(image_shape),
        num_classes=condition and condition.num_classes,
        condition_shape=condition and condition.condition_shape)

  def build_model(self, image_shape, condition=None):
    """The `RealNVP` of this run (`model_config`), its s/t networks under
    `dtype_policy`."""
    return RealNVP(**self.model_config(image_shape, condition).to_dict(),
                   dtype=self.dtype_policy)

  def to_dict(self):
    """Every setting, JSON-ready (`model` nested)."""
    values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
              if f.name != "model"}
    if values["classes"] is not None:
      values["classes"] = list(values["classes"])
    return dict(values, model=self.model.to_dict())

  @classmethod
  def from_dict(cls, values):
    """The inverse of `to_dict`."""
    values = dict(values)
    model = values.pop("model", {})
    return cls(**values, model=ModelConfig(**model))


def _is_int(value):
  return (not isinstance(value, bool) and value is not None and
          int(value) == value)


def _class_indices(values):
  """`classes` as a tuple of ints (flags give strings)."""
  try:
    return tuple(int(v) for v in values)
  except (TypeError, ValueError):
    raise ValueError(f"classes must be class indices, e.g. 3 or 3,5, "
                     f"received {values!r}.") from None


# --- Flags -------------------------------------------------------------------


def flag_fields(cls):
  """The fields of `cls` (`TrainConfig` or `ModelConfig`) that are
  `train.py` flags."""
  return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]


def _define(field, flag_values):
  name, default, text = field.name, field.default, field.metadata["help"]
  choices = field.metadata.get("choices")
  if choices:
    flags.DEFINE_enum(name, default, list(choices), text,
                      flag_values=flag_values)
  elif field.type is bool:
    flags.DEFINE_bool(name, default, text, flag_values=flag_values)
  elif field.type is int:
    flags.DEFINE_integer(name, default, text, flag_values=flag_values)
  elif field.type is float:
    flags.DEFINE_float(name, default, text, flag_values=flag_values)
  elif field.type is tuple:
    flags.DEFINE_list(name, default, text, flag_values=flag_values)
  else:
    flags.DEFINE_string(name, default, text, flag_values=flag_values)


def define_flags(flag_values=flags.FLAGS):
  """Defines a flag for every setting of `TrainConfig` and `ModelConfig`
  (names, defaults and help from their fields); returns the names."""
  fields = flag_fields(TrainConfig) + flag_fields(ModelConfig)
  for field in fields:
    _define(field, flag_values)
  return [field.name for field in fields]


def from_flags(flag_values=flags.FLAGS):
  """The `TrainConfig` of the flags `define_flags` defined (parsed)."""
  return TrainConfig.from_settings(**{
      field.name: flag_values[field.name].value
      for field in flag_fields(TrainConfig) + flag_fields(ModelConfig)})


def from_flag_lines(lines, **overrides):
  """The `TrainConfig` of `--name=value` lines (a `flags.txt` or a
  flagfile) and settings `overrides`; lines naming no setting (e.g.
  `--strategy`) are skipped.

  Raises:
    ValueError: a value a setting does not accept.
  """
  flag_values = flags.FlagValues()
  names = set(define_flags(flag_values))
  arguments = []
  for line in lines:
    line = line.strip()
    name = line[2:].split("=", 1)[0] if line.startswith("--") else ""
    if name in names or (name.startswith("no") and name[2:] in names):
      arguments.append(line)
  try:
    flag_values(["run_config"] + arguments)
  except flags.Error as error:
    raise ValueError(str(error)) from None
  settings = {name: flag_values[name].value for name in names}
  settings.update(overrides)
  return TrainConfig.from_settings(**settings)
