"""Real NVP's bijectors: `tfp.bijectors.Bijector` subclasses."""

from tf_realnvp.bijectors.batch_norm import BatchNorm
from tf_realnvp.bijectors.channel_affine import ActNormBijector
from tf_realnvp.bijectors.channel_affine import InvertibleConv1x1Bijector
from tf_realnvp.bijectors.conditioned import Conditioned
from tf_realnvp.bijectors.coupling import AffineCoupling
from tf_realnvp.bijectors.coupling import CouplingMask
from tf_realnvp.bijectors.factor_out import FactorOut
from tf_realnvp.bijectors.one_pass import OnePassBijector
from tf_realnvp.bijectors.preprocessing import PixelLogit
from tf_realnvp.bijectors.squeeze import Squeeze

__all__ = ["ActNormBijector", "AffineCoupling", "BatchNorm", "Conditioned",
           "CouplingMask", "FactorOut", "InvertibleConv1x1Bijector",
           "OnePassBijector", "PixelLogit", "Squeeze"]
