"""Reading checkpoints whose model was laid out as flat tuples.

Checkpoints written before the flow's steps and scales were layers
(`tf_realnvp.flow`) hold the model's layers as `model/coupling_networks/<k>`
(one s/t network per coupling, in flow order), `model/coupling_norms/<k>`
(the batch norm after each coupling), `model/dequantizer` and
`model/class_log_prior`; the optimizer's slots follow the order of the
trainable variables of that layout. `model_view` and `optimizer_view` give
a current model and optimizer that object graph, so TF's object-based
restore reads such a checkpoint into them unchanged; the next checkpoint is
written in the current layout. Only models of the paper's steps can have
such checkpoints.
"""

import tensorflow as tf

__all__ = ["is_legacy", "model_view", "optimizer_view"]

_NETWORKS = "coupling_networks"


def is_legacy(path, key="model"):
  """Whether the checkpoint at `path` holds `key` in the flat layout."""
  prefix = f"{key}/{_NETWORKS}/"
  return any(name.startswith(prefix)
             for name, _ in tf.train.list_variables(path))


def _legacy_layers(model):
  """The layers of `model` in the flat layout's order (attribute, tuple)."""
  steps = model.flow.steps
  layers = [(_NETWORKS, tuple(step.network for step in steps))]
  if model.config.coupling_batch_norm:
    layers.append(("coupling_norms", tuple(step.norm for step in steps)))
  if model.dequantizer is not None:
    layers.append(("dequantizer", model.dequantizer))
  return layers


def model_view(model):
  """A `tf.Module` whose object graph is `model`'s in the flat layout,
  holding `model`'s own layers and variables: restoring into it restores
  `model`."""
  if model.config.step_type != "real_nvp":
    raise ValueError("Checkpoints in the flat layout hold real_nvp steps "
                     f"only; this model has {model.config.step_type!r} steps.")
  view = tf.Module(name="legacy_model")
  for name, layers in _legacy_layers(model):
    setattr(view, name, layers)
  if model.num_classes:
    view.class_log_prior = model.class_log_prior
  return view


def optimizer_view(optimizer, model):
  """A `tf.Module` whose object graph is that of a Keras optimizer built on
  the flat layout's trainable variables (the order that fixes its slots'
  checkpoint names), holding `optimizer`'s own variables."""
  variables = [variable for _, layers in _legacy_layers(model)
               for layer in (layers if isinstance(layers, tuple)
                             else (layers,))
               for variable in layer.trainable_variables]
  slots = []
  for variable in variables:
    index = optimizer._get_variable_index(variable)  # pylint: disable=protected-access
    slots += [optimizer._momentums[index], optimizer._velocities[index]]  # pylint: disable=protected-access
  view = tf.Module(name="legacy_optimizer")
  view._iterations = optimizer._iterations  # pylint: disable=protected-access
  view._learning_rate = optimizer._learning_rate  # pylint: disable=protected-access
  view._variables = [optimizer._iterations, optimizer._learning_rate] + slots  # pylint: disable=protected-access
  view._trainable_variables = variables
  return view
