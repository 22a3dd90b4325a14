"""TensorFlow's start-up, without the lines that only look like problems.

Importing TensorFlow 2.21 prints, whatever `TF_CPP_MIN_LOG_LEVEL` says (they
come before TensorFlow initialises its logging), "All log messages before
absl::InitializeLog() is called are written to STDERR", "oneDNN custom
operations are on ..." and "Could not find cuda drivers on your machine", and
its first look at the devices logs "failed call to cuInit: ... UNKNOWN ERROR
(303)" on every machine without an NVIDIA driver: an error line at the top of
every CPU-only run. The command lines call `import_tensorflow()` first, which
runs that start-up with the process's stderr (file descriptor 2) caught and
prints every other line it wrote. GPUs are not hidden: the devices are those
TensorFlow finds, and the CUDA lines are dropped only where no NVIDIA driver
is installed (`/proc/driver/nvidia` absent).
"""

import os
import sys
import threading

__all__ = ["NOISE", "import_tensorflow", "is_noise"]

# Substrings of start-up lines that say nothing is wrong.
NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)
# Substrings that mean "no NVIDIA driver", noise only where there is none.
NO_DRIVER = ("Could not find cuda drivers on your machine",
             "failed call to cuInit")
_DRIVER = "/proc/driver/nvidia"


def is_noise(line, has_driver=None):
  """Whether a start-up `line` is one of the harmless ones."""
  if has_driver is None:
    has_driver = os.path.exists(_DRIVER)
  return (any(s in line for s in NOISE) or
          (not has_driver and any(s in line for s in NO_DRIVER)))


def import_tensorflow():
  """Imports TensorFlow and lists its devices, printing to stderr only what
  its start-up wrote that is not `is_noise`. Returns the `tensorflow`
  module. Does nothing special if TensorFlow is imported already."""
  if "tensorflow" in sys.modules:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf
  sys.stderr.flush()
  saved = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)
  chunks = []
  reader = threading.Thread(target=_drain, args=(read_end, chunks),
                            daemon=True)
  reader.start()
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices()
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)  # Closes the pipe's last writer: the reader ends.
    os.close(saved)
    reader.join(timeout=5)
  text = b"".join(chunks).decode(errors="replace")
  kept = [line for line in text.splitlines(keepends=True)
          if line.strip() and not is_noise(line)]
  sys.stderr.write("".join(kept))
  sys.stderr.flush()
  return tf


def _drain(fd, chunks):
  with os.fdopen(fd, "rb", buffering=0) as pipe:
    while True:
      chunk = pipe.read(65536)
      if not chunk:
        return
      chunks.append(chunk)
