"""Tests of tf_realnvp/training/config.py: what a `TrainConfig` accepts
(train.py registers the same `CONSTRAINTS` as flag validators:
tests/test_train_script.py)."""

import dataclasses
import re

import pytest

from tf_realnvp.training import config as config_lib


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 0, "batch_size must be a positive integer, received 0."),
    ("train_steps", -1, "train_steps must be a positive integer"),
    ("learning_rate", 0.0, "learning_rate must be positive, received 0.0."),
    ("num_blocks", -1, "num_blocks must be an integer >= 0, received -1."),
    ("log_every", 2.5, "log_every must be a positive integer"),
])
def test_config_rejects_non_positive_sizes(field, value, message, tmp_path):
  with pytest.raises(ValueError, match=message):
    config_lib.TrainConfig(workdir=str(tmp_path), **{field: value})


def test_every_constraint_names_a_field_of_the_config():
  fields = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
  constrained = [name for names, _ in config_lib.CONSTRAINTS for name in names]
  assert len(constrained) == len(set(constrained))
  assert set(constrained) <= fields


def test_zero_is_valid_only_where_the_minimum_is_zero():
  assert config_lib.valid(0, 0) and not config_lib.valid(0, 1)
  assert config_lib.valid(3, 1) and not config_lib.valid(3.5, 1)
  assert config_lib.valid(0.1, None) and not config_lib.valid(0.0, None)
  assert not config_lib.valid(None, 0)


def test_config_keeps_valid_classes_as_a_tuple_and_refuses_bad_ones(tmp_path):
  config = config_lib.TrainConfig(workdir=str(tmp_path), classes=[3, 5])
  assert config.classes == (3, 5)
  with pytest.raises(ValueError, match=r"Class 10 is out of range"):
    config_lib.TrainConfig(workdir=str(tmp_path), classes=(10,))
  with pytest.raises(ValueError, match="Dataset 'celeb_a' has no class labels"):
    config_lib.TrainConfig(workdir=str(tmp_path), dataset="celeb_a",
                           classes=(0,))


@pytest.mark.parametrize("rate", [1.0, -0.1, float("nan")])
def test_config_refuses_perturbation_rates_outside_0_1(tmp_path, rate):
  assert config_lib.TrainConfig(workdir=str(tmp_path),
                                perturbation_rate=0.2).perturbation_rate == 0.2
  with pytest.raises(ValueError, match=re.escape(
      f"perturbation_rate must be in [0, 1), received {rate!r}.")):
    config_lib.TrainConfig(workdir=str(tmp_path), perturbation_rate=rate)
