"""`fit` and `train.py` take the one `TrainStep`: from the same state and
batches, the same weights, weight average and skipped steps."""

import numpy as np
import tensorflow as tf

from tf_realnvp.optimization import FusedAdam
from tf_realnvp.training import loop
from tests import flow_checks
from tests.training_helpers import pixel_batch
from tests.training_helpers import tiny_config


def test_fit_and_the_trainer_take_the_same_steps(tmp_path, fashion_dir):
  config = tiny_config(tmp_path, fashion_dir, ema_decay=0.5,
                       max_nonfinite_steps=3)
  trainer = loop.prepare_trainer(config)
  flow_checks.randomize_weights(trainer.model, seed=3)
  trainer.average.reset()
  model = config.build_model((28, 28, 1))
  flow_checks.copy_weights(trainer.model, model)
  model.compile(FusedAdam(config.learning_rate), ema_decay=config.ema_decay,
                grad_clip_norm=config.grad_clip_norm,
                max_nonfinite_steps=config.max_nonfinite_steps)
  poisoned = pixel_batch(1).numpy()
  poisoned[2, 5, 5, 0] = np.nan
  batches = [pixel_batch(0), tf.constant(poisoned), pixel_batch(2)]
  losses = [trainer.train_step(batch) for batch in batches]
  assert np.isnan(losses[1]) and np.isfinite(losses[0] + losses[2])
  history = model.fit(tf.data.Dataset.from_tensor_slices(
      tf.stack(batches)), epochs=1, shuffle=False, verbose=0).history
  np.testing.assert_allclose(history["bits_per_dim"],
                             np.mean([losses[0], losses[2]]), rtol=1e-5)
  assert model.fit_step.nonfinite_steps == trainer.nonfinite_steps == 1
  assert model.optimizer.iterations.numpy() == 2
  assert trainer.optimizer.iterations.numpy() == 2
  for ours, theirs in ((model, trainer.model),
                       (model.averaged_model, trainer.average.average)):
    for a, b in zip(ours.variables, theirs.variables):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=a.path)
  # Not vacuous: the steps moved the weights, and the average lags them.
  assert not np.allclose(model.variables[1], model.averaged_model.variables[1])
