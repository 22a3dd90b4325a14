"""Tests of conditional flows: `RealNVP(num_classes=K)` / `(condition_shape=(A,))`.

Every model has randomised weights (`flow_checks.tiny_model`), including
the zero-initialised condition biases, so conditions change the result and
round trips and log-dets are not checked against the identity.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tf_realnvp
from tf_realnvp import pixels
from tf_realnvp import seeds
from tests import flow_checks

tfb = tfp.bijectors
tfd = tfp.distributions

NUM_CLASSES = 3
ATTRIBUTES = 5
KINDS = {
    "classes": (dict(num_classes=NUM_CLASSES), np.array([0, 2, 1])),
    "vectors": (dict(condition_shape=(ATTRIBUTES,)),
                np.array([[1, 0, 0, 1, 1], [0, 1, 1, 0, 0],
                          [0.5, -1, 2, 0, 1]], np.float64)),
    "glow_classes": (dict(num_classes=NUM_CLASSES, step_type="glow"),
                     np.array([1, 0, 2])),
}


@pytest.fixture(scope="module", params=list(KINDS), ids=list(KINDS))
def kind(request):
  config, conditions = KINDS[request.param]
  return flow_checks.tiny_model(seed=21, **config), conditions


def _pixels(model, n=3, seed=0):
  return flow_checks.uniform_pixels((n,) + model.image_shape, seed)


def _uint8(model, n=3, seed=0):
  return np.random.default_rng(seed).integers(
      0, 256, (n,) + model.image_shape).astype(np.uint8)


@pytest.fixture(scope="module")
def class_kind():
  config, conditions = KINDS["classes"]
  return flow_checks.tiny_model(seed=20, **config), conditions


def test_bound_chain_round_trips_and_log_dets_match_autodiff(class_kind):
  # One condition per image; the vector kind runs the same code after
  # `Conditioning.vector`, and is checked against autodiff below.
  model, conditions = class_kind
  bijector = model.bijector(condition=conditions)
  latents = tf.identity(bijector.inverse(_pixels(model, seed=1)))
  flow_checks.check_flow(bijector, latents, _pixels(model))


def test_log_prob_is_change_of_variables_of_encode():
  config, conditions = KINDS["vectors"]
  model = flow_checks.tiny_model(seed=21, **config)
  y = _pixels(model, seed=2)
  encode = lambda y: model.encode(y, conditions)
  expected = flow_checks.base_log_prob(encode(y)) + (
      flow_checks.autodiff_log_det(encode, tf.constant(y)))
  np.testing.assert_allclose(model.log_prob(y, conditions), expected,
                             rtol=1e-9)
  np.testing.assert_allclose(
      model.distribution(condition=conditions).log_prob(y), expected,
      rtol=1e-9)
  np.testing.assert_allclose(model((y, conditions)), expected, rtol=1e-9)
  np.testing.assert_allclose(model.decode(tf.identity(encode(y)), conditions),
                             y, rtol=1e-9)


def test_conditions_change_every_result(kind):
  model, conditions = kind
  y = _pixels(model, seed=3)
  other = np.roll(conditions, 1, axis=0)
  assert not np.allclose(model.log_prob(y, conditions),
                         model.log_prob(y, other))
  z = flow_checks.standard_normal(y.shape, seed=3)
  assert not np.allclose(model.decode(z, conditions), model.decode(z, other))


def test_tfp_bijector_kwargs_reach_every_coupling(kind):
  model, conditions = kind
  y = _pixels(model, seed=4)
  expected = model.log_prob(y, conditions)
  kwargs = model.bijector_kwargs(conditions)
  dist = model.distribution()
  np.testing.assert_allclose(dist.log_prob(y, bijector_kwargs=kwargs),
                             expected, rtol=1e-9)
  z = flow_checks.standard_normal(y.shape, seed=4)
  np.testing.assert_allclose(model.bijector().forward(z, **kwargs),
                             model.decode(z, conditions), rtol=1e-9)
  samples = dist.sample(len(conditions), seed=(1, 2), bijector_kwargs=kwargs)
  assert samples.shape == y.shape
  assert np.all(np.isfinite(samples))
  routed = []

  def leaves(tree):
    for key, value in tree.items():
      if isinstance(value, dict):
        leaves(value)
      else:
        routed.append(key)

  leaves(kwargs)
  assert routed == ["conditional_input"] * len(model.flow.steps)
  with pytest.raises(ValueError, match="pass a condition"):
    dist.log_prob(y)


def test_bound_distribution_has_the_conditions_batch_shape(kind):
  model, conditions = kind
  dist = model.distribution(condition=conditions)
  assert dist.batch_shape == [len(conditions)]
  assert dist.event_shape == model.image_shape
  samples = dist.sample(2, seed=(3, 4))
  assert samples.shape == (2, len(conditions)) + model.image_shape
  assert dist.log_prob(samples).shape == (2, len(conditions))
  # One condition for a whole batch broadcasts.
  y = _pixels(model, seed=5)
  np.testing.assert_allclose(
      model.log_prob(y, conditions[1]),
      model.log_prob(y, np.stack([conditions[1]] * len(y))), rtol=1e-9)
  joint = tfd.Independent(dist, reinterpreted_batch_ndims=1)
  np.testing.assert_allclose(joint.log_prob(y),
                             np.sum(model.log_prob(y, conditions)), rtol=1e-9)


def test_mixture_over_classes_is_the_marginal_density():
  model = flow_checks.tiny_model(seed=22, num_classes=NUM_CLASSES)
  y = _pixels(model, seed=6)
  prior = np.array([0.2, 0.5, 0.3])
  marginal = tfd.MixtureSameFamily(
      tfd.Categorical(probs=prior),
      model.distribution(condition=np.arange(NUM_CLASSES)))
  per_class = np.stack([model.log_prob(y, np.full(len(y), k))
                        for k in range(NUM_CLASSES)], axis=1)
  np.testing.assert_allclose(
      marginal.log_prob(y),
      np.log(np.sum(prior * np.exp(per_class - per_class.max(1, keepdims=True)),
                    axis=1)) + per_class.max(1), rtol=1e-9)


def test_classify_is_bayes_rule_with_the_class_prior():
  model = flow_checks.tiny_model(seed=23, num_classes=NUM_CLASSES)
  images = _uint8(model, seed=7)
  # Each class's likelihood, as `log_likelihood` estimates it for one label.
  log_likelihoods = np.stack(
      [model.log_likelihood(images, np.full(len(images), k), num_draws=4)
       for k in range(NUM_CLASSES)], 1)
  np.testing.assert_allclose(model.class_log_likelihoods(images, 4),
                             log_likelihoods, rtol=1e-9)
  counts = [10, 30, 60]
  model.set_class_prior(counts)
  posterior = log_likelihoods + np.log(np.array(counts) / 100)
  posterior = np.exp(posterior - posterior.max(1, keepdims=True))
  np.testing.assert_allclose(model.classify(images, 4),
                             posterior / posterior.sum(1, keepdims=True),
                             rtol=1e-6)
  with pytest.raises(ValueError, match="3 positive counts"):
    model.set_class_prior([1, 0, 2])


def test_bits_per_dim_of_a_conditional_model():
  model = flow_checks.tiny_model(seed=24, num_classes=NUM_CLASSES)
  images, labels = _uint8(model, seed=8), np.array([2, 0, 1])
  y = pixels.dequantize(images, seeds.stateless_seed(7))
  np.testing.assert_allclose(
      model.bits_per_dim(images, labels, seed=7),
      -model.log_prob(y, labels) / (model.num_dims * math.log(2)), rtol=1e-6)


def test_config_round_trips_and_keeps_unconditional_models_unchanged(kind):
  model, _ = kind
  clone = tf_realnvp.RealNVP.from_config(model.get_config())
  assert (clone.num_classes, clone.condition_shape) == (
      model.num_classes, model.condition_shape)
  assert len(clone.weights) == len(model.weights)
  plain = flow_checks.tiny_model(seed=21)
  assert plain.conditioning is None
  assert not any("condition" in w.path or "class" in w.path
                 for w in plain.weights)


@pytest.fixture(scope="module")
def class_model():
  return flow_checks.tiny_model(seed=25, num_classes=NUM_CLASSES,
                                dtype="float32")


@pytest.mark.parametrize("call, message", [
    (lambda m, y: m.log_prob(y), r"conditional: pass condition \(int class"),
    (lambda m, y: m.log_prob(y, [0, 3, 1]), r"\[0, 3\).*received \[3\]"),
    (lambda m, y: m.log_prob(y, [-1, 0, 1]), r"received \[-1\]"),
    (lambda m, y: m.log_prob(y, [0.0, 1.0, 2.0]), "received dtype float32"),
    (lambda m, y: m.log_prob(y, [0, 1]), r"\[\] or \[3\]\), received batch shape \[2\]"),
    (lambda m, y: m.sample(2, condition=[[0, 1]]), r"batch shape \[1, 2\]"),
    (lambda m, y: m.bits_per_dim(y.astype(np.uint8), 5), r"received \[5\]"),
])
def test_bad_conditions_name_what_was_expected(class_model, call, message):
  y = _pixels(class_model).astype(np.float32)
  with pytest.raises(ValueError, match=message):
    call(class_model, y)


def test_bad_labels_in_a_graph_fail_with_invalid_argument(class_model):
  log_prob = tf.function(class_model.log_prob)
  y = _pixels(class_model).astype(np.float32)
  assert np.all(np.isfinite(log_prob(y, tf.constant([0, 1, 2]))))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"condition must be int class labels in \[0, 3\)"):
    log_prob(y, tf.constant([0, 1, 7]))


def test_vector_conditions_of_another_length_and_unconditional_models():
  vector_model = flow_checks.tiny_model(seed=26, condition_shape=(ATTRIBUTES,))
  y = _pixels(vector_model)
  with pytest.raises(ValueError, match=r"vectors \[..., 5\].*\(3, 4\)"):
    vector_model.log_prob(y, np.zeros((3, 4)))
  with pytest.raises(ValueError, match="classify needs a class-conditional"):
    vector_model.classify(y.astype(np.uint8))
  plain = flow_checks.tiny_model(seed=26)
  with pytest.raises(ValueError, match="unconditional; it takes no condition"):
    plain.log_prob(y, [0, 1, 2])


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=1), "num_classes must be an int >= 2"),
    (dict(num_classes=3, condition_shape=(2,)), "exactly one of"),
    (dict(condition_shape=(2, 3)), r"condition_shape must be \(A,\)"),
])
def test_bad_condition_arguments_raise(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tf_realnvp.RealNVP((4, 4, 1), num_blocks=1, num_filters=2, **kwargs)


def test_fit_trains_on_images_and_labels():
  keras.utils.set_random_seed(0)  # Not the initial weights of test order.
  model = tf_realnvp.RealNVP((4, 4, 1), num_scales=1, num_blocks=1,
                             num_filters=4, num_classes=NUM_CLASSES)
  model.compile(optimizer="adam")
  rng = np.random.default_rng(9)
  labels = rng.integers(0, NUM_CLASSES, 32)
  y = (labels[:, None, None, None] * 80 + rng.uniform(0, 16, (32, 4, 4, 1)))
  history = model.fit(y.astype(np.float32), labels, batch_size=16, epochs=3,
                      verbose=0)
  losses = history.history["bits_per_dim"]
  assert losses[-1] < losses[0]
  kernels = [w for w in model.trainable_weights if "condition_biases" in w.path]
  assert kernels and all(np.any(np.asarray(k) != 0) for k in kernels)
