"""Shared checks for bijectors and flows: round trips and log-dets.

Every check defeats TFP's bijector cache by passing results through
`tf.identity` before going back, and every flow under test has its weights
randomised first (`randomize_weights`): a freshly built coupling is the
identity, against which any round trip or log-det test would be vacuous.
"""

import math

import numpy as np
import tensorflow as tf

import tf_realnvp


def randomize_weights(layer, seed=0, scale=0.3):
  """Perturbs every variable of a Keras layer or model, reproducibly.

  Trainable variables get `+ N(0, scale^2)` noise (so the zero-initialised
  output convolutions of the coupling networks become non-zero); running
  means get `N(0, scale^2)` and running variances `exp(N(0, scale^2))`, so
  batch normalisation in evaluation mode is not the identity either.
  """
  rng = np.random.default_rng(seed)
  for variable in layer.trainable_variables:
    value = np.asarray(variable)
    variable.assign(value + scale * rng.standard_normal(value.shape))
  for variable in layer.non_trainable_variables:
    noise = scale * rng.standard_normal(variable.shape)
    if "moving_variance" in variable.path:
      variable.assign(np.exp(noise))
    elif "moving_mean" in variable.path:
      variable.assign(noise)


def assert_round_trips(bijector, x, y, rtol=1e-6, atol=1e-6):
  """`forward(inverse(y)) == y` and `inverse(forward(x)) == x`, uncached."""
  z = tf.identity(bijector.inverse(y))
  np.testing.assert_allclose(bijector.forward(z), y, rtol=rtol, atol=atol)
  y2 = tf.identity(bijector.forward(x))
  np.testing.assert_allclose(bijector.inverse(y2), x, rtol=rtol, atol=atol)


def autodiff_log_det(transform, x):
  """`log|det d transform(x) / dx|` per example, `[N]`, by `batch_jacobian`."""

  @tf.function  # Graph-mode pfor: faster than eager for a whole flow.
  def log_det(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      out = transform(x)
      flat_out = tf.reshape(out, [tf.shape(out)[0], -1])
    jacobian = tape.batch_jacobian(flat_out, x)
    n = int(np.prod(x.shape[1:]))
    return tf.linalg.slogdet(tf.reshape(jacobian, [-1, n, n]))[1]

  return log_det(tf.convert_to_tensor(x))


def assert_log_dets_match_autodiff(bijector, x, y, rtol=1e-6, atol=1e-6):
  """Both log-dets equal `slogdet` of the autodiff Jacobian (use float64)."""
  np.testing.assert_allclose(
      bijector.inverse_log_det_jacobian(tf.identity(y), event_ndims=3),
      autodiff_log_det(bijector.inverse, y), rtol=rtol, atol=atol)
  np.testing.assert_allclose(
      bijector.forward_log_det_jacobian(tf.identity(x), event_ndims=3),
      autodiff_log_det(bijector.forward, x), rtol=rtol, atol=atol)


def assert_all_finite(*tensors):
  for tensor in tensors:
    assert np.all(np.isfinite(tensor)), tensor


def check_flow(bijector, x, y, rtol=1e-6, atol=1e-6):
  """Round trips, autodiff log-dets and finiteness, in both directions.

  Args:
    bijector: the bijector under test, with randomised weights.
    x: latent-side inputs (of `forward`).
    y: data-side inputs (of `inverse`).
  """
  assert_all_finite(bijector.forward(tf.identity(x)),
                    bijector.inverse(tf.identity(y)))
  assert_round_trips(bijector, x, y, rtol=rtol, atol=atol)
  assert_log_dets_match_autodiff(bijector, x, y, rtol=rtol, atol=atol)
  z = bijector.inverse(tf.identity(y))
  if z.shape == y.shape:  # Not the identity: the checks were not vacuous.
    assert not np.allclose(z, y, atol=1e-3)


def tiny_model(seed=0, **overrides):
  """A small float64 `RealNVP` with randomised weights, for exact checks."""
  config = dict(image_shape=(4, 4, 2), num_scales=2, num_blocks=1,
                num_filters=4, dtype="float64")
  config.update(overrides)
  model = tf_realnvp.RealNVP(**config)
  randomize_weights(model, seed)
  return model


def copy_weights(source, target):
  """Assigns each variable of `source` to the same variable of `target`
  (two models of one architecture, e.g. under different dtype policies)."""
  for from_variable, to_variable in zip(source.variables, target.variables):
    to_variable.assign(from_variable)


def coupling_network(mask, seed=0, cls=None, condition_dim=0):
  """A randomised float64 s/t network fitting a `CouplingMask` (taking
  conditions `[N, condition_dim]` if `condition_dim > 0`)."""
  cls = cls or tf_realnvp.layers.CouplingResNet
  network = cls(output_channels=mask.transformed_channels, num_filters=4,
                num_blocks=1, condition_dim=condition_dim, dtype="float64")
  height, width, _ = mask.event_shape
  network.build((None, height, width, mask.network_input_channels))
  randomize_weights(network, seed)
  return network


def standard_normal(shape, seed=0):
  """float64 N(0, 1) samples of `shape`, as a numpy array."""
  return np.random.default_rng(seed).standard_normal(shape)


def uniform_pixels(shape, seed=0, dtype=np.float64):
  """Dequantised-looking pixels in `[0, 256)`, as a numpy array."""
  return np.random.default_rng(seed).uniform(0, 256, shape).astype(dtype)


def base_log_prob(z):
  """Independent standard-normal log-density of `z` `[N, ...]`, summed over
  everything but the first axis: `[N]`."""
  z = np.asarray(z).reshape(len(z), -1)
  return np.sum(-0.5 * z**2 - 0.5 * math.log(2 * math.pi), axis=1)
