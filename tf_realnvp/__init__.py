"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) for TensorFlow Probability.

`tf_realnvp.RealNVP` is the model (`tf_realnvp.model`), `ModelConfig` its
settings; the subpackages are the flow's structure (`flow`) and parts
(`bijectors`, `layers`), the datasets (`data`), how a step is taken
(`optimization`), training (`training`), and what a trained model is used
for (`export`, `figures`, `anomaly`).
"""

__all__ = ["ModelConfig", "RealNVP"]


def __getattr__(name):
  # Imported on first use, so that a command line can start TensorFlow its
  # own way (`tf_realnvp.startup`) before anything imports it.
  if name == "RealNVP":
    from tf_realnvp.model import RealNVP  # pylint: disable=g-import-not-at-top
    return RealNVP
  if name == "ModelConfig":
    from tf_realnvp.model_config import ModelConfig  # pylint: disable=g-import-not-at-top
    return ModelConfig
  raise AttributeError(f"module 'tf_realnvp' has no attribute {name!r}")
