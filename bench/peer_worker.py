"""Training steps of chrischute/real-nvp (PyTorch, CPU), timed on request.

Runs in the peer's own environment (`bench/peer_setup.sh`), started by
`bench/peer_bench.py`, never imported by this package. Builds the peer's
`RealNVP` and its training step exactly as the peer's `train.py` (Adam with
its weight-decay parameter groups, its loss, gradient-norm clipping at 100)
on uniform pixels in [0, 1], then answers each line `n` on stdin with one
JSON line on stdout: the seconds of each of `n` further steps. The first
line it writes describes the model (`conv_gflop_per_image`: the forward
multiply-adds x 2 of every `Conv2d`, counted from the shapes seen in one
forward pass).
"""

import argparse
import json
import sys
import time


def _conv_flops_per_image(net, x, torch):
  """Forward multiply-adds x 2 of every `Conv2d` of `net` on `x`, per image."""
  flops = []

  def hook(module, _, output):
    kh, kw = module.kernel_size
    flops.append(2 * output[0].numel() * kh * kw *
                 module.in_channels // module.groups)

  handles = [m.register_forward_hook(hook) for m in net.modules()
             if isinstance(m, torch.nn.Conv2d)]
  with torch.no_grad():
    net(x[:1])
  for handle in handles:
    handle.remove()
  return sum(flops)


def main():
  parser = argparse.ArgumentParser()
  for name in ("channels", "image_size", "mid_channels", "num_blocks",
               "num_scales", "batch_size", "threads"):
    parser.add_argument(f"--{name}", type=int, required=True)
  parser.add_argument("--repo", required=True)
  args = parser.parse_args()
  sys.path.insert(0, args.repo)
  import torch  # pylint: disable=g-import-not-at-top
  import util  # pylint: disable=g-import-not-at-top
  from models import RealNVP, RealNVPLoss  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  torch.set_num_threads(args.threads)
  net = RealNVP(num_scales=args.num_scales, in_channels=args.channels,
                mid_channels=args.mid_channels, num_blocks=args.num_blocks)
  net.train()
  loss_fn = RealNVPLoss()
  optimizer = torch.optim.Adam(
      util.get_param_groups(net, 5e-5, norm_suffix="weight_g"), lr=1e-3)
  x = torch.randint(0, 256, (args.batch_size, args.channels, args.image_size,
                             args.image_size)).float() / 255.

  def step():
    optimizer.zero_grad()
    z, sldj = net(x, reverse=False)
    loss = loss_fn(z, sldj)
    loss.backward()
    util.clip_grad_norm(optimizer, 100.)
    optimizer.step()
    return loss.item()

  print(json.dumps(dict(
      torch=torch.__version__, threads=torch.get_num_threads(),
      parameters=sum(p.numel() for p in net.parameters()),
      conv_gflop_per_image=_conv_flops_per_image(net, x, torch) / 1e9)),
        flush=True)
  for line in sys.stdin:
    seconds = []
    for _ in range(int(line)):
      start = time.perf_counter()
      step()
      seconds.append(time.perf_counter() - start)
    print(json.dumps(seconds), flush=True)


if __name__ == "__main__":
  main()
