"""Trains Real NVP: `python train.py --flagfile=celeba.flags --workdir=...`.

The command is `tf_realnvp.training.__main__` (`python -m
tf_realnvp.training`, or `tf-realnvp-train` after `pip install .`); its
flags are listed by `--helpfull`.
"""

from tf_realnvp.training.__main__ import _export  # noqa: F401 pylint: disable=unused-import
from tf_realnvp.training.__main__ import main  # noqa: F401 pylint: disable=unused-import
from tf_realnvp.training.__main__ import run

if __name__ == "__main__":
  run()
