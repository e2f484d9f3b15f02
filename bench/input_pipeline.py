"""Images/s of the streamed input pipeline (grain) beside the training step's consumption.

    nice -n 5 python bench/input_pipeline.py --md out.md --json out.json
    python bench/input_pipeline.py --sizes 64 --workers 0,1 --steps 10      # quick

For each resolution: a synthetic set (smooth random fields plus pixel noise) is written
by ``jaxgan prepare`` (one process) as ArrayRecord shards of PNG and of raw uint8
records (``--encodings``), then read by ``GrainSource`` exactly as training
reads it: random access in the epoch's order, PNG decoding in ``--workers`` processes,
uint8 sent to the device and turned into [-1, 1] there; each step is timed to
``block_until_ready``, after ``--warmup`` steps that absorb the workers' start. The
shards sit in the page cache (the set is small), so this is the decoding rate, not a
disk's. Beside it: one process decoding records alone (the per-core rate), and the
DCGAN training step (jaxgan's nets, ``--features``, float32; 28, 32 and 64 px only, the
sizes jaxgan's DCGAN has) on this machine's CPU, in images/s; and, for a GPU, the step's FLOPs per image (XLA's cost analysis of the
compiled step) divided into an assumed sustained throughput (``--gpu-tflops``: an
assumption, not a measurement), which says how many decoding cores would keep it fed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import tempfile
import time

import numpy as np

import common  # noqa: F401  (puts the repository on the path)

import jax
import jax.numpy as jnp

DCGAN_SIZES = (28, 32, 64)  # jaxgan.nets.dcgan's image sizes: no step is timed at others.


def synthetic_images(n: int, size: int, seed: int = 0) -> np.ndarray:
  """(n, size, size, 3) uint8: bilinear upsampled 8x8 random colours plus noise (+-6)."""
  from PIL import Image
  rng = np.random.default_rng(seed)
  out = np.empty((n, size, size, 3), np.uint8)
  for i in range(n):
    coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8))
    smooth = np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), np.int16)
    out[i] = np.clip(smooth + rng.integers(-6, 7, smooth.shape), 0, 255)
  return out


def pipeline_rate(path, batch: int, workers: int, warmup: int, steps: int) -> dict:
  from jaxgan import parallel
  from jaxgan.data.grain_source import GrainSource, RecordReader
  sharding = parallel.batch_sharding(parallel.make_mesh())
  source = GrainSource(RecordReader(path), batch, 1, 0, sharding, workers=workers, prefetch=2)
  try:
    t0 = time.perf_counter()
    for step in range(warmup):
      source.batch(step)["image"].block_until_ready()
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for step in range(warmup, warmup + steps):
      source.batch(step)["image"].block_until_ready()
    seconds = time.perf_counter() - t0
  finally:
    source.close()
  return {"images_per_s": batch * steps / seconds, "warmup_s": start_s}


def decode_rate(path, count: int) -> float:
  """One process, no pipeline: records read and decoded one after another."""
  from jaxgan.data.grain_source import RecordReader
  reader = RecordReader(path)
  reader.read(0)
  t0 = time.perf_counter()
  for i in range(count):
    reader.read(i % len(reader))
  return count / (time.perf_counter() - t0)


def train_step(size: int, features: int, batch: int, steps: int) -> dict:
  """The DCGAN step (non-saturating game, batch norm) at ``size``: CPU rate, FLOPs/image."""
  from jaxgan.hparams import make_hparams
  from jaxgan.nets import make_models
  from jaxgan.optimizers import make_optimizer
  from jaxgan.train_state import create_state
  from jaxgan.train_step import StepConfig, make_train_step
  from common import median_ms
  shape = (size, size, 3)
  G, D = make_models("dcgan", shape, features=features, d_norm="batch")
  tx = make_optimizer("adam", 2e-4, b1=0.5, b2=0.999)
  state = create_state(jax.random.key(0), G, D, tx, tx, 100, shape, hparams=make_hparams())
  step = jax.jit(make_train_step(StepConfig(game="non_saturating", n_critic=1,
                                            mode="alternating")), donate_argnums=0)
  real = jnp.tanh(jax.random.normal(jax.random.key(1), (1, batch, *shape)))
  cost = step.lower(state, real).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  holder = [state]

  def run():
    holder[0], metrics = step(holder[0], real)
    jax.block_until_ready(metrics)

  ms = median_ms(run, 1, steps)
  return {"images_per_s": batch / ms * 1e3, "flops_per_image": float(cost["flops"]) / batch}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--sizes", default="64,256")
  p.add_argument("--workers", default="0,1,2")
  p.add_argument("--encodings", default="png,raw")
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--examples", type=int, default=2048, help="set size at 64 px (scaled by "
                 "(64/size)^2 at other sizes, at least 4 batches)")
  p.add_argument("--warmup", type=int, default=4)
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--features", type=int, default=64, help="DCGAN base width")
  p.add_argument("--step-batch", type=int, default=16, help="batch of the timed CPU step at "
                 "64 px (scaled by (64/size)^2 at other sizes, at least 2)")
  p.add_argument("--gpu-tflops", default="50,200",
                 help="assumed sustained GPU throughputs (TFLOP/s) for the estimate")
  p.add_argument("--json")
  p.add_argument("--md")
  args = p.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  worker_counts = [int(w) for w in args.workers.split(",")]
  tflops = [float(t) for t in args.gpu_tflops.split(",")]
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for size in sizes:
      from jaxgan.prepare import prepare
      n = max(4 * args.batch, args.examples * 64 * 64 // (size * size))
      images = synthetic_images(n, size)
      np.savez(f"{tmp}/s{size}.npz", x_train=images)
      step = (train_step(size, args.features, max(2, args.step_batch * 64 * 64 // size**2), 3)
              if size in DCGAN_SIZES else None)
      for encoding in args.encodings.split(","):
        path = f"{tmp}/r{size}{encoding}"
        t0 = time.perf_counter()
        prepare(f"{tmp}/s{size}.npz", path, size, workers=0, encoding=encoding,
                progress=False)
        prepare_rate = n / (time.perf_counter() - t0)
        shard_bytes = sum(f.stat().st_size for f in pathlib.Path(path).iterdir())
        row = {"size": size, "encoding": encoding, "examples": n,
               "bytes_per_image": shard_bytes / n,
               "prepare_images_per_s_1_process": prepare_rate,
               "decode_images_per_s_1_process": decode_rate(path, min(n, 512)),
               "pipeline": {}}
        for w in worker_counts:
          row["pipeline"][w] = pipeline_rate(path, args.batch, w, args.warmup, args.steps)
        if step is not None:
          row["train_step_cpu_images_per_s"] = step["images_per_s"]
          row["flops_per_image"] = step["flops_per_image"]
          row["gpu_estimate"] = {
              t: {"images_per_s": t * 1e12 / step["flops_per_image"],
                  "cores_needed": t * 1e12 / step["flops_per_image"]
                  / row["decode_images_per_s_1_process"]} for t in tflops}
        print(json.dumps(row, default=str), flush=True)
        rows.append(row)
  meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
          "load_average": os.getloadavg()[0], "jax": jax.__version__,
          "batch": args.batch, "steps": args.steps, "features": args.features}
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2,
                                                  default=str) + "\n")
  if args.md:
    pathlib.Path(args.md).write_text(markdown(meta, rows, worker_counts, tflops))


def markdown(meta, rows, worker_counts, tflops) -> str:
  lines = [f"# Input pipeline (grain, ArrayRecord): {meta['machine']}, {meta['date'][:10]}",
           "", f"jax {meta['jax']}; batch {meta['batch']}, {meta['steps']} timed steps after "
           f"the warmup; DCGAN base width {meta['features']}; load average at the start "
           f"{meta['load_average']:.2f}", "",
           "| size | records | bytes/image | prepare, 1 process | decode, 1 process | "
           + " | ".join(f"pipeline, {w} worker{'s' if w != 1 else ''}" for w in worker_counts)
           + " | DCGAN step on this CPU | step FLOPs/image | "
           + " | ".join(f"GPU at {t:g} TFLOP/s (assumed): img/s, decoding cores" for t in tflops)
           + " |", "|" + "---|" * (7 + len(worker_counts) + len(tflops))]
  for r in rows:
    pipe = " | ".join(f"{r['pipeline'][w]['images_per_s']:,.0f} img/s" for w in worker_counts)
    if "gpu_estimate" in r:
      step = (f"{r['train_step_cpu_images_per_s']:,.1f} img/s | "
              f"{r['flops_per_image'] / 1e9:.2f} GFLOP | " + " | ".join(
                  f"{r['gpu_estimate'][t]['images_per_s']:,.0f} img/s, "
                  f"{r['gpu_estimate'][t]['cores_needed']:.1f} cores" for t in tflops))
    else:
      step = " | ".join(["no jaxgan net at this size"] + ["-"] * (1 + len(tflops)))
    lines.append(
        f"| {r['size']} px | {r['examples']} {r['encoding']} | {r['bytes_per_image']:,.0f} | "
        f"{r['prepare_images_per_s_1_process']:,.0f} img/s | "
        f"{r['decode_images_per_s_1_process']:,.0f} img/s | {pipe} | {step} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  main()
