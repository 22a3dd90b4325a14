"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) for TensorFlow Probability."""

from tf_realnvp.model import RealNVP

__all__ = ["RealNVP"]
