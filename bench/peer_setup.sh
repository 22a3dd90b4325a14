#!/bin/bash
# Sets up the peer of bench/peer_bench.py in bench/.peer (git-ignored):
# PyTorch in its own virtual environment and chrischute/real-nvp's code,
# cloned (PEER_REPO: another URL or a local clone) and made to run on current
# PyTorch: its `.view` of the log-scales (coupling layers) and of the prior's
# log-density (loss) fail on non-contiguous tensors, and become `.reshape`
# (the same values).
# Nothing of the peer is committed to this repository.
set -euo pipefail
cd "$(dirname "$0")"
PEER_REPO=${PEER_REPO:-https://github.com/chrischute/real-nvp}
PEER_COMMIT=${PEER_COMMIT:-df51ad5}  # Its last commit ("Add license.").
if [ ! -x .peer/venv/bin/python ]; then
  python3 -m venv .peer/venv
  .peer/venv/bin/pip install -q -r peer_requirements.txt
fi
if [ ! -d .peer/real-nvp ]; then
  git clone -q "$PEER_REPO" .peer/real-nvp.partial
  git -C .peer/real-nvp.partial checkout -q "$PEER_COMMIT"
  models=.peer/real-nvp.partial/models/real_nvp
  sed -i 's/sldj += s\.view(/sldj += s.reshape(/' "$models/coupling_layer.py"
  sed -i 's/prior_ll = prior_ll\.view(/prior_ll = prior_ll.reshape(/' \
    "$models/real_nvp_loss.py"
  test "$(grep -c 'reshape(' "$models/coupling_layer.py")" = 2
  test "$(grep -c 'reshape(' "$models/real_nvp_loss.py")" = 1
  mv .peer/real-nvp.partial .peer/real-nvp
fi
echo "peer ready: $(pwd)/.peer"
