"""Throughput of FID feature extraction and time of the Frechet distance, jaxgan vs pytorch-fid.

    python bench/fid_throughput.py            # batch 500, 10 timed batches
    python bench/fid_throughput.py --small    # a quick CPU run: batch 8, 3 timed batches
    python bench/fid_throughput.py --precision highest,default --json out.json

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

Prints a markdown table with the device and the versions. ``--json PATH`` writes the
figures (rewritten after each part, so a run that is killed keeps what it measured);
a part that fails is recorded with its error and the next part runs. On CUDA,
pytorch-fid is timed twice: with PyTorch's defaults (cuDNN may use TF32 in
convolutions) and with TF32 off (full float32, as jaxgan's 'highest').
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import time
import warnings

import jax
import numpy as np
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


def bench_pytorch_fid(state_dict, batch: int, batches: int,
                      tf32_variants: bool = False) -> dict[str, float] | None:
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
  out = {"first batch (compile) s": first_s, "forward img/s": batches * batch / forward_s,
         "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
         "torch": torch.__version__, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
  if tf32_variants and device.type == "cuda" and torch.backends.cudnn.allow_tf32:
    torch.backends.cudnn.allow_tf32 = False
    try:
      forward(xs[:1])  # cuDNN picks its algorithms again.
      out["forward img/s, TF32 off"] = batches * batch / _timed(lambda: forward(xs))
    finally:
      torch.backends.cudnn.allow_tf32 = True
  return out


def bench_frechet(dim: int) -> dict[str, float]:
  rng = np.random.default_rng(0)
  stats = []
  for scale in (1.0, 1.5):
    x = rng.standard_normal((2 * dim, dim)) * scale + rng.random(dim)
    stats += [x.mean(axis=0), np.cov(x, rowvar=False)]
  first = _timed(lambda: frechet_distance(*stats))
  again = statistics.median(_timed(lambda: frechet_distance(*stats)) for _ in range(3))
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
    ref_value = []
    ref_s = _timed(lambda: ref_value.append(float(reference(*stats))))  # Once: it is slow.
    value = frechet_distance(*stats)
  return {"first": first, "again": again, "reference": ref_s, "name": name,
          "rel_diff": abs(value - ref_value[0]) / abs(ref_value[0])}


def _write(path, doc) -> None:
  if path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    os.replace(tmp, path)


def _attempt(fn):
  """(result, None) or (None, 'ExcType: message'): one part's failure ends only that part."""
  try:
    return fn(), None
  except Exception as e:  # noqa: BLE001 - recorded, and the next part runs.
    return None, f"{type(e).__name__}: {e}"[:600]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--small", action="store_true",
                      help="batch 8, 3 timed batches (unless given explicitly)")
  parser.add_argument("--batch-size", type=int, default=None, help="default 500")
  parser.add_argument("--batches", type=int, default=None, help="timed batches, default 10")
  parser.add_argument("--precision", default="highest",
                      help="jaxgan's matmul precision: highest, high or default; several "
                           "comma-separated are timed one after the other")
  parser.add_argument("--fid-dim", type=int, default=2048)
  parser.add_argument("--no-torch", action="store_true", help="skip pytorch-fid")
  parser.add_argument("--json", default=None, help="write the figures to this file")
  args = parser.parse_args()
  precisions = args.precision.split(",")
  for p in precisions:
    if p not in ("highest", "high", "default"):
      parser.error(f"--precision: {p!r} is not highest, high or default")
  batch = args.batch_size or (8 if args.small else 500)
  batches = args.batches or (3 if args.small else 10)

  dev = jax.devices()[0]
  doc = {"script": "bench/fid_throughput.py",
         "meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "jax_device": dev.device_kind, "jax_platform": dev.platform,
                  "device_count": jax.device_count(), "batch": batch, "batches": batches,
                  "input": "32x32 uint8 RGB, resized to 299x299 inside the model",
                  "precisions": precisions, "fid_dim": args.fid_dim,
                  "weights": "random (inception_weights.random_state_dict(0)): the speed "
                             "does not depend on the values; the figures are not FIDs",
                  "versions": {k: _version(k) for k in ("jax", "jaxlib", "flax", "numpy",
                                                        "scipy", "torch", "torchvision",
                                                        "pytorch-fid")}},
         "jaxgan": {}, "pytorch_fid": None, "frechet": None, "errors": {}}
  _write(args.json, doc)
  state_dict = inception_weights.random_state_dict(0)

  def ours(precision):
    doc["jaxgan"][precision], err = _attempt(
        lambda: bench_jaxgan(state_dict, batch, batches, precision))
    if err:
      doc["errors"][f"jaxgan {precision}"] = err
    _write(args.json, doc)

  # The first precision, pytorch-fid and the Frechet distance first; further precisions
  # last, so that a time limit cuts the extras.
  ours(precisions[0])
  if args.no_torch:
    doc["pytorch_fid_status"] = "skipped"
  elif importlib.util.find_spec("torch") is None:
    doc["pytorch_fid_status"] = "not installed (torch)"
  elif importlib.util.find_spec("pytorch_fid") is None:
    doc["pytorch_fid_status"] = "not installed (pytorch-fid)"
  else:
    theirs, err = _attempt(lambda: bench_pytorch_fid(state_dict, batch, batches, True))
    doc["pytorch_fid"], doc["pytorch_fid_status"] = theirs, "failed" if err else "ok"
    if err:
      doc["errors"]["pytorch-fid"] = err
  _write(args.json, doc)
  doc["frechet"], err = _attempt(lambda: bench_frechet(args.fid_dim))
  if err:
    doc["errors"]["frechet"] = err
  _write(args.json, doc)
  for precision in precisions[1:]:
    ours(precision)
  doc["complete"] = True
  _write(args.json, doc)

  theirs, fd = doc["pytorch_fid"], doc["frechet"]
  print(f"\nDevice: {dev.platform} / {dev.device_kind} x {jax.device_count()} "
        f"({platform.processor() or platform.machine()}); pytorch-fid on "
        f"{theirs['device'] if theirs else doc['pytorch_fid_status']}")
  versions = doc["meta"]["versions"]
  print("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
  print(f"Feature extraction: 32x32 -> 299x299, batch {batch}, {batches} timed batches, "
        f"random weights\n")
  fmt = lambda v: "n/a" if v is None else (f"{v:,.1f}" if v >= 10 else f"{v:.3g}")  # noqa
  get = lambda d, k: None if d is None or k not in d else d[k]  # noqa: E731
  print("| measurement | " + " | ".join(f"jaxgan ({p})" for p in precisions)
        + " | pytorch-fid |")
  print("|---|" + "---|" * len(precisions) + "---|")
  for key in ("forward img/s", "end to end img/s", "first batch (compile) s"):
    print(f"| {key} | " + " | ".join(fmt(get(doc["jaxgan"][p], key)) for p in precisions)
          + f" | {fmt(get(theirs, key))} |")
  if get(theirs, "forward img/s, TF32 off") is not None:
    print("| forward img/s, TF32 off | " + " | ".join("" for _ in precisions)
          + f" | {fmt(theirs['forward img/s, TF32 off'])} |")
  if fd:
    print(f"\n| Frechet distance {args.fid_dim}-d, s | jaxgan first call (compiles) | jaxgan "
          f"again | {fd['name']} |\n|---|---|---|---|\n| | {fd['first']:.3f} | "
          f"{fd['again']:.3f} | {fd['reference']:.3f} |")
    print(f"\nFrechet distance relative difference jaxgan vs {fd['name']}: "
          f"{fd['rel_diff']:.2e}")
  for part, err in doc["errors"].items():
    print(f"{part}: failed: {err}")


if __name__ == "__main__":
  main()
