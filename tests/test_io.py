"""Tests of tf_realnvp/io.py: image grids, atomic files, one-line errors,
TCP reachability."""

import builtins
import os
import socket

import numpy as np
import pytest

from tf_realnvp import io


def _distinct_tiles(rows, cols, side, seed=0):
  """uint8 tiles `[rows, cols, side, side, 1]`, random, none like a gap."""
  rng = np.random.default_rng(seed)
  tiles = rng.integers(0, 256, (rows, cols, side, side, 1), dtype=np.uint8)
  tiles[tiles == io.GAP_VALUE] = 0
  return tiles


@pytest.mark.parametrize("side, scale", [(28, 4), (128, 1), (8, 14)])
def test_display_scale_makes_a_tile_at_least_the_minimum_side(side, scale):
  assert io.display_scale(side, side) == scale
  assert scale * side >= io.MIN_TILE_SIDE
  assert scale == 1 or (scale - 1) * side < io.MIN_TILE_SIDE


@pytest.mark.parametrize("side, scale", [(28, 4), (128, 1)])
def test_image_grid_places_each_enlarged_tile_between_gaps(side, scale):
  tiles = _distinct_tiles(2, 3, side)
  grid = io.image_grid(tiles)
  step = scale * side + io.GAP  # From one tile's top-left to the next one's.
  assert grid.dtype == np.uint8
  assert grid.shape == (2 * step - io.GAP, 3 * step - io.GAP, 1)
  is_gap = np.ones(grid.shape, bool)
  for r in range(2):
    for c in range(3):
      cell = grid[r * step:r * step + scale * side,
                  c * step:c * step + scale * side]
      # Nearest neighbour: each pixel becomes a `scale x scale` block.
      np.testing.assert_array_equal(
          cell, tiles[r, c].repeat(scale, axis=0).repeat(scale, axis=1))
      is_gap[r * step:r * step + scale * side,
             c * step:c * step + scale * side] = False
  assert np.all(grid[is_gap] == io.GAP_VALUE)
  assert is_gap.any()


def test_image_grid_takes_an_explicit_scale_and_refuses_floats():
  tiles = _distinct_tiles(1, 2, 3)
  grid = io.image_grid(tiles, scale=2)
  assert grid.shape == (6, 2 * 6 + io.GAP, 1)
  np.testing.assert_array_equal(grid[:, 6], io.GAP_VALUE)
  with pytest.raises(ValueError, match="uint8 tiles"):
    io.image_grid(tiles.astype(np.float32))
  with pytest.raises(ValueError, match="uint8 tiles"):
    io.image_grid(tiles[0])


@pytest.mark.parametrize("count, rows, cols", [(1, 1, 1), (4, 2, 2),
                                               (5, 2, 3), (10, 3, 4)])
def test_square_tiles_fill_rows_and_leave_gap_coloured_cells(count, rows,
                                                             cols):
  images = _distinct_tiles(count, 1, 2)[:, 0]
  tiles = io.square_tiles(images)
  assert tiles.shape == (rows, cols, 2, 2, 1) and tiles.dtype == np.uint8
  flat = tiles.reshape((rows * cols, 2, 2, 1))
  np.testing.assert_array_equal(flat[:count], images)  # Row by row.
  assert np.all(flat[count:] == io.GAP_VALUE)


def test_write_atomically_writes_and_leaves_no_temporary_file(tmp_path):
  path = str(tmp_path / "sub" / "file.txt")
  io.write_atomically(path, "first")
  io.write_text(path, "second")
  with open(path) as f:
    assert f.read() == "second"
  assert os.listdir(tmp_path / "sub") == ["file.txt"]
  io.write_atomically(path, b"\x00\xff", mode="wb")
  with open(path, "rb") as f:
    assert f.read() == b"\x00\xff"


class _DiskFull:
  """A file that takes half of what is written, then fails."""

  def __init__(self, f):
    self._file = f

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self._file.close()

  def write(self, content):
    self._file.write(content[:len(content) // 2])
    self._file.flush()
    raise OSError("No space left on device")


@pytest.mark.parametrize("existing", [None, "the old text"])
def test_write_atomically_never_leaves_a_partial_file(tmp_path, monkeypatch,
                                                      existing):
  path = tmp_path / "file.txt"
  if existing is not None:
    path.write_text(existing)
  written = []

  def failing_open(name, mode="r", *args, **kwargs):
    written.append(name)
    return _DiskFull(builtins.open(name, mode, *args, **kwargs))

  monkeypatch.setattr(io, "open", failing_open, raising=False)
  with pytest.raises(OSError, match="No space left"):
    io.write_atomically(str(path), "the new text, half of which is written")
  monkeypatch.undo()
  # Half was written to a temporary file, which is gone; the file is as it
  # was.
  assert len(written) == 1 and written[0] != str(path)
  assert os.listdir(tmp_path) == ([] if existing is None else ["file.txt"])
  if existing is not None:
    assert path.read_text() == existing


def test_one_line_is_the_first_non_empty_line_collapsed():
  error = ValueError("\n  Cannot   read\tthe file  \nTraceback (most recent)")
  assert io.one_line(error) == "Cannot read the file"
  assert io.one_line(ValueError()) == "ValueError"
  assert io.one_line(OSError("\n \n")) == "OSError"
  long = io.one_line(RuntimeError("x" * 1000))
  assert len(long) == 500 and long.endswith("...")


def test_connection_error_is_none_for_a_listening_port_else_why():
  with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    assert io.connection_error("127.0.0.1", port, timeout=5) is None
  # Closed now: nothing listens on the port.
  error = io.connection_error("127.0.0.1", port, timeout=5)
  assert isinstance(error, str) and error
