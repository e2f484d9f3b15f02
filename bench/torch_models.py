"""The benchmarks' PyTorch side: jaxgan's nets, games and optimizers in PyTorch's usual loop.

Layouts follow ``jaxgan.nets``: DCGAN (4x4 stride-2 (transposed) convolutions, batch norm
except on G's output and D's input, ReLU / LeakyReLU(0.2), tanh) and the toy MLPs (ReLU
hidden layers). ``make_step(name, config, shape)`` returns a function running one
training step of a jaxgan config ('toy': WGAN-GP; 'dcgan32' or 'dcgan': non-saturating
cross-entropy, or WGAN-GP when the config says so) on fixed random data.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def dcgan_generator(size: int, latent: int, features: int, channels: int = 3) -> nn.Module:
  n = int(math.log2(size // 4))
  f = features * 2 ** (n - 1)
  layers = [nn.ConvTranspose2d(latent, f, 4, 1, 0, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
  for _ in range(n - 1):
    layers += [nn.ConvTranspose2d(f, f // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(f // 2),
               nn.ReLU()]
    f //= 2
  layers += [nn.ConvTranspose2d(f, channels, 4, 2, 1), nn.Tanh()]
  return nn.Sequential(*layers)


def dcgan_discriminator(size: int, features: int, norm: str, channels: int = 3) -> nn.Module:
  n = int(math.log2(size // 4))
  f, layers = features, [nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2)]
  for _ in range(n - 1):
    layers += [nn.Conv2d(f, 2 * f, 4, 2, 1, bias=norm != "batch")]
    layers += [nn.BatchNorm2d(2 * f)] if norm == "batch" else []
    layers += [nn.LeakyReLU(0.2)]
    f *= 2
  return nn.Sequential(*layers, nn.Conv2d(f, 1, 4, 1, 0), nn.Flatten(0))


def mlp(inputs: int, width: int, depth: int, outputs: int) -> nn.Module:
  layers, n = [], inputs
  for _ in range(depth):
    layers += [nn.Linear(n, width), nn.ReLU()]
    n = width
  return nn.Sequential(*layers, nn.Linear(n, outputs))


def _adam(params, o):
  return torch.optim.Adam(params, o.learning_rate, betas=(o.b1, o.b2), eps=o.eps)


def make_step(name: str, config, shape, device: str | None = None):
  """One training step of ``config`` in PyTorch (eager), on fixed random real data."""
  device = device or ("cuda" if torch.cuda.is_available() else "cpu")
  m, t, batch = config.model, config.train, config.data.batch_size
  if m.name == "mlp":
    g = mlp(m.latent_dim, m.width, m.depth, math.prod(shape)).to(device)
    d = nn.Sequential(mlp(math.prod(shape), m.width, m.depth, 1), nn.Flatten(0)).to(device)
    noise = lambda: torch.randn(batch, m.latent_dim, device=device)
  else:
    g = dcgan_generator(shape[0], m.latent_dim, m.features, shape[-1]).to(device)
    d = dcgan_discriminator(shape[0], m.features, m.d_norm, shape[-1]).to(device)
    noise = lambda: torch.randn(batch, m.latent_dim, 1, 1, device=device)
    shape = (shape[-1], shape[0], shape[1])
  opt_g, opt_d = _adam(g.parameters(), config.g_optimizer), _adam(d.parameters(), config.d_optimizer)
  real = torch.tanh(torch.randn(t.n_critic, batch, *shape, device=device))
  weight = config.penalty.weight

  def wgan_gp_step():
    for i in range(t.n_critic):
      with torch.no_grad():
        fake = g(noise()).reshape(real[i].shape)
      opt_d.zero_grad(set_to_none=True)
      eps = torch.rand(batch, *[1] * len(shape), device=device)
      x_hat = (eps * real[i] + (1 - eps) * fake).requires_grad_(True)
      grad, = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
      penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
      (d(fake).mean() - d(real[i]).mean() + weight * penalty).backward()
      opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    (-d(g(noise()).reshape(real[0].shape)).mean()).backward()
    opt_g.step()

  bce = nn.functional.binary_cross_entropy_with_logits

  def non_saturating_step():
    fake = g(noise()).reshape(real[0].shape)
    opt_d.zero_grad(set_to_none=True)
    out_r, out_f = d(real[0]), d(fake.detach())
    (0.5 * bce(out_r, torch.ones_like(out_r)) + 0.5 * bce(out_f, torch.zeros_like(out_f))).backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    out = d(fake)
    (0.5 * bce(out, torch.ones_like(out))).backward()
    opt_g.step()

  step = wgan_gp_step if config.penalty.name == "gradient_penalty" else non_saturating_step

  def run():
    step()
    if device == "cuda":
      torch.cuda.synchronize()
  return run


def main():
  """``python bench/torch_models.py WORKLOAD [--small] [--steps N]``: one run's median ms.

  A process of its own, so that neither framework's thread pool disturbs the other.
  """
  import argparse
  import json

  from common import median_ms
  from sweep import WORKLOADS
  parser = argparse.ArgumentParser()
  parser.add_argument("workload", choices=sorted(WORKLOADS))
  parser.add_argument("--small", action="store_true")
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=2)
  args = parser.parse_args()
  make_config, shape = WORKLOADS[args.workload]
  step = make_step(args.workload, make_config(args.small), shape)
  print(json.dumps({"ms": median_ms(step, args.warmup, args.steps), "torch": torch.__version__,
                    "threads": torch.get_num_threads()}))


if __name__ == "__main__":
  main()
