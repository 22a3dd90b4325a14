"""Tests of tf_realnvp/run_config.py and model_config.py: the settings of a
run, their validation, the flags generated from them and their JSON."""

import dataclasses
import json
import os

from absl import flags
import pytest

from tf_realnvp import ModelConfig
from tf_realnvp import data
from tf_realnvp import run_config
from tf_realnvp import workdirs
from tf_realnvp.run_config import TrainConfig

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures",
                       "previous_version", "averaged_variational")


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 0, "batch_size must be a positive integer, received 0."),
    ("train_steps", -1, "train_steps must be a positive integer"),
    ("learning_rate", 0.0, "learning_rate must be positive, received 0.0."),
    ("log_every", 2.5, "log_every must be a positive integer"),
    ("num_blocks", -1, "num_blocks must be an int >= 0, received -1."),
    ("step_type", "maf", r"step_type must be one of \('real_nvp', 'glow'\)"),
    ("dtype_policy", "float8", "dtype_policy must be one of"),
    ("ema_decay", 1.0, r"ema_decay must be in \[0, 1\)"),
    ("classes", ["3", "x"], "classes must be class indices"),
    ("dataset", "nope", "nope"),
])
def test_bad_settings_are_refused_naming_them(field, value, message):
  with pytest.raises(ValueError, match=message):
    TrainConfig.from_settings(workdir="w", **{field: value})


def test_classes_become_a_tuple_of_ints_and_are_checked():
  assert TrainConfig(workdir="w", classes=["3", "5"]).classes == (3, 5)
  with pytest.raises(ValueError, match=r"Class 10 is out of range"):
    TrainConfig(workdir="w", classes=(10,))
  with pytest.raises(ValueError, match="Dataset 'celeb_a' has no class labels"):
    TrainConfig(workdir="w", dataset="celeb_a", classes=(0,))


def test_every_setting_is_a_flag_with_its_default_and_help():
  flag_values = flags.FlagValues()
  names = run_config.define_flags(flag_values)
  fields = run_config.flag_fields(TrainConfig) + run_config.flag_fields(
      ModelConfig)
  assert names == [f.name for f in fields]
  assert len(set(names)) == len(names)
  assert {"image_shape", "num_classes", "condition_shape", "model"}.isdisjoint(
      names)  # From the dataset, or the nesting itself.
  for field in fields:
    flag = flag_values[field.name]
    assert flag.default == (list(field.default) if isinstance(
        field.default, tuple) else field.default), field.name
    assert flag.help.endswith(field.metadata["help"])
  flag_values(["test", "--workdir=w", "--num_filters=8", "--noconditional",
               "--step_type=glow", "--classes=1,2", "--dataset=mnist"])
  config = run_config.from_flags(flag_values)
  assert config == TrainConfig.from_settings(
      workdir="w", num_filters=8, step_type="glow", classes=(1, 2),
      dataset="mnist")
  assert config.model.num_filters == 8 and config.model.step_type == "glow"


def test_json_round_trips(tmp_path):
  config = TrainConfig.from_settings(
      workdir=str(tmp_path), classes=(3,), num_blocks=2, ema_decay=0.5,
      dequantization="variational")
  workdirs.write_run_config(str(tmp_path), config)
  with open(tmp_path / workdirs.RUN_CONFIG) as f:
    assert json.load(f)["model"]["num_blocks"] == 2
  assert workdirs.read_run_config(str(tmp_path)) == config


def test_a_workdir_with_only_flags_txt_reads_its_settings():
  config = workdirs.read_run_config(FIXTURE)
  assert not os.path.exists(os.path.join(FIXTURE, workdirs.RUN_CONFIG))
  assert (config.dataset, config.train_steps, config.ema_decay,
          config.classify_examples) == ("fashion_mnist", 6, 0.9, 32)
  assert dataclasses.asdict(config.model) == dataclasses.asdict(ModelConfig(
      num_blocks=1, num_filters=4, dequantization="variational"))


def test_the_model_gets_the_dataset_s_shape_and_condition():
  config = TrainConfig.from_settings(workdir="w", num_scales=3,
                                     conditional=True, dataset="cifar10")
  model = config.model_config((32, 32, 3), data.condition_spec("cifar10"))
  assert (model.image_shape, model.num_classes) == ((32, 32, 3), 10)
  assert model.architecture() == dict(
      image_shape=[32, 32, 3], num_scales=3, num_blocks=4, num_filters=32,
      alpha=0.05, coupling_batch_norm=True, num_classes=10)
  with pytest.raises(ValueError, match=r"\(30, 30, 3\) does not fit "
                     "num_scales=3"):
    config.model_config((30, 30, 3))
