"""`MultiScaleFlow`: the scales of Real NVP as one Keras layer."""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp.flow.scale import Scale
from tf_realnvp.flow.steps import STEP_TYPES

__all__ = ["MultiScaleFlow"]

tfb = tfp.bijectors


class MultiScaleFlow(keras.layers.Layer):
  r"""The learned part of the flow: its scales, each with its steps.

  Built from a `tf_realnvp.ModelConfig` (its `layout()` and `step_type`),
  it owns every layer of every step. Everything that follows the flow's
  structure is a loop over `scales`:

  - `bijectors`: the bijectors in the data-to-latent order, for a
    `tfb.Chain` (`tfb.Chain(list).inverse` maps `[N, H, W, C]` in logit
    space to latents `z` of the same shape);
  - `conditional_kwargs`: TFP's keyword arguments that reach every coupling;
  - `split_latents` / `merge_latents`: `z` and the pieces each scale factors
    out (fine to coarse), exact permutations;
  - `scale_log_likelihoods`: each scale's share of `log p`;
  - `initialize`: data-dependent initialisation (Glow's actnorm).

  **Pieces, fine to coarse.** `pieces[i]` is what scale `i` factored out;
  the last piece is the last scale's whole output. For scale `i`'s event
  `(h, w, c)`, scale `i < L - 1` squeezes to `(h/2, w/2, 4c)` and factors out
  the first half of those channels, `[N, h/2, w/2, 2c]`:

  | piece | shape |
  |---|---|
  | `i < L - 1` | `[N, H / 2^(i+1), W / 2^(i+1), 2^(i+1) C]` |
  | `L - 1` | `[N, H / 2^(L-1), W / 2^(L-1), 2^(L-1) C]` |

  e.g. 28x28x1 with 2 scales: `[N, 14, 14, 2]` twice; 32x32x3 with 3 scales:
  `[N, 16, 16, 6]`, `[N, 8, 8, 12]`, `[N, 8, 8, 12]`. Their sizes add up to
  `H W C`.

  Args:
    config: a `tf_realnvp.ModelConfig`.
    network_dtype: the Keras dtype policy of the s/t networks.
    **kwargs: `keras.layers.Layer` arguments (`dtype`: the flow's, the
      variable dtype).
  """

  def __init__(self, config, network_dtype=None, **kwargs):
    super().__init__(**kwargs)
    self.layout = config.layout()
    step_class = STEP_TYPES[config.step_type]
    condition_dim = config.conditioning.dim if config.conditioning else 0

    def make_step(spec):
      return step_class(spec, config, condition_dim=condition_dim,
                        network_dtype=network_dtype, dtype=self.dtype_policy)

    # A tuple: Keras 3 and tf.train.Checkpoint both track a tuple's layers,
    # while tf.train.Checkpoint silently skips the lists Keras 3 wraps
    # (keras-team/keras#19425).
    self.scales = tuple(Scale(spec, make_step, dtype=self.dtype_policy)
                        for spec in self.layout)

  def build(self, input_shape=None):
    for scale in self.scales:
      scale.build()

  @property
  def steps(self):
    """Every step layer, in data-to-latent order."""
    return [step for scale in self.scales for step in scale.steps]

  @property
  def latent_shapes(self):
    """`(h, w, c)` of each scale's latent piece, fine to coarse."""
    return [scale.spec.latent_shape for scale in self.scales]

  def bijectors(self, training=False, recompute=False):
    """The flow's bijectors in data-to-latent order (scale 0's, with the
    next scales inside its factor-out, recursively).

    Args:
      training: Python bool, batch normalisation with minibatch statistics.
      recompute: Python bool, recompute the s/t networks' activations in
        the backward pass (`tf_realnvp.recompute`).
    """
    def scale_bijectors(i):
      inner = None if self.scales[i].is_last else tfb.Chain(
          scale_bijectors(i + 1), name=self.scales[i + 1].name)
      return self.scales[i].bijectors(inner, training, recompute)

    return scale_bijectors(0)

  def conditional_kwargs(self, condition):
    """TFP's keyword arguments that give every coupling of a chain of
    `bijectors()` the condition vectors `condition` `[..., dim]`:

        {"scale0_checkerboard0": {"conditional_input": c}, ...,
         "scale0_factor_out": {"scale1_checkerboard0": {...}, ...}}

    TFP routes a chain's keyword arguments by its bijectors' names, and a
    factor-out passes its own on to the next scales. Empty for an
    unconditional flow.
    """
    def scale_kwargs(i):
      scale = self.scales[i]
      kwargs = scale.conditional_kwargs(condition)
      if kwargs and not scale.is_last:
        kwargs[scale.factor_out_name()] = scale_kwargs(i + 1)
      return kwargs

    return scale_kwargs(0)

  def split_latents(self, z):
    """The pieces of latents `z` `[N, H, W, C]` each scale factored out,
    fine to coarse (see the class docstring), the entries of `z` permuted.

    Raises:
      ValueError: if `z` is not `[N, H, W, C]` with the flow's image shape.
    """
    z = tf.convert_to_tensor(z)
    _check_shape(z, self.layout[0].event_shape, "split_latents: z")
    pieces = []
    for scale in self.scales:
      piece, z = scale.split(z)
      pieces.append(piece)
    return pieces

  def merge_latents(self, pieces):
    """The latents `[N, H, W, C]` of per-scale `pieces`: inverts
    `split_latents`.

    Raises:
      ValueError: naming the piece whose number, shape, batch size or dtype
        is wrong.
    """
    pieces = [tf.convert_to_tensor(p) for p in pieces]
    shapes = self.latent_shapes
    if len(pieces) != len(shapes):
      raise ValueError(
          f"merge_latents: expected {len(shapes)} pieces (one per scale, fine "
          f"to coarse, of shapes {_describe(shapes)}), received "
          f"{len(pieces)}.")
    for i, (piece, shape) in enumerate(zip(pieces, shapes)):
      _check_shape(piece, shape, f"merge_latents: piece {i}")
      if piece.dtype != pieces[0].dtype:
        raise ValueError(f"merge_latents: piece {i} has dtype "
                         f"{piece.dtype.name}, piece 0 has "
                         f"{pieces[0].dtype.name}.")
      if not piece.shape[:1].is_compatible_with(pieces[0].shape[:1]):
        raise ValueError(f"merge_latents: piece {i} has batch size "
                         f"{piece.shape[0]}, piece 0 has {pieces[0].shape[0]}.")
    z = None
    for scale, piece in zip(reversed(self.scales), reversed(pieces)):
      z = scale.merge(piece, z)
    return z

  def scale_log_likelihoods(self, x, condition=None, training=False):
    r"""Each scale's share of the flow's log-density of `x`, `[N, L]`.

    The flow maps `x` to the latent pieces `z_0, ..., z_{L-1}`. Scale `i`'s
    share is `log N(z_i; 0, I)` plus the log-determinants of scale `i`'s own
    layers (its steps and squeeze), so that by the change of variables

    $$\log p(x) = \sum_i \Big(\log \mathcal N(z_i)
        + \sum_{f \in \mathrm{scale}\ i} \log|\det J_f|\Big).$$

    One pass of the flow.

    Args:
      x: `[N, H, W, C]` on the flow's data side (logit space).
      condition: condition vectors `[N, dim]` of a conditional flow.
      training: Python bool, the batch-normalisation mode.
    """
    shares = []
    for scale in self.scales:
      chain = tfb.Chain(scale.head_bijectors(training))
      kwargs = scale.conditional_kwargs(condition)
      # Inverse first: its log-det then comes from TFP's cache, so each
      # layer runs once, as in `log_prob`.
      y = chain.inverse(x, **kwargs)
      log_det = chain.inverse_log_det_jacobian(x, event_ndims=3, **kwargs)
      piece, x = (y, None) if scale.is_last else tf.split(y, 2, axis=-1)
      shares.append(log_det + _standard_normal_log_prob(piece))
    return tf.stack(shares, axis=-1)

  @property
  def needs_initialization(self):
    """Whether a step still waits for its data-dependent initialisation."""
    return any(step.needs_initialization for step in self.steps)

  def initialize(self, x, condition=None):
    """Initialises every step that depends on data (Glow's actnorm), in the
    data-to-latent order, each from what the steps before it make of `x`.

    Args:
      x: a batch `[N, H, W, C]` on the flow's data side (logit space); eager.
      condition: condition vectors `[N, dim]` of a conditional flow.
    """
    for scale in self.scales:
      x = scale.initialize(x, condition)


def _standard_normal_log_prob(z):
  """`log N(z; 0, I)` summed over the event `[h, w, c]`, `[N]`."""
  return tf.reduce_sum(-0.5 * tf.square(z) - 0.5 * math.log(2.0 * math.pi),
                       axis=[-3, -2, -1])


def _check_shape(x, event_shape, what):
  expected = [None] + list(event_shape)
  if x.shape.rank != 4 or not x.shape.is_compatible_with(expected):
    raise ValueError(f"{what} must have shape {expected} (batch first), "
                     f"received {x.shape}.")


def _describe(shapes):
  return ", ".join(f"[N, {h}, {w}, {c}]" for h, w, c in shapes)
