"""Which Grappler passes optimise the trainer's compiled steps.

TensorFlow optimises a `tf.function`'s graph on its first call (Grappler).
For the paper's CIFAR-10 model the train step's graph has ~49k nodes and
TensorFlow's default passes took ~20 s of its first step on two CPU cores:
two rounds of every pass, the largest being the memory optimiser (~4.6 s),
which on a CPU has nothing to swap. `CPU_REWRITES` keeps the passes that
shrink or fuse the graph (pruning, common subexpressions, arithmetic, the
oneDNN fusions of the remapper, dependencies) for one round, and leaves out
the memory optimiser, the layout optimiser (NHWC is already the CPU's
layout), constant folding, the loop optimiser and the implementation
selector. Measured with `bench/train_bench.py` (README, Performance): the
same steady-state step time (within 3%), and the paper's CIFAR-10 model's
first step 30-36 s instead of 38-41 s.

The settings reach a function through TensorFlow's per-call options
(`FunctionCallOptions`, what `tf.function` reads when it instantiates a
graph), so they apply to the trainer's steps only, give way to what the
process set (`tf.config.optimizer.set_experimental_options` wins where it
says something), and must be the same on every call: a call with
other options would instantiate, and optimise, the graph again.
"""

import contextlib
import functools

import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import rewriter_config_pb2
from tensorflow.python.eager import context

__all__ = ["CPU_REWRITES", "TENSORFLOW_DEFAULTS", "called_with",
           "rewrites_for", "rewrite_options"]

_OFF = rewriter_config_pb2.RewriterConfig.OFF
CPU_REWRITES = rewriter_config_pb2.RewriterConfig(
    meta_optimizer_iterations=rewriter_config_pb2.RewriterConfig.ONE,
    memory_optimization=rewriter_config_pb2.RewriterConfig.NO_MEM_OPT,
    layout_optimizer=_OFF, constant_folding=_OFF, loop_optimization=_OFF,
    implementation_selector=_OFF)
# Nothing changed: TensorFlow's own passes.
TENSORFLOW_DEFAULTS = rewriter_config_pb2.RewriterConfig()


def rewrites_for(strategy):
  """`CPU_REWRITES` if all devices of `strategy` are CPUs, else
  `TENSORFLOW_DEFAULTS` (GPUs need the layout and memory optimisers)."""
  try:
    devices = strategy.extended.worker_devices
  except RuntimeError:  # The default strategy: all of this process's devices.
    devices = [d.name for d in tf.config.list_logical_devices()]
  cpu_only = all(tf.DeviceSpec.from_string(d).device_type == "CPU"
                 for d in devices)
  return CPU_REWRITES if cpu_only else TENSORFLOW_DEFAULTS


@contextlib.contextmanager
def rewrite_options(rewrites):
  """Functions called inside are optimised with `rewrites` (a
  `RewriterConfig`), under the process's configuration: what the process set
  explicitly (`tf.config.optimizer.set_experimental_options`) wins."""
  ctx = context.context()
  saved = ctx.function_call_options
  config = config_pb2.ConfigProto.FromString(saved.config_proto_serialized)
  process = config.graph_options.rewrite_options
  merged = rewriter_config_pb2.RewriterConfig()
  merged.CopyFrom(rewrites)
  merged.MergeFrom(process)  # What the process set explicitly wins.
  process.CopyFrom(merged)
  ctx.function_call_options = context.FunctionCallOptions(
      executor_type=saved.executor_type, config_proto=config)
  try:
    yield
  finally:
    ctx.function_call_options = saved


def called_with(function, rewrites):
  """`function` (a `tf.function`), every call inside `rewrite_options`."""
  if rewrites == TENSORFLOW_DEFAULTS:
    return function

  @functools.wraps(function)
  def call(*args):
    with rewrite_options(rewrites):
      return function(*args)

  return call


def compiled(function, rewrites):
  """`function` as a `tf.function` (without autograph) called with
  `rewrites`: how the training and evaluation steps are compiled."""
  return called_with(tf.function(function, autograph=False), rewrites)
