"""The flow's structure: steps, scales and the multi-scale flow, as Keras
layers that own their variables and give their bijectors.

- `layout`: which step sits where (`multiscale_layout`, `StepSpec`,
  `ScaleSpec`), a description without variables;
- `Step` and its kinds, by name in `STEP_TYPES`: `RealNVPStep` (the
  paper's), `GlowStep`;
- `Scale`: a scale's steps, squeeze and factor-out;
- `MultiScaleFlow`: the scales; the chain, latent pieces, per-scale
  log-likelihoods, condition routing and data-dependent initialisation.
"""

from tf_realnvp.flow.glow_step import GlowStep
from tf_realnvp.flow.layout import ScaleSpec
from tf_realnvp.flow.layout import StepSpec
from tf_realnvp.flow.layout import multiscale_layout
from tf_realnvp.flow.multiscale import MultiScaleFlow
from tf_realnvp.flow.real_nvp_step import RealNVPStep
from tf_realnvp.flow.scale import Scale
from tf_realnvp.flow.step import Step
from tf_realnvp.flow.steps import STEP_TYPES

__all__ = ["GlowStep", "MultiScaleFlow", "RealNVPStep", "STEP_TYPES", "Scale",
           "ScaleSpec", "Step", "StepSpec", "multiscale_layout"]
