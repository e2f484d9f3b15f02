"""Throughput of FID feature extraction and time of the Frechet distance, jaxgan vs pytorch-fid.

    python bench/fid_throughput.py            # batch 500, 10 timed batches
    python bench/fid_throughput.py --small    # a quick CPU run: batch 8, 3 timed batches

Feature extraction: 32x32 uint8 RGB images, resized to 299x299 inside the model, pool3
and logits out. Two jaxgan figures: "forward" (images already on the device, outputs
fetched to the host) and "end to end" (host uint8 batches -> devices -> float64 running
statistics on the host, as ``python -m jaxgan.metrics`` runs). pytorch-fid (when
importable, on CUDA if available) runs ``InceptionV3([3])`` on float [0, 1] NCHW
batches, outputs fetched to the host, as its ``get_activations`` does. The weights are
random (``random_state_dict``): values do not change the speed.

Frechet distance: 2048-d statistics of random features (non-singular), jaxgan's
``frechet_distance`` (JAX float64: Cholesky + symmetric eigenvalues; first call
includes compilation) vs pytorch-fid's ``calculate_frechet_distance`` (scipy sqrtm),
or the same formula inline when pytorch-fid is absent.

Prints a markdown table with the device and the versions.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import pathlib
import platform
import time
import warnings

import jax
import numpy as np
import scipy
from scipy import linalg

from jaxgan import inception_weights
from jaxgan.metrics import evaluate
from jaxgan.metrics.frechet import frechet_distance

REPO = pathlib.Path(__file__).resolve().parents[1]


def _version(name: str) -> str:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return "absent"


def _timed(fn, repeats: int = 1) -> float:
  start = time.perf_counter()
  for _ in range(repeats):
    fn()
  return (time.perf_counter() - start) / repeats


def bench_jaxgan(state_dict, batch: int, batches: int, precision: str) -> dict[str, float]:
  variables = inception_weights.convert_state_dict(state_dict)
  extractor = evaluate.FeatureExtractor(variables, batch, precision=precision)
  rng = np.random.default_rng(0)
  host = [rng.integers(0, 256, (extractor.batch_size, 32, 32, 3), dtype=np.uint8)
          for _ in range(batches)]
  compile_s = _timed(lambda: extractor(host[0]))  # Compiles, then runs once.
  device = [jax.device_put(x, extractor.sharding) for x in host]
  jax.block_until_ready(device)

  def forward():
    outs = [extractor.dispatch(x)[0] for x in device]
    for out in outs:
      np.asarray(out["pool3"]), np.asarray(out["logits"])

  forward_s = _timed(forward)
  e2e_s = _timed(lambda: evaluate.extract(iter(host), extractor, progress=False))
  n = batches * extractor.batch_size
  return {"first batch (compile) s": compile_s, "forward img/s": n / forward_s,
          "end to end img/s": n / e2e_s}


def bench_pytorch_fid(state_dict, batch: int, batches: int) -> dict[str, float] | None:
  if importlib.util.find_spec("torch") is None or importlib.util.find_spec("pytorch_fid") is None:
    return None
  import torch
  spec = importlib.util.spec_from_file_location("make_fid_golden",
                                                REPO / "tools" / "make_fid_golden.py")
  golden = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(golden)
  golden._import_torchvision()  # The real torchvision modules, or the documented stand-ins.
  import pytorch_fid.inception as pfi
  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  tensors = {k: torch.from_numpy(v) for k, v in state_dict.items()}
  pfi.load_state_dict_from_url = lambda *a, **k: tensors
  model = pfi.InceptionV3([pfi.InceptionV3.DEFAULT_BLOCK_INDEX]).eval().to(device)
  fc = tensors["fc.weight"].to(device)
  rng = np.random.default_rng(0)
  xs = [torch.from_numpy(rng.random((batch, 3, 32, 32), dtype=np.float32)).to(device)
        for _ in range(batches)]

  def forward(items):
    with torch.no_grad():
      for x in items:
        pool3 = model(x)[0].squeeze(3).squeeze(2)
        pool3.cpu().numpy(), torch.nn.functional.linear(pool3, fc).cpu().numpy()

  first_s = _timed(lambda: forward(xs[:1]))
  forward_s = _timed(lambda: forward(xs))
  return {"first batch (compile) s": first_s, "forward img/s": batches * batch / forward_s,
          "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}


def bench_frechet(dim: int) -> dict[str, float]:
  rng = np.random.default_rng(0)
  stats = []
  for scale in (1.0, 1.5):
    x = rng.standard_normal((2 * dim, dim)) * scale + rng.random(dim)
    stats += [x.mean(axis=0), np.cov(x, rowvar=False)]
  first = _timed(lambda: frechet_distance(*stats))
  again = _timed(lambda: frechet_distance(*stats))
  try:
    from pytorch_fid.fid_score import calculate_frechet_distance as reference
    name = "pytorch-fid (scipy sqrtm)"
  except ImportError:
    name = "scipy sqrtm"

    def reference(mu1, s1, mu2, s2):
      covmean = linalg.sqrtm(s1 @ s2).real
      return ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)

  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref_s = _timed(lambda: reference(*stats))
    value, ref_value = frechet_distance(*stats), float(reference(*stats))
  return {"first": first, "again": again, "reference": ref_s, "name": name,
          "rel_diff": abs(value - ref_value) / abs(ref_value)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--small", action="store_true", help="batch 8, 3 timed batches")
  parser.add_argument("--batch-size", type=int, default=500)
  parser.add_argument("--batches", type=int, default=10, help="timed batches")
  parser.add_argument("--precision", default="highest", choices=("highest", "high", "default"))
  parser.add_argument("--fid-dim", type=int, default=2048)
  parser.add_argument("--no-torch", action="store_true", help="skip pytorch-fid")
  args = parser.parse_args()
  batch, batches = (8, 3) if args.small else (args.batch_size, args.batches)

  state_dict = inception_weights.random_state_dict(0)
  ours = bench_jaxgan(state_dict, batch, batches, args.precision)
  theirs = None if args.no_torch else bench_pytorch_fid(state_dict, batch, batches)
  fd = bench_frechet(args.fid_dim)

  dev = jax.devices()[0]
  print(f"\nDevice: {dev.platform} / {dev.device_kind} x {jax.device_count()} "
        f"({platform.processor() or platform.machine()}); pytorch-fid on "
        f"{theirs['device'] if theirs else 'n/a'}")
  print(f"Versions: jax {jax.__version__}, jaxlib {_version('jaxlib')}, flax "
        f"{_version('flax')}, numpy {np.__version__}, scipy {scipy.__version__}, torch "
        f"{_version('torch')}, torchvision {_version('torchvision')}, pytorch-fid "
        f"{_version('pytorch-fid')}")
  print(f"Feature extraction: 32x32 -> 299x299, batch {batch}, {batches} timed batches, "
        f"jaxgan precision '{args.precision}'\n")
  fmt = lambda v: "n/a" if v is None else (f"{v:,.1f}" if v >= 10 else f"{v:.3g}")  # noqa
  get = lambda d, k: None if d is None or k not in d else d[k]  # noqa: E731
  print("| measurement | jaxgan | pytorch-fid |")
  print("|---|---|---|")
  for key in ("forward img/s", "end to end img/s", "first batch (compile) s"):
    print(f"| {key} | {fmt(ours[key])} | {fmt(get(theirs, key))} |")
  print(f"| Frechet distance {args.fid_dim}-d, s (first call / again) | "
        f"{fd['first']:.2f} / {fd['again']:.2f} | {fd['reference']:.2f} ({fd['name']}) |")
  print(f"\nFrechet distance relative difference jaxgan vs {fd['name']}: {fd['rel_diff']:.2e}")


if __name__ == "__main__":
  main()
