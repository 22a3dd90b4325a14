"""Importing a command module of this repository in a test process.

absl refuses a second definition of a flag name (--workdir, --seed, ...),
and the commands of this repository (train.py, `python -m
tf_realnvp.figures`, `python -m tf_realnvp.anomaly`), imported by test
files of one process, define some of the same: `imported_command` takes the
others' flags off absl's `FLAGS` while a command is in use, and puts them
back.
"""

import contextlib
import importlib
import os
import sys

from absl import flags

from tests import processes

FLAGS = flags.FLAGS


def _repository_flags():
  """`(module name, module id, flag, is key flag)` of each flag that a
  command of this repository defined on absl's `FLAGS`."""
  found = []
  key_flags = FLAGS.key_flags_by_module_dict()
  for name, module_flags in FLAGS.flags_by_module_dict().items():
    path = os.path.abspath(getattr(sys.modules.get(name), "__file__", None)
                           or os.devnull)
    if path.startswith(processes.REPO + os.sep) and "site-packages" not in path:
      found += [(name, FLAGS.find_module_id_defining_flag(f.name), f,
                 f in key_flags.get(name, [])) for f in module_flags]
  return found


def _take_off(found):
  for _, _, flag, _ in found:
    if flag.name in FLAGS:
      delattr(FLAGS, flag.name)


def _put_back(found):
  for name, module_id, flag, is_key in found:
    FLAGS[flag.name] = flag
    FLAGS.register_flag_by_module(name, flag)
    FLAGS.register_flag_by_module_id(module_id, flag)
    if is_key:
      FLAGS.register_key_flag_for_module(name, flag)


@contextlib.contextmanager
def imported_command(module):
  """The command `module` (e.g. `"tf_realnvp.figures.__main__"`), freshly
  imported with its flags on `FLAGS`; the other commands' flags are off
  `FLAGS` meanwhile and put back afterwards."""
  others = _repository_flags()
  _take_off(others)
  sys.modules.pop(module, None)  # Defines its flags when imported.
  try:
    yield importlib.import_module(module)
  finally:
    FLAGS.unparse_flags()
    _take_off(_repository_flags())
    sys.modules.pop(module, None)
    _put_back(others)
