"""The paper's figures from a trained model, as PNG grids.

```sh
python -m tf_realnvp.figures --workdir=runs/fashion_mnist_demo --figure=all
```

writes `<workdir>/figures/<figure>.png` (atomically), and next to each
`<figure>.flags`, the flags that make it again (`--flagfile=`); `--help`
lists the flags. Figures
(Dinh et al. 2017, section 5 and figure 6):

* `samples`: one row per temperature `T` (`--temperatures`, default
  0.5, 0.7, 0.85, 1.0) of `--num_samples` samples `decode(T z)`,
  `z ~ N(0, I)`; every row uses the same `z` (`--seed`), so a column shows
  one latent direction at several temperatures.
* `manifold`: the paper's figure 6: four test images encoded to
  `z1 .. z4` and `cos(a) (cos(b) z1 + sin(b) z2) + sin(a) (cos(b) z3 +
  sin(b) z4)` decoded on a `--grid_size` x `--grid_size` grid of angles
  `a` (rows) and `b` (columns) in `[0, pi/2]`: the corners are the images.
* `scales`: what each scale of the factor-out encodes. For each of
  `--num_images` test images a block of rows (`resampling_rows`): each row
  starts with the image, then `--num_samples` decodes of its latent with the
  pieces of some scales redrawn from `N(0, T^2)` (`--temperature`) and the
  others kept. Rows: each scale alone (fine to coarse), then, with 3 or more
  scales, the finest `k` scales together (coarse kept) and the coarsest
  together (fine kept). With 2 scales: row 0 redraws the fine scale (the
  coarse structure is kept), row 1 the coarse one (the fine detail is kept).
* `interpolate`: one row per pair of test images (`--num_images` pairs),
  `decode(cos(t) z1 + sin(t) z2)` for `--grid_size` angles `t` in
  `[0, pi/2]`: the manifold's `a = 0` row, for the pair's latents.
* `reconstruct`: row 0 test images, row 1 `decode(encode(y))`; the command
  prints the largest absolute pixel error, which is only float rounding: the
  flow is exactly invertible.
* `classes` (conditional models only; an unconditional workdir is an
  error): one row per condition of `--num_samples` samples at
  `--temperature` (default 0.7), every row the same base noise (`--seed`),
  so the rows differ by their condition alone. Rows: every class `0 .. K-1`
  of a class model; for a condition-vector model (CelebA's attributes) the
  attribute vectors of the first `--num_images` test images (real attribute
  combinations; an arbitrary one can be unlike any face). `--conditions`
  (repeated) chooses the rows instead. The PNG has no captions: the command
  prints `row r: <condition>` and writes the same lines to `classes.txt`.

Conditional models (`model_config.json` with `num_classes` or
`condition_shape`): `samples` is conditioned on `--condition` (default:
class 0; for condition vectors the first test image's). A class is its index
in `[0, K)` or its name (`tf_realnvp.data.condition_spec(dataset).names`,
any case); condition vectors are written as comma-separated attribute names
set to 1, the others 0 (`--condition=Male,Smiling`; empty: none). A class
outside `[0, K)` or an unknown name is an error. The figures of test images
encode (and decode) each image under its own condition from the test split
(`data.load_images(..., conditional=True)`); a tile between images decodes
`sum_k w_k z_k` under `sum_k w_k^2 c_k` (`panels.mix_conditions`: the
condition moves with the latent, and each image's own tile is exactly its
own). `all` adds `classes`. `--condition` and `--conditions` on an
unconditional model are an error.

Test images are the first images, from `--image_offset` on, of the test
split of the workdir's dataset (its `flags.txt`: `--dataset`, `--data_dir`,
`--image_size`; with `--classes`, of those classes only), in the dataset's
fixed order. They enter the flow at the centres of their pixel bins,
`y = x + 0.5` (deterministic, no noise: the same images give the same
figure), so `to_uint8(decode(encode(y))) == x`.
Decoded pixels are clipped to `[0, 256)` and floored (`pixels.to_uint8`);
grids are enlarged for a screen as `tf_realnvp.io.image_grid` describes.

The model is `RealNVP(**model_config.json)` with the latest checkpoint in
`<workdir>/checkpoints` (`workdirs.load_trained_model`: only the model is
restored, in evaluation mode; every model variable must be in the
checkpoint).

In Python: `render(figure, model, images, FigureOptions(...))` (for a
conditional model also the images' conditions and the dataset's names:
`render(..., image_conditions, names)`) gives one figure's grid image,
`write_figures(workdir, figure, options)` the files, and
`tf_realnvp.figures.panels` the tiles of each figure.
"""

import importlib

__all__ = ["ALL", "CONDITIONAL_FIGURES", "DEFAULT_TEMPERATURES", "FIGURES",
           "FigureOptions", "condition_names", "describe_condition",
           "figures_of", "images_needed", "load_test_images", "render",
           "resolve_condition", "write_figures"]

# Imported on first use, so that `python -m tf_realnvp.figures` can start
# TensorFlow its own way (`tf_realnvp.startup`) before anything imports it.
_HOMES = dict({name: "render" for name in __all__},
              DEFAULT_TEMPERATURES="panels")


def __getattr__(name):
  if name in _HOMES:
    module = importlib.import_module(f"tf_realnvp.figures.{_HOMES[name]}")
    return getattr(module, name)
  raise AttributeError(
      f"module 'tf_realnvp.figures' has no attribute {name!r}")
