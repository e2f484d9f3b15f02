"""K variants in one compiled program (``jaxgan.sweep``) against K runs one after the other.

For K = 1, 4, 16, 64 and two workloads, the time of one training step per variant:

- sweep: the K variants (seeds 0..K-1) stacked and stepped by one program (jax.vmap);
- jaxgan, one by one: the single-run step (K runs one after the other take K times it);
- PyTorch eager, one by one: the same model, loss and optimizer in PyTorch's usual loop.

Workloads: the toy default (``jaxgan.config.get_config()``: WGAN-GP, 3 x 128 ReLU MLPs,
batch 256, 5 critic steps, lambda 0.1, Adam) and a small DCGAN (32 px, non-saturating,
batch 32, one critic step, Adam 2e-4). Ratios are other / sweep per variant, so > 1 means
the sweep is faster. Also reported: the program's memory per variant (XLA's own
accounting) and the largest K that the free memory of the device holds.

    python bench/sweep.py [--small] [--json out.json]   # PyTorch columns need torch
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

from common import ROOT, median_ms  # noqa: I001 (bench/ on the path)
from jaxgan import config as config_lib
from jaxgan.sweep import program
from jaxgan.sweep.grid import make_grid
from jaxgan.train_step import make_train_step


def toy_config(small: bool):
  c = config_lib.get_config()
  if small:
    c.model.width, c.data.batch_size = 32, 64
  return c


def dcgan_config(small: bool):
  c = config_lib.get_config()
  c.data.name, c.data.batch_size = "cifar10", 16 if small else 32
  c.model.name, c.model.features, c.model.latent_dim = "dcgan", 8 if small else 16, 64
  c.model.g_norm, c.model.d_norm = "batch", "batch"
  c.loss.game, c.penalty.name, c.penalty.weight = "non_saturating", "none", 0.0
  c.train.n_critic = 1
  for o in (c.g_optimizer, c.d_optimizer):
    o.learning_rate, o.b1, o.b2 = 2e-4, 0.5, 0.999
  return c


WORKLOADS = {"toy": (toy_config, (2,)), "dcgan32": (dcgan_config, (32, 32, 3))}


def _real(config, shape, k=None):
  full = (config.train.n_critic, config.data.batch_size, *shape)
  x = jnp.tanh(jax.random.normal(jax.random.key(1), full))
  return x if k is None else jnp.broadcast_to(x, (k, *full))


def bench_sweep(config, shape, k: int, warmup: int, steps: int) -> dict:
  (group,) = make_grid(config, [f"seed=0:{k}"]).groups
  init, args = program.initializer(group, shape)
  sweep = jax.jit(init)(*args)
  batches = _real(config, shape, k)
  t0 = time.perf_counter()
  compiled = jax.jit(program.make_sweep_step(config), donate_argnums=0).lower(
      sweep, batches).compile()
  compile_s = time.perf_counter() - t0
  holder = [sweep]

  def run():
    holder[0], metrics = compiled(holder[0], batches)
    jax.block_until_ready(metrics)

  ms = median_ms(run, warmup, steps)
  return {"ms": ms, "per_variant_ms": ms / k, "compile_s": compile_s,
          "bytes": program.program_bytes(compiled)}


def bench_single(config, shape, warmup: int, steps: int) -> float:
  state = config_lib.initial_state(config, shape)
  step = jax.jit(make_train_step(config_lib.step_config(config)), donate_argnums=0)
  batch, holder = _real(config, shape), [state]

  def run():
    holder[0], metrics = step(holder[0], batch)
    jax.block_until_ready(metrics)

  return median_ms(run, warmup, steps)


def bench_torch(python: str, name: str, small: bool, warmup: int, steps: int) -> float | None:
  """One run's step in PyTorch eager (same nets, losses, optimizers), in a process of its
  own run by ``python``; None where that interpreter has no torch."""
  cmd = [python, str(ROOT / "bench" / "torch_models.py"), name, "--steps", str(steps),
         "--warmup", str(warmup)] + (["--small"] if small else [])
  run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
  if run.returncode != 0:
    if "No module named 'torch'" not in run.stderr:
      print(f"PyTorch side failed: {run.stderr[-800:]}", file=sys.stderr)
    return None
  return json.loads(run.stdout.strip().splitlines()[-1])["ms"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="CPU-sized nets and few steps")
  parser.add_argument("--ks", default=None, help="variant counts (default 1,4,16,64; "
                      "--small: 1,4)")
  parser.add_argument("--steps", type=int, default=None)
  parser.add_argument("--json", default=None, help="also write the results here")
  parser.add_argument("--torch-python", default=sys.executable,
                      help="interpreter with torch for the PyTorch column (default: this one)")
  args = parser.parse_args()
  ks = [int(k) for k in (args.ks or ("1,4" if args.small else "1,4,16,64")).split(",")]
  steps = args.steps or (3 if args.small else 20)
  warmup = 2
  device = jax.devices()[0]
  results = {"device": device.device_kind, "platform": device.platform,
             "jax": jax.__version__, "host": platform.processor() or platform.machine(),
             "small": args.small, "workloads": {}}
  free = program.available_bytes(device)
  for name, (make_config, shape) in WORKLOADS.items():
    config = make_config(args.small)
    single = bench_single(config, shape, warmup, steps)
    torch_ms = bench_torch(args.torch_python, name, args.small, warmup, steps)
    rows = {}
    for k in ks:
      r = bench_sweep(config, shape, k, warmup, steps)
      r["one_by_one_over_sweep"] = single / r["per_variant_ms"]
      r["torch_over_sweep"] = torch_ms / r["per_variant_ms"] if torch_ms else None
      rows[k] = r
      print(f"{name} K={k}: {r['per_variant_ms']:.3f} ms/variant-step "
            f"(jaxgan one by one {single:.3f}, torch {torch_ms or float('nan'):.3f})", flush=True)
    big, small_k = max(ks), min(ks)
    per_variant = (rows[big]["bytes"] - rows[small_k]["bytes"]) / max(1, big - small_k)
    results["workloads"][name] = {
        "jaxgan_single_ms": single, "torch_single_ms": torch_ms, "sweep": rows,
        "bytes_per_variant": per_variant,
        "largest_k_in_free_memory": int(0.8 * free // per_variant) if free and per_variant > 0
        else None, "free_bytes": free}
  print(table(results))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


def table(results: dict) -> str:
  lines = [f"device: {results['device']} ({results['platform']}), jax {results['jax']}", "",
           "| workload | K | sweep ms/variant | jaxgan one by one | ratio | PyTorch eager one by one "
           "| ratio | MiB/variant | largest K that fits |", "|" + "---|" * 9]
  for name, w in results["workloads"].items():
    torch_ms = w["torch_single_ms"]
    torch_cell = f"{torch_ms:.3f}" if torch_ms else "not installed"
    for k, r in w["sweep"].items():
      ratio = r["torch_over_sweep"]
      lines.append(
          f"| {name} | {k} | {r['per_variant_ms']:.3f} | {w['jaxgan_single_ms']:.3f} | "
          f"{r['one_by_one_over_sweep']:.2f} | {torch_cell} | "
          f"{'-' if ratio is None else f'{ratio:.2f}'} | "
          f"{w['bytes_per_variant'] / 2**20:.2f} | {w['largest_k_in_free_memory']} |")
  return "\n".join(lines)


if __name__ == "__main__":
  main()
