"""A terminal progress bar for training: step, bits/dim, images/sec, ETA."""

import sys
import time

__all__ = ["ProgressBar", "Throughput", "format_duration"]


def format_duration(seconds):
  """`3725.2` -> `"1:02:05"`."""
  seconds = int(round(max(seconds, 0)))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{seconds:02d}"


class ProgressBar:
  """Redraws one line on a terminal; prints one line per update otherwise.

  Args:
    total: the last step.
    stream: where to write (default `sys.stderr`).
    width: characters of the bar itself.
  """

  def __init__(self, total, stream=None, width=24):
    self.total = total
    self.stream = stream or sys.stderr
    self.width = width
    self._interactive = getattr(self.stream, "isatty", lambda: False)()

  def line(self, step, bits_per_dim, images_per_sec):
    """The text for `step`; ETA assumes `images_per_sec` from now on."""
    done = min(max(step / self.total, 0.0), 1.0)
    filled = int(round(done * self.width))
    bar = "#" * filled + "." * (self.width - filled)
    return (f"step {step}/{self.total} [{bar}] {100 * done:3.0f}% "
            f"bits/dim {bits_per_dim:.4f}  {images_per_sec:.1f} img/s")

  def update(self, step, bits_per_dim, images_per_sec, seconds_per_step):
    text = self.line(step, bits_per_dim, images_per_sec)
    text += f"  ETA {format_duration((self.total - step) * seconds_per_step)}"
    if self._interactive:
      self.stream.write("\r" + text + "\x1b[K")
    else:
      self.stream.write(text + "\n")
    self.stream.flush()

  def message(self, text):
    """Prints `text` on its own line without breaking the bar."""
    self.stream.write(("\n" if self._interactive else "") + text + "\n")
    self.stream.flush()

  def close(self):
    if self._interactive:
      self.stream.write("\n")
      self.stream.flush()


class Throughput:
  """Images per second and seconds per step between two `measure` calls."""

  def __init__(self):
    self._time = time.perf_counter()
    self._steps = 0
    self._images = 0

  def add(self, images):
    self._steps += 1
    self._images += images

  def pause(self):
    """Excludes the time until `resume` (evaluation, checkpoints)."""
    self._paused = time.perf_counter()

  def resume(self):
    self._time += time.perf_counter() - self._paused

  def measure(self):
    """Returns `(images/sec, sec/step)` since the last call and restarts."""
    now = time.perf_counter()
    elapsed = max(now - self._time, 1e-9)
    result = (self._images / elapsed, elapsed / max(self._steps, 1))
    self._time, self._steps, self._images = now, 0, 0
    return result
