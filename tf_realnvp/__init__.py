"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) for TensorFlow Probability."""
