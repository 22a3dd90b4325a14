"""The latent space of the multi-scale flow, scale by scale, and paths in it.

The latent `z = model.encode(y)` has the image's shape `[N, H, W, C]`: each
scale's factored-out half is put back in place by un-squeezing (see
`tf_realnvp.bijectors.multiscale_bijectors`). `split_latents` takes it apart
into the pieces each scale factored out, `merge_latents` puts them back.
Both are exact permutations of the entries (no arithmetic), pure functions of
the model's `layout` and `squeezes` layers, so they follow the flow's own
channel order (`tf_realnvp.layers.Squeeze`).

**Order and shapes of the pieces: fine to coarse, the order of
`model.layout`.** `pieces[i]` is what scale `i` factored out; the last piece
is the last (coarsest) scale's whole output. For `layout[i].event_shape =
(h, w, c)`, scale `i < L - 1` squeezes to `(h/2, w/2, 4c)` and factors out the
first half of those channels, a piece `[N, h/2, w/2, 2c]`; the last scale's
piece has its event shape. With `L` scales and images `(H, W, C)`:

| piece | shape |
|---|---|
| `i < L - 1` | `[N, H / 2^(i+1), W / 2^(i+1), 2^(i+1) C]` |
| `L - 1` | `[N, H / 2^(L-1), W / 2^(L-1), 2^(L-1) C]` |

e.g. 28x28x1 with 2 scales: `[N, 14, 14, 2]` and `[N, 14, 14, 2]`; 32x32x3
with 3 scales: `[N, 16, 16, 6]`, `[N, 8, 8, 12]`, `[N, 8, 8, 12]`
(`latent_shapes` computes them). The pieces' sizes add up to `H W C`.

Paths (Dinh et al. 2017, section 5 and figure 6): `great_circle` and
`manifold` combine latents with cosines and sines so that, for independent
standard-normal latents, every point on the path is standard normal too.
"""

import math

import numpy as np
import tensorflow as tf

__all__ = ["great_circle", "latent_shapes", "manifold", "merge_latents",
           "quarter_circle", "resample_scales", "split_latents"]


def latent_shapes(layout):
  """The event shape `(h, w, c)` of each scale's piece, fine to coarse.

  Args:
    layout: `model.layout` (from `tf_realnvp.bijectors.multiscale_layout`).

  Returns:
    A list of `len(layout)` tuples; see the module docstring.
  """
  shapes = []
  for scale in layout:
    if scale.is_last:
      shapes.append(tuple(scale.event_shape))
    else:
      height, width, channels = scale.squeezed_shape
      shapes.append((height, width, channels // 2))
  return shapes


def split_latents(z, layout, squeezes):
  """The pieces of latent `z` that each scale factored out, fine to coarse.

  Exactly the inverse of the multi-scale flow's un-squeezing: at scale `i`
  the latent of the remaining scales is squeezed (with `squeezes[i]`) and its
  channels split in half; the first half is piece `i`, the second half is
  the latent of scales `i + 1, ...`.

  Args:
    z: `[N, H, W, C]` latents, as `model.encode(y)` returns them.
    layout: `model.layout`.
    squeezes: `model.squeezes`, one `tf_realnvp.layers.Squeeze` per scale
      but the last.

  Returns:
    A list of `len(layout)` tensors of the shapes `latent_shapes(layout)`
    (with the batch dimension first), the entries of `z` permuted.

  Raises:
    ValueError: if `z` is not `[N, H, W, C]` with the layout's image shape,
      or `squeezes` does not fit `layout`.
  """
  _check_squeezes(layout, squeezes)
  z = tf.convert_to_tensor(z)
  _check_shape(z, layout[0].event_shape, "split_latents: z")
  pieces = []
  rest = z
  for squeeze in squeezes:
    kept, rest = tf.split(squeeze(rest), 2, axis=-1)
    pieces.append(kept)
  pieces.append(rest)
  return pieces


def merge_latents(pieces, layout, squeezes):
  """The latent `[N, H, W, C]` of per-scale `pieces`: inverts `split_latents`.

  Args:
    pieces: a sequence of `len(layout)` tensors, fine to coarse, of the
      shapes `latent_shapes(layout)` with a common batch dimension first.
    layout: `model.layout`.
    squeezes: `model.squeezes`.

  Returns:
    `z` `[N, H, W, C]` such that `split_latents(z, ...)` returns `pieces`.

  Raises:
    ValueError: naming the piece whose number, shape or dtype is wrong.
  """
  _check_squeezes(layout, squeezes)
  pieces = [tf.convert_to_tensor(p) for p in pieces]
  shapes = latent_shapes(layout)
  if len(pieces) != len(shapes):
    raise ValueError(
        f"merge_latents: expected {len(shapes)} pieces (one per scale, fine to "
        f"coarse, of shapes {_describe(shapes)}), received {len(pieces)}.")
  for i, (piece, shape) in enumerate(zip(pieces, shapes)):
    _check_shape(piece, shape, f"merge_latents: piece {i}")
    if piece.dtype != pieces[0].dtype:
      raise ValueError(f"merge_latents: piece {i} has dtype {piece.dtype.name}"
                       f", piece 0 has {pieces[0].dtype.name}.")
    if not piece.shape[:1].is_compatible_with(pieces[0].shape[:1]):
      raise ValueError(f"merge_latents: piece {i} has batch size "
                       f"{piece.shape[0]}, piece 0 has {pieces[0].shape[0]}.")
  z = pieces[-1]
  for piece, squeeze in zip(reversed(pieces[:-1]), reversed(squeezes)):
    z = squeeze.unsqueeze(tf.concat([piece, z], axis=-1))
  return z


def resample_scales(pieces, scales, temperature, seed):
  """`pieces` with those of `scales` replaced by draws from `N(0, T^2)`.

  The other pieces are returned as they are (the same tensors), so decoding
  the result keeps what those scales encode and redraws the rest.

  Args:
    pieces: per-scale latents, as from `split_latents` (fine to coarse).
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


def _check_squeezes(layout, squeezes):
  if len(squeezes) != len(layout) - 1:
    raise ValueError(f"{len(layout)} scales need {len(layout) - 1} squeeze "
                     f"layers, received {len(squeezes)}.")


def _check_shape(x, event_shape, what):
  expected = [None] + list(event_shape)
  if x.shape.rank != 4 or not x.shape.is_compatible_with(expected):
    raise ValueError(f"{what} must have shape {expected} (batch first), "
                     f"received {x.shape}.")


def _describe(shapes):
  return ", ".join(f"[N, {h}, {w}, {c}]" for h, w, c in shapes)
