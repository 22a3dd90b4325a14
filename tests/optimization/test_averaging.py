"""Weight averaging (tf_realnvp/training/averaging.py, `--ema_decay`): the
average follows its formula, evaluations, samples and loaded models use it,
and checkpoints hold it beside the trained weights. The run also warms up
and decays its learning rate (`--warmup_steps`, `--lr_schedule=cosine`)."""

import collections

import numpy as np
import pytest

from tf_realnvp import workdirs
from tf_realnvp.optimization import averaging
from tf_realnvp.training import loop
from tf_realnvp.optimization.schedules import LearningRate
from tests.training_helpers import make_workdir
from tests.training_helpers import tiny_config

DECAY = 0.5
STEPS = 3


def _values(model):
  return [w.numpy() for w in model.weights]


def _assert_values(model, expected, **tolerance):
  for weight, value in zip(model.weights, expected):
    np.testing.assert_allclose(weight.numpy(), value, **tolerance)


@pytest.mark.parametrize("updates,expected", [(1, 2 / 11), (10, 0.5),
                                              (10_000, 0.5)])
def test_decay_warms_up_like_tf_train_exponential_moving_average(updates,
                                                                 expected):
  np.testing.assert_allclose(averaging.decay_at(DECAY, updates), expected,
                             rtol=1e-6)


# A trainer after `STEPS` steps (checkpointed), the average its weights
# should have, and the learning rate of each step.
Run = collections.namedtuple("Run", "trainer expected_average rates")


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion_dir):
  config = tiny_config(tmp_path_factory.mktemp("averaged"), fashion_dir,
                       ema_decay=DECAY, eval_examples=32, train_steps=8,
                       warmup_steps=4, lr_schedule="cosine")
  trainer = loop.prepare_trainer(config)
  expected = _values(trainer.model)
  _assert_values(trainer.average.average, expected, rtol=0, atol=0)
  batches = iter(trainer.train_dataset(0))
  rates = []
  for t in range(1, STEPS + 1):
    trainer.train_step(next(batches))
    rates.append(float(trainer.optimizer.learning_rate))
    d = min(DECAY, (1 + t) / (10 + t))
    expected = [d * a + (1 - d) * w
                for a, w in zip(expected, _values(trainer.model))]
  trainer.manager.save(STEPS)
  return Run(trainer, expected, rates)


def test_average_follows_the_trained_weights_step_by_step(run):
  average = run.trainer.average.average
  _assert_values(average, run.expected_average, rtol=1e-5, atol=1e-6)
  moved = [np.abs(a - w).max() for a, w in
           zip(_values(average), _values(run.trainer.model))]
  assert max(moved) > 1e-3  # Not the trained weights themselves.


def test_each_update_has_the_scheduled_learning_rate(run):
  schedule = LearningRate(1e-3, 4, "cosine", 8)
  np.testing.assert_allclose(run.rates, [schedule(t) for t in range(STEPS)],
                             rtol=1e-6)


def test_checkpoints_hold_both_and_loading_reads_the_average(run):
  loaded, step = workdirs.load_trained_model(run.trainer.workdir)
  assert step == STEPS
  _assert_values(loaded, _values(run.trainer.average.average), rtol=0, atol=0)
  raw, _ = workdirs.load_trained_model(run.trainer.workdir, averaged=False)
  _assert_values(raw, _values(run.trainer.model), rtol=0, atol=0)


def test_evaluations_and_samples_use_the_average(run):
  trainer = run.trainer
  averaged = trainer.evaluate(), trainer.sample_grid(1.0)
  kept = _values(trainer.average.average)
  trainer.average.reset()  # Now the trained weights.
  trained = trainer.evaluate(), trainer.sample_grid(1.0)
  for weight, value in zip(trainer.average.average.weights, kept):
    weight.assign(value)
  assert averaged[0] != trained[0]
  assert not np.array_equal(averaged[1], trained[1])


def test_averaging_starts_at_the_weights_of_a_checkpoint_without_it(
    tmp_path, fashion_dir):
  written = make_workdir(tiny_config(tmp_path, fashion_dir), steps=(7,))
  trainer = loop.prepare_trainer(tiny_config(tmp_path, fashion_dir,
                                             ema_decay=DECAY))
  assert trainer.start_step == 7
  _assert_values(trainer.average.average, written.weights[7].values(),
                 rtol=0, atol=0)


@pytest.mark.parametrize("decay", [-0.1, 1.0])
def test_decay_outside_zero_one_is_refused(tmp_path, decay):
  with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\)"):
    tiny_config(tmp_path, None, ema_decay=decay)
