"""Trains the same steps on one device and on 2 logical CPUs; prints JSON.

The model has variational dequantisation and a weight average, whose
weights are compared too. Under the mirrored strategy, float16 s/t networks
also train (`mixed_float16`): the trainer with a loss scale that overflows,
and `model.fit`.

Run as `python -m tests.scripts.mirrored_equivalence DATA_DIR WORKDIR`: the
CPU must be split before TensorFlow runs any op, so this cannot run inside
the pytest process. Prints one JSON object: the loss of each step on each
strategy, the relative error of the first step's global gradient, how far
the weights are apart after the steps, whether the replicas' running
batch-norm statistics agree, what a float16 step with an overflowing loss
scale did, and the bits/dim of float16 `model.fit` steps under the mirrored
strategy.
"""

import json
import sys

import numpy as np
import tensorflow as tf

from tf_realnvp import data
from tf_realnvp.training import strategies
from tf_realnvp.training import trainer as trainer_lib
from tests.training_helpers import tiny_config

STEPS = 3


def _train(strategy, data_dir, workdir):
  """Returns the trainer, the losses and the first step's global gradient."""
  trainer = trainer_lib.Trainer(
      tiny_config(workdir, data_dir, batch_size=8, ema_decay=0.5,
                  dequantization="variational"), strategy)
  trainer.restore_or_initialize()  # Starts the weight average.
  iterator = iter(trainer.train_dataset(0))
  first = next(iterator)
  per_replica, *_ = strategy.run(trainer.step_fn._replica_gradients,  # pylint: disable=protected-access
                                 args=(first,))
  gradient = [np.sum([r.numpy() for r in strategy.experimental_local_results(g)],
                     axis=0) for g in per_replica]
  losses = [trainer.train_step(first)]
  losses += [trainer.train_step(next(iterator)) for _ in range(STEPS - 1)]
  return trainer, losses, gradient


def _weights(trainer):
  """The trained weights and their average."""
  return trainer.model.weights + trainer.average.average.weights


def _replicas_agree(trainer):
  """Whether each replica holds the same running statistics (of the model
  and its average) and loss scale."""
  state = list(trainer.model.non_trainable_variables)
  if trainer.average:
    state += trainer.average.average.non_trainable_variables
  if trainer.loss_scale:
    state += trainer.loss_scale.variables
  for variable in state:
    copies = trainer.strategy.experimental_local_results(variable.value)
    if any(not np.array_equal(copies[0], c) for c in copies[1:]):
      return False
  return True


def _float16_overflow_under(strategy, data_dir, workdir):
  """A float16 step whose scale (2**60) overflows, then a finite one."""
  trainer = trainer_lib.Trainer(
      tiny_config(workdir, data_dir, batch_size=8,
                  dtype_policy="mixed_float16"), strategy)
  trainer.restore_or_initialize()
  iterator = iter(trainer.train_dataset(0))
  before = trainer_lib.fingerprint(trainer.model, strategy)
  trainer.loss_scale.scale.assign(2.0**60)
  first = trainer.train_step(next(iterator))
  unchanged = trainer_lib.fingerprint(trainer.model, strategy) == before
  scales = [float(trainer.loss_scale.scale.numpy())]
  trainer.loss_scale.scale.assign(2.0**10)
  second = trainer.train_step(next(iterator))
  return dict(losses=[first, second], overflow_steps=trainer.overflow_steps,
              nonfinite_steps=trainer.nonfinite_steps,
              unchanged_by_overflow=unchanged,
              changed_by_second=trainer_lib.fingerprint(
                  trainer.model, strategy) != before,
              scale_after_overflow=scales[0],
              replicas_agree=_replicas_agree(trainer))


def _fit_under(strategy, data_dir):
  with strategy.scope():
    model = tiny_config("unused", data_dir,
                        dtype_policy="mixed_float16").build_model(
                            data.dataset_spec("fashion_mnist").image_shape)
    model.compile(optimizer="adam")  # fit scales the loss (float16).
  batches = data.train_dataset("fashion_mnist", 8, seed=0, data_dir=data_dir)
  history = model.fit(batches, steps_per_epoch=2, epochs=1, verbose=0)
  return history.history["bits_per_dim"][-1]


def main(data_dir, workdir):
  strategies.logical_cpus(2)
  one, one_losses, one_gradient = _train(tf.distribute.get_strategy(),
                                         data_dir, workdir + "/one")
  mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  two, two_losses, two_gradient = _train(mirrored, data_dir, workdir + "/two")
  differences = np.concatenate([
      np.abs(a.numpy() - b.numpy()).ravel()
      for a, b in zip(_weights(one), _weights(two))])
  flat_one = np.concatenate([g.ravel() for g in one_gradient])
  flat_two = np.concatenate([g.ravel() for g in two_gradient])
  gradient_error = float(
      np.linalg.norm(flat_one - flat_two) / np.linalg.norm(flat_one))
  print(json.dumps(dict(
      replicas=two.strategy.num_replicas_in_sync,
      one_device_losses=one_losses, mirrored_losses=two_losses,
      gradient_relative_error=gradient_error,
      max_weight_difference=float(differences.max()),
      fraction_of_weights_within_1e_5=float(np.mean(differences <= 1e-5)),
      replicas_agree=_replicas_agree(two),
      float16_overflow=_float16_overflow_under(mirrored, data_dir,
                                               workdir + "/float16"),
      fit_bits_per_dim=_fit_under(mirrored, data_dir))))


if __name__ == "__main__":
  main(*sys.argv[1:])
