"""Tests of tf_realnvp/figures/panels.py and render.py: each figure's tiles
and grid, from a model and images (the command: test_command.py).

Figures run on a float32 8x8x1 model with randomised weights (a fresh flow
is close to the identity, against which corner and round-trip checks would
be vacuous).
"""

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import io
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp.figures import panels
from tf_realnvp.figures import render
from tests.figures.helpers import figure_images
from tests.figures.helpers import unconditional_model
from tests.figures.helpers import png_shape
from tests.figures.helpers import read_png

IMAGE_SHAPE = (8, 8, 1)
OPTIONS = render.FigureOptions(temperatures=(0.0, 1.0), num_samples=3,
                               num_images=2, grid_size=3)


@pytest.fixture(scope="module")
def model():
  return unconditional_model(IMAGE_SHAPE)


@pytest.fixture(scope="module")
def images():
  return figure_images(IMAGE_SHAPE)


def _centres(images):
  return pixels.bin_centres(images).numpy()


@pytest.mark.parametrize("figure", render.FIGURES)
def test_each_figure_is_a_png_of_the_expected_size(model, images, figure,
                                                   tmp_path):
  grid, _ = render.render(figure, model, images, OPTIONS)
  io.write_png(str(tmp_path / "figure.png"), grid)
  png = read_png(tmp_path / "figure.png")
  assert png.shape == png_shape(figure, OPTIONS, IMAGE_SHAPE, num_scales=2)
  np.testing.assert_array_equal(png, grid)


def test_render_draws_the_tiles_of_the_panels(model, images):
  """The grid is `io.image_grid` of the panels' tiles, floored to uint8."""
  grid, lines = render.render("reconstruct", model, images, OPTIONS)
  tiles, _ = panels.reconstruction_panels(model, images[:OPTIONS.num_images])
  np.testing.assert_array_equal(
      grid, io.image_grid(pixels.to_uint8(tiles).numpy()))
  assert lines[0].startswith("max |decode(encode(y)) - y| = ")


def test_manifold_corners_are_the_four_images(model, images):
  tiles = panels.manifold_panels(model, images[:4], grid_size=4)
  corners = [tiles[0, 0], tiles[0, -1], tiles[-1, 0], tiles[-1, -1]]
  for corner, image in zip(corners, images[:4]):
    np.testing.assert_allclose(corner, image + 0.5, atol=1e-2)
    np.testing.assert_array_equal(pixels.to_uint8(corner), image)
  for inside in (tiles[1, 1], tiles[2, 1], tiles[1, 2]):
    assert all(np.max(np.abs(inside - (image + 0.5))) > 10
               for image in images[:4])


def test_zero_temperature_samples_are_deterministic_and_decode_zero(model):
  zero = np.clip(model.decode(tf.zeros((3,) + IMAGE_SHAPE)), 0,
                 pixels.MAX_PIXEL)
  tiles = panels.sample_panels(model, (0.0, 1.0), num_samples=3, seed=1)
  other_seed = panels.sample_panels(model, (0.0,), num_samples=3, seed=2)
  np.testing.assert_array_equal(tiles[0], zero)
  np.testing.assert_array_equal(other_seed[0], zero)
  assert not np.allclose(tiles[1], zero, atol=1.0)


def test_scales_figure_redraws_its_scales_and_keeps_the_others_exactly(
    model, images):
  rows = panels.resampling_rows(2)
  assert rows == [(0,), (1,)]
  args = dict(num_samples=3, temperature=0.5, seed=1)
  z = panels.scale_latents(model, images[:2], **args)
  assert z.shape == (2, 2, 3) + IMAGE_SHAPE
  original = model.encode(_centres(images[:2]), per_scale=True)
  for k in range(2):
    for r, redrawn in enumerate(rows):
      pieces = model.flow.split_latents(z[k, r])
      for s, piece in enumerate(pieces):
        kept = np.repeat(original[s][k:k + 1], 3, axis=0)
        if s in redrawn:  # Redrawn, differently in each column.
          assert np.all(piece != kept)
          assert np.all(piece[0] != piece[1])
        else:
          np.testing.assert_array_equal(piece, kept)
  tiles = panels.scale_panels(model, images[:2], **args)
  assert tiles.shape == (4, 4) + IMAGE_SHAPE
  np.testing.assert_array_equal(tiles[:, 0],
                                np.repeat(_centres(images[:2]), 2, axis=0))
  decoded = model.decode(tf.reshape(z, (-1,) + IMAGE_SHAPE))
  np.testing.assert_allclose(
      tiles[:, 1:].reshape(decoded.shape),
      np.clip(decoded, 0, pixels.MAX_PIXEL), rtol=1e-6)


def test_resampling_rows_name_each_scale_then_fine_and_coarse_groups():
  assert panels.resampling_rows(1) == [(0,)]
  assert panels.resampling_rows(3) == [(0,), (1,), (2,), (0, 1), (1, 2)]
  assert len(panels.resampling_rows(5)) == 3 * 5 - 4


def test_interpolation_runs_from_start_to_end(model, images):
  tiles = panels.interpolation_panels(model, images[:2], images[2:4], steps=4)
  assert tiles.shape == (2, 4) + IMAGE_SHAPE
  np.testing.assert_allclose(tiles[:, 0], _centres(images[:2]), atol=1e-2)
  np.testing.assert_allclose(tiles[:, -1], _centres(images[2:4]), atol=1e-2)
  assert not np.allclose(tiles[:, 1], tiles[:, 0], atol=1.0)


def test_reconstruction_is_exact_up_to_rounding(model, images):
  tiles, max_error = panels.reconstruction_panels(model, images[:3])
  np.testing.assert_array_equal(tiles[0], _centres(images[:3]))
  np.testing.assert_array_equal(pixels.to_uint8(tiles[1]), images[:3])
  assert max_error == np.max(np.abs(tiles[1] - tiles[0]))
  assert 0 < max_error < 1e-2  # float32 rounding, nothing more.


@pytest.mark.parametrize("make, message", [
    (lambda m, x: render.render("nope", m, x, OPTIONS),
     "Unknown figure 'nope'"),
    (lambda m, x: render.render("manifold", m, x[:3], OPTIONS),
     "manifold needs 4 test images, received 3"),
    (lambda m, x: panels.manifold_panels(m, x[:5]),
     "manifold needs exactly 4 images, received 5"),
    (lambda m, x: panels.reconstruction_panels(m, x[..., :4, :]),
     r"reconstruct needs uint8 images \[n >= 1, 8, 8, 1\]"),
    (lambda m, x: panels.interpolation_panels(m, x[:2], x[:3]),
     "interpolate needs exactly 2 images, received 3"),
    (lambda m, x: panels.sample_panels(m, (0.5, -1.0)),
     "temperatures must be finite and >= 0, received -1.0"),
    (lambda m, x: panels.manifold_panels(m, x[:4], grid_size=1),
     "grid_size must be an int >= 2"),
    (lambda m, x: panels.scale_panels(m, x[:1], num_samples=0),
     "num_samples must be an int >= 1"),
], ids=["unknown_figure", "too_few_images", "manifold_needs_4", "image_shape",
        "unpaired", "temperature", "grid_size", "num_samples"])
def test_bad_arguments_are_clear_errors(model, images, make, message):
  with pytest.raises(ValueError, match=message):
    make(model, images)
