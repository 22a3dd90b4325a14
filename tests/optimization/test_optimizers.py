"""FusedAdam (tf_realnvp/optimization/optimizers.py): Keras's Adam updates and
checkpoints, from fused kernels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp.training import FusedAdam
from tests import flow_checks

SHAPES = [(3, 3, 2, 4), (4,), ()]
HYPER = dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-4)


def _variables(seed):
  rng = np.random.default_rng(seed)
  return [tf.Variable(rng.normal(size=s).astype(np.float32)) for s in SHAPES]


def _gradients(steps, seed=1):
  rng = np.random.default_rng(seed)
  return [[tf.constant(rng.normal(size=s).astype(np.float32)) for s in SHAPES]
          for _ in range(steps)]


def _train(optimizer, variables, gradients):
  """Applies each list of `gradients` in a `tf.function`, as training does."""
  optimizer.build(variables)
  step = tf.function(
      lambda grads: optimizer.apply_gradients(zip(grads, variables)))
  for grads in gradients:
    step(grads)
  return [v.numpy() for v in variables]


def _assert_all_close(got, want, rtol=1e-6, atol=1e-6):
  assert len(got) == len(want)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _assert_same_state(a, b, rtol=1e-6, atol=1e-6):
  """Optimizers `a` and `b` hold the same step and moments."""
  assert int(a.iterations.numpy()) == int(b.iterations.numpy())
  _assert_all_close([v.numpy() for v in a.variables],
                    [v.numpy() for v in b.variables], rtol, atol)


def test_updates_match_keras_adam():
  gradients = _gradients(steps=5)
  fused, reference = FusedAdam(**HYPER), keras.optimizers.Adam(**HYPER)
  initial = [v.numpy() for v in _variables(0)]
  got = _train(fused, _variables(0), gradients)
  _assert_all_close(got, _train(reference, _variables(0), gradients))
  # Five steps of ~lr each: the comparison is not between unmoved weights.
  for g, start in zip(got, initial):
    assert np.abs(g - start).max() > 2 * HYPER["learning_rate"]
  _assert_same_state(fused, reference)


def test_real_nvp_fit_with_fused_adam_makes_keras_adams_updates():
  pixels = flow_checks.uniform_pixels((8, 4, 4, 2))
  initial = flow_checks.tiny_model(num_scales=1).get_weights()
  trained = {}
  for optimizer in (FusedAdam, keras.optimizers.Adam):
    model = flow_checks.tiny_model(num_scales=1)  # float64: the other dtype
    model.set_weights(initial)
    # Eagerly (the other tests run the kernel inside a tf.function).
    model.compile(optimizer=optimizer(**HYPER), run_eagerly=True)
    model.fit(pixels, batch_size=4, epochs=1, shuffle=False, verbose=0)
    trained[optimizer] = model.get_weights()
  _assert_all_close(trained[FusedAdam], trained[keras.optimizers.Adam])
  moved = [np.abs(t - i).max() for t, i in zip(trained[FusedAdam], initial)]
  assert max(moved) > HYPER["learning_rate"]


@pytest.mark.parametrize("writer,reader", [(keras.optimizers.Adam, FusedAdam),
                                           (FusedAdam, keras.optimizers.Adam)])
def test_checkpoints_move_between_keras_adam_and_fused_adam(
    tmp_path, writer, reader):
  gradients = _gradients(steps=4)
  written = writer(**HYPER)
  variables = _variables(0)
  _train(written, variables, gradients[:3])
  path = tf.train.Checkpoint(optimizer=written, variables=variables).save(
      str(tmp_path / "ckpt"))

  restored = reader(**HYPER)
  restored_variables = _variables(seed=7)
  restored.build(restored_variables)
  tf.train.Checkpoint(optimizer=restored, variables=restored_variables
                      ).restore(path).assert_consumed()
  _assert_same_state(restored, written, rtol=0, atol=0)
  # And training continues identically from the restored moments and step.
  _assert_all_close(_train(restored, restored_variables, gradients[3:]),
                    _train(written, variables, gradients[3:]))
  _assert_same_state(restored, written)


def test_config_round_trips_through_keras_serialization():
  optimizer = FusedAdam(**HYPER)
  copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
  assert type(copy) is FusedAdam
  assert copy.get_config() == optimizer.get_config()


def test_amsgrad_is_refused_with_the_alternative():
  with pytest.raises(ValueError, match=r"amsgrad.*keras\.optimizers\.Adam"):
    FusedAdam(amsgrad=True)
