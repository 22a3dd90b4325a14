"""Tests of tf_realnvp/anomaly/plots.py: the PNGs' pixels and atomic
writes."""

import os

import numpy as np
import pytest
from PIL import Image

from tf_realnvp.anomaly import plots

_SIDE, _SCALE = 4, 2


def _read(path):
  """The pixels of a PNG file, uint8 `[H, W, 3]` (it must be RGB)."""
  with Image.open(path) as image:
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def _images(count, channels=3, seed=0):
  """Random uint8 images `[count, _SIDE, _SIDE, channels]`."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (count, _SIDE, _SIDE, channels), np.uint8)


def _scores(count, seed=0):
  """Distinct scores `[count]` in random order."""
  return np.random.default_rng(seed).permutation(count) * 0.5 - 1.0


def _find(pixels, tile):
  """The `(row, col)` of each place where `tile` `[h, w, 3]` is in `pixels`."""
  windows = np.lib.stride_tricks.sliding_window_view(pixels, tile.shape)
  return [tuple(p) for p in np.argwhere(np.all(windows == tile,
                                               axis=(-3, -2, -1)))[:, :2]]


def _enlarged(image):
  """An image `[H, W, C]` as drawn: `_SCALE` times larger, RGB."""
  image = image.repeat(_SCALE, axis=0).repeat(_SCALE, axis=1)
  return image.repeat(3, axis=2) if image.shape[2] == 1 else image


def _axes_box(pixels):
  """`(top, left, bottom, right)` of a histogram's black frame: the rows and
  columns that are black over more than half the figure."""
  black = np.all(pixels == 0, axis=-1)
  rows = np.flatnonzero(black.sum(axis=1) > pixels.shape[1] / 2)
  cols = np.flatnonzero(black.sum(axis=0) > pixels.shape[0] / 2)
  assert len(rows) == 2 and len(cols) == 2
  return rows[0], cols[0], rows[1], cols[1]


def _has(pixels, colour):
  """Where `pixels` `[H, W, 3]` are exactly `colour`, bool `[H, W]`."""
  return np.all(pixels == colour, axis=-1)


def _write(kind, path):
  """Writes a small figure of `kind` to `path`."""
  if kind == "histogram":
    return plots.histogram_png(path, {"inliers": _scores(9)}, "t")
  return plots.extremes_png(path, _images(5), _scores(5), count=2)


@pytest.mark.parametrize("channels", [1, 3])
def test_extremes_places_the_ranked_images_in_two_rows(tmp_path, channels):
  images, scores = _images(10, channels), _scores(10)
  path = str(tmp_path / "extremes.png")
  assert plots.extremes_png(path, images, scores, count=3,
                            scale=_SCALE) == path
  pixels = _read(path)
  most = np.argsort(-scores)[:3]  # Descending, left to right.
  least = np.argsort(scores)[:3]  # Ascending.
  places = []
  for index in np.concatenate([most, least]):
    found = _find(pixels, _enlarged(images[index]))
    assert len(found) == 1, index
    places.append(found[0])
  top, bottom = places[:3], places[3:]
  assert len({r for r, _ in top}) == 1 and len({r for r, _ in bottom}) == 1
  assert top[0][0] < bottom[0][0]
  for row in (top, bottom):
    assert [c for _, c in row] == sorted(c for _, c in row)
  # The top-left tile is the most anomalous image.
  assert places[0] == min(places)
  assert min(c for _, c in places) == places[0][1]


def test_extremes_grows_with_count_and_shows_at_most_every_image(tmp_path):
  images, scores = _images(5), _scores(5)
  shapes = [_read(plots.extremes_png(str(tmp_path / f"{count}.png"), images,
                                     scores, count=count)).shape
            for count in (1, 2, 4)]
  assert shapes[0][0] == shapes[1][0] == shapes[2][0]
  assert shapes[0][1] < shapes[1][1] < shapes[2][1]
  np.testing.assert_array_equal(
      _read(plots.extremes_png(str(tmp_path / "5.png"), images, scores,
                               count=5)),
      _read(plots.extremes_png(str(tmp_path / "9.png"), images, scores,
                               count=9)))


@pytest.mark.parametrize("images, scores, count, message", [
    (_images(3), _scores(2), 2, r"scores must be \[N\] for the N = 3"),
    (_images(2), _scores(2)[:, None], 2, r"scores must be \[N\]"),
    (_images(0), _scores(0), 2, "images is empty"),
    (_images(2).astype(np.float32), _scores(2), 2, "images must be uint8"),
    (_images(2, channels=2), _scores(2), 2, "with C 1 or 3"),
    (_images(2)[0], _scores(2), 2, "images must be uint8"),
    (_images(2), [0.0, np.nan], 2, "scores has 1 NaN"),
    (_images(2), _scores(2), 0, "count must be an int >= 1"),
])
def test_extremes_refuses_bad_arguments(tmp_path, images, scores, count,
                                        message):
  path = tmp_path / "extremes.png"
  with pytest.raises(ValueError, match=message):
    plots.extremes_png(str(path), images, scores, count=count)
  assert not path.exists()


def test_histogram_normalises_densities_on_common_bins(tmp_path):
  # 11 bins of width 1 over [0, 11]: the 10 inliers all fall in the first,
  # the 1000 outliers in the last; both have density 1 there.
  inliers = np.repeat([0.0, 0.9], 5)
  outliers = np.repeat([10.1, 11.0], 500)
  path = str(tmp_path / "sub" / "histogram.png")
  assert plots.histogram_png(path, {"inliers": inliers, "outliers": outliers},
                             "title", num_bins=11) == path
  pixels = _read(path)
  top, left, bottom, right = _axes_box(pixels)
  inside = pixels[top + 1:bottom, left + 1:right]
  rows_0, cols_0 = np.nonzero(_has(inside, plots.SET_COLOURS[0]))
  rows_1, cols_1 = np.nonzero(_has(inside, plots.SET_COLOURS[1]))
  bin_width = (right - left) / 11
  assert cols_0.max() < 1.5 * bin_width and cols_1.min() > 9.5 * bin_width
  assert rows_0.min() == rows_1.min()  # Equal heights despite 10 vs 1000.
  assert rows_0.min() < (bottom - top) / 4  # Tall: near the top of the axes.
  assert not _has(inside, plots.SET_COLOURS[2]).any()
  # The legend's swatches are right of the axes.
  for colour in plots.SET_COLOURS[:2]:
    assert _has(pixels[:, right + 1:], colour).any()


def test_histogram_draws_each_set_in_its_colour(tmp_path):
  scores = {name: _scores(5 + i, seed=i) for i, name in enumerate("abc")}
  pixels = _read(plots.histogram_png(str(tmp_path / "h.png"), scores, "t",
                                     num_bins=3))
  for i, colour in enumerate(plots.SET_COLOURS[:4]):
    assert _has(pixels, colour).any() == (i < 3)


def test_histogram_of_equal_scores_draws_one_bar(tmp_path):
  pixels = _read(plots.histogram_png(str(tmp_path / "h.png"),
                                     {"constant": np.full(4, 2.5)}, "t"))
  top, left, bottom, right = _axes_box(pixels)
  cols = np.nonzero(_has(pixels[top + 1:bottom, left + 1:right],
                         plots.SET_COLOURS[0]))[1]
  assert 0 < cols.max() - cols.min() < (right - left) / 10


@pytest.mark.parametrize("scores_by_set, num_bins, message", [
    ({}, 4, "scores_by_set is empty"),
    ({"a": [1.0], "b": []}, 4, "set 'b' has no scores"),
    ({"a": [[1.0, 2.0]]}, 4, r"set 'a' must be 1-D, received shape \(1, 2\)"),
    ({"a": [1.0, np.inf, np.nan]}, 4, "'a' has 2 non-finite score.* of 3"),
    ({"a": [1.0]}, 0, "num_bins must be an int >= 1"),
])
def test_histogram_refuses_bad_arguments(tmp_path, scores_by_set, num_bins,
                                         message):
  path = tmp_path / "histogram.png"
  with pytest.raises(ValueError, match=message):
    plots.histogram_png(str(path), scores_by_set, "t", num_bins=num_bins)
  assert not path.exists()


@pytest.mark.parametrize("kind", ["histogram", "extremes"])
def test_writes_are_atomic(tmp_path, monkeypatch, kind):
  path = str(tmp_path / "new" / "figure.png")
  _write(kind, path)
  _write(kind, path)  # Replaces.
  assert os.listdir(tmp_path / "new") == ["figure.png"]
  before = open(path, "rb").read()

  def fail(*args):
    raise OSError("disk full")

  with monkeypatch.context() as patch:
    patch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
      _write(kind, path)
  assert open(path, "rb").read() == before
  assert os.listdir(tmp_path / "new") == ["figure.png"]
  # A folder in the way: the write fails, and leaves the folder as it was.
  os.mkdir(tmp_path / "new" / "folder.png")
  with pytest.raises(OSError):
    _write(kind, str(tmp_path / "new" / "folder.png"))
  assert sorted(os.listdir(tmp_path / "new")) == ["figure.png", "folder.png"]
  assert os.listdir(tmp_path / "new" / "folder.png") == []
