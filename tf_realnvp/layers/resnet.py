"""The scale and shift network of an affine coupling (paper, section 3.7)."""

import keras
import tensorflow as tf

from tf_realnvp.layers.batch_norm import BatchNormalization
from tf_realnvp.layers.weight_norm import WeightNormConv2D

__all__ = ["CouplingResNet"]


@keras.saving.register_keras_serializable(package="tf_realnvp")
class CouplingResNet(keras.layers.Layer):
  r"""Weight-normalised ResNet computing the log-scale `s` and shift `t`.

  Maps the conditioning input `x_a` `[N, H, W, C_in]` to
  `s, t` `[N, H, W, output_channels]`:

      h = conv3x3(x_a) + b_0(c)                         (num_filters maps)
      for k = 1..num_blocks:
        h = h + conv3x3(relu(bn(conv3x3(relu(bn(h)))))) + b_k(c)
      raw_s, t = split(conv3x3(relu(bn(h))))            (zero-initialised)
      s = scale * tanh(raw_s)

  In a conditional flow (`condition_dim > 0`) the condition vector `c`
  `[N, condition_dim]` (a one-hot label, or attributes) sets a per-channel
  bias `b_k(c) = c W_k` `[N, 1, 1, num_filters]` of the hidden maps at the
  input and after every residual block (`W_k` one zero-initialised
  `keras.layers.Dense` for all `k`, so a new conditional coupling is still the
  identity); unconditional networks have no `b_k` at all. A per-block bias
  lets every stage's features depend on the condition at the cost of one
  matrix product per network, where extra input channels would reach only the
  first convolution.

  Every convolution is weight-normalised (`WeightNormConv2D`) with an L2
  penalty `l2_scale` on its scales; every `bn` is this package's
  `BatchNormalization`. The last convolution starts at exactly zero, so that
  a freshly built coupling is the identity (`s = t = 0`). `scale` is a learned
  per-channel factor (initialised to 1) that bounds `|s| <= |scale|`, which
  keeps the coupling well conditioned early in training.

  Mixed precision: under a policy such as `"mixed_bfloat16"` the
  convolutions, batch norms and ReLUs run in the compute dtype, while `s` and
  `t` are returned in the variable dtype (float32; the `tanh` and `scale`
  too), because the coupling's arithmetic and its log-determinant must stay
  exact enough to invert.

  Args:
    output_channels: channels of `s` and of `t`.
    num_filters: feature maps of the residual blocks, `> 0`.
    num_blocks: residual blocks, `>= 0`.
    l2_scale: L2 penalty coefficient on the weight-norm scales, `>= 0`.
    batch_norm_momentum: momentum of the batch-norm running averages.
    average_in_training: see `BatchNormalization`.
    synchronized_batch_norm: see `BatchNormalization(synchronized=...)`.
    condition_dim: length of the condition vector, `0` for none.
    **kwargs: `keras.layers.Layer` arguments.
  """

  def __init__(self,
               output_channels,
               num_filters,
               num_blocks,
               l2_scale=5e-5,
               batch_norm_momentum=0.95,
               average_in_training=False,
               synchronized_batch_norm=False,
               condition_dim=0,
               **kwargs):
    super().__init__(**kwargs)
    for name, value, low in (("output_channels", output_channels, 1),
                             ("num_filters", num_filters, 1),
                             ("num_blocks", num_blocks, 0),
                             ("condition_dim", condition_dim, 0)):
      if int(value) != value or value < low:
        raise ValueError(f"{name} must be an int >= {low}, received {value!r}.")
    if l2_scale < 0:
      raise ValueError(f"l2_scale must be >= 0, received {l2_scale!r}.")
    self.output_channels = int(output_channels)
    self.num_filters = int(num_filters)
    self.num_blocks = int(num_blocks)
    self.l2_scale = float(l2_scale)
    self.batch_norm_momentum = float(batch_norm_momentum)
    self.average_in_training = bool(average_in_training)
    self.synchronized_batch_norm = bool(synchronized_batch_norm)
    self.condition_dim = int(condition_dim)

    self.input_conv = _conv(self, self.num_filters, "input_conv")
    # A tuple, not a list: see `RealNVP.__init__` on checkpoint tracking.
    self.blocks = tuple(
        _ResidualBlock(self, name=f"block{i}", dtype=self.dtype_policy)
        for i in range(self.num_blocks))
    self.output_norm = _norm(self, "output_norm")
    self.output_conv = _conv(self, 2 * self.output_channels, "output_conv",
                             gain_initializer="zeros")
    self.condition_biases = keras.layers.Dense(
        (self.num_blocks + 1) * self.num_filters, use_bias=False,
        kernel_initializer="zeros", name="condition_biases",
        dtype=self.dtype_policy) if self.condition_dim else None

  def build(self, input_shape):
    hidden_shape = tuple(input_shape[:-1]) + (self.num_filters,)
    self.input_conv.build(input_shape)
    for layer in self.blocks + (self.output_norm, self.output_conv):
      layer.build(hidden_shape)
    if self.condition_biases is not None:
      self.condition_biases.build((None, self.condition_dim))
    self.scale = self.add_weight(
        shape=(self.output_channels,), initializer="ones", name="scale",
        autocast=False)

  def call(self, inputs, condition=None, training=None):
    """Returns `(s, t)`, each `[N, H, W, output_channels]`, variable dtype.

    Args:
      inputs: `[N, H, W, C_in]`.
      condition: `[N, condition_dim]` floats; required exactly when
        `condition_dim > 0`.
      training: Python bool, the batch-normalisation mode.
    """
    training = bool(training)
    biases = self._condition_biases(condition)
    hidden = _add(self.input_conv(inputs), biases, 0)
    for k, block in enumerate(self.blocks, 1):
      hidden = _add(block(hidden, training=training), biases, k)
    outputs = self.output_conv(
        tf.nn.relu(self.output_norm(hidden, training=training)))
    raw_log_scale, shift = tf.split(
        tf.cast(outputs, self.variable_dtype), 2, axis=-1)
    return self.scale * tf.tanh(raw_log_scale), shift

  def _condition_biases(self, condition):
    """`[b_0(c), ..., b_num_blocks(c)]`, each `[N, 1, 1, num_filters]`, or
    `None` for an unconditional network."""
    if (condition is None) != (self.condition_biases is None):
      raise ValueError(
          f"{self.name} has condition_dim={self.condition_dim}: "
          + ("pass a condition [N, condition_dim]." if condition is None
             else "it takes no condition."))
    if condition is None:
      return None
    biases = self.condition_biases(condition)[:, None, None, :]
    return tf.split(biases, self.num_blocks + 1, axis=-1)

  def compute_output_shape(self, input_shape):
    shape = tuple(input_shape[:-1]) + (self.output_channels,)
    return shape, shape

  def get_config(self):
    config = super().get_config()
    config.update(
        output_channels=self.output_channels,
        num_filters=self.num_filters,
        num_blocks=self.num_blocks,
        l2_scale=self.l2_scale,
        batch_norm_momentum=self.batch_norm_momentum,
        average_in_training=self.average_in_training,
        synchronized_batch_norm=self.synchronized_batch_norm,
        condition_dim=self.condition_dim)
    return config


def _add(hidden, biases, k):
  """`hidden + biases[k]`, or `hidden` itself without biases."""
  return hidden if biases is None else hidden + biases[k]


def _conv(net, filters, name, **conv_kwargs):
  """A `WeightNormConv2D` configured like `net` (L2 penalty, dtype)."""
  return WeightNormConv2D(
      filters,
      gain_regularizer=keras.regularizers.L2(net.l2_scale)
      if net.l2_scale else None,
      name=name,
      dtype=net.dtype_policy,
      **conv_kwargs)


def _norm(net, name):
  """A `BatchNormalization` configured like `net`."""
  return BatchNormalization(
      momentum=net.batch_norm_momentum,
      average_in_training=net.average_in_training,
      synchronized=net.synchronized_batch_norm,
      name=name,
      dtype=net.dtype_policy)


class _ResidualBlock(keras.layers.Layer):
  """`h + conv3x3(relu(bn(conv3x3(relu(bn(h))))))`, shape-preserving."""

  def __init__(self, net, **kwargs):
    super().__init__(**kwargs)
    self.norm1 = _norm(net, "norm1")
    self.conv1 = _conv(net, net.num_filters, "conv1")
    self.norm2 = _norm(net, "norm2")
    self.conv2 = _conv(net, net.num_filters, "conv2")

  def build(self, input_shape):
    for layer in (self.norm1, self.conv1, self.norm2, self.conv2):
      layer.build(input_shape)

  def call(self, inputs, training=None):
    residual = self.conv1(tf.nn.relu(self.norm1(inputs, training=training)))
    return inputs + self.conv2(
        tf.nn.relu(self.norm2(residual, training=training)))
