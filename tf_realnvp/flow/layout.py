"""The multi-scale layout of Real NVP (paper, sections 3.6 and 4.1): which
step sits where, on which event shape, with which mask.

A layout is a description only (frozen dataclasses, no variables): the
`tf_realnvp.flow.Scale` and step layers are built from it.
"""

import dataclasses
import math

from tf_realnvp.bijectors.coupling import CHANNEL
from tf_realnvp.bijectors.coupling import CHECKERBOARD
from tf_realnvp.bijectors.coupling import CouplingMask

__all__ = ["CHANNEL_PARITIES", "CHECKERBOARD_PARITIES", "LAST_SCALE_PARITIES",
           "ScaleSpec", "StepSpec", "multiscale_layout"]

CHECKERBOARD_PARITIES = (0, 1, 0)
CHANNEL_PARITIES = (0, 1, 0)
LAST_SCALE_PARITIES = (0, 1, 0, 1)


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """One step of the flow: where it is, its coupling's mask, its width.

  Attributes:
    scale: the index of its scale.
    mask_type: `"checkerboard"` or `"channel"`.
    index: its index among the steps of that mask type in its scale.
    parity: the mask's parity, 0 or 1.
    event_shape: `(h, w, c)` the step acts on.
    num_filters: feature maps of its coupling's s/t network.
  """
  scale: int
  mask_type: str
  index: int
  parity: int
  event_shape: tuple
  num_filters: int

  @property
  def name(self):
    """`scale<i>_<mask type><j>`: the step's layer and coupling bijector."""
    return f"scale{self.scale}_{self.mask_type}{self.index}"

  def mask(self):
    return CouplingMask(self.mask_type, self.parity, self.event_shape)


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
  """One scale: `event_shape` `(h, w, c)` in, its steps in data order.

  Attributes:
    index: the scale's index, 0 the finest.
    event_shape: `(h, w, c)` of its input.
    checkerboard: the `StepSpec`s before the squeeze.
    channel: the `StepSpec`s after the squeeze; empty at the last scale.
  """
  index: int
  event_shape: tuple
  checkerboard: tuple
  channel: tuple

  @property
  def is_last(self):
    return not self.channel

  @property
  def steps(self):
    """Every `StepSpec` of the scale, in data-to-latent order."""
    return self.checkerboard + self.channel

  @property
  def squeezed_shape(self):
    height, width, channels = self.event_shape
    return (height // 2, width // 2, 4 * channels)

  @property
  def latent_shape(self):
    """`(h, w, c)` of the latent piece the scale factors out: half of the
    squeezed channels, or the whole event at the last scale."""
    if self.is_last:
      return tuple(self.event_shape)
    height, width, channels = self.squeezed_shape
    return (height, width, channels // 2)

  @property
  def latent_size(self):
    """`D_i`, the dimensions of the latent piece."""
    return math.prod(self.latent_shape)


def multiscale_layout(image_shape, num_scales, num_filters):
  """The steps of each scale, in the data-to-latent order.

  Scale `i < num_scales - 1` acts on `(H / 2^i, W / 2^i, C 2^i)`: 3 checkerboard
  steps (parities 0, 1, 0), a squeeze, 3 channel-wise steps (parities 0, 1,
  0), then half of the channels are factored out and scale `i + 1` works on
  the other half. The last scale has 4 checkerboard steps. The s/t networks
  of scale `i` have `num_filters * 2^i` feature maps.

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
    filters = int(num_filters) * 2**i
    is_last = i == num_scales - 1

    def steps(mask_type, parities, shape, scale=i, filters=filters):
      return tuple(StepSpec(scale, mask_type, j, parity, shape, filters)
                   for j, parity in enumerate(parities))

    checkerboard = steps(CHECKERBOARD, LAST_SCALE_PARITIES if is_last
                         else CHECKERBOARD_PARITIES, event_shape)
    scale = ScaleSpec(i, event_shape, checkerboard, ())
    if not is_last:
      scale = dataclasses.replace(
          scale, channel=steps(CHANNEL, CHANNEL_PARITIES,
                               scale.squeezed_shape))
      height, width, channels = scale.squeezed_shape
      event_shape = (height, width, channels // 2)
    scales.append(scale)
  return tuple(scales)
