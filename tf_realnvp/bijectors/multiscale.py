"""The multi-scale architecture of Real NVP (paper, sections 3.6 and 4.1)."""

import dataclasses

import tensorflow_probability as tfp

from tf_realnvp.bijectors.batch_norm import BatchNorm
from tf_realnvp.bijectors.coupling import AffineCoupling
from tf_realnvp.bijectors.coupling import CHANNEL
from tf_realnvp.bijectors.coupling import CHECKERBOARD
from tf_realnvp.bijectors.coupling import CouplingMask
from tf_realnvp.bijectors.factor_out import FactorOut
from tf_realnvp.bijectors.squeeze import Squeeze

__all__ = ["CHANNEL_PARITIES", "CHECKERBOARD_PARITIES", "CouplingSpec",
           "LAST_SCALE_PARITIES", "ScaleSpec", "couplings",
           "multiscale_bijectors", "multiscale_layout"]

tfb = tfp.bijectors

CHECKERBOARD_PARITIES = (0, 1, 0)
CHANNEL_PARITIES = (0, 1, 0)
LAST_SCALE_PARITIES = (0, 1, 0, 1)


@dataclasses.dataclass(frozen=True)
class CouplingSpec:
  """One affine coupling: its mask, the event it acts on, its network width."""
  mask_type: str
  parity: int
  event_shape: tuple
  num_filters: int

  def mask(self):
    return CouplingMask(self.mask_type, self.parity, self.event_shape)


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
  """One scale: `event_shape` `(h, w, c)` in, its couplings in data order."""
  event_shape: tuple
  checkerboard: tuple
  channel: tuple  # Empty at the last scale.

  @property
  def is_last(self):
    return not self.channel

  @property
  def squeezed_shape(self):
    height, width, channels = self.event_shape
    return (height // 2, width // 2, 4 * channels)


def multiscale_layout(image_shape, num_scales, num_filters):
  """The couplings of each scale, in the data-to-latent order.

  Scale `i < num_scales - 1` acts on `(H / 2^i, W / 2^i, C 2^i)`: 3 checkerboard
  couplings (parities 0, 1, 0), a squeeze, 3 channel-wise couplings (parities
  0, 1, 0), then half of the channels are factored out and scale `i + 1`
  works on the other half. The last scale has 4 checkerboard couplings. The
  s/t networks of scale `i` have `num_filters * 2^i` feature maps.

  Args:
    image_shape: `(H, W, C)`, `H` and `W` divisible by `2 ** (num_scales - 1)`.
    num_scales: int `>= 1`.
    num_filters: int `>= 1`, the width of the first scale's networks.

  Returns:
    A tuple of `num_scales` `ScaleSpec`s.

  Raises:
    ValueError: naming the shape and the scale count when they do not fit.
  """
  image_shape = tuple(image_shape)
  if len(image_shape) != 3 or any(
      int(d) != d or d <= 0 for d in image_shape):
    raise ValueError("image_shape must be three positive ints (H, W, C), "
                     f"received {image_shape!r}.")
  if int(num_scales) != num_scales or num_scales < 1:
    raise ValueError(f"num_scales must be an int >= 1, received {num_scales!r}.")
  if int(num_filters) != num_filters or num_filters < 1:
    raise ValueError(
        f"num_filters must be an int >= 1, received {num_filters!r}.")
  factor = 2**(num_scales - 1)
  if image_shape[0] % factor or image_shape[1] % factor:
    raise ValueError(
        f"image_shape {image_shape} does not fit num_scales={num_scales}: "
        f"height and width must be divisible by 2**(num_scales - 1) = {factor}.")
  scales = []
  event_shape = tuple(int(d) for d in image_shape)
  for i in range(num_scales):
    filters = num_filters * 2**i
    is_last = i == num_scales - 1
    checkerboard = tuple(
        CouplingSpec(CHECKERBOARD, p, event_shape, filters)
        for p in (LAST_SCALE_PARITIES if is_last else CHECKERBOARD_PARITIES))
    scale = ScaleSpec(event_shape, checkerboard, ())
    if not is_last:
      scale = ScaleSpec(
          event_shape, checkerboard,
          tuple(CouplingSpec(CHANNEL, p, scale.squeezed_shape, filters)
                for p in CHANNEL_PARITIES))
      height, width, channels = scale.squeezed_shape
      event_shape = (height, width, channels // 2)
    scales.append(scale)
  return tuple(scales)


def couplings(layout):
  """All `CouplingSpec`s of a layout, in data-to-latent order."""
  return [c for scale in layout for c in scale.checkerboard + scale.channel]


def multiscale_bijectors(layout, networks, norms, squeezes, training,
                         recompute=False):
  """The bijectors of the multi-scale flow, in data-to-latent order.

  Returns a list `steps` such that `tfb.Chain(steps).inverse` maps images in
  logit space `[N, H, W, C]` to latents of the same shape (`tfb.Chain` applies
  the inverse of its first element first), and `forward` maps latents back.
  The latent is laid out like the image: each scale's factored-out half and
  the rest are put back in place by un-squeezing, so `z` has shape
  `[N, H, W, C]`.

  Args:
    layout: the output of `multiscale_layout`.
    networks: one s/t network layer per coupling of `couplings(layout)`.
    norms: one `BatchNormalization` layer (or `None`, for none) per coupling,
      normalising that coupling's output.
    squeezes: one `tf_realnvp.layers.Squeeze` per scale but the last.
    training: Python bool, the batch-normalisation mode.
    recompute: Python bool, recompute the s/t networks' activations in the
      backward pass (`tf_realnvp.recompute`).
  """
  layers = iter(zip(couplings(layout), networks, norms))

  def coupling_steps(count, scale_index, kind):
    steps = []
    for j in range(count):
      spec, network, norm = next(layers)
      steps.append(AffineCoupling(
          network, spec.mask(), training=training, recompute=recompute,
          name=f"scale{scale_index}_{kind}{j}"))
      if norm is not None:
        steps.append(BatchNorm(norm, spec.event_shape, training=training,
                               name=f"scale{scale_index}_{kind}{j}_norm"))
    return steps

  def scale_steps(i):
    scale = layout[i]
    steps = coupling_steps(len(scale.checkerboard), i, CHECKERBOARD)
    if scale.is_last:
      return steps
    squeeze = Squeeze(squeezes[i], scale.event_shape, name=f"scale{i}_squeeze")
    steps.append(tfb.Invert(squeeze))
    steps += coupling_steps(len(scale.channel), i, CHANNEL)
    steps.append(FactorOut(tfb.Chain(scale_steps(i + 1), name=f"scale{i + 1}"),
                           scale.squeezed_shape, name=f"scale{i}_factor_out"))
    steps.append(squeeze)
    return steps

  return scale_steps(0)

