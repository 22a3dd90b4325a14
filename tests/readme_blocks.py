"""The code blocks of a Markdown file, and running them as a user would: from
a stand-in for the repository's root (`checkout`), with `.venv` being this
Python's environment."""

import json
import os
import re
import socket
import subprocess
import sys

from tests import processes


def blocks(path, language):
  """The text of each ```language block of the Markdown file `path`."""
  with open(path) as f:
    return re.findall(rf"```{language}\n(.*?)```", f.read(), re.S)


def replace(text, replacements):
  """`text` with each `old` of `replacements` replaced by its `new`; every
  `old` must occur (a README that changed fails here, not later)."""
  for old, new in replacements.items():
    assert old in text, f"{old!r} is not in {text!r}"
    text = text.replace(old, new)
  return text


def leading_json(text):
  """The JSON values at the start of `text` (curl prints them without a
  newline) and the text after them."""
  decoder, values = json.JSONDecoder(), []
  text = text.lstrip()
  while text.startswith("{"):
    value, end = decoder.raw_decode(text)
    values.append(value)
    text = text[end:].lstrip()
  return values, text


def checkout(root):
  """Makes `root` stand in for the repository's root: a link to each of its
  top-level entries but `.venv` (a link to this Python's environment) and
  the folders that commands write (`runs`, `exports`). Returns `root`."""
  root = str(root)
  for name in os.listdir(processes.REPO):
    if name not in (".git", ".venv", "runs", "exports"):
      os.symlink(os.path.join(processes.REPO, name), os.path.join(root, name))
  os.symlink(sys.prefix, os.path.join(root, ".venv"))
  return root


def run_sh(text, cwd, timeout=processes.TIMEOUT_SECONDS):
  """Runs a shell block with bash (`set -euo pipefail`) in `cwd`; returns
  its stdout, or fails the test with its output."""
  result = subprocess.run(
      ["bash", "-c", "set -euo pipefail\n" + text], cwd=cwd,
      env=processes.environment(), capture_output=True, text=True,
      timeout=timeout, check=False)
  assert result.returncode == 0, (
      f"{text}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}")
  return result.stdout


def make(target, args=""):
  """`make target ARGS=args` in `cwd` without (re)building `.venv` or
  installing Debian packages (the test's environment has them)."""
  return (f"make -o .venv/.installed -o system-deps {target}"
          + (f" ARGS='{args}'" if args else ""))


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]
