"""The learning rate (tf_realnvp/optimization/schedules.py, `--warmup_steps`,
`--lr_schedule`): its formula. (The trainer's rates: test_averaging.py.)"""

import math

import keras
import numpy as np
import pytest

from tf_realnvp.optimization.schedules import LearningRate


@pytest.mark.parametrize("schedule,step,expected", [
    ("constant", 0, 0.25e-3), ("constant", 3, 1e-3), ("constant", 99, 1e-3),
    ("cosine", 0, 0.25e-3 * (1 + math.cos(0)) / 2),
    ("cosine", 50, 0.5e-3), ("cosine", 100, 0.0), ("cosine", 500, 0.0)])
def test_warm_up_then_constant_or_cosine(schedule, step, expected):
  rate = LearningRate(1e-3, warmup_steps=4, schedule=schedule,
                      decay_steps=100)
  np.testing.assert_allclose(rate(step), expected, rtol=1e-6, atol=1e-12)


def test_schedule_serializes():
  rate = LearningRate(1e-3, 10, "cosine", 200)
  copy = keras.optimizers.schedules.deserialize(
      keras.optimizers.schedules.serialize(rate))
  assert copy.get_config() == rate.get_config()


@pytest.mark.parametrize("kwargs,message", [
    (dict(learning_rate=0.0), "learning_rate must be positive"),
    (dict(learning_rate=1e-3, warmup_steps=-1), "warmup_steps must be"),
    (dict(learning_rate=1e-3, schedule="step"), "schedule must be one of"),
    (dict(learning_rate=1e-3, decay_steps=0), "decay_steps must be")])
def test_bad_arguments_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    LearningRate(**kwargs)

