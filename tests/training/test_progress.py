"""Tests of tf_realnvp/training/progress.py: the progress bar and the
throughput it shows."""

import io
import types

import pytest

from tf_realnvp.training import progress


class _Terminal(io.StringIO):
  """A stream that says it is a terminal."""

  def isatty(self):
    return True


BAR_25 = ("step 25/100 [######..................]  25% bits/dim 3.1416  "
          "123.5 img/s  ETA 0:02:30")
BAR_100 = ("step 100/100 [########################] 100% bits/dim 2.5000  "
           "80.0 img/s  ETA 0:00:00")


def _draw(bar):
  bar.update(25, 3.14159, 123.45, seconds_per_step=2.0)
  bar.message("step 25: test bits/dim 3.2000")
  bar.update(100, 2.5, 80.0, seconds_per_step=2.0)
  bar.close()


def test_without_a_terminal_each_update_is_a_line():
  stream = io.StringIO()
  _draw(progress.ProgressBar(100, stream))
  assert stream.getvalue().splitlines() == [
      BAR_25, "step 25: test bits/dim 3.2000", BAR_100]
  assert stream.getvalue().endswith("\n") and "\r" not in stream.getvalue()


def test_on_a_terminal_the_bar_is_redrawn_and_messages_keep_it():
  stream = _Terminal()
  _draw(progress.ProgressBar(100, stream))
  assert stream.getvalue() == (
      f"\r{BAR_25}\x1b[K"  # Drawn over the line, the rest of it erased.
      "\nstep 25: test bits/dim 3.2000\n"  # Below the bar, which stays.
      f"\r{BAR_100}\x1b[K"
      "\n")  # `close` ends the bar's line.


@pytest.mark.parametrize("seconds, text", [
    (3725.2, "1:02:05"), (59.6, "0:01:00"), (0, "0:00:00"), (-5, "0:00:00")])
def test_format_duration(seconds, text):
  assert progress.format_duration(seconds) == text


def test_throughput_excludes_paused_time(monkeypatch):
  now = [100.0]
  monkeypatch.setattr(progress, "time",
                      types.SimpleNamespace(perf_counter=lambda: now[0]))
  throughput = progress.Throughput()
  for _ in range(4):
    now[0] += 0.5
    throughput.add(32)
  throughput.pause()  # An evaluation of 10 s.
  now[0] += 10.0
  throughput.resume()
  assert throughput.measure() == (4 * 32 / 2.0, 0.5)
  now[0] += 3.0  # One step, then the next measure starts from here.
  throughput.add(16)
  assert throughput.measure() == (16 / 3.0, 3.0)
