"""`Step`: the base of the flow's steps, and the s/t network they share."""

import keras

from tf_realnvp.bijectors.coupling import AffineCoupling
from tf_realnvp.bijectors.one_pass import CONDITIONAL_INPUT
from tf_realnvp.layers.resnet import CouplingResNet

__all__ = ["Step", "coupling_network"]


def coupling_network(config, mask, num_filters, name, **overrides):
  """The s/t network (`CouplingResNet`) of a coupling with `mask`; not built.

  Args:
    config: its settings: a `tf_realnvp.ModelConfig`, or anything with its
      `num_blocks`, `l2_scale`, `batch_norm_momentum`, `average_in_training`
      and `synchronized_batch_norm` (the `VariationalDequantizer`).
    mask: the coupling's `CouplingMask`.
    num_filters: the network's feature maps.
    name: the layer's name.
    **overrides: other `CouplingResNet` arguments (`dtype`,
      `condition_dim`).
  """
  settings = dict(
      output_channels=mask.transformed_channels,
      num_filters=num_filters,
      num_blocks=config.num_blocks,
      l2_scale=config.l2_scale,
      batch_norm_momentum=config.batch_norm_momentum,
      average_in_training=config.average_in_training,
      synchronized_batch_norm=config.synchronized_batch_norm,
      name=name)
  settings.update(overrides)
  return CouplingResNet(**settings)


class Step(keras.layers.Layer):
  """One step of the flow: every layer at one position of the layout.

  A step owns its affine coupling's s/t network (`network`, a
  `CouplingResNet`) and whatever else its kind holds, so its variables are
  tracked (and checkpointed) under it. It gives the flow its bijectors, in
  the data-to-latent order, for a mode (`bijectors`), routes a condition
  to its coupling (`conditional_kwargs`) and, for kinds that need it,
  initialises itself from data (`initialize`). Subclasses implement
  `bijectors` and may add layers (built in `build`) and `initialize`.

  The step's layer name, its coupling bijector's name and the name its
  condition is routed by are `spec.name` (`scale<i>_<mask type><j>`).

  Args:
    spec: its `tf_realnvp.flow.StepSpec` (mask, event shape, width).
    config: the model's `tf_realnvp.ModelConfig`.
    condition_dim: length of the condition vectors, 0 for none.
    network_dtype: the Keras dtype policy of the s/t network (the step's
      own layers compute in the step's `dtype`, the flow's).
    **kwargs: `keras.layers.Layer` arguments (`dtype`).
  """

  def __init__(self, spec, config, condition_dim=0, network_dtype=None,
               **kwargs):
    super().__init__(name=spec.name, **kwargs)
    self.spec = spec
    self.mask = spec.mask()
    self.conditional = bool(condition_dim)
    self.network = coupling_network(
        config, self.mask, spec.num_filters, f"{spec.name}_network",
        condition_dim=condition_dim, dtype=network_dtype)

  @property
  def event_shape(self):
    """`(h, w, c)` the step acts on."""
    return self.spec.event_shape

  def build(self, input_shape=None):
    """Builds the s/t network; subclasses build their own layers too."""
    height, width, _ = self.event_shape
    self.network.build((None, height, width,
                        self.mask.network_input_channels))

  def coupling(self, training, recompute):
    """The step's `AffineCoupling` bijector, named `spec.name`."""
    return AffineCoupling(self.network, self.mask, training=training,
                          recompute=recompute, name=self.name)

  def bijectors(self, training=False, recompute=False):
    """The step as a list of bijectors in the data-to-latent order
    (`tfb.Chain(list).inverse` applies the first one first), each on
    events `event_shape`, built anew around the step's layers.

    Args:
      training: Python bool, batch normalisation with minibatch statistics
        (never the direction of the flow).
      recompute: Python bool, recompute the s/t network's activations in
        the backward pass (`tf_realnvp.recompute`).
    """
    raise NotImplementedError

  def conditional_kwargs(self, condition):
    """TFP's keyword arguments of a chain of `bijectors()` that give the
    coupling `condition` (`{}` for an unconditional step)."""
    if not self.conditional:
      return {}
    return {self.name: {CONDITIONAL_INPUT: condition}}

  @property
  def needs_initialization(self):
    """Whether `initialize` has something left to do (a Python bool)."""
    return False

  def initialize(self, x):
    """Data-dependent initialisation from the step's input `x`
    `[N, h, w, c]` (data side); nothing for steps without it."""
    del x
