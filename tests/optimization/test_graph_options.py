"""The Grappler passes of the trainer's compiled steps (`graph_options`)."""

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf.rewriter_config_pb2 import RewriterConfig
from tensorflow.python.eager import context

from tf_realnvp.optimization import graph_options
from tf_realnvp.training import trainer as trainer_lib
from tests import flow_checks
from tests.training_helpers import pixel_batch
from tests.training_helpers import tiny_config


def _call_rewrites():
  """The Grappler settings a function called now would be optimised with."""
  return config_pb2.ConfigProto.FromString(
      context.context().function_call_options.config_proto_serialized
  ).graph_options.rewrite_options


def test_rewrites_reach_calls_inside_only_and_the_process_setting_wins():
  outside = _call_rewrites()
  seen = []
  step = graph_options.called_with(lambda: seen.append(_call_rewrites()),
                                   graph_options.CPU_REWRITES)
  ctx = context.context()
  saved = dict(ctx._optimizer_experimental_options)  # pylint: disable=protected-access
  try:
    step()
    tf.config.optimizer.set_experimental_options({"constant_folding": True})
    step()
  finally:
    ctx._optimizer_experimental_options = saved  # pylint: disable=protected-access
    ctx.function_call_options = None  # Rebuilt from the restored config.
  ours, process_wins = seen
  assert ours.meta_optimizer_iterations == RewriterConfig.ONE
  assert ours.memory_optimization == RewriterConfig.NO_MEM_OPT
  assert ours.constant_folding == RewriterConfig.OFF
  assert process_wins.constant_folding == RewriterConfig.ON
  assert process_wins.layout_optimizer == RewriterConfig.OFF
  assert _call_rewrites() == outside


def test_tensorflow_defaults_leave_the_function_alone():
  function = tf.function(lambda x: x + 1)
  assert graph_options.called_with(
      function, graph_options.TENSORFLOW_DEFAULTS) is function


def test_cpu_strategies_get_cpu_rewrites_gpus_tensorflows():
  assert graph_options.rewrites_for(
      tf.distribute.get_strategy()) == graph_options.CPU_REWRITES
  assert graph_options.rewrites_for(tf.distribute.OneDeviceStrategy(
      "/gpu:0")) == graph_options.TENSORFLOW_DEFAULTS


def test_a_step_under_cpu_rewrites_equals_tensorflows(tmp_path):
  trainers = [trainer_lib.Trainer(tiny_config(tmp_path / str(i), None),
                                  rewrites=rewrites)
              for i, rewrites in enumerate(
                  (None, graph_options.TENSORFLOW_DEFAULTS))]
  assert trainers[0].rewrites == graph_options.CPU_REWRITES
  for trainer in trainers:
    # Random weights and running statistics: a new flow is the identity.
    flow_checks.randomize_weights(trainer.model)
  before = [v.numpy() for v in trainers[0].model.variables]
  losses = [[t.train_step(pixel_batch(seed)) for seed in (1, 2)]
            for t in trainers]
  np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
  after = [[v.numpy() for v in t.model.variables] for t in trainers]
  assert any(not np.allclose(a, b) for a, b in zip(before, after[0]))
  # Summation order may differ: within 2% of one Adam step (1e-3).
  for ours, theirs in zip(*after):
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-5)
