"""Keras 3 layers owning Real NVP's variables."""

from tf_realnvp.layers.actnorm import ActNorm
from tf_realnvp.layers.batch_norm import BatchNormalization
from tf_realnvp.layers.invertible_conv import InvertibleConv1x1
from tf_realnvp.layers.resnet import CouplingResNet
from tf_realnvp.layers.squeeze import Squeeze
from tf_realnvp.layers.weight_norm import WeightNormConv2D

__all__ = ["ActNorm", "BatchNormalization", "CouplingResNet",
           "InvertibleConv1x1", "Squeeze", "WeightNormConv2D"]
