"""The paper's step: an affine coupling, then batch normalisation."""

from tf_realnvp.bijectors.batch_norm import BatchNorm
from tf_realnvp.flow.step import Step
from tf_realnvp.layers.batch_norm import BatchNormalization

__all__ = ["RealNVPStep"]


class RealNVPStep(Step):
  """Real NVP's step (paper, sections 3.3-3.7): in the data-to-latent
  direction, an affine coupling (`tf_realnvp.bijectors.AffineCoupling`),
  then, with `config.coupling_batch_norm`, the batch normalisation of its
  output as a bijector (`tf_realnvp.bijectors.BatchNorm`, named
  `<name>_norm`) with running averages.

  Layers: `network` (the s/t ResNet) and `norm` (a
  `tf_realnvp.layers.BatchNormalization`, or `None`). Arguments as `Step`.
  """

  def __init__(self, spec, config, **kwargs):
    super().__init__(spec, config, **kwargs)
    self.norm = BatchNormalization(
        momentum=config.batch_norm_momentum,
        average_in_training=config.average_in_training,
        synchronized=config.synchronized_batch_norm,
        dtype=self.dtype_policy,
        name=f"{spec.name}_norm") if config.coupling_batch_norm else None

  def build(self, input_shape=None):
    super().build(input_shape)
    if self.norm is not None:
      self.norm.build((None,) + self.event_shape)

  def bijectors(self, training=False, recompute=False):
    steps = [self.coupling(training, recompute)]
    if self.norm is not None:
      steps.append(BatchNorm(self.norm, self.event_shape, training=training,
                             name=f"{self.name}_norm"))
    return steps
