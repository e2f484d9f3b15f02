"""Steps per dispatch: the time of a training step run k steps per compiled call.

``train.steps_per_call = k`` runs k steps in one call (a ``lax.scan`` over their batches,
drawn in one call too); with k = 1 every step is a dispatch from Python plus, for toy
data, a second one for its batch. What k saves is that fixed cost per step, which
matters where a step is short: small models on accelerators.

    python bench/steps_per_call.py [--small] [--ks 1,10,50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

from common import median_ms  # noqa: I001 (bench/ on the path)
from jaxgan import config as config_lib
from jaxgan import parallel
from jaxgan.data.source import make_source
from jaxgan.train import compiled_steps


def bench(config, k: int, calls: int) -> dict:
  source = make_source(config.data.name, batch_size=config.data.batch_size,
                       n_critic=config.train.n_critic, seed=0,
                       sharding=parallel.batch_sharding(parallel.make_mesh()))
  run = compiled_steps(config)
  holder = [config_lib.initial_state(config), 0]

  def call():
    holder[0], metrics = run(holder[0], source, holder[1], k)
    holder[1] += k
    jax.block_until_ready(metrics)

  t0 = time.perf_counter()
  call()
  compile_s = time.perf_counter() - t0
  return {"ms_per_step": median_ms(call, 1, calls) / k, "compile_s": compile_s}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--small", action="store_true", help="a 32-unit toy model")
  parser.add_argument("--ks", default="1,10,50")
  parser.add_argument("--json", default=None)
  args = parser.parse_args()
  config = config_lib.get_config()  # The toy default: WGAN-GP, 3 x 128, batch 256.
  if args.small:
    config.model.width, config.data.batch_size = 32, 64
  device = jax.devices()[0]
  results = {"device": device.device_kind, "jax": jax.__version__, "small": args.small,
             "ks": {}}
  for k in [int(k) for k in args.ks.split(",")]:
    results["ks"][k] = bench(config, k, max(3, 200 // k))
    print(f"k={k}: {results['ks'][k]['ms_per_step']:.3f} ms/step", flush=True)
  base = results["ks"][min(results["ks"])]["ms_per_step"]
  lines = [f"device: {results['device']}, jax {results['jax']}", "",
           "| steps per call | ms per step | speed-up | compile s |", "|---|---|---|---|"]
  for k, r in results["ks"].items():
    lines.append(f"| {k} | {r['ms_per_step']:.3f} | {base / r['ms_per_step']:.2f} | "
                 f"{r['compile_s']:.1f} |")
  print("\n".join(lines))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
