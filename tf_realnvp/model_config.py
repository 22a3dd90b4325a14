"""`ModelConfig`: every setting of a `RealNVP`, written once.

The fields are the model's constructor arguments (`RealNVP(image_shape,
**fields)`), what `RealNVP.get_config()` returns, what a training workdir's
`model_config.json` records of the architecture (`architecture`), and the
model flags of `train.py` (their help is each field's `help`). Validation
lives here too: a bad value is a `ValueError` naming it, whichever of those
routes it came by.
"""

import dataclasses

from tf_realnvp import checks
from tf_realnvp import conditions
from tf_realnvp.bijectors.preprocessing import PixelLogit
from tf_realnvp.dequantization import DEQUANTIZATIONS
from tf_realnvp.flow.layout import multiscale_layout
from tf_realnvp.flow.steps import STEP_TYPES

__all__ = ["ModelConfig", "setting"]


def setting(default, help_text, architecture=None, choices=None, flag=True):
  """A dataclass field with its help (`train.py --helpfull` shows it), its
  allowed values, whether it is a flag, and how the architecture check of a
  workdir treats it: `"always"` recorded, `"optional"` recorded only when it
  differs from the default (so that the `model_config.json` of models that
  do not use it stays as it was before it existed), `None` not part of the
  architecture (a checkpoint's variables do not depend on it)."""
  return dataclasses.field(default=default, metadata=dict(
      help=help_text, architecture=architecture, choices=choices, flag=flag))


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The settings of a `RealNVP`; see the field helps.

  `image_shape` may be `None` in the settings of a training run
  (`tf_realnvp.run_config.TrainConfig.model`), whose dataset gives it; a
  model needs it. `H` and `W` must be divisible by `2 ** (num_scales - 1)`.
  """
  image_shape: tuple = setting(None, "(H, W, C) of the images.", "always",
                               flag=False)
  num_scales: int = setting(
      2, "Scales of the multi-scale architecture; the image side must be "
      "divisible by 2**(num_scales - 1).", "always")
  num_blocks: int = setting(4, "Residual blocks per scale/shift network.",
                           "always")
  num_filters: int = setting(
      32, "Feature maps of the first scale's s/t networks (doubling per "
      "scale).", "always")
  step_type: str = setting(
      "real_nvp", "What each step of the flow is: real_nvp (the paper's: an "
      "affine coupling, then batch normalisation) or glow (Kingma & "
      "Dhariwal 2018: actnorm with data-dependent initialisation, an "
      "invertible 1x1 convolution, then the affine coupling).", "optional",
      tuple(STEP_TYPES))
  alpha: float = setting(
      0.05, "Margin of the logit preprocessing, in (0, 0.5).", "always")
  l2_scale: float = setting(5e-5, "L2 penalty on the weight-norm scales.")
  batch_norm_momentum: float = setting(
      0.95, "Decay of the running batch-norm averages, in [0, 1).")
  average_in_training: bool = setting(
      False, "Normalise with running averages in training (paper, "
      "appendix E).")
  coupling_batch_norm: bool = setting(
      True, "A batch-norm bijector after every coupling (real_nvp steps).",
      "always")
  synchronized_batch_norm: bool = setting(
      True, "Batch-norm statistics of the global batch across replicas (so "
      "any replica count trains the same model).")
  recompute_gradients: bool = setting(
      False, "Recompute each coupling network's activations in the backward "
      "pass instead of storing them: less memory, more compute.")
  num_classes: int = setting(
      None, "K >= 2 for a class-conditional flow.", "optional", flag=False)
  condition_shape: tuple = setting(
      None, "(A,) for a flow conditioned on vectors of length A.", "optional",
      flag=False)
  dequantization: str = setting(
      "uniform", "uniform: bits/dim of x + u, u ~ U[0, 1) (the paper's). "
      "variational: learn the noise density q(u | x) with the model "
      "(Flow++); bits/dim is then the variational bound -log p(x + u) + "
      "log q(u | x), an upper bound on the discrete model's.", "optional",
      DEQUANTIZATIONS)

  def __post_init__(self):
    checks.check_int(1, num_scales=self.num_scales,
                     num_filters=self.num_filters)
    checks.check_int(0, num_blocks=self.num_blocks)
    for field in dataclasses.fields(self):
      choices = field.metadata["choices"]
      if choices and getattr(self, field.name) not in choices:
        raise ValueError(f"{field.name} must be one of {choices}, received "
                         f"{getattr(self, field.name)!r}.")
    PixelLogit(self.alpha)  # Validates alpha.
    if self.l2_scale < 0:
      raise ValueError(f"l2_scale must be >= 0, received {self.l2_scale!r}.")
    if not 0.0 <= self.batch_norm_momentum < 1.0:
      raise ValueError("batch_norm_momentum must be in [0, 1), received "
                       f"{self.batch_norm_momentum!r}.")
    if self.recompute_gradients and self.average_in_training:
      raise ValueError("recompute_gradients cannot be combined with "
                       "average_in_training (the recomputation would read "
                       "the running averages after their update).")
    conditioning = self.conditioning  # Validates the condition's kind.
    if self.image_shape is not None:
      self.layout()  # Validates the shape against the scales.
    normal = dict(
        image_shape=None if self.image_shape is None else tuple(
            int(d) for d in self.image_shape),
        num_scales=int(self.num_scales), num_blocks=int(self.num_blocks),
        num_filters=int(self.num_filters), alpha=float(self.alpha),
        l2_scale=float(self.l2_scale),
        batch_norm_momentum=float(self.batch_norm_momentum),
        average_in_training=bool(self.average_in_training),
        coupling_batch_norm=bool(self.coupling_batch_norm),
        synchronized_batch_norm=bool(self.synchronized_batch_norm),
        recompute_gradients=bool(self.recompute_gradients),
        num_classes=conditioning and conditioning.num_classes,
        condition_shape=conditioning and conditioning.condition_shape)
    for name, value in normal.items():
      object.__setattr__(self, name, value)

  @property
  def conditioning(self):
    """The `tf_realnvp.conditions.Conditioning` of a conditional model, else
    `None`."""
    if self.num_classes is None and self.condition_shape is None:
      return None
    return conditions.Conditioning(self.num_classes, self.condition_shape)

  def layout(self):
    """The `ScaleSpec`s of the flow (`tf_realnvp.flow.multiscale_layout`)."""
    return multiscale_layout(self.image_shape, self.num_scales,
                             self.num_filters)

  def to_dict(self):
    """Every field, JSON-ready (tuples as lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(self).items()}

  def architecture(self):
    """The fields that give a checkpoint's variables their meaning: those
    always recorded, and the optional ones that are not at their defaults;
    JSON-ready. A workdir refuses to resume with another architecture."""
    values = self.to_dict()
    return {field.name: values[field.name]
            for field in dataclasses.fields(self)
            if field.metadata["architecture"] == "always" or (
                field.metadata["architecture"] == "optional" and
                getattr(self, field.name) != field.default)}

  @classmethod
  def architecture_default(cls, name):
    """The default of a field the architecture may leave out."""
    return cls.__dataclass_fields__[name].default
