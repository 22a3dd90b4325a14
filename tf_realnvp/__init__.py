"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) for TensorFlow Probability.

`tf_realnvp.RealNVP` is the model (`tf_realnvp.model`); the subpackages are
the flow's parts (`bijectors`, `layers`), the datasets (`data`), training
(`training`), and what a trained model is used for (`export`, `figures`).
"""

__all__ = ["RealNVP"]


def __getattr__(name):
  # Imported on first use, so that a command line can start TensorFlow its
  # own way (`tf_realnvp.startup`) before anything imports it.
  if name == "RealNVP":
    from tf_realnvp.model import RealNVP  # pylint: disable=g-import-not-at-top
    return RealNVP
  raise AttributeError(f"module 'tf_realnvp' has no attribute {name!r}")
