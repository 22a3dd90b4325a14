"""Paths and resampling in the latent space of the multi-scale flow.

The latent `z = model.encode(y)` has the image's shape; `model.encode(y,
per_scale=True)` gives the pieces each scale factored out, fine to coarse,
and `model.decode(pieces, per_scale=True)` puts them back
(`tf_realnvp.flow.MultiScaleFlow.split_latents`, which lists their shapes).

Paths (Dinh et al. 2017, section 5 and figure 6): `great_circle` and
`manifold` combine latents with cosines and sines so that, for independent
standard-normal latents, every point on the path is standard normal too.
`resample_scales` redraws the pieces of some scales.
"""

import math

import numpy as np
import tensorflow as tf

__all__ = ["great_circle", "manifold", "quarter_circle", "resample_scales"]


def resample_scales(pieces, scales, temperature, seed):
  """`pieces` with those of `scales` replaced by draws from `N(0, T^2)`.

  The other pieces are returned as they are (the same tensors), so decoding
  the result keeps what those scales encode and redraws the rest.

  Args:
    pieces: per-scale latents, as from `model.encode(y, per_scale=True)`
      (fine to coarse).
    scales: indices into `pieces` to resample (negative ones count from the
      coarsest).
    temperature: the standard deviation `T >= 0` of the new latents.
    seed: a stateless seed `[2]` (see `tf_realnvp.seeds.stateless_seed`);
      piece `i` is drawn with `stateless_fold_in(seed, i)`.

  Returns:
    A new list of tensors, shaped and typed like `pieces`.

  Raises:
    ValueError: for an index out of range or a negative temperature.
  """
  pieces = list(pieces)
  if not isinstance(temperature, tf.Tensor) and not temperature >= 0:
    raise ValueError(
        f"resample_scales: temperature must be >= 0, received {temperature!r}.")
  chosen = set()
  for scale in scales:
    if not -len(pieces) <= int(scale) < len(pieces):
      raise ValueError(f"resample_scales: scale {scale} is out of range for "
                       f"{len(pieces)} scales.")
    chosen.add(int(scale) % len(pieces))
  for i in sorted(chosen):
    piece = tf.convert_to_tensor(pieces[i])
    noise = tf.random.stateless_normal(
        tf.shape(piece), tf.random.experimental.stateless_fold_in(seed, i),
        dtype=piece.dtype)
    # Not `tf.cast(0.7, float64)`: that goes through float32.
    scale = (tf.cast(temperature, piece.dtype)
             if isinstance(temperature, tf.Tensor) else
             tf.constant(temperature, piece.dtype))
    pieces[i] = scale * noise
  return pieces


def great_circle(z1, z2, t):
  """`cos(t) z1 + sin(t) z2`: from `z1` (t = 0) to `z2` (t = pi/2).

  Args:
    z1, z2: latents of one shape `S` (any shape, float).
    t: angles, a float or a 1-D array of `K` angles.

  Returns:
    `S` for a scalar `t`, else `[K] + S`.
  """
  z1 = tf.convert_to_tensor(z1)
  z2 = tf.convert_to_tensor(z2, z1.dtype)
  cos, sin = _cos_sin(t, z1)
  return cos * z1 + sin * z2


def manifold(z1, z2, z3, z4, a, b):
  """The paper's manifold (figure 6) through four latents.

  `cos(a) (cos(b) z1 + sin(b) z2) + sin(a) (cos(b) z3 + sin(b) z4)`:
  `(a, b) = (0, 0), (0, pi/2), (pi/2, 0), (pi/2, pi/2)` give `z1, z2, z3, z4`
  (up to `cos(pi/2) ~ 6e-17`).

  Args:
    z1, z2, z3, z4: latents of one shape `S`.
    a, b: 1-D arrays of `A` and `B` angles.

  Returns:
    `[A, B] + S`: entry `[i, j]` is the point at `(a[i], b[j])`.
  """
  along_b = [great_circle(z1, z2, b), great_circle(z3, z4, b)]  # [B] + S.
  cos_a, sin_a = _cos_sin(a, along_b[0])
  return cos_a * along_b[0][None] + sin_a * along_b[1][None]


def quarter_circle(num):
  """`num` angles evenly from 0 to pi/2 inclusive (float64 numpy)."""
  if int(num) != num or num < 1:
    raise ValueError(f"the number of angles must be an int >= 1, received "
                     f"{num!r}.")
  return np.linspace(0.0, math.pi / 2, int(num)) if num > 1 else np.zeros(1)


def _cos_sin(t, like):
  """`cos(t)`, `sin(t)` shaped to broadcast against `[K] + like.shape`."""
  t = np.asarray(t, np.float64)
  if t.ndim > 1:
    raise ValueError(f"angles must be a scalar or 1-D, received shape "
                     f"{t.shape}.")
  shape = t.shape + (1,) * like.shape.rank
  cos, sin = np.cos(t).reshape(shape), np.sin(t).reshape(shape)
  # sin(0) and cos(0) are exact, so t = 0 returns `z1` itself.
  return (tf.constant(cos, like.dtype), tf.constant(sin, like.dtype))
