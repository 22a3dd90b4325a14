"""Memory-efficient backprop: recompute a network's activations when needed.

Standard backprop keeps every intermediate activation of every coupling
network (tens of feature maps per residual block) until the backward pass.
`recompute_gradients(fn)` keeps only `fn`'s input and outputs: the backward
pass runs `fn` again under a tape and differentiates that. Each coupling's
s/t network is wrapped this way when `RealNVP(recompute_gradients=True)`
trains, so at most one network's activations live at a time, for about one
extra forward pass of compute (as in gradient checkpointing, Chen et al.
2016, applied per coupling; the elementwise coupling itself is cheap and
kept as usual).

The recomputation sees the same input, so batch normalisation computes the
same minibatch statistics; the running averages are not updated a second
time (`frozen_running_averages`). Normalising with running averages in
training (`average_in_training`) reads them after their update and is
therefore not supported with recomputation.
"""

import tensorflow as tf

from tf_realnvp.layers.batch_norm import frozen_running_averages

__all__ = ["recompute_gradients"]


def recompute_gradients(fn):
  """Wraps `fn(*inputs) -> tuple of Tensors` to recompute it in the backward
  pass.

  The gradients with respect to every input and to every variable `fn`
  reads are those of `fn` itself (up to float rounding of the
  recomputation).
  """

  @tf.custom_gradient
  def wrapped(*inputs):
    outputs = fn(*inputs)

    def grad(*output_grads, variables=None):
      variables = list(variables or [])
      # Without this dependency a graph executor would run every
      # recomputation as soon as its inputs exist, right after the forward
      # pass, and hold all of their activations at once: nothing saved.
      with tf.control_dependencies(output_grads):
        replayed = [tf.identity(x) for x in inputs]
      with frozen_running_averages(), tf.GradientTape() as tape:
        tape.watch(replayed)
        recomputed = fn(*replayed)
      grads = tape.gradient(recomputed, replayed + variables,
                            output_gradients=list(output_grads))
      return grads[:len(inputs)], grads[len(inputs):]

    return outputs, grad

  return wrapped
