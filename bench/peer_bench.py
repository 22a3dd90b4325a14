"""Train speed against chrischute/real-nvp (PyTorch, CPU), in one run.

  bash bench/peer_setup.sh          # once: PyTorch and the peer, in bench/.peer
  python bench/peer_bench.py [--configs=small,cifar10] [--rounds=9]

Both implementations train the same configuration (scales, residual blocks,
feature maps of the first scale, batch 64, Adam 1e-3, L2 5e-5 on the
weight-norm scales, gradient norm clipped at 100, float32) on synthetic
pixels: `small` is the peer's small configuration (1x28x28, 32 maps, 4
blocks, 2 scales), `cifar10` the paper's CIFAR-10 model (3x32x32, 64 maps,
8 blocks, 2 scales; the peer's `train.py`). The peer runs in its own
process and environment (`peer_worker.py`); after 2 warm-up steps each, the
steps alternate, one of ours then one of the peer's per round, so the
machine's drift affects both alike, and `ratio` is the median of the
per-round ratios of the peer's step time to ours (smallest and largest in
brackets). Ours runs with TensorFlow's default threads, the peer with
PyTorch's `set_num_threads(cpu count)`.

The two models are the same design but not the same size: the peer doubles
the feature maps of the channel-wise couplings after each squeeze, ours
keeps `num_filters` within a scale (both double them at the next scale),
and the peer's residual networks have 1x1 skip convolutions. The table
prints each side's convolution GFLOP per image (forward) and parameters;
`flop_ratio` is the ratio of achieved convolution FLOP/s (ours over the
peer's), the speed of the same arithmetic.
"""

import json
import os
import subprocess
import time

from absl import app
from absl import flags
import numpy as np

import common  # pylint: disable=g-bad-import-order

import tensorflow as tf  # noqa: E402

# name -> (RealNVP keyword arguments, the `common.CONFIGS` entry whose dataset
# ours trains on)
CONFIGS = {
    "small": (dict(image_shape=(28, 28, 1), num_scales=2, num_blocks=4,
                   num_filters=32), "fashion_mnist"),
    "cifar10": (dict(image_shape=(32, 32, 3), num_scales=2, num_blocks=8,
                     num_filters=64), "cifar10"),
}
BATCH = 64
PEER = os.path.join(common.REPO, "bench", ".peer")

flags.DEFINE_list("configs", list(CONFIGS), "Configurations to time.")
flags.DEFINE_integer("rounds", 9, "Timed rounds (one step of each).",
                     lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed steps of each first.",
                     lower_bound=1)
flags.DEFINE_bool("json", False, "Print one JSON object.")
FLAGS = flags.FLAGS


class Peer:
  """The peer's training steps in its own process (`peer_worker.py`)."""

  def __init__(self, kwargs):
    python = os.path.join(PEER, "venv", "bin", "python")
    if not os.path.exists(python):
      raise SystemExit(f"No peer environment at {PEER}: run "
                       "`bash bench/peer_setup.sh` first.")
    height, width, channels = kwargs["image_shape"]
    assert height == width
    self._process = subprocess.Popen(
        [python, os.path.join(common.REPO, "bench", "peer_worker.py"),
         f"--repo={os.path.join(PEER, 'real-nvp')}", f"--channels={channels}",
         f"--image_size={height}", f"--mid_channels={kwargs['num_filters']}",
         f"--num_blocks={kwargs['num_blocks']}",
         f"--num_scales={kwargs['num_scales']}", f"--batch_size={BATCH}",
         f"--threads={os.cpu_count()}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.info = json.loads(self._process.stdout.readline())

  def steps(self, count):
    """Seconds of each of `count` further steps."""
    self._process.stdin.write(f"{count}\n")
    self._process.stdin.flush()
    return json.loads(self._process.stdout.readline())

  def close(self):
    self._process.stdin.close()
    self._process.wait()


def _ours(kwargs, config):
  trainer = common.trainer(config, num_scales=kwargs["num_scales"],
                           num_blocks=kwargs["num_blocks"],
                           num_filters=kwargs["num_filters"], batch_size=BATCH)
  batch = tf.constant(np.random.default_rng(0).integers(
      0, 256, (BATCH,) + kwargs["image_shape"]).astype(np.float32))
  parameters = sum(int(np.prod(v.shape))
                   for v in trainer.model.trainable_variables)
  return lambda: trainer.train_step(batch), parameters


def _seconds(step):
  start = time.perf_counter()
  step()
  return time.perf_counter() - start


def main(argv):
  del argv
  rows = []
  for name in FLAGS.configs:
    kwargs, config = CONFIGS[name]
    ours, parameters = _ours(kwargs, config)
    peer = Peer(kwargs)
    try:
      for _ in range(FLAGS.warmup):
        ours()
      peer.steps(FLAGS.warmup)
      seconds = np.array([(_seconds(ours), peer.steps(1)[0])
                          for _ in range(FLAGS.rounds)])
    finally:
      peer.close()
    ratios = seconds[:, 1] / seconds[:, 0]
    gflop = common.forward_flops_per_image(common.conv_shapes(**kwargs)) / 1e9
    peer_gflop = peer.info["conv_gflop_per_image"]
    ours_rate, peer_rate = BATCH / np.median(seconds, axis=0)
    rows.append(dict(
        config=name, batch=BATCH, images_per_sec=ours_rate,
        peer_images_per_sec=peer_rate, ratio=np.median(ratios),
        ratio_min=ratios.min(), ratio_max=ratios.max(),
        gflop_per_image=gflop, peer_gflop_per_image=peer_gflop,
        flop_ratio=np.median(ratios) * gflop / peer_gflop,
        parameters=parameters, peer_parameters=peer.info["parameters"]))
  common.report(rows, ["config", "batch", "images_per_sec",
                       "peer_images_per_sec", "ratio", "ratio_min",
                       "ratio_max", "gflop_per_image", "peer_gflop_per_image",
                       "flop_ratio", "parameters", "peer_parameters"],
                FLAGS.json, "Train speed against chrischute/real-nvp "
                f"(torch {peer.info['torch']}, float32, CPU)")


if __name__ == "__main__":
  app.run(main)
