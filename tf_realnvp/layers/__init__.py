"""Keras 3 layers owning Real NVP's variables."""

from tf_realnvp.layers.batch_norm import BatchNormalization
from tf_realnvp.layers.resnet import CouplingResNet
from tf_realnvp.layers.squeeze import Squeeze
from tf_realnvp.layers.weight_norm import WeightNormConv2D

__all__ = ["BatchNormalization", "CouplingResNet", "Squeeze",
           "WeightNormConv2D"]
