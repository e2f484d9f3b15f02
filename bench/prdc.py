"""Time of precision/recall (k=3) plus density/coverage (k=5) on 2048-d features:
jaxgan's blocked JAX code vs the same blocked algorithm in plain PyTorch (torch.cdist)
and vs the authors' reference package (PyPI ``prdc``, Naeem et al. 2020: full matrices).

    python bench/prdc.py                                  # 10k x 10k; 50k x 50k extrapolated
    python bench/prdc.py --full 10000,50000               # measure 50k x 50k in full (long)
    python bench/prdc.py --torch-python /tmp/tv/bin/python --json out.json --md out.md

Features: N real and N fake 2048-d float32 vectors, ReLU of a random 64-d linear model
plus noise (non-negative and correlated like pool3; the fake set shifted and narrower),
the same arrays for both implementations. Both compute, in blocks of 1024 x 1024
distances and never a whole matrix: each sample's k nearest others in its own set (k = 3
for fakes, 5 for reals; self excluded by index), then one pass over fake x real blocks
for the four metrics. PyTorch runs in a subprocess (``--torch-python``; its own thread
pool, so the two never compete), with ``torch.set_num_threads`` = the CPU count.

Sizes in ``--full`` are timed end to end (JAX's first call includes its compilation,
reported apart from a second, warm call up to ``--warm-max``), with each process's peak
resident memory during the computation (VmHWM, reset just before it; it includes the
features, 2 x 0.4 GiB at 50k, and the process itself; one full 50k x 50k float32
distance matrix would be 9.3 GiB). Other sizes (``--extrapolate``, default 50000)
are too slow to run whole on a small CPU: both implementations time ``--sample-blocks``
row blocks of each pass (after one untimed block) and multiply by the number of row
blocks; these figures are labelled "extrapolated" and the metrics are not computed.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

import common  # noqa: F401  (puts the repository on the path)

import jax
import jax.numpy as jnp

from jaxgan.metrics import prdc as P

DIM, BLOCK = 2048, 1024


def features(n: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
  """(n, 2048) float32 pool3-like features: relu(z W + b + noise), z 64-d."""
  rng = np.random.default_rng(1234)  # The model (W, b) is shared by both sets.
  w = (rng.standard_normal((64, DIM)) / 8.0).astype(np.float32)
  b = rng.uniform(-0.2, 0.6, DIM).astype(np.float32)
  rng = np.random.default_rng(seed)
  z = (scale * rng.standard_normal((n, 64)) + shift).astype(np.float32)
  noise = 0.1 * rng.standard_normal((n, DIM), dtype=np.float32)
  return np.maximum(z @ w + b + noise, 0.0)


def reset_peak_rss():
  """Restarts this process's peak-RSS count (Linux >= 4.0: /proc/self/clear_refs)."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
  except OSError:
    pass


def peak_rss_gib():
  """VmHWM, this process's peak resident memory (ru_maxrss would include the parent's
  peak: it survives fork and exec)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 2 ** 20
  return float("nan")


def jax_full(real: np.ndarray, fake: np.ndarray, warm: bool) -> dict:
  """End to end; with ``warm``, a second call is timed (the first includes compilation).
  Peak memory: from just before the first call (the features are already held)."""
  reset_peak_rss()
  t0 = time.perf_counter()
  scores = P.prdc(real=real, fake=fake, block_size=BLOCK)
  first = time.perf_counter() - t0
  if not warm:
    return {"seconds": first, "with_compilation": True, "scores": scores,
            "peak_rss_gib": peak_rss_gib()}
  t0 = time.perf_counter()
  P.prdc(real=real, fake=fake, block_size=BLOCK)
  return {"seconds": time.perf_counter() - t0, "first_call_s": first, "scores": scores,
          "peak_rss_gib": peak_rss_gib()}


def _timed_blocks(call, count: int) -> float:
  """Seconds per call of ``call(i)`` for i = 1..count, after an untimed i = 0."""
  jax.block_until_ready(call(0))
  t0 = time.perf_counter()
  for i in range(1, count + 1):
    jax.block_until_ready(call(i))
  return (time.perf_counter() - t0) / count


def jax_extrapolated(real: np.ndarray, fake: np.ndarray, sample_blocks: int) -> dict:
  """Per-row-block times of jaxgan's two passes, times the number of row blocks."""
  centre = real.mean(axis=0)
  real_b, real_sq = P._blocks(jnp.asarray(real - centre), BLOCK)
  fake_b, fake_sq = P._blocks(jnp.asarray(fake - centre), BLOCK)
  nb = real_b.shape[0]
  knn = _timed_blocks(lambda i: P._knn_block(real_b[i], real_sq[i], i * BLOCK, real_b, real_sq,
                                             len(real), 5), sample_blocks)
  radii = jnp.ones(real_b.shape[:2])
  valid = jnp.ones(BLOCK, bool)
  cross = _timed_blocks(lambda i: P._cross_block(fake_b[i], fake_sq[i], radii[i], valid, real_b,
                                                 real_sq, radii, radii), sample_blocks)
  return {"seconds": nb * (2 * knn + cross), "knn_block_s": knn, "cross_block_s": cross,
          "row_blocks": nb, "extrapolated": True}


TORCH_SCRIPT = (inspect.getsource(reset_peak_rss) + inspect.getsource(peak_rss_gib)
                + textwrap.dedent('''
    import json, sys, time
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[4]))
    real = torch.from_numpy(np.load(sys.argv[1])); fake = torch.from_numpy(np.load(sys.argv[2]))
    block, sample = 1024, int(sys.argv[3])

    def knn_block(x, i, k):
        """k smallest distances of rows [i*block, (i+1)*block) to the other rows of x."""
        rows = x[i * block:(i + 1) * block]
        best = torch.full((len(rows), k), float("inf"))
        for j in range(0, len(x), block):
            d = torch.cdist(rows, x[j:j + block])
            if j == i * block:
                d.fill_diagonal_(float("inf"))
            best = torch.topk(torch.cat([best, d], 1), k, dim=1, largest=False).values
        return best

    def radii(x, k):
        return torch.cat([knn_block(x, i, k) for i in range(-(-len(x) // block))])[:, k - 1]

    def cross_block(i, fake_r, real_r3, real_r5, out):
        rows = fake[i * block:(i + 1) * block]
        prec = torch.zeros(len(rows), dtype=torch.bool)
        dens = torch.zeros(len(rows), dtype=torch.long)
        for j in range(0, len(real), block):
            d = torch.cdist(rows, real[j:j + block])
            prec |= (d <= real_r3[j:j + block]).any(1)
            ball = d <= real_r5[j:j + block]
            dens += ball.sum(1)
            out["recall"][j:j + block] |= (d <= fake_r[i * block:(i + 1) * block, None]).any(0)
            out["coverage"][j:j + block] |= ball.any(0)
        return prec, dens

    def full():
        r = torch.cat([knn_block(real, i, 5) for i in range(-(-len(real) // block))])
        real_r3, real_r5, fake_r = r[:, 2], r[:, 4], radii(fake, 3)
        out = {"recall": torch.zeros(len(real), dtype=torch.bool),
               "coverage": torch.zeros(len(real), dtype=torch.bool)}
        parts = [cross_block(i, fake_r, real_r3, real_r5, out)
                 for i in range(-(-len(fake) // block))]
        prec = torch.cat([p for p, _ in parts]); dens = torch.cat([c for _, c in parts])
        return {"precision": prec.float().mean().item(),
                "recall": out["recall"].float().mean().item(),
                "density": dens.sum().item() / (5 * len(fake)),
                "coverage": out["coverage"].float().mean().item()}

    def per_block(call):
        call(0)
        t0 = time.perf_counter()
        for i in range(1, sample + 1):
            call(i)
        return (time.perf_counter() - t0) / sample

    with torch.no_grad():
        if sample == 0:
            reset_peak_rss()
            t0 = time.perf_counter()
            scores = full()
            print(json.dumps({"seconds": time.perf_counter() - t0, "scores": scores,
                              "peak_rss_gib": peak_rss_gib()}))
        else:
            nb = -(-len(real) // block)
            ones = torch.ones(len(real))
            out = {"recall": torch.zeros(len(real), dtype=torch.bool),
                   "coverage": torch.zeros(len(real), dtype=torch.bool)}
            knn = per_block(lambda i: knn_block(real, i, 5))
            cross = per_block(lambda i: cross_block(i, ones, ones, ones, out))
            print(json.dumps({"seconds": nb * (2 * knn + cross), "knn_block_s": knn,
                              "cross_block_s": cross, "row_blocks": nb, "extrapolated": True,
                              "torch": torch.__version__}))
'''))


PRDC_SCRIPT = (inspect.getsource(reset_peak_rss) + inspect.getsource(peak_rss_gib)
               + textwrap.dedent('''
    import contextlib, io, json, sys, time
    import numpy as np, prdc
    real = np.load(sys.argv[1]); fake = np.load(sys.argv[2])
    reset_peak_rss()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # It prints the sizes.
        pr = prdc.compute_prdc(real, fake, nearest_k=3)
        dc = prdc.compute_prdc(real, fake, nearest_k=5)
    scores = {"precision": float(pr["precision"]), "recall": float(pr["recall"]),
              "density": float(dc["density"]), "coverage": float(dc["coverage"])}
    print(json.dumps({"seconds": time.perf_counter() - t0, "scores": scores,
                      "peak_rss_gib": peak_rss_gib(), "note": "two calls (k=3, k=5)"}))
'''))


def prdc_package_run(python: str, real: np.ndarray, fake: np.ndarray) -> dict:
  """Naeem et al.'s own implementation (PyPI ``prdc``: sklearn's full distance matrices,
  numpy), called with k=3 for precision/recall and k=5 for density/coverage."""
  with tempfile.TemporaryDirectory() as tmp:
    paths = [os.path.join(tmp, f"{name}.npy") for name in ("real", "fake")]
    np.save(paths[0], real)
    np.save(paths[1], fake)
    proc = subprocess.run([python, "-c", PRDC_SCRIPT, *paths], capture_output=True, text=True)
  if proc.returncode:
    return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_run(python: str, real: np.ndarray, fake: np.ndarray, sample_blocks: int) -> dict:
  """The PyTorch side in its own process; sample_blocks 0: the full computation."""
  with tempfile.TemporaryDirectory() as tmp:
    paths = [os.path.join(tmp, f"{name}.npy") for name in ("real", "fake")]
    np.save(paths[0], real)
    np.save(paths[1], fake)
    proc = subprocess.run([python, "-c", TORCH_SCRIPT, *paths, str(sample_blocks),
                           str(os.cpu_count())], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
  if proc.returncode:
    return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _version(python: str) -> str:
  proc = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                        capture_output=True, text=True)
  return proc.stdout.strip() or "absent"


def measure(n: int, full: bool, args) -> list[dict]:
  real, fake = features(n, seed=1), features(n, seed=2, shift=0.1, scale=0.9)
  rows = []
  if full:
    rows.append({"n": n, "impl": "jaxgan (JAX, float32)",
                 **jax_full(real, fake, n <= args.warm_max)})
  else:
    rows.append({"n": n, "impl": "jaxgan (JAX, float32)",
                 **jax_extrapolated(real, fake, args.sample_blocks)})
  if args.torch_python:
    rows.append({"n": n, "impl": "PyTorch (torch.cdist, blocked)",
                 **torch_run(args.torch_python, real, fake, 0 if full else args.sample_blocks)})
  if full and args.prdc_python and n <= args.prdc_max:
    rows.append({"n": n, "impl": "prdc 0.2 (Naeem et al.; numpy, full matrices)",
                 **prdc_package_run(args.prdc_python, real, fake)})
  return rows


def _cell(row: dict) -> str:
  if "error" in row:
    return f"failed: {row['error']}"
  text = f"{row['seconds']:.1f} s"
  if row.get("extrapolated"):
    text += (f" (extrapolated: {row['row_blocks']} row blocks x (2 x {row['knn_block_s']:.2f} s"
             f" k-NN + {row['cross_block_s']:.2f} s cross))")
  if "first_call_s" in row:
    text += f" (first call {row['first_call_s']:.1f} s, with compilation)"
  if row.get("with_compilation"):
    text += " (one call, compilation included)"
  if "peak_rss_gib" in row:
    text += f"; peak RSS {row['peak_rss_gib']:.2f} GiB"
  return text


def markdown(rows: list[dict], header: str) -> str:
  lines = [header, "", "| N real x N fake (2048-d) | implementation | time | precision | recall "
           "| density | coverage |", "|---|---|---|---|---|---|---|"]
  for row in rows:
    s = row.get("scores") or {}
    values = [f"{s[k]:.4f}" if k in s else "-" for k in
              ("precision", "recall", "density", "coverage")]
    lines.append(f"| {row['n']:,} x {row['n']:,} | {row['impl']} | {_cell(row)} | "
                 + " | ".join(values) + " |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--full", default="10000", help="sizes timed end to end (comma list)")
  parser.add_argument("--extrapolate", default="50000", help="sizes extrapolated from blocks")
  parser.add_argument("--warm-max", type=int, default=20000,
                      help="largest full size also timed warm, in a second call")
  parser.add_argument("--sample-blocks", type=int, default=2,
                      help="timed row blocks per pass when extrapolating")
  parser.add_argument("--torch-python", default="/tmp/tv/bin/python",
                      help="a Python with torch for the PyTorch side ('' to skip)")
  parser.add_argument("--prdc-python", default="/tmp/tv/bin/python",
                      help="a Python with the PyPI package prdc (the authors' code; '' to skip)")
  parser.add_argument("--prdc-max", type=int, default=20000,
                      help="largest N given to prdc (its full N x N float32 matrices: 3 of "
                      "them, 4.8 GB at 20k)")
  parser.add_argument("--json", default=None)
  parser.add_argument("--md", default=None)
  args = parser.parse_args()
  for name in ("torch_python", "prdc_python"):
    if getattr(args, name) and not pathlib.Path(getattr(args, name)).exists():
      setattr(args, name, "")
  sizes = [(int(n), True) for n in args.full.split(",") if n] + [
      (int(n), False) for n in args.extrapolate.split(",") if n]
  load = os.getloadavg()[0]
  rows = []
  for n, full in sizes:
    rows.extend(measure(n, full, args))
    print(json.dumps(rows[-1]), flush=True)
  header = (f"# P/R (k=3) + D/C (k=5): {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, {datetime.date.today()}\n\njax {jax.__version__}, torch "
            f"{_version(args.torch_python) if args.torch_python else 'absent'}; blocks of "
            f"{BLOCK} x {BLOCK}; load average at the start {load:.2f}")
  text = markdown(rows, header)
  print(text)
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps({"rows": rows, "load": load}, indent=1) + "\n")
  if args.md:
    pathlib.Path(args.md).write_text(text)


if __name__ == "__main__":
  main()
