"""Argument checks shared by the package: each error names the argument."""

import numbers

__all__ = ["check_int"]


def check_int(minimum, **values):
  """Raises a `ValueError` naming the first of `values` (`name=value`) that
  is not an int `>= minimum` (bools are not ints here)."""
  for name, value in values.items():
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or
        value < minimum):
      raise ValueError(f"{name} must be an int >= {minimum}, received "
                       f"{value!r}.")
