"""Tests of tf_realnvp/figures.py: each figure, the workdir, the command.

Library figures run on a float32 8x8x1 model with randomised weights (a fresh
flow is close to the identity, against which corner and round-trip checks
would be vacuous); the command runs on workdirs made by
`training.prepare_trainer` from the real Fashion-MNIST and from a folder.
"""

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_realnvp import figures
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp import training
from tests import flow_checks
from tests.cluster import REPO
from tests.training_helpers import make_workdir
from tests.training_helpers import snapshot
from tests.training_helpers import tiny_config

IMAGE_SHAPE = (8, 8, 1)
OPTIONS = figures.FigureOptions(temperatures=(0.0, 1.0), num_samples=3,
                                num_images=2, grid_size=3)
# The command's options on the tiny Fashion-MNIST workdir.
COMMAND_OPTIONS = figures.FigureOptions(temperatures=(0.0, 1.0), num_samples=2,
                                        num_images=1, grid_size=3)
# Lines TensorFlow's C++ logging writes to stderr at start-up, whatever
# TF_CPP_MIN_LOG_LEVEL says (before absl::InitializeLog).
_TF_STARTUP_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} )")


@pytest.fixture(scope="module")
def model():
  return flow_checks.tiny_model(seed=7, image_shape=IMAGE_SHAPE,
                                dtype="float32")


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(8).integers(
      0, 256, (8,) + IMAGE_SHAPE).astype(np.uint8)


def _tiles(figure, options):
  """`(rows, cols)` of tiles of `figure` for a 2-scale model."""
  return {"samples": (len(options.temperatures), options.num_samples),
          "manifold": (options.grid_size, options.grid_size),
          "scales": (2 * options.num_images, 1 + options.num_samples),
          "interpolate": (options.num_images, options.grid_size),
          "reconstruct": (2, options.num_images)}[figure]


def _png_shape(figure, options, image_shape):
  rows, cols = _tiles(figure, options)
  height, width, channels = image_shape
  gap = figures.GAP
  return (rows * (height + gap) - gap, cols * (width + gap) - gap, channels)


def _read_png(path):
  return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def _centres(images):
  return figures.bin_centres(images).numpy()


# --- The figures, from a model and images -------------------------------------


@pytest.mark.parametrize("figure", figures.FIGURES)
def test_each_figure_is_a_png_of_the_expected_size(model, images, figure,
                                                   tmp_path):
  grid, _ = figures.render(figure, model, images, OPTIONS)
  training.write_png(str(tmp_path / "figure.png"), grid)
  png = _read_png(tmp_path / "figure.png")
  assert png.shape == _png_shape(figure, OPTIONS, IMAGE_SHAPE)
  np.testing.assert_array_equal(png, grid)


def test_grid_puts_each_tile_in_its_place_between_gaps():
  tiles = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1, 1) * 40 + 0.5
  tiles = np.broadcast_to(tiles, (2, 3, 2, 3, 1))
  grid = figures.to_grid(tiles)
  gap = figures.GAP
  assert grid.shape == (2 * (2 + gap) - gap, 3 * (3 + gap) - gap, 1)
  assert grid.dtype == np.uint8
  for r in range(2):
    for c in range(3):
      top, left = r * (2 + gap), c * (3 + gap)
      assert np.all(grid[top:top + 2, left:left + 3] == (3 * r + c) * 40)
  assert np.all(grid[2:2 + gap] == figures.GAP_VALUE)
  assert np.all(grid[:, 3:3 + gap] == figures.GAP_VALUE)
  # Out-of-range pixels are clipped, fractions floored (`pixels.to_uint8`).
  np.testing.assert_array_equal(
      figures.to_grid(np.array([-3.0, 255.9, 300.0]).reshape(1, 3, 1, 1, 1)),
      [[[0], [figures.GAP_VALUE], [255], [figures.GAP_VALUE], [255]]])


def test_manifold_corners_are_the_four_images(model, images):
  tiles = figures.manifold_panels(model, images[:4], grid_size=4)
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
  tiles = figures.sample_panels(model, (0.0, 1.0), num_samples=3, seed=1)
  other_seed = figures.sample_panels(model, (0.0,), num_samples=3, seed=2)
  np.testing.assert_array_equal(tiles[0], zero)
  np.testing.assert_array_equal(other_seed[0], zero)
  assert not np.allclose(tiles[1], zero, atol=1.0)


def test_scales_figure_redraws_its_scales_and_keeps_the_others_exactly(
    model, images):
  rows = figures.resampling_rows(2)
  assert rows == [(0,), (1,)]
  args = dict(num_samples=3, temperature=0.5, seed=1)
  z = figures.scale_latents(model, images[:2], **args)
  assert z.shape == (2, 2, 3) + IMAGE_SHAPE
  original = model.encode(_centres(images[:2]), per_scale=True)
  for k in range(2):
    for r, redrawn in enumerate(rows):
      pieces = latents.split_latents(z[k, r], model.layout, model.squeezes)
      for s, piece in enumerate(pieces):
        kept = np.repeat(original[s][k:k + 1], 3, axis=0)
        if s in redrawn:  # Redrawn, differently in each column.
          assert np.all(piece != kept)
          assert np.all(piece[0] != piece[1])
        else:
          np.testing.assert_array_equal(piece, kept)
  tiles = figures.scale_panels(model, images[:2], **args)
  assert tiles.shape == (4, 4) + IMAGE_SHAPE
  np.testing.assert_array_equal(tiles[:, 0],
                                np.repeat(_centres(images[:2]), 2, axis=0))
  decoded = model.decode(tf.reshape(z, (-1,) + IMAGE_SHAPE))
  np.testing.assert_allclose(
      tiles[:, 1:].reshape(decoded.shape),
      np.clip(decoded, 0, pixels.MAX_PIXEL), rtol=1e-6)


def test_resampling_rows_name_each_scale_then_fine_and_coarse_groups():
  assert figures.resampling_rows(1) == [(0,)]
  assert figures.resampling_rows(3) == [(0,), (1,), (2,), (0, 1), (1, 2)]
  assert len(figures.resampling_rows(5)) == 3 * 5 - 4


def test_interpolation_runs_from_start_to_end(model, images):
  tiles = figures.interpolation_panels(model, images[:2], images[2:4], steps=4)
  assert tiles.shape == (2, 4) + IMAGE_SHAPE
  np.testing.assert_allclose(tiles[:, 0], _centres(images[:2]), atol=1e-2)
  np.testing.assert_allclose(tiles[:, -1], _centres(images[2:4]), atol=1e-2)
  assert not np.allclose(tiles[:, 1], tiles[:, 0], atol=1.0)


def test_reconstruction_is_exact_up_to_rounding(model, images):
  tiles, max_error = figures.reconstruction_panels(model, images[:3])
  np.testing.assert_array_equal(tiles[0], _centres(images[:3]))
  np.testing.assert_array_equal(pixels.to_uint8(tiles[1]), images[:3])
  assert max_error == np.max(np.abs(tiles[1] - tiles[0]))
  assert 0 < max_error < 1e-2  # float32 rounding, nothing more.


@pytest.mark.parametrize("make, message", [
    (lambda m, x: figures.render("nope", m, x, OPTIONS),
     "Unknown figure 'nope'"),
    (lambda m, x: figures.render("manifold", m, x[:3], OPTIONS),
     "manifold needs 4 test images, received 3"),
    (lambda m, x: figures.manifold_panels(m, x[:5]),
     "manifold needs exactly 4 images, received 5"),
    (lambda m, x: figures.reconstruction_panels(m, x[..., :4, :]),
     r"reconstruct needs uint8 images \[n >= 1, 8, 8, 1\]"),
    (lambda m, x: figures.interpolation_panels(m, x[:2], x[:3]),
     "interpolate needs exactly 2 images, received 3"),
    (lambda m, x: figures.sample_panels(m, (0.5, -1.0)),
     "temperatures must be finite and >= 0, received -1.0"),
    (lambda m, x: figures.manifold_panels(m, x[:4], grid_size=1),
     "grid_size must be an int >= 2"),
    (lambda m, x: figures.scale_panels(m, x[:1], num_samples=0),
     "num_samples must be an int >= 1"),
    (lambda m, x: figures.bin_centres(x.astype(np.float32)),
     "expected uint8 images"),
], ids=["unknown_figure", "too_few_images", "manifold_needs_4", "image_shape",
        "unpaired", "temperature", "grid_size", "num_samples", "dtype"])
def test_bad_arguments_are_clear_errors(model, images, make, message):
  with pytest.raises(ValueError, match=message):
    make(model, images)


# --- Workdirs -----------------------------------------------------------------


def _make_workdir(config, flags_text):
  """A workdir as training and train.py leave it: a checkpoint, flags."""
  make_workdir(config)
  training.write_text(os.path.join(config.workdir, "flags.txt"), flags_text)


@pytest.fixture(scope="module")
def fashion_workdir(tmp_path_factory, fashion_dir):
  workdir = tmp_path_factory.mktemp("fashion_run")
  _make_workdir(tiny_config(workdir, fashion_dir),
                f"--dataset=fashion_mnist\n--data_dir={fashion_dir}\n")
  return str(workdir)


@pytest.fixture(scope="module")
def folder_workdir(tmp_path_factory):
  """A workdir on a folder of 3 images: its test split holds only 1."""
  folder = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  for i in range(3):
    tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(
        rng.integers(0, 256, (10, 12, 3)).astype(np.uint8)))
  workdir = tmp_path_factory.mktemp("folder_run")
  _make_workdir(tiny_config(workdir, None, dataset=f"folder:{folder}",
                            image_size=8),
                f"--dataset=folder:{folder}\n--image_size=8\n")
  return str(workdir)


def _config_only_workdir(tmp_path, fashion_workdir, **changes):
  """A workdir with the tiny model's `model_config.json` (with `changes`),
  its `flags.txt` and no checkpoint."""
  with open(os.path.join(fashion_workdir, "model_config.json")) as f:
    config = dict(json.load(f), **changes)
  training.write_text(str(tmp_path / "model_config.json"), json.dumps(config))
  shutil.copy(os.path.join(fashion_workdir, "flags.txt"), tmp_path)
  return str(tmp_path)


def test_load_test_images_starts_at_the_offset(fashion_workdir):
  first = figures.load_test_images(fashion_workdir, 3)
  assert first.shape == (3, 28, 28, 1) and first.dtype == np.uint8
  np.testing.assert_array_equal(
      figures.load_test_images(fashion_workdir, 2, offset=1), first[1:])


# --- The command --------------------------------------------------------------


def _main(*args):
  """Runs the command in this process: `(status, stdout, stderr)`."""
  stdout, stderr = io.StringIO(), io.StringIO()
  status = figures.main(["figures"] + list(args), stdout, stderr)
  return status, stdout.getvalue(), stderr.getvalue()


def _options_flags(options):
  return [f"--temperatures={','.join(f'{t:g}' for t in options.temperatures)}",
          f"--num_samples={options.num_samples}",
          f"--num_images={options.num_images}",
          f"--grid_size={options.grid_size}"]


def test_command_writes_every_figure(fashion_workdir):
  status, stdout, stderr = _main(f"--workdir={fashion_workdir}", "--figure=all",
                                 *_options_flags(COMMAND_OPTIONS))
  assert status == 0 and not stderr, stderr
  assert re.search(r"max \|decode\(encode\(y\)\) - y\| = [0-9.e-]+ ", stdout)
  for figure in figures.FIGURES:
    path = os.path.join(fashion_workdir, "figures", f"{figure}.png")
    assert f"{figure}: wrote {path}" in stdout
    assert _read_png(path).shape == _png_shape(figure, COMMAND_OPTIONS,
                                               (28, 28, 1))
  # Each figure's flags make it again, bit for bit.
  manifold = os.path.join(fashion_workdir, "figures", "manifold")
  with open(manifold + ".png", "rb") as f:
    before = f.read()
  os.remove(manifold + ".png")
  assert _main(f"--flagfile={manifold}.flags")[0] == 0
  with open(manifold + ".png", "rb") as f:
    assert f.read() == before


def test_python_m_command_error_is_one_line_without_traceback(
    tmp_path, fashion_workdir):
  """`python -m tf_realnvp.figures` as a real process (the rest run `main`).

  On a checkpoint of another architecture: the stderr of the whole process,
  where TF would log a warning per checkpoint value after the failed restore
  had the loader not cleaned up (`tests/test_workdirs.py`).
  """
  workdir = _config_only_workdir(tmp_path, fashion_workdir, num_filters=8)
  shutil.copytree(os.path.join(fashion_workdir, "checkpoints"),
                  os.path.join(workdir, "checkpoints"))
  result = subprocess.run(
      [sys.executable, "-m", "tf_realnvp.figures", f"--workdir={workdir}",
       "--figure=samples"],
      cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 1
  ours = [line for line in result.stderr.splitlines()
          if line.strip() and not _TF_STARTUP_LOG.match(line)]
  assert len(ours) == 1, result.stderr
  assert ours[0].startswith(
      f"python -m tf_realnvp.figures: error: Cannot restore the model from "
      f"the checkpoint {workdir}/checkpoints/ckpt-0: ValueError: Received "
      "incompatible tensor"), ours
  assert not os.path.exists(os.path.join(workdir, "figures"))


@pytest.mark.parametrize("args, message", [
    (["--figure=nope"], "value should be one of"),
    (["--figure=samples", "--temperatures=0.5,hot"], "--temperatures must be"),
    (["--figure=manifold", "--grid_size=1"], "--grid_size must be an integer"),
    (["--figure=samples", "extra"], "unexpected arguments: extra"),
], ids=["figure", "temperatures", "grid_size", "extra_argument"])
def test_command_refuses_bad_flags(fashion_workdir, args, message):
  status, _, stderr = _main(f"--workdir={fashion_workdir}", *args)
  assert status == 2
  assert len(stderr.splitlines()) == 1 and message in stderr, stderr


def test_command_needs_a_workdir_with_a_checkpoint(tmp_path, fashion_workdir):
  status, _, stderr = _main("--figure=samples")
  assert status == 2 and "--workdir" in stderr
  workdir = _config_only_workdir(tmp_path, fashion_workdir)
  status, _, stderr = _main(f"--workdir={workdir}", "--figure=samples")
  assert status == 1
  assert stderr.splitlines() == [
      f"python -m tf_realnvp.figures: error: {workdir} has no checkpoint "
      f"({workdir}/checkpoints is missing or empty): train first, or pass "
      "another workdir."]
  assert not os.path.exists(os.path.join(workdir, "figures"))


@pytest.mark.parametrize("args, message", [
    (["--figure=manifold"], "needs 4 test image(s) from --image_offset=0 on, "
     "but the 'test' split of 'folder:"),
    (["--figure=reconstruct", "--num_images=2"], "needs 2 test image(s)"),
    (["--figure=all"], "needs 8 test image(s)"),
], ids=["manifold", "num_images", "all"])
def test_command_refuses_figures_needing_more_test_images(folder_workdir, args,
                                                          message):
  before = snapshot(folder_workdir)
  status, _, stderr = _main(f"--workdir={folder_workdir}", *args)
  assert status == 1
  assert len(stderr.splitlines()) == 1, stderr
  assert message in stderr and "has only 1." in stderr
  assert snapshot(folder_workdir) == before


def test_command_on_a_folder_dataset_with_enough_test_images(folder_workdir):
  status, stdout, _ = _main(f"--workdir={folder_workdir}", "--figure=scales",
                            "--num_images=1", "--num_samples=2")
  assert status == 0 and "row 1 of each block: scale(s) 1" in stdout
  options = dataclasses.replace(COMMAND_OPTIONS, num_samples=2, num_images=1)
  assert _read_png(os.path.join(folder_workdir, "figures", "scales.png")
                  ).shape == _png_shape("scales", options, (8, 8, 3))


def test_command_help_lists_the_flags():
  status, stdout, _ = _main("--help")
  assert status == 0
  assert "--figure" in stdout and "--temperatures" in stdout
