"""The kinds of step a flow can be built of, by name (`RealNVP(step_type=)`,
`train.py --step_type`)."""

from tf_realnvp.flow.glow_step import GlowStep
from tf_realnvp.flow.real_nvp_step import RealNVPStep

__all__ = ["STEP_TYPES"]

# name -> `tf_realnvp.flow.Step` subclass; the first is the default.
STEP_TYPES = {"real_nvp": RealNVPStep, "glow": GlowStep}
