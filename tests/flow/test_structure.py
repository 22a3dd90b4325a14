"""Tests of the flow's structure: steps and scales own every layer, and the
chain, the routing of conditions and the latent pieces follow them."""

import pytest

from tf_realnvp.bijectors import FactorOut
from tf_realnvp.flow import STEP_TYPES
from tests import flow_checks


@pytest.fixture(scope="module", params=list(STEP_TYPES))
def model(request):
  return flow_checks.tiny_model(seed=1, image_shape=(4, 4, 1), num_scales=3,
                                step_type=request.param, num_classes=2)


def _ids(variables):
  return [id(v.value) for v in variables]


def test_every_flow_variable_belongs_to_exactly_one_step(model):
  owned = [i for step in model.flow.steps for i in _ids(step.variables)]
  assert len(owned) == len(set(owned))
  assert sorted(owned) == sorted(_ids(model.flow.variables))
  assert sorted(_ids(model.variables)) == sorted(
      _ids(model.flow.variables) + _ids([model.class_log_prior]))
  assert len({v.path for v in model.variables}) == len(model.variables)


def test_the_chain_follows_the_layout(model):
  names, bijectors = [], model.bijector().bijectors[1:]  # After PixelLogit.
  for scale in model.flow.scales:
    for step in scale.steps:
      names += [b.name for b in step.bijectors()]
    if not scale.is_last:
      names.insert(len(names) - len(
          [b for s in scale.channel_steps for b in s.bijectors()]),
          f"invert_{scale.name}_squeeze")
    found = [b.name for b in bijectors]
    if scale.is_last:
      assert found == names
    else:
      assert found == names + [f"{scale.name}_factor_out",
                               f"{scale.name}_squeeze"]
      assert isinstance(bijectors[-2], FactorOut)
      bijectors, names = bijectors[-2].bijector.bijectors, []


def test_conditions_reach_the_coupling_of_every_step(model):
  kwargs, couplings = model.bijector_kwargs([0, 1]), []
  for scale in model.flow.scales:
    couplings += [name for name, value in kwargs.items()
                  if "conditional_input" in value]
    kwargs = kwargs.get(f"{scale.name}_factor_out", {})
  assert couplings == [step.name for step in model.flow.steps]
