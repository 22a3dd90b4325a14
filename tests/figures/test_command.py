"""Tests of `python -m tf_realnvp.figures` (tf_realnvp/figures/__main__.py)
and of render.py's workdir functions, on `trained_workdir` (tests/conftest.py:
the real Fashion-MNIST, one scale), on a folder of 3 images, and on workdirs
of conditional models (`class_workdir`, `attributes_workdir`).

Most tests run the command in this process: `tf_realnvp.figures.__main__`
imported as a module (`command`), its flags parsed by absl's `FLAGS`, its
`main` called. What only absl's `app.run` does (the exit status and message of
a bad flag, `--help`) and the whole process's stderr run in real processes,
started at once (`processes_started`) so that they run while the in-process
tests do.
"""

import os
import shutil

from absl import app
from absl import flags
import numpy as np
import pytest

from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import pixels
from tf_realnvp import workdirs
from tf_realnvp.figures import panels
from tf_realnvp.figures import render
from tests import commands
from tests import images
from tests import processes
from tests.figures.helpers import conditional_workdir
from tests.figures.helpers import png_shape
from tests.figures.helpers import read_png
from tests.training_helpers import change_model_config
from tests.training_helpers import make_workdir
from tests.training_helpers import snapshot
from tests.training_helpers import tiny_config

FLAGS = flags.FLAGS
MODULE = "tf_realnvp.figures.__main__"
ERROR = "python -m tf_realnvp.figures: error: "
# The options of the figures of `trained_workdir`.
OPTIONS = render.FigureOptions(temperatures=(0.0, 1.0), num_samples=2,
                               num_images=1, grid_size=3)


# --- The command in this process ----------------------------------------------


@pytest.fixture(scope="module")
def command():
  """`tf_realnvp.figures.__main__`, its flags on absl's global `FLAGS`.

  absl refuses a second definition of a flag name (--workdir, --seed, ...),
  and train.py, imported by other test files of this process, defines them
  too: its flags are taken off `FLAGS` while these tests run, and put back.
  """
  with commands.imported_command(MODULE) as module:
    yield module


@pytest.fixture
def run_main(command, capsys):
  """Runs the command's `main` on flags: `(status, stdout, stderr)`."""

  def run(*args):
    FLAGS.unparse_flags()
    argv = FLAGS(["figures", *map(str, args)])
    status = command.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err

  return run


def _options_flags(options):
  return [f"--temperatures={','.join(f'{t:g}' for t in options.temperatures)}",
          f"--num_samples={options.num_samples}",
          f"--num_images={options.num_images}",
          f"--grid_size={options.grid_size}"]


@pytest.fixture(scope="module")
def folder_workdir(tmp_path_factory):
  """A workdir on a folder of 3 images (two scales): its test split holds
  only 1."""
  folder = tmp_path_factory.mktemp("images")
  images.write_images(folder, 3, size=(10, 12))
  workdir = tmp_path_factory.mktemp("folder_run")
  flags_values = dict(dataset=f"folder:{folder}", image_size=8)
  make_workdir(tiny_config(workdir, None, **flags_values),
               flags=[f"--{k}={v}" for k, v in flags_values.items()])
  return str(workdir)


@pytest.fixture(scope="module")
def class_workdir(tmp_path_factory, fashion_dir):
  """`(path, model)`: a workdir of a tiny class-conditional model (10
  classes, one scale, random weights) on the real Fashion-MNIST."""
  return conditional_workdir(
      tmp_path_factory.mktemp("class_run"), (28, 28, 1),
      ["--dataset=fashion_mnist", f"--data_dir={fashion_dir}"], seed=3,
      num_classes=10)


@pytest.fixture(scope="module")
def attributes_workdir(tmp_path_factory):
  """`(path, model)`: a workdir of a tiny model conditioned on CelebA's 40
  attributes, 8x8. CelebA itself is not there: the classes and samples
  figures with explicit conditions use no test image."""
  return conditional_workdir(
      tmp_path_factory.mktemp("attributes_run"), (8, 8, 3),
      ["--dataset=celeb_a", "--image_size=8"], seed=4,
      condition_shape=(len(data.CELEB_A_ATTRIBUTES),))


def _without_checkpoints(workdir):
  """Removes the checkpoints, as train.py leaves a workdir before its first."""
  shutil.rmtree(os.path.join(workdir, workdirs.CHECKPOINTS))
  return workdir


# --- Real processes, started first -------------------------------------------


@pytest.fixture(scope="module")
def processes_started(trained_workdir, tmp_path_factory):
  """The real processes of this file, just started:

  - `bad_flag`: a flag absl refuses;
  - `help`: `--help`;
  - `other_architecture`: a workdir whose checkpoints are of another
    architecture; returns `(process, workdir)`.
  """
  workdir = str(shutil.copytree(
      trained_workdir.path, tmp_path_factory.mktemp("other") / "run",
      ignore=shutil.ignore_patterns(workdirs.FIGURES)))
  change_model_config(workdir, num_filters=8)
  started = {
      "bad_flag": processes.start(processes.python_module(
          "tf_realnvp.figures", f"--workdir={trained_workdir.path}",
          "--figure=nope")),
      "help": processes.start(processes.python_module("tf_realnvp.figures",
                                                      "--help")),
      "other_architecture": (processes.start(processes.python_module(
          "tf_realnvp.figures", f"--workdir={workdir}", "--figure=samples")),
                             workdir),
  }
  yield started
  for value in started.values():
    processes.stop(value[0] if isinstance(value, tuple) else value)


@pytest.fixture(autouse=True, scope="module")
def _start_processes_first(processes_started):
  """Every test of this file starts the real processes (the first one
  before it runs)."""
  del processes_started


def test_command_writes_every_figure(trained_workdir, run_main):
  workdir = trained_workdir.path
  status, stdout, stderr = run_main(f"--workdir={workdir}", "--figure=all",
                                    *_options_flags(OPTIONS))
  assert status == 0 and not stderr, stderr
  assert "max |decode(encode(y)) - y| = " in stdout
  for figure in render.FIGURES:
    path = os.path.join(workdir, workdirs.FIGURES, f"{figure}.png")
    assert f"{figure}: wrote {path}" in stdout
    assert read_png(path).shape == png_shape(figure, OPTIONS, (28, 28, 1),
                                             num_scales=1)
  # Each figure's flags make it again, bit for bit.
  manifold = os.path.join(workdir, workdirs.FIGURES, "manifold")
  with open(manifold + ".png", "rb") as f:
    before = f.read()
  os.remove(manifold + ".png")
  assert run_main(f"--flagfile={manifold}.flags")[0] == 0
  with open(manifold + ".png", "rb") as f:
    assert f.read() == before


@pytest.mark.parametrize("args, message", [
    (["--figure=nope"], "value should be one of <samples|manifold|"),
    (["--figure=samples", "--temperatures=0.5,hot"],
     "--temperatures must be a comma-separated list of finite numbers >= 0."),
    (["--figure=scales", "--temperature=-1"],
     "--temperature must be finite and >= 0."),
    (["--figure=manifold", "--grid_size=1"], "1 is not integer >= 2"),
    (["--num_samples=0"], "0 is not a positive integer"),
], ids=["figure", "temperatures", "temperature", "grid_size", "num_samples"])
def test_command_flags_refuse_bad_values(trained_workdir, command, args,
                                         message):
  del command  # Defines the flags.
  FLAGS.unparse_flags()
  with pytest.raises(flags.IllegalFlagValueError) as error:
    FLAGS(["figures", f"--workdir={trained_workdir.path}", *args])
  assert message in str(error.value)


def test_command_needs_a_workdir_and_no_other_argument(trained_workdir,
                                                       run_main):
  FLAGS.unparse_flags()
  with pytest.raises(flags.IllegalFlagValueError, match="--workdir"):
    FLAGS(["figures", "--figure=samples"])
  with pytest.raises(app.UsageError, match="Unexpected arguments: extra"):
    run_main(f"--workdir={trained_workdir.path}", "--figure=samples", "extra")


def test_command_needs_a_workdir_with_a_checkpoint(workdir_copy, run_main):
  workdir = _without_checkpoints(workdir_copy)
  before = snapshot(workdir)
  status, _, stderr = run_main(f"--workdir={workdir}", "--figure=samples")
  assert status == 1
  assert stderr.splitlines() == [
      f"{ERROR}{workdir} has no checkpoint ({workdir}/checkpoints is missing "
      "or empty): train first, or pass another workdir."]
  assert snapshot(workdir) == before


@pytest.mark.parametrize("args, message", [
    (["--figure=manifold"], "needs 4 test image(s) from --image_offset=0 on, "
     "but the 'test' split of 'folder:"),
    (["--figure=reconstruct", "--num_images=2"], "needs 2 test image(s)"),
    (["--figure=all"], "needs 8 test image(s)"),
], ids=["manifold", "num_images", "all"])
def test_command_refuses_figures_needing_more_test_images(folder_workdir,
                                                          run_main, args,
                                                          message):
  before = snapshot(folder_workdir)
  status, _, stderr = run_main(f"--workdir={folder_workdir}", *args)
  assert status == 1
  assert len(stderr.splitlines()) == 1 and stderr.startswith(ERROR), stderr
  assert message in stderr and "has only 1." in stderr
  assert snapshot(folder_workdir) == before


def test_command_on_a_folder_dataset_with_enough_test_images(folder_workdir,
                                                             run_main):
  status, stdout, _ = run_main(f"--workdir={folder_workdir}",
                               "--figure=scales", "--num_images=1",
                               "--num_samples=2")
  assert status == 0 and "row 1 of each block: scale(s) 1" in stdout
  options = render.FigureOptions(num_samples=2, num_images=1)
  assert read_png(os.path.join(folder_workdir, workdirs.FIGURES, "scales.png")
                 ).shape == png_shape("scales", options, (8, 8, 3),
                                      num_scales=2)


def test_load_test_images_starts_at_the_offset(trained_workdir):
  first = render.load_test_images(trained_workdir.path, 3)
  assert first.shape == (3, 28, 28, 1) and first.dtype == np.uint8
  np.testing.assert_array_equal(
      render.load_test_images(trained_workdir.path, 2, offset=1), first[1:])


def test_load_test_images_of_a_workdir_trained_on_some_classes(tmp_path,
                                                               fashion_dir):
  io.write_text(str(tmp_path / workdirs.FLAGS_FILE),
                f"--data_dir={fashion_dir}\n--classes=3,5\n")
  _, labels = render.load_test_images(str(tmp_path), 20, conditional=True)
  assert set(labels) == {3, 5}


# --- Conditional models ------------------------------------------------------


def _tile_row(png, r, image_shape):
  """Row `r` of the tiles of a figure's PNG, `[height, width, C]`."""
  height = io.display_scale(*image_shape[:2]) * image_shape[0]
  top = r * (height + io.GAP)
  return png[top:top + height]


def test_command_draws_every_figure_of_a_class_workdir(class_workdir,
                                                       run_main):
  """`all` adds `classes`: a row per class, row `r` the samples of class `r`
  at the seed; the figures of test images use each image's own label."""
  workdir, model = class_workdir
  status, stdout, stderr = run_main(
      f"--workdir={workdir}", "--figure=all", "--temperatures=1",
      "--num_samples=2", "--num_images=2", "--grid_size=2", "--seed=5")
  assert status == 0 and not stderr, stderr
  options = render.FigureOptions(temperatures=(1.0,), num_samples=2,
                                 num_images=2, grid_size=2)

  def figure(name):
    return os.path.join(workdir, workdirs.FIGURES, name)

  for name in render.FIGURES + render.CONDITIONAL_FIGURES:
    assert f"{name}: wrote {figure(name + '.png')}" in stdout
    assert read_png(figure(name + ".png")).shape == png_shape(
        name, options, (28, 28, 1), num_scales=1, num_rows=10)
  classes = read_png(figure("classes.png"))
  for r in (0, 9):
    expected = io.image_grid(pixels.to_uint8(model.sample(
        2, options.temperature, seed=5, condition=r))[None].numpy())
    np.testing.assert_array_equal(_tile_row(classes, r, (28, 28, 1)),
                                  expected)
  names = data.condition_spec("fashion_mnist").names
  rows = [f"row {r}: class {r} ({names[r]})" for r in range(10)]
  assert all(f"  {row}\n" in stdout for row in rows)
  with open(figure("classes.txt")) as f:
    assert f.read().splitlines() == rows
  assert "  condition: class 0 (T-shirt/top)\n" in stdout  # samples
  # reconstruct: each test image encoded and decoded under its own label.
  test_images, labels = render.load_test_images(workdir, 2, conditional=True)
  assert labels.dtype == np.int32 and labels.shape == (2,)
  assert ("  test images under their own conditions: " + "; ".join(
      f"class {k} ({names[k]})" for k in labels) + "\n") in stdout
  tiles, _ = panels.reconstruction_panels(model, test_images, labels)
  np.testing.assert_array_equal(
      read_png(figure("reconstruct.png")),
      io.image_grid(pixels.to_uint8(tiles).numpy()))
  np.testing.assert_array_equal(pixels.to_uint8(tiles[1]), test_images)


def test_command_classes_of_chosen_attribute_sets(attributes_workdir,
                                                  run_main):
  workdir, model = attributes_workdir
  status, stdout, stderr = run_main(
      f"--workdir={workdir}", "--figure=classes", "--num_samples=2",
      "--conditions=Male,Smiling", "--conditions=")
  assert status == 0 and not stderr, stderr
  assert "  row 0: Male, Smiling\n  row 1: no attribute\n" in stdout
  stem = os.path.join(workdir, workdirs.FIGURES, "classes")
  png = read_png(stem + ".png")
  assert png.shape == png_shape(
      "classes", render.FigureOptions(num_samples=2), (8, 8, 3),
      num_scales=1, num_rows=2)
  male_smiling = np.isin(data.CELEB_A_ATTRIBUTES,
                         ["Male", "Smiling"]).astype(np.float32)
  np.testing.assert_array_equal(
      _tile_row(png, 0, (8, 8, 3)),
      io.image_grid(pixels.to_uint8(model.sample(
          2, 0.7, seed=0, condition=male_smiling))[None].numpy()))
  # Its flags (both rows, the empty one too) make it again.
  os.remove(stem + ".png")
  assert run_main(f"--flagfile={stem}.flags")[0] == 0
  np.testing.assert_array_equal(read_png(stem + ".png"), png)


@pytest.mark.parametrize("workdir, args, message", [
    ("trained_workdir", ["--figure=classes"],
     "The classes figure needs a conditional model (num_classes or "
     "condition_shape in model_config.json); the model of {workdir} is "
     "unconditional."),
    ("trained_workdir", ["--figure=samples", "--condition=3"],
     "--condition and --conditions are for conditional models; the model of "
     "{workdir} is unconditional."),
    ("class_workdir", ["--figure=classes", "--conditions=2",
                       "--conditions=10"],
     "Class '10' is outside [0, 10): the model has 10 classes."),
    ("class_workdir", ["--figure=all", "--condition=-1"],
     "Class '-1' is outside [0, 10): the model has 10 classes."),
    ("class_workdir", ["--figure=samples", "--condition=Horse"],
     "No class named 'Horse' (classes: T-shirt/top, Trouser, "),
    ("attributes_workdir", ["--figure=samples", "--condition=Male,Nope"],
     "Unknown attribute 'Nope' in condition 'Male,Nope'; attributes: "
     "5_o_Clock_Shadow, "),
], ids=["classes_unconditional", "condition_unconditional", "label_too_large",
        "negative_label", "unknown_class", "unknown_attribute"])
def test_command_refuses_bad_conditions_and_writes_nothing(
    request, run_main, workdir, args, message):
  workdir = request.getfixturevalue(workdir)[0]  # Its path.
  before = snapshot(workdir)
  status, stdout, stderr = run_main(f"--workdir={workdir}", *args)
  assert status == 1 and not stdout, stdout
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(ERROR + message.format(workdir=workdir)), stderr
  assert snapshot(workdir) == before


# --- Real processes -----------------------------------------------------------


def test_bad_flag_is_absls_one_line_error_without_traceback(
    processes_started):
  result = processes.finish(processes_started["bad_flag"])
  assert result.returncode == 1
  assert ("FATAL Flags parsing error: flag --figure=nope: value should be one "
          "of <samples|manifold|scales|interpolate|reconstruct|classes|all>"
          in result.stderr.splitlines())
  assert "Traceback" not in result.stderr


def test_help_lists_the_flags(processes_started):
  result = processes.finish(processes_started["help"])
  assert "Traceback" not in result.stderr
  for flag in ("--workdir", "--figure", "--temperatures", "--grid_size"):
    assert flag in result.stdout


def test_python_m_command_error_is_its_only_line_of_stderr(processes_started):
  """The stderr of the whole process, TensorFlow's start-up included
  (`tf_realnvp.startup`), on a checkpoint of another architecture: TF would
  also log a warning per checkpoint value after the failed restore had the
  loader not cleaned up (tests/test_workdirs.py)."""
  process, workdir = processes_started["other_architecture"]
  result = processes.finish(process)
  assert result.returncode == 1
  (line,) = result.stderr.splitlines()
  assert line.startswith(
      f"{ERROR}Cannot restore the model from the checkpoint "
      f"{workdir}/checkpoints/ckpt-20: ValueError: Received incompatible "
      "tensor"), line
  assert not os.path.exists(os.path.join(workdir, workdirs.FIGURES))
