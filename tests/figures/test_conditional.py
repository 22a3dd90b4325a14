"""Tests of the figures of conditional models (tf_realnvp/figures/panels.py
and render.py): the classes figure, the sample figures' condition, and the
figures of test images under each image's own condition. (The command on
conditional workdirs: test_command.py.)

Float32 8x8x1 models of one scale (two for the scales figure; each pass of
a conditional flow costs about 0.5 s a scale here) with randomised weights,
the condition's biases included (`helpers.conditional_model`): with the
zero-initialised ones every condition would give the same images and the
checks would be vacuous.
"""

import numpy as np
import pytest

from tf_realnvp import conditions
from tf_realnvp import data
from tf_realnvp import io
from tf_realnvp import latents
from tf_realnvp import pixels
from tf_realnvp.figures import panels
from tf_realnvp.figures import render
from tests.figures.helpers import figure_images
from tests.figures.helpers import unconditional_model
from tests.figures.helpers import conditional_model

IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 3
NAMES = ("cat", "Dog", "bird/fish")
ATTRIBUTES = ("Male", "Smiling", "Eyeglasses", "Young")
OPTIONS = render.FigureOptions(temperatures=(0.0, 1.0), num_samples=3,
                               num_images=2, grid_size=3)


@pytest.fixture(scope="module")
def model():
  return conditional_model(IMAGE_SHAPE, seed=5, num_scales=1,
                           num_classes=NUM_CLASSES)


@pytest.fixture(scope="module")
def vector_model():
  return conditional_model(IMAGE_SHAPE, seed=6, num_scales=1,
                           condition_shape=(len(ATTRIBUTES),))


@pytest.fixture(scope="module")
def unconditional():
  return unconditional_model(IMAGE_SHAPE)


@pytest.fixture(scope="module")
def images():
  return figure_images(IMAGE_SHAPE)


# Labels of `images`: neighbours differ, so pairs and corners mix classes.
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)
VECTORS = np.random.default_rng(9).integers(
    0, 2, (8, len(ATTRIBUTES))).astype(np.float32)


def _centres(images):
  return pixels.bin_centres(images).numpy()


def _decode(model, z, condition):
  return np.clip(model.decode(z, condition), 0, pixels.MAX_PIXEL)


# --- The classes figure -------------------------------------------------------


def test_classes_rows_are_the_samples_of_each_class_at_one_seed(model):
  tiles = panels.class_panels(model, num_samples=3, temperature=0.8, seed=4)
  assert tiles.shape == (NUM_CLASSES, 3) + IMAGE_SHAPE
  for r in range(NUM_CLASSES):
    np.testing.assert_array_equal(
        tiles[r], model.sample(3, 0.8, seed=4, condition=r))
  for r in range(NUM_CLASSES):  # The condition changes every image.
    for other in range(r):
      assert np.all(np.max(np.abs(tiles[r] - tiles[other]),
                           axis=(1, 2, 3)) > 1.0)


def test_render_classes_of_vectors_default_to_the_test_images(
    vector_model, images):
  """Without `conditions` the rows are the first `num_images` test images'
  attribute vectors; given, attribute names set to 1."""
  options = render.FigureOptions(num_samples=2, num_images=2)
  assert render.images_needed("classes", options,
                              vector_model.conditioning) == 2
  grid, lines = render.render("classes", vector_model, images, options,
                              VECTORS, ATTRIBUTES)
  tiles = np.stack([vector_model.sample(2, options.temperature, seed=0,
                                        condition=VECTORS[r])
                    for r in range(2)])
  np.testing.assert_array_equal(
      grid, io.image_grid(pixels.to_uint8(tiles).numpy()))
  assert lines == [f"row {r}: " + render.describe_condition(
      VECTORS[r], vector_model.conditioning, ATTRIBUTES) for r in range(2)]
  options = render.FigureOptions(num_samples=2,
                                 conditions=("Male, Young", ""))
  assert render.images_needed("classes", options,
                              vector_model.conditioning) == 0
  grid, lines = render.render("classes", vector_model, None, options,
                              names=ATTRIBUTES)
  assert lines == ["row 0: Male, Young", "row 1: no attribute"]


# --- The sample figures' condition --------------------------------------------


def test_samples_of_a_class_model_default_to_class_0(model):
  grid, lines = render.render("samples", model, None, OPTIONS, names=NAMES)
  assert lines == ["rows: temperatures 0, 1", "condition: class 0 (cat)"]
  tiles = np.stack([model.sample(3, t, seed=0, condition=0)
                    for t in OPTIONS.temperatures])
  np.testing.assert_array_equal(
      grid, io.image_grid(pixels.to_uint8(tiles).numpy()))
  options = render.FigureOptions(temperatures=(1.0,), num_samples=3,
                                 condition="DOG")
  grid, lines = render.render("samples", model, None, options, names=NAMES)
  assert lines[1] == "condition: class 1 (Dog)"
  np.testing.assert_array_equal(
      grid, io.image_grid(pixels.to_uint8(
          model.sample(3, 1.0, seed=0, condition=1)[None]).numpy()))


def test_samples_of_a_vector_model_default_to_the_first_test_image(
    vector_model, images):
  assert render.images_needed("samples", OPTIONS,
                              vector_model.conditioning) == 1
  _, lines = render.render("samples", vector_model, images, OPTIONS, VECTORS,
                           ATTRIBUTES)
  assert lines[1] == "condition: " + render.describe_condition(
      VECTORS[0], vector_model.conditioning, ATTRIBUTES)
  tiles = panels.sample_panels(vector_model, (1.0,), 2, 3,
                               condition=VECTORS[0])
  np.testing.assert_array_equal(
      tiles[0], vector_model.sample(2, 1.0, seed=3, condition=VECTORS[0]))


# --- Figures of test images, each under its own condition -------------------


def test_reconstruction_encodes_and_decodes_each_image_with_its_label(
    model, images):
  tiles, max_error = panels.reconstruction_panels(model, images[:3],
                                                  LABELS[:3])
  y = _centres(images[:3])
  z = model.encode(y, condition=LABELS[:3])
  np.testing.assert_array_equal(tiles[0], y)
  np.testing.assert_allclose(tiles[1], _decode(model, z, LABELS[:3]),
                             atol=1e-4)
  np.testing.assert_array_equal(pixels.to_uint8(tiles[1]), images[:3])
  assert 0 < max_error < 1e-2


def test_scales_decode_under_each_images_own_label(model, images):
  args = dict(num_samples=2, temperature=0.5, seed=1, conditions=LABELS[:2])
  z = panels.scale_latents(model, images[:2], **args)
  tiles = panels.scale_panels(model, images[:2], **args)
  for k in range(2):
    np.testing.assert_allclose(
        tiles[k, 1:], _decode(model, z[k, 0], LABELS[k]), atol=1e-3)


def test_manifold_corners_are_the_images_of_four_labels(model, images):
  tiles = panels.manifold_panels(model, images[:4], 3, LABELS[:4])
  corners = [tiles[0, 0], tiles[0, -1], tiles[-1, 0], tiles[-1, -1]]
  for corner, image in zip(corners, images[:4]):
    np.testing.assert_allclose(corner, image + 0.5, atol=1e-2)


def test_interpolation_ends_at_each_image_and_mixes_the_conditions(
    model, images):
  tiles = panels.interpolation_panels(model, images[:2], images[2:4], 3,
                                      LABELS[:2], LABELS[2:4])
  np.testing.assert_allclose(tiles[:, 0], _centres(images[:2]), atol=1e-2)
  np.testing.assert_allclose(tiles[:, -1], _centres(images[2:4]), atol=1e-2)
  # One class at both ends: every step decodes under exactly that class.
  same = np.array([1, 1], np.int32)
  tiles = panels.interpolation_panels(model, images[:2], images[2:4], 3, same,
                                      same)
  t = latents.quarter_circle(3)
  path = latents.great_circle(model.encode(_centres(images[:2]), same),
                              model.encode(_centres(images[2:4]), same), t)
  np.testing.assert_allclose(tiles[:, 1], _decode(model, path[1], same),
                             atol=1e-3)


def test_mix_conditions_moves_from_one_condition_to_the_other():
  c1, c2 = np.eye(3, dtype=np.float32)[[0, 2]]
  mixed = panels.mix_conditions(c1, c2, latents.quarter_circle(5))
  assert mixed.shape == (5, 3) and mixed.dtype == np.float32
  np.testing.assert_array_equal(mixed[0], c1)
  np.testing.assert_allclose(mixed[-1], c2, atol=1e-30)
  np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(mixed[2], [0.5, 0, 0.5], rtol=1e-6)


def test_resolve_and_describe_conditions(model, vector_model):
  classes, vectors = model.conditioning, vector_model.conditioning
  assert [render.resolve_condition(v, classes, NAMES)
          for v in (2, "1", " Bird/Fish ", np.int64(0))] == [2, 1, 2, 0]
  np.testing.assert_array_equal(
      render.resolve_condition("Smiling,Young", vectors, ATTRIBUTES),
      [0, 1, 0, 1])
  np.testing.assert_array_equal(
      render.resolve_condition("", vectors, ATTRIBUTES), [0, 0, 0, 0])
  assert render.describe_condition(1, classes, NAMES) == "class 1 (Dog)"
  assert render.describe_condition(1, classes) == "class 1"
  assert render.describe_condition([1, 0, 0.5, 0], vectors,
                                   ATTRIBUTES) == "Male, Eyeglasses=0.5"
  # The names of a real dataset.
  names = data.condition_spec("fashion_mnist").names
  assert render.resolve_condition(
      "sneaker", conditions.Conditioning(num_classes=10), names) == 7


@pytest.mark.parametrize("make, message", [
    (lambda m, v, u, x: panels.class_panels(u),
     r"classes needs a conditional model .* this model is unconditional"),
    (lambda m, v, u, x: render.render("classes", u, x, OPTIONS),
     "The classes figure needs a conditional model"),
    (lambda m, v, u, x: panels.class_panels(m, conditions=[0, 3]),
     r"classes: conditions\[1\] must be int class labels in \[0, 3\), "
     r"received \[3\]"),
    (lambda m, v, u, x: panels.class_panels(v),
     "a condition-vector model needs conditions"),
    (lambda m, v, u, x: panels.class_panels(m, conditions=[]),
     "conditions must hold at least one row"),
    (lambda m, v, u, x: panels.class_panels(m, conditions=[[0, 1]]),
     r"conditions\[0\] must be one condition"),
    (lambda m, v, u, x: panels.sample_panels(m, condition=-1),
     r"samples: condition must be int class labels in \[0, 3\)"),
    (lambda m, v, u, x: render.render(
        "samples", m, x, render.FigureOptions(condition="3")),
     r"Class '3' is outside \[0, 3\): the model has 3 classes"),
    (lambda m, v, u, x: render.render(
        "classes", m, x, render.FigureOptions(conditions=(7,))),
     r"Class 7 is outside \[0, 3\)"),
    (lambda m, v, u, x: render.render(
        "samples", m, x, render.FigureOptions(condition="horse"), names=NAMES),
     r"No class named 'horse' \(classes: cat, Dog, bird/fish\)"),
    (lambda m, v, u, x: render.render(
        "samples", v, x, render.FigureOptions(condition="Male,Bald"),
        names=ATTRIBUTES),
     r"Unknown attribute 'Bald' in condition 'Male,Bald'; attributes: Male, "),
    (lambda m, v, u, x: render.render(
        "samples", v, x, render.FigureOptions(condition="Male")),
     "the attribute names of the model's dataset are unknown"),
    (lambda m, v, u, x: panels.reconstruction_panels(m, x[:2]),
     r"reconstruct: the model is conditional; pass the images' conditions"),
    (lambda m, v, u, x: panels.reconstruction_panels(m, x[:2], LABELS[:3]),
     r"reconstruct needs one condition per image \(2\)"),
    (lambda m, v, u, x: panels.manifold_panels(u, x[:4], 3, LABELS[:4]),
     "manifold: the model is unconditional; it takes no conditions"),
    (lambda m, v, u, x: render.render("reconstruct", m, x, OPTIONS),
     "reconstruct of a conditional model needs the conditions of its 2 test "
     "images, received 0"),
    (lambda m, v, u, x: render.render(
        "samples", u, x, render.FigureOptions(condition=1)),
     "The options' condition and conditions are for conditional models"),
], ids=["classes_unconditional", "render_classes_unconditional",
        "label_too_large", "vectors_need_rows", "no_rows", "row_of_two",
        "negative_label", "option_label", "option_row_label", "unknown_class",
        "unknown_attribute", "no_attribute_names", "no_conditions",
        "conditions_count", "unconditional_conditions",
        "render_no_conditions", "render_unconditional_condition"])
def test_bad_conditions_are_clear_errors(model, vector_model, unconditional,
                                         images, make, message):
  with pytest.raises(ValueError, match=message):
    make(model, vector_model, unconditional, images)
