"""PNG figures of anomaly scores, drawn with Pillow: score histograms and the
most and least anomalous images.

Both figures are written with `tf_realnvp.io.write_atomically` (a temporary
file next to the target, then `os.replace`), so a reader never sees half a
PNG and a failed write leaves an existing file as it was.
"""

import functools
from io import BytesIO

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from tf_realnvp import checks
from tf_realnvp import io

__all__ = ["SET_COLOURS", "extremes_png", "histogram_png"]

# RGB of the sets of a histogram, in order (cycled past the sixth set).
SET_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
               (148, 103, 189), (140, 86, 75))

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
_BAR_ALPHA = 96  # Of 255: overlapping bars stay visible through each other.
_PLOT_WIDTH, _PLOT_HEIGHT = 560, 300  # Of the axes box, in pixels.
_PAD = 6
_TICK = 4
_NUM_X_TICKS = 5  # min, quartiles, max.
_SWATCH = 10


def histogram_png(path, scores_by_set, title, num_bins=40):
  """Writes overlaid, density-normalised histograms of several score sets.

  All sets share `num_bins` equal bins over the range of all scores, and each
  set's bar in bin `[e_k, e_{k+1})` has height `c_k / (n (e_{k+1} - e_k))`
  (counts `c_k` of its `n` scores), so that sets of different sizes compare.
  Bars are translucent with an opaque outline in the set's colour
  (`SET_COLOURS`, in order), drawn in the order of `scores_by_set`. The x
  axis is labelled at the minimum, quartiles and maximum of the range; the
  legend gives each set's colour, name and count.

  Args:
    path: the PNG file to write; its folder is created.
    scores_by_set: ordered mapping of set name to a 1-D array of finite
      scores `[n_i]`, e.g. `{"inliers": ..., "outliers": ...}`.
    title: the figure's title.
    num_bins: the number of bins, an int `>= 1`.

  Returns:
    `path`.

  Raises:
    ValueError: if there are no sets, or a set is not 1-D, is empty, or has
      non-finite scores, or `num_bins` is not an int `>= 1`.
  """
  checks.check_int(1, num_bins=num_bins)
  sets = _check_sets(scores_by_set)
  edges = np.histogram_bin_edges(np.concatenate(list(sets.values())),
                                 bins=num_bins)
  densities = [np.histogram(scores, bins=edges, density=True)[0]
               for scores in sets.values()]
  top = 1.05 * max(float(d.max()) for d in densities)
  font = _font()
  text_height = _text_size("0", font)[1]
  legend = [f"{name} (n={scores.size})" for name, scores in sets.items()]
  left = _PAD + max(_text_size(_number(top), font)[0], _text_size("0", font)[0]
                    ) + _TICK + _PAD
  box_top = 3 * _PAD + 2 * text_height  # Title, then "density".
  box = (left, box_top, left + _PLOT_WIDTH, box_top + _PLOT_HEIGHT)
  legend_left = box[2] + 2 * _PAD
  width = legend_left + _SWATCH + _PAD + max(
      _text_size(label, font)[0] for label in legend) + 2 * _PAD
  height = box[3] + _TICK + 3 * _PAD + 2 * text_height  # Ticks, "score".
  image = Image.new("RGBA", (width, height), _WHITE + (255,))
  bars = _bar_boxes(box, densities, top)
  for i, rectangles in enumerate(bars):
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for rectangle in rectangles:
      draw.rectangle(rectangle, fill=_colour(i) + (_BAR_ALPHA,))
    image = Image.alpha_composite(image, layer)
  image = image.convert("RGB")
  draw = ImageDraw.Draw(image)
  for i, rectangles in enumerate(bars):
    for rectangle in rectangles:
      draw.rectangle(rectangle, outline=_colour(i))
  draw.rectangle(box, outline=_BLACK)
  _centred_text(draw, (width / 2, _PAD), str(title), font)
  draw.text((_PAD, 2 * _PAD + text_height), "density", fill=_BLACK, font=font)
  for value, y in ((0.0, box[3]), (top, box[1])):
    label = _number(value)
    draw.line([(left - _TICK, y), (left, y)], fill=_BLACK)
    draw.text((left - _TICK - _PAD // 2 - _text_size(label, font)[0],
               y - text_height / 2), label, fill=_BLACK, font=font)
  for k in range(_NUM_X_TICKS):
    x = box[0] + k * (_PLOT_WIDTH - 1) / (_NUM_X_TICKS - 1)
    value = edges[0] + k * (edges[-1] - edges[0]) / (_NUM_X_TICKS - 1)
    draw.line([(x, box[3]), (x, box[3] + _TICK)], fill=_BLACK)
    _centred_text(draw, (x, box[3] + _TICK + _PAD), _number(value), font)
  _centred_text(draw, ((box[0] + box[2]) / 2, height - _PAD - text_height),
                "score", font)
  for i, label in enumerate(legend):
    y = box[1] + i * (text_height + _PAD)
    draw.rectangle([legend_left, y, legend_left + _SWATCH - 1,
                    y + _SWATCH - 1], fill=_colour(i))
    draw.text((legend_left + _SWATCH + _PAD, y), label, fill=_BLACK,
              font=font)
  _write_png(path, image)
  return path


def extremes_png(path, images, scores, count=8, scale=2):
  """Writes the most and least anomalous images with their scores.

  A grid of two rows under the labels "most anomalous" and "least
  anomalous": the top row holds the `count` highest-scoring images by
  decreasing score, the bottom row the `count` lowest by increasing score
  (so the two ends of the ranking are on the left; ties keep the order of
  `images`). Each image is enlarged `scale` times by nearest neighbour and
  labelled below with its score to 3 decimals; columns are as wide as the
  wider of an image and its label. Grey images are drawn as RGB.

  Args:
    path: the PNG file to write; its folder is created.
    images: uint8 `[N, H, W, C]`, `C` 1 or 3.
    scores: `[N]` scores of `images`, higher is more anomalous, no NaN.
    count: images per row, an int `>= 1`; `min(count, N)` are shown.
    scale: the integer enlargement of each image, `>= 1`.

  Returns:
    `path`.

  Raises:
    ValueError: if `images` is not uint8 `[N, H, W, C]` with `C` 1 or 3, if
      `scores` is not `[N]` or has NaN, if `N == 0`, or if `count` or
      `scale` is not an int `>= 1`.
  """
  checks.check_int(1, count=count, scale=scale)
  images, scores = _check_images(images, scores)
  count = min(count, images.shape[0])
  order = np.argsort(scores, kind="stable")
  rows = [("most anomalous", np.argsort(-scores, kind="stable")[:count]),
          ("least anomalous", order[:count])]
  tiles = images.repeat(scale, axis=1).repeat(scale, axis=2)
  if tiles.shape[-1] == 1:
    tiles = tiles.repeat(3, axis=-1)
  tile_height, tile_width = tiles.shape[1:3]
  font = _font()
  text_height = _text_size("0", font)[1]
  labels = [[f"{scores[i]:.3f}" for i in indices] for _, indices in rows]
  column = max([tile_width] + [_text_size(label, font)[0] + _PAD
                               for row in labels for label in row])
  row_height = text_height + _PAD + tile_height + _PAD + text_height + 2 * _PAD
  width = 2 * _PAD + max(count * column + (count - 1) * _PAD,
                         max(_text_size(name, font)[0] for name, _ in rows))
  height = _PAD + 2 * row_height
  image = Image.new("RGB", (width, height), _WHITE)
  draw = ImageDraw.Draw(image)
  for r, (name, indices) in enumerate(rows):
    top = _PAD + r * row_height
    draw.text((_PAD, top), name, fill=_BLACK, font=font)
    tile_top = top + text_height + _PAD
    for c, index in enumerate(indices):
      centre = _PAD + c * (column + _PAD) + column / 2
      image.paste(Image.fromarray(tiles[index]),
                  (int(centre - tile_width / 2), tile_top))
      _centred_text(draw, (centre, tile_top + tile_height + _PAD),
                    labels[r][c], font)
  _write_png(path, image)
  return path


def _check_sets(scores_by_set):
  """The sets as float64 1-D arrays by name, or a `ValueError`."""
  if not scores_by_set:
    raise ValueError("scores_by_set is empty: give at least one set of "
                     "scores.")
  sets = {}
  for name, scores in scores_by_set.items():
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
      raise ValueError(f"The scores of set {name!r} must be 1-D, received "
                       f"shape {scores.shape}.")
    if scores.size == 0:
      raise ValueError(f"The set {name!r} has no scores.")
    bad = int(np.count_nonzero(~np.isfinite(scores)))
    if bad:
      raise ValueError(f"The set {name!r} has {bad} non-finite score(s) out "
                       f"of {scores.size}.")
    sets[str(name)] = scores
  return sets


def _check_images(images, scores):
  """`images` uint8 `[N, H, W, C]` and `scores` float64 `[N]`, or a
  `ValueError`."""
  images = np.asarray(images)
  scores = np.asarray(scores, dtype=np.float64)
  if (images.dtype != np.uint8 or images.ndim != 4 or
      images.shape[-1] not in (1, 3)):
    raise ValueError(f"images must be uint8 [N, H, W, C] with C 1 or 3, "
                     f"received {images.dtype} of shape {images.shape}.")
  if scores.ndim != 1 or scores.shape[0] != images.shape[0]:
    raise ValueError(f"scores must be [N] for the N = {images.shape[0]} "
                     f"images, received shape {scores.shape}.")
  if images.shape[0] == 0:
    raise ValueError("images is empty: there is nothing to show.")
  nans = int(np.count_nonzero(np.isnan(scores)))
  if nans:
    raise ValueError(f"scores has {nans} NaN score(s) out of {scores.size}.")
  return images, scores


def _bar_boxes(box, densities, top):
  """Per set, the `[x0, y0, x1, y1]` rectangles of its non-empty bins in the
  axes `box`, a density of `top` reaching the top of the box."""
  left, _, right, bottom = box
  num_bins = densities[0].size
  bars = []
  for density in densities:
    heights = np.round(density / top * (bottom - box[1])).astype(int)
    bars.append([
        [left + k * (right - left) // num_bins, bottom - h,
         left + (k + 1) * (right - left) // num_bins, bottom]
        for k, h in enumerate(heights) if h > 0])
  return bars


def _colour(i):
  return SET_COLOURS[i % len(SET_COLOURS)]


def _number(value):
  return f"{value:.4g}"


@functools.lru_cache(maxsize=None)
def _font():
  return ImageFont.load_default()


def _text_size(text, font):
  """`(width, height)` of `text` drawn at the origin, in pixels."""
  _, _, right, bottom = font.getbbox(text)
  return right, bottom


def _centred_text(draw, top_centre, text, font):
  """Draws `text` with the middle of its top edge at `top_centre`."""
  x, y = top_centre
  draw.text((x - _text_size(text, font)[0] / 2, y), text, fill=_BLACK,
            font=font)


def _write_png(path, image):
  """Writes a Pillow image as PNG with `io.write_atomically`."""
  buffer = BytesIO()
  image.save(buffer, format="PNG")
  io.write_atomically(path, buffer.getvalue(), mode="wb")
