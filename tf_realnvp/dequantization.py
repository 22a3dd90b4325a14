r"""Variational dequantisation (Ho et al., Flow++, ICML 2019, section 3.1).

A flow on continuous pixels `y in [0, 256)^D` gives 8-bit images `x` the
probability `P(x) = \int_{[0,1)^D} p(x + u) du`. Uniform dequantisation
(the paper's) reports `-log p(x + u)`, `u ~ U[0, 1)^D`; for any density
`q(u | x)` on the unit cube, Jensen's inequality gives the variational bound

    -log P(x) <= E_{u ~ q(. | x)} [ -log p(x + u) + log q(u | x) ],

which is the uniform case for `q = 1`, and which a learned `q` makes
tighter: the flow no longer has to spread its density uniformly over every
bin. Bits/dim is the bound divided by `D ln 2`: an upper bound on the true
`-log2 P(x) / D`, estimated with one sample of `u` per image.

`VariationalDequantizer` is `q(u | x)`: a flow from uniform noise
`e ~ U(0, 1)^D` to `u`, conditioned on `x`,

    u = sigmoid(c_K(... c_1(logit(e); x) ...; x)),
    log q(u | x) = -log|det du/de|     (the uniform density of `e` is 1),

with `c_k` checkerboard affine couplings (`tf_realnvp.bijectors.
AffineCoupling`, alternating parity) whose s/t networks see the image `x`
beside the masked half. It takes uniformly dequantised pixels `y = x + e`
(what the input pipelines deliver) and reuses their noise: `x = floor(y)`,
`e = y - x`. Its couplings start as the identity, so a new dequantizer is
uniform dequantisation exactly.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp import pixels
from tf_realnvp.bijectors.coupling import CHECKERBOARD
from tf_realnvp.bijectors.coupling import AffineCoupling
from tf_realnvp.bijectors.coupling import CouplingMask
from tf_realnvp.flow.step import coupling_network

__all__ = ["DEQUANTIZATIONS", "NOISE_MARGIN", "VariationalDequantizer"]

tfb = tfp.bijectors

DEQUANTIZATIONS = ("uniform", "variational")
# The noise `e` is kept in `[NOISE_MARGIN, 1 - NOISE_MARGIN]`, where its
# logit is finite: float32 pixels near 256 resolve `e` to 2^-16, so
# `y - floor(y)` can be exactly 0.
NOISE_MARGIN = 1e-6


@keras.saving.register_keras_serializable(package="tf_realnvp")
class VariationalDequantizer(keras.layers.Layer):
  """`q(u | x)`: the dequantisation noise of 8-bit images, learned.

  ```python
  dequantizer = VariationalDequantizer((28, 28, 1))
  y_q, log_q = dequantizer(y)   # y = x + e, float32 [N, 28, 28, 1]
  bound = -(flow.log_prob(y_q) - log_q)   # nats, >= -log P(x)
  ```

  Args:
    image_shape: `(H, W, C)`.
    num_couplings: checkerboard couplings, `>= 1`.
    num_filters: feature maps of their s/t networks (`CouplingResNet`).
    num_blocks: residual blocks of the s/t networks, `>= 0`.
    l2_scale, batch_norm_momentum, synchronized_batch_norm: as in
      `tf_realnvp.layers.CouplingResNet`.
    **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`: the policy
      of the s/t networks, as in `RealNVP`).
  """

  def __init__(self, image_shape, num_couplings=4, num_filters=16,
               num_blocks=1, l2_scale=5e-5, batch_norm_momentum=0.95,
               synchronized_batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    if int(num_couplings) != num_couplings or num_couplings < 1:
      raise ValueError(f"num_couplings must be an int >= 1, received "
                       f"{num_couplings!r}.")
    self.image_shape = tuple(int(d) for d in image_shape)
    self.num_couplings = int(num_couplings)
    self.num_filters = int(num_filters)
    self.num_blocks = int(num_blocks)
    self.l2_scale = float(l2_scale)
    self.batch_norm_momentum = float(batch_norm_momentum)
    self.synchronized_batch_norm = bool(synchronized_batch_norm)
    self.masks = tuple(CouplingMask(CHECKERBOARD, k % 2, self.image_shape)
                       for k in range(self.num_couplings))
    # Normalisation with minibatch statistics in training, always.
    self.average_in_training = False
    # A tuple: Keras 3 and tf.train.Checkpoint both track a tuple's layers.
    self.networks = tuple(
        coupling_network(self, mask, self.num_filters,
                         f"coupling{k}_network", dtype=self.dtype_policy)
        for k, mask in enumerate(self.masks))

  def build(self, input_shape=None):
    height, width, channels = self.image_shape
    for mask, network in zip(self.masks, self.networks):
      # The masked half and its mask, then the image.
      network.build((None, height, width,
                     mask.network_input_channels + channels))

  def bijector(self, images, training=False):
    """The map `e -> u` for `images` `x` (float bins `[N, H, W, C]`), in
    TFP's `forward` direction."""
    context = images / (pixels.NUM_BINS / 2) - 1.0  # In [-1, 1).
    couplings = [
        AffineCoupling(_WithContext(network, context), mask,
                       training=training, name=f"dequantizer_coupling{k}")
        for k, (mask, network) in enumerate(zip(self.masks, self.networks))]
    return tfb.Chain([tfb.Sigmoid()] + couplings[::-1] +
                     [tfb.Invert(tfb.Sigmoid())], name="dequantizer")

  def call(self, inputs, training=None):
    """`(x + u, log q(u | x))` of uniformly dequantised pixels.

    Args:
      inputs: float pixels `y = x + e` `[N, H, W, C]` in `[0, 256)`, `e`
        uniform noise.
      training: batch normalisation of the s/t networks with minibatch
        statistics.

    Returns:
      `y_q = x + u` `[N, H, W, C]`, each pixel in its bin `[x, x + 1)`, and
      `log q(u | x)` `[N]` (nats).
    """
    y = tf.convert_to_tensor(inputs)
    images = tf.floor(tf.minimum(y, pixels.MAX_PIXEL))
    noise = tf.clip_by_value(y - images, NOISE_MARGIN, 1.0 - NOISE_MARGIN)
    flow = self.bijector(images, bool(training))
    u = flow.forward(noise)
    log_q = -flow.forward_log_det_jacobian(noise, event_ndims=3)
    return pixels.in_bin(images, u), log_q

  def compute_output_shape(self, input_shape):
    return input_shape, tuple(input_shape[:1])

  def get_config(self):
    config = super().get_config()
    config.update(
        image_shape=self.image_shape,
        num_couplings=self.num_couplings,
        num_filters=self.num_filters,
        num_blocks=self.num_blocks,
        l2_scale=self.l2_scale,
        batch_norm_momentum=self.batch_norm_momentum,
        synchronized_batch_norm=self.synchronized_batch_norm)
    return config


class _WithContext:
  """An s/t network whose input gets the image `context` as extra channels
  (what `AffineCoupling` calls, like the network itself)."""

  def __init__(self, network, context):
    self._network = network
    self._context = context
    self.variable_dtype = network.variable_dtype

  def __call__(self, inputs, condition=None, training=None):
    del condition  # The context is the dequantizer's only condition.
    context = tf.cast(self._context, inputs.dtype)
    return self._network(tf.concat([inputs, context], axis=-1),
                         training=training)
