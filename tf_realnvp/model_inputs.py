"""What a `RealNVP`'s methods accept: images, latents and conditions,
checked, with errors that name the method and what was expected."""

import keras
import tensorflow as tf

__all__ = ["ModelInputs"]


class ModelInputs:
  """The input checks of one model.

  Args:
    image_shape: `(H, W, C)`.
    conditioning: the model's `tf_realnvp.conditions.Conditioning`, or
      `None` for an unconditional model.
    dtype: the flow's dtype, float pixels and conditions are cast to.
  """

  def __init__(self, image_shape, conditioning, dtype):
    self.image_shape = tuple(image_shape)
    self.conditioning = conditioning
    self.dtype = dtype

  def images(self, x, method, dtype=None):
    """`x` as a `[N, H, W, C]` tensor, or a ValueError.

    Float inputs are cast to the flow's dtype unless `dtype` is given, in
    which case exactly that dtype is required (uint8 images).
    """
    x = tf.convert_to_tensor(x)
    if dtype is not None and x.dtype != dtype:
      raise ValueError(f"{method} expects {dtype.name} images, received dtype "
                       f"{x.dtype.name}.")
    if dtype is None and not x.dtype.is_floating:
      raise ValueError(
          f"{method} expects float pixels (dequantised, in [0, 256)), received "
          f"dtype {x.dtype.name}; for 8-bit images use bits_per_dim or "
          "tf_realnvp.pixels.dequantize.")
    expected = [None] + list(self.image_shape)
    if x.shape.rank is not None and not x.shape.is_compatible_with(expected):
      raise ValueError(f"{method} expects shape [N, H, W, C] = {expected}, "
                       f"received {x.shape}.")
    return x if dtype is not None else tf.cast(x, self.dtype)

  def condition_vector(self, condition, name="condition"):
    """Condition vectors `[..., dim]` (`tf_realnvp.conditions`); a ValueError
    for an unconditional model."""
    if self.conditioning is None:
      raise ValueError(f"This model is unconditional; it takes no {name}.")
    return self.conditioning.vector(condition, self.dtype, name)

  def optional_vector(self, condition):
    """`condition_vector(condition)`, or `None` for no condition."""
    return None if condition is None else self.condition_vector(condition)

  def required_vector(self, condition, x):
    """The condition vectors for inputs `x` `[N, ...]`, checked: present
    exactly for a conditional model, and of a batch shape that is `[]` or
    `[N]` when both are known."""
    if condition is None and self.conditioning is None:
      return None
    if condition is None:
      return self.condition_vector(None)
    vector = self.condition_vector(condition)
    batch = vector.shape[:-1]
    if batch.rank is not None and (batch.rank > 1 or (
        batch.rank == 1 and not batch.is_compatible_with(x.shape[:1]))):
      raise ValueError(f"condition must be one condition or one per image "
                       f"(batch shape [] or [{x.shape[0]}]), received batch "
                       f"shape {batch.as_list()}.")
    return vector

  def unpack_call(self, inputs):
    """`(y, condition)` of `model(...)`'s inputs: `(y, c)` for a
    conditional model, `y` otherwise."""
    if self.conditioning is None:
      return inputs, None
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
      raise ValueError("This model is conditional: call it on (y, condition), "
                       f"received {type(inputs).__name__}.")
    return tuple(inputs)

  def unpack_data(self, data):
    """`(y, condition)` of a `fit`/`evaluate` element: `(y, c)` for a
    conditional model (Keras's `(x, y)`), `y` or `(y, ...)` otherwise."""
    x, target, _ = keras.utils.unpack_x_y_sample_weight(data)
    return (x, target) if self.conditioning else (x, None)
