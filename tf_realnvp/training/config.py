"""What a training job is: `TrainConfig`, and the model it describes.

`train.py` fills a `TrainConfig` from its flags and registers the same
`CONSTRAINTS` as flag validators, so that a bad flag is refused before anything starts and a bad
`TrainConfig` from Python code is refused the same way.
"""

import dataclasses

from tf_realnvp import data
from tf_realnvp.dequantization import DEQUANTIZATIONS
from tf_realnvp.model import DTYPE_POLICIES
from tf_realnvp.model import RealNVP
from tf_realnvp.optimization.schedules import LR_SCHEDULES

__all__ = ["CONSTRAINTS", "TrainConfig", "build_model", "requirement",
           "valid"]

POSITIVE_INTS = ("train_steps", "batch_size", "num_scales", "num_filters",
                 "eval_every", "checkpoint_every", "sample_every",
                 "num_samples", "log_every", "max_nonfinite_steps",
                 "shuffle_buffer", "max_checkpoints")
NON_NEGATIVE_INTS = ("num_blocks", "eval_examples", "classify_examples",
                     "warmup_steps")
POSITIVE_FLOATS = ("learning_rate", "grad_clip_norm", "temperature")
# (fields, minimum): ints `>= minimum`, or numbers `> 0` for `None`.
CONSTRAINTS = ((POSITIVE_INTS, 1), (NON_NEGATIVE_INTS, 0),
               (POSITIVE_FLOATS, None))


@dataclasses.dataclass
class TrainConfig:
  """Everything a training job needs; `train.py` fills it from flags.

  The learning rate follows `training.schedules.LearningRate` (warm-up over
  `warmup_steps`, then `lr_schedule`, a cosine decaying to 0 at
  `train_steps`). `ema_decay > 0` keeps an exponential moving average of
  the weights (`training.averaging.WeightAverage`) that evaluations,
  samples and exports use.

  `classes` (class indices, `tf_realnvp.data.check_classes`) restricts the
  training stream and the test evaluations to the examples of these classes
  (e.g. one class, for one-class anomaly detection); `None`: all of them.

  `manual_dir` holds a dataset's files downloaded by hand, read when the
  dataset is not prepared in `data_dir` yet (`tf_realnvp.data.prepare`).
  `folder_crop` crops the images of a `folder:` dataset
  (`tf_realnvp.data.FOLDER_CROPS`; `None`: the default, their central
  square).
  """
  workdir: str
  dataset: str = data.DEFAULT_NAME
  data_dir: str = None
  manual_dir: str = None
  image_size: int = None
  folder_crop: str = None
  train_steps: int = 1000
  batch_size: int = 64
  learning_rate: float = 1e-3
  warmup_steps: int = 0
  lr_schedule: str = "constant"
  ema_decay: float = 0.0  # 0: no weight averaging.
  num_scales: int = 2
  num_blocks: int = 4
  num_filters: int = 32
  step_type: str = "real_nvp"
  l2_scale: float = 5e-5
  batch_norm_momentum: float = 0.95
  average_in_training: bool = False
  coupling_batch_norm: bool = True
  synchronized_batch_norm: bool = True
  recompute_gradients: bool = False
  conditional: bool = False
  perturbation_rate: float = 0.0
  dequantization: str = "uniform"
  classes: tuple = None  # None: every class; else train and test on these.
  classify_examples: int = 1000
  dtype_policy: str = "float32"
  grad_clip_norm: float = 100.0
  max_nonfinite_steps: int = 10
  eval_every: int = 500
  eval_examples: int = 0  # 0: the whole test split.
  checkpoint_every: int = 500
  sample_every: int = 500
  num_samples: int = 64
  temperature: float = 0.7
  log_every: int = 10
  seed: int = 0
  shuffle_buffer: int = data.DEFAULT_SHUFFLE_BUFFER
  max_checkpoints: int = 3

  def __post_init__(self):
    for names, minimum in CONSTRAINTS:
      for name in names:
        value = getattr(self, name)
        if not valid(value, minimum):
          raise ValueError(f"{name} must be {requirement(minimum)}, "
                           f"received {value!r}.")
    if not self.workdir:
      raise ValueError("workdir is required.")
    if self.dequantization not in DEQUANTIZATIONS:
      raise ValueError(f"dequantization must be one of {DEQUANTIZATIONS}, "
                       f"received {self.dequantization!r}.")
    if self.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, "
                       f"received {self.lr_schedule!r}.")
    if not 0.0 <= self.ema_decay < 1.0:
      raise ValueError(f"ema_decay must be in [0, 1), received "
                       f"{self.ema_decay!r}.")
    if not 0.0 <= self.perturbation_rate < 1.0:
      raise ValueError(f"perturbation_rate must be in [0, 1), received "
                       f"{self.perturbation_rate!r}.")
    # A ValueError for a folder_crop of another dataset or a bad one.
    data.dataset_spec(self.dataset, folder_crop=self.folder_crop)
    if self.conditional:
      data.condition_spec(self.dataset)  # A ValueError if it has no labels.
    if self.classes is not None:
      self.classes = data.check_classes(self.dataset, self.classes)
    if self.dtype_policy not in DTYPE_POLICIES:
      raise ValueError(
          f"dtype_policy must be one of {DTYPE_POLICIES}, received "
          f"{self.dtype_policy!r}.")


def valid(value, minimum):
  """Whether `value` is an int `>= minimum`, or (`minimum=None`) a number
  `> 0`."""
  if value is None:
    return False
  if minimum is None:
    return value > 0
  return int(value) == value and value >= minimum


def requirement(minimum):
  """How a constraint of `valid` reads in a message."""
  if minimum is None:
    return "positive"
  return "a positive integer" if minimum == 1 else f"an integer >= {minimum}"


def build_model(config, image_shape, condition=None):
  """The `RealNVP` described by `config` for images of `image_shape`.

  Args:
    config: a `TrainConfig`.
    image_shape: `(H, W, C)` of the dataset.
    condition: the dataset's `tf_realnvp.data.ConditionSpec` when
      `config.conditional`, else `None`.
  """
  return RealNVP(
      image_shape,
      num_scales=config.num_scales,
      num_blocks=config.num_blocks,
      num_filters=config.num_filters,
      step_type=config.step_type,
      l2_scale=config.l2_scale,
      batch_norm_momentum=config.batch_norm_momentum,
      average_in_training=config.average_in_training,
      coupling_batch_norm=config.coupling_batch_norm,
      synchronized_batch_norm=config.synchronized_batch_norm,
      recompute_gradients=config.recompute_gradients,
      num_classes=condition and condition.num_classes,
      condition_shape=condition and condition.condition_shape,
      dequantization=config.dequantization,
      dtype=config.dtype_policy)
