"""Glow's step (Kingma & Dhariwal, NeurIPS 2018, section 3): actnorm, an
invertible 1x1 convolution, then the affine coupling."""

from tf_realnvp.bijectors.channel_affine import ActNormBijector
from tf_realnvp.bijectors.channel_affine import InvertibleConv1x1Bijector
from tf_realnvp.flow.step import Step
from tf_realnvp.layers.actnorm import ActNorm
from tf_realnvp.layers.invertible_conv import InvertibleConv1x1

__all__ = ["GlowStep"]


class GlowStep(Step):
  """Glow's step at a position of Real NVP's multi-scale layout.

  In the data-to-latent direction: actnorm (`tf_realnvp.layers.ActNorm`,
  a per-channel affine map initialised from the first training batch so
  that its output has zero mean and unit variance), an invertible 1x1
  convolution in LU form (`tf_realnvp.layers.InvertibleConv1x1`, a learned
  rotation of the channels that replaces a fixed permutation), then the
  affine coupling with the position's mask (checkerboard or channel-wise,
  as the paper's step; the s/t network is the paper's ResNet). The three
  bijectors are named `<name>_actnorm`, `<name>_conv1x1` and `<name>`.
  There is no batch-norm bijector (`config.coupling_batch_norm` concerns
  `RealNVPStep`s): actnorm takes its place.

  Layers: `network`, `actnorm`, `conv`. Arguments as `Step`.
  """

  def __init__(self, spec, config, **kwargs):
    super().__init__(spec, config, **kwargs)
    self.actnorm = ActNorm(dtype=self.dtype_policy,
                           name=f"{spec.name}_actnorm")
    self.conv = InvertibleConv1x1(dtype=self.dtype_policy,
                                  name=f"{spec.name}_conv1x1")

  def build(self, input_shape=None):
    super().build(input_shape)
    self.actnorm.build((None,) + self.event_shape)
    self.conv.build((None,) + self.event_shape)

  def bijectors(self, training=False, recompute=False):
    return [ActNormBijector(self.actnorm, self.event_shape,
                            name=f"{self.name}_actnorm"),
            InvertibleConv1x1Bijector(self.conv, self.event_shape,
                                      name=f"{self.name}_conv1x1"),
            self.coupling(training, recompute)]

  @property
  def needs_initialization(self):
    return not bool(self.actnorm.initialized.numpy())

  def initialize(self, x):
    """Sets actnorm's bias and scale from `x` (once)."""
    self.actnorm.initialize(x)
