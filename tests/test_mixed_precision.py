"""Mixed precision: bfloat16 s/t networks inside a float32 flow.

Under `dtype="mixed_bfloat16"` only the coupling networks' convolutions,
batch norms and ReLUs may run in bfloat16; the flow must stay an exact
float32 bijection with a float32 log-determinant. Each test compares against
the same weights in float32 or against an independent computation.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_realnvp
from tf_realnvp import export
from tf_realnvp.training import loop
from tests import export_helpers
from tests import flow_checks
from tests import training_helpers

import train  # noqa: E402

MIXED = "mixed_bfloat16"
SHAPE = (4, 4, 2)
# One bfloat16 ulp relative to 1 (7 stored significand bits): the networks'
# rounding error, carried through the flow, stays within this relative bound;
# CPUs with and without native bfloat16 round differently below it.
BFLOAT16_EPS = 2.0**-7


def _models(**overrides):
  """`(float32 model, mixed model)` sharing randomised weights."""
  models = [flow_checks.tiny_model(seed=5, image_shape=SHAPE, dtype=dtype,
                                   **overrides)
            for dtype in ("float32", MIXED)]
  flow_checks.copy_weights(*models)
  return models


@pytest.fixture(scope="module")
def models():
  return _models()


def _pixels(n=4, seed=0):
  return flow_checks.uniform_pixels((n,) + SHAPE, seed, dtype=np.float32)


def _conv_dtypes(fn, *args):
  """The dtypes of the Conv2D ops in the graph of `fn(*args)`."""
  graph = tf.function(fn).get_concrete_function(*args).graph
  return {op.get_attr("T") for op in graph.get_operations()
          if op.type == "Conv2D"}


def test_networks_compute_in_bfloat16_and_the_flow_in_float32(models):
  mixed = models[1]
  assert mixed.dtype_policy.name == "float32"
  assert mixed.network_dtype_policy.name == MIXED
  assert {s.network.compute_dtype for s in mixed.flow.steps} == {"bfloat16"}
  assert {v.dtype for v in mixed.variables} == {"float32"}
  y = tf.constant(_pixels())
  assert _conv_dtypes(mixed.log_prob, y) == {tf.bfloat16}
  assert _conv_dtypes(models[0].log_prob, y) == {tf.float32}
  for result in (mixed.log_prob(y), mixed.encode(y), mixed.sample(2, seed=1)):
    assert result.dtype == tf.float32


@pytest.mark.parametrize("training_mode", [False, True])
def test_log_prob_is_close_to_float32_but_not_equal(models, training_mode):
  y = _pixels()
  full, mixed = (m.log_prob(y, training=training_mode) for m in models)
  # bfloat16 keeps 8 significant bits: visibly different, still close.
  assert not np.allclose(full, mixed, rtol=1e-6, atol=0)
  np.testing.assert_allclose(mixed, full, rtol=BFLOAT16_EPS)


def test_unfused_batch_norm_keeps_float32_statistics():
  # Appendix E's running-average normalisation cannot use TF's fused kernel:
  # the layer's own path must also take its moments in float32.
  full, mixed = _models(average_in_training=True)
  y = _pixels(n=8)
  np.testing.assert_allclose(mixed.log_prob(y, training=True),
                             full.log_prob(y, training=True),
                             rtol=BFLOAT16_EPS)
  for source, target in zip(full.non_trainable_variables,
                            mixed.non_trainable_variables):
    np.testing.assert_allclose(target, source, rtol=1e-2, atol=1e-3)


def test_log_prob_is_change_of_variables_of_encode(models):
  # In graph mode, like the autodiff Jacobian: bfloat16 results depend on
  # which kernels grappler fuses (eager and graph differ by ~1e-3 relative).
  mixed = models[1]
  y = tf.constant(_pixels(seed=1))
  z = tf.function(mixed.encode)(y)
  base = -0.5 * tf.reduce_sum(tf.reshape(z, [len(z), -1])**2, axis=1) - (
      0.5 * np.log(2 * np.pi) * mixed.num_dims)
  expected = base + flow_checks.autodiff_log_det(mixed.encode, y)
  np.testing.assert_allclose(tf.function(mixed.log_prob)(y), expected,
                             rtol=1e-5)


@pytest.mark.parametrize("compile_fn", [lambda f: f, tf.function],
                         ids=["eager", "graph"])
def test_decode_inverts_encode_to_float32_precision(models, compile_fn):
  # Both directions see the same conditioning halves, so the same bfloat16
  # s and t: as exact as float32 (whose error here is 1.4e-4 pixel units).
  mixed = models[1]
  y = _pixels(seed=2)
  z = tf.identity(compile_fn(mixed.encode)(y))
  assert not np.allclose(z, models[0].encode(y), atol=1e-5)
  np.testing.assert_allclose(compile_fn(mixed.decode)(z), y, atol=5e-4)


def test_training_step_gradients_match_float32(models):
  y = tf.constant(_pixels(n=8, seed=3))
  grads = []
  for model in _models():  # Fresh: training mode moves running averages.
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(model.log_prob(y, training=True))
    grads.append(tape.gradient(loss, model.trainable_variables))
  flat = [tf.concat([tf.reshape(g, [-1]) for g in gs], 0) for gs in grads]
  cosine = tf.reduce_sum(flat[0] * flat[1]) / (
      tf.norm(flat[0]) * tf.norm(flat[1]))
  assert float(cosine) > 0.995  # Measured: 0.9987.
  assert all(g.dtype == tf.float32 for g in grads[1])


def test_policy_survives_get_config_and_follows_the_global_policy():
  model = tf_realnvp.RealNVP(SHAPE, num_blocks=0, num_filters=2, dtype=MIXED)
  rebuilt = tf_realnvp.RealNVP.from_config(model.get_config())
  assert rebuilt.network_dtype_policy.name == MIXED
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(MIXED)
  try:
    model = tf_realnvp.RealNVP(SHAPE, num_blocks=0, num_filters=2)
  finally:
    keras.config.set_dtype_policy(previous)
  assert model.network_dtype_policy.name == MIXED
  assert model.dtype_policy.name == "float32"


def test_export_of_a_mixed_model_serves_its_log_prob(models, tmp_path):
  mixed = models[1]
  path = export.export_saved_model(mixed, str(tmp_path), 1)
  assert export_helpers.saved_conv_dtypes(path) == {tf.bfloat16}
  images = np.random.default_rng(4).integers(0, 256, (3,) + SHAPE, np.uint8)
  served = tf.saved_model.load(path).signatures["log_prob"](
      images=tf.constant(images))
  in_process = tf.function(mixed.log_prob)(images.astype(np.float32) + 0.5)
  # Another graph, other bfloat16 kernel fusions: close, not bit-equal.
  np.testing.assert_allclose(served["log_prob"], in_process, rtol=1e-3)


def test_bfloat16_run_resumes_and_exports_in_either_policy(tmp_path,
                                                           fashion_dir):
  config = training_helpers.tiny_config(tmp_path, fashion_dir, train_steps=3,
                                        dtype_policy=MIXED)
  trainer = loop.prepare_trainer(config)
  batch = tf.constant(flow_checks.uniform_pixels((16, 28, 28, 1),
                                                 dtype=np.float32))
  for _ in range(3):
    trainer.train_step(batch)
  trainer.manager.save(checkpoint_number=3)
  saved = training_helpers.variable_values(trainer.model)
  resumed = loop.prepare_trainer(
      training_helpers.tiny_config(tmp_path, fashion_dir))
  assert resumed.start_step == 3
  assert resumed.model.network_dtype_policy.name == "float32"
  for name, value in training_helpers.variable_values(resumed.model).items():
    np.testing.assert_array_equal(value, saved[name])
  # train.py --export_dir serves the policy the run trained with.
  for policy, dtype in ((MIXED, tf.bfloat16), ("float32", tf.float32)):
    train._export(str(tmp_path), str(tmp_path / policy), policy)  # pylint: disable=protected-access
    assert export_helpers.saved_conv_dtypes(str(tmp_path / policy / "3")) == {dtype}
