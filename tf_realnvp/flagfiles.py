"""Flagfiles: resolving `--flagfile=NAME` against the repository's
`configs/` folder (`tf_realnvp.run_config.from_flag_lines` reads one)."""

import os

__all__ = ["CONFIG_DIR", "FLAGFILE_PREFIX", "resolve_flagfiles"]

# The package's flagfiles, one per dataset (also the repository's configs/).
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "configs")

FLAGFILE_PREFIX = "--flagfile="


def resolve_flagfiles(argv, search_dirs):
  """Returns `argv` with each `--flagfile=NAME` pointing at an existing file.

  `NAME` is used as given when it exists (relative to the working directory,
  as absl reads it); otherwise the first `search_dir/NAME` that exists, so
  that `python train.py --flagfile=celeba.flags` finds `configs/celeba.flags`.

  Raises:
    FileNotFoundError: naming the flagfile and every place looked in.
  """
  resolved = []
  for arg in argv:
    if arg.startswith(FLAGFILE_PREFIX):
      name = arg[len(FLAGFILE_PREFIX):]
      candidates = [name] + [os.path.join(d, name) for d in search_dirs]
      found = next((c for c in candidates if os.path.isfile(c)), None)
      if found is None:
        raise FileNotFoundError(
            f"flagfile {name!r} not found; looked for: {', '.join(candidates)}.")
      arg = FLAGFILE_PREFIX + found
    resolved.append(arg)
  return resolved
