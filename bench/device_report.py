"""The report of ``bench/device_check.sh``: the machine, the steps' figures, the goals.

    python bench/device_report.py env --out ENV.json
    python bench/device_report.py assemble --work WORKDIR --out OUTDIR [--small]

``env`` records the device (``nvidia-smi``, ``jax.devices()``), the driver and CUDA, the
versions of the packages that matter, the date and the CPU count. ``assemble`` reads
what device_check.sh left in WORKDIR (``steps.jsonl``: one line per step with its status,
exit code, seconds and budget; ``env.json``; each step's ``--json`` output; each step's
log) and writes ``OUTDIR/device_check.json`` and ``OUTDIR/device_check.md`` (one table:
every figure, the ratios, the goals of issue 16 beside them), then prints the table.

``bench/update_readme.py`` uses ``summary_rows`` and ``markdown_table`` from here, so the
README shows the same table.

Ratios: for step times other / jaxgan, for throughputs jaxgan / other; > 1 always means
jaxgan is faster.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

SCHEMA = 1
PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin",
            "jax-cuda12-pjrt", "flax", "optax", "chex", "orbax-checkpoint", "numpy", "scipy",
            "ml-collections", "tensorboardX", "torch", "torchvision", "pytorch-fid",
            "triton", "pytest")
# Goals of issue 16 (the full-size workloads on a GPU).
GOALS = {
    ("DCGAN-64", "float32"): ("torch_eager", "float32", 1.15),
    ("DCGAN-64", "bfloat16"): ("torch_eager", "float32", 1.8),
    ("WGAN-GP-64", "float32"): ("torch_eager", "float32", 1.6),
}
INCEPTION_GOAL = 2.0   # jaxgan's images/s over pytorch-fid's.
FRECHET_GOAL_S = 0.2   # jaxgan's Frechet distance, 2048-d, after its first call.
STEPS = ("install", "env", "train_step_dcgan", "train_step_wgan_gp", "fid_throughput",
         "sweep", "parity_tests", "stacked_mnist")


# ----------------------------------------------------------------------------- env


def _version(name: str) -> str | None:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return None


def _nvidia_smi() -> dict:
  fields = "name,driver_version,memory.total,compute_cap"
  try:
    out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    head = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
  except (OSError, subprocess.SubprocessError) as e:
    return {"available": False, "note": f"{type(e).__name__}: {e}"[:300]}
  gpus = [dict(zip(fields.split(","), (v.strip() for v in line.split(","))))
          for line in out.strip().splitlines()]
  cuda = re.search(r"CUDA Version:\s*([\d.]+)", head)
  return {"available": True, "gpus": gpus, "cuda_driver_api": cuda.group(1) if cuda else None}


def slug(name: str) -> str:
  return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def collect_env(small: bool) -> dict:
  env = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
         "python": platform.python_version(), "machine": platform.machine(),
         "cpu_count": os.cpu_count(), "small": small, "nvidia_smi": _nvidia_smi(),
         "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
         else None,
         "versions": {k: v for k in PACKAGES if (v := _version(k))}}
  try:
    import jax
    devices = jax.devices()
    env["jax_devices"] = [f"{d.platform}:{d.id} {d.device_kind}" for d in devices]
    env["platform"], env["device_kind"] = devices[0].platform, devices[0].device_kind
  except Exception as e:  # noqa: BLE001 - recorded; the steps will say more.
    env["jax_error"] = f"{type(e).__name__}: {e}"[:500]
    env["platform"], env["device_kind"] = "unknown", "unknown"
  try:
    import torch
    env["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version(),
                    "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
      env["torch"]["device"] = torch.cuda.get_device_name()
  except ImportError:
    env["torch"] = None
  except Exception as e:  # noqa: BLE001
    env["torch"] = {"error": f"{type(e).__name__}: {e}"[:300]}
  smi = env["nvidia_smi"]
  if smi.get("available") and smi["gpus"]:
    name = smi["gpus"][0]["name"]
  elif env["platform"] == "cpu":
    name = f"cpu-{os.cpu_count()}core"
  else:
    name = env["device_kind"]
  env["device_name"], env["device_slug"] = name, slug(name)
  return env


# ----------------------------------------------------------------------------- assemble


def _read_json(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def _tail(path: pathlib.Path, n: int) -> str:
  try:
    text = path.read_text(errors="replace")
  except OSError:
    return ""
  return text[-n:]


def _pytest_counts(log: str) -> dict:
  counts = {}
  for line in reversed(log.strip().splitlines()[-5:]):
    found = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)",
                       line)
    if found:
      for n, what in found:
        counts["errors" if what.startswith("error") else what] = int(n)
      break
  return counts


def assemble(work: pathlib.Path, small: bool) -> dict:
  env = _read_json(work / "env.json") or {}
  steps = {}
  for line in (work / "steps.jsonl").read_text().splitlines() if (
      work / "steps.jsonl").exists() else []:
    if line.strip():
      entry = json.loads(line)
      steps[entry.pop("name")] = entry
  for name in STEPS:
    steps.setdefault(name, {"status": "not run"})
  for name, step in steps.items():
    figures = _read_json(work / f"{name}.json") if name != "env" else None
    if figures is not None:
      step["figures"] = figures
      bad = [m for m in figures.get("measurements", []) if m["status"] in ("failed", "timeout")]
      if step["status"] == "ok" and (bad or figures.get("errors") or
                                     not figures.get("complete", True)):
        step["status"] = "partial"
    if name == "parity_tests" and step["status"] not in ("not run", "absent"):
      step["counts"] = _pytest_counts(_tail(work / f"{name}.log", 4000))
    log = work / f"{name}.log"
    if log.exists():
      step["log_tail"] = _tail(log, 600 if step["status"] == "ok" else 2500)
  name = env.get("device_name", "unknown")
  doc = {"schema": SCHEMA, "date": env.get("date") or datetime.datetime.now(
             datetime.timezone.utc).isoformat(timespec="seconds"),
         "small": small, "device": {"name": name, "slug": env.get("device_slug", slug(name)),
                                    "platform": env.get("platform", "unknown")},
         "env": env, "steps": steps}
  doc["summary"] = summary_rows(doc)
  return doc


# ----------------------------------------------------------------------------- table


def _measurements(doc: dict) -> dict:
  out = {}
  for name in ("train_step_dcgan", "train_step_wgan_gp"):
    for m in ((doc["steps"].get(name) or {}).get("figures") or {}).get("measurements", []):
      out[m["workload"], m["dtype"], m["impl"]] = m
  return out


def _ms(m: dict | None, step_status: str) -> str:
  if m is None:
    return step_status if step_status not in ("ok", "partial") else "-"
  if m["status"] == "ok":
    return f"{m['ms']:.2f} ms"
  return {"skipped": "-"}.get(m["status"], m["status"])


def _ok(m: dict | None) -> float | None:
  return m["ms"] if m and m["status"] == "ok" else None


def _ratio(value: float | None) -> str:
  return f"{value:.2f}x" if value else "-"


def _met(value: float | None, goal: float, small: bool, below: bool = False) -> str:
  if small:
    return "- (small)"
  if value is None:
    return "n/a"
  return "yes" if (value < goal if below else value >= goal) else "no"


def summary_rows(doc: dict) -> list[dict]:
  """One dict per table row: measurement, jaxgan, plain_jax, reference, ratio, compiled,
  compiled_ratio, goal, met (strings), and the raw ``value`` compared with the goal."""
  small, steps, got = doc.get("small", False), doc["steps"], _measurements(doc)
  rows = []
  for workload, step_name in (("DCGAN-64", "train_step_dcgan"),
                              ("WGAN-GP-64", "train_step_wgan_gp")):
    step = steps.get(step_name, {})
    status = step.get("status", "not run")
    shape = (((step.get("figures") or {}).get("meta") or {}).get("workloads") or {}).get(
        workload, {})
    for dtype in ("float32", "bfloat16"):
      m = {impl: got.get((workload, dtype, impl))
           for impl in ("jaxgan", "plain_jax", "torch_eager", "torch_compile")}
      if m["jaxgan"] is None and status in ("ok", "partial"):
        continue  # Not asked for in this run (--small: WGAN-GP in float32 only).
      ours = _ok(m["jaxgan"])
      label = f"{workload} step, {dtype}"
      if shape:
        label += f", batch {shape['batch']}" + (
            f" x {shape['n_critic']} critic steps" if shape.get("n_critic", 1) > 1 else "")
      jaxgan = _ms(m["jaxgan"], status)
      if ours:
        jaxgan += f" ({m['jaxgan']['images_per_s']:,.0f} img/s)"
      row = {"measurement": label, "jaxgan": jaxgan,
             "plain_jax": _ms(m["plain_jax"], status) if dtype == "float32" else "-",
             "reference": _ms(m["torch_eager"], status) + (
                 " (autocast)" if dtype == "bfloat16" and _ok(m["torch_eager"]) else ""),
             "ratio": _ratio(_ok(m["torch_eager"]) / ours if ours and _ok(m["torch_eager"])
                             else None),
             "compiled": _ms(m["torch_compile"], status),
             "compiled_ratio": _ratio(_ok(m["torch_compile"]) / ours
                                      if ours and _ok(m["torch_compile"]) else None),
             "goal": "-", "met": "-", "value": None}
      if (workload, dtype) in GOALS:
        impl, ref_dtype, goal = GOALS[workload, dtype]
        ref = _ok(got.get((workload, ref_dtype, impl)))
        value = ref / ours if ref and ours else None
        row["goal"] = f">= {goal:g}x PyTorch eager {ref_dtype}"
        if ref_dtype != dtype:
          row["goal"] += f" (here {_ratio(value)})"
        row["met"], row["value"] = _met(value, goal, small), value
      rows.append(row)

  fid_step = steps.get("fid_throughput", {})
  fid = fid_step.get("figures") or {}
  status = fid_step.get("status", "not run")
  theirs = fid.get("pytorch_fid")
  batch = (fid.get("meta") or {}).get("batch")
  ref_status = fid.get("pytorch_fid_status", status)
  ref = theirs.get("forward img/s") if theirs else None
  ref_strict = theirs.get("forward img/s, TF32 off") if theirs else None
  for i, (precision, ours_d) in enumerate((fid.get("jaxgan") or {}).items()):
    ours = (ours_d or {}).get("forward img/s")
    tf32 = " (TF32 on)" if theirs and theirs.get("cudnn_allow_tf32") and (
        theirs.get("device") != "cpu") else ""
    row = {"measurement": f"Inception forward, batch {batch}, jaxgan precision '{precision}'",
           "jaxgan": f"{ours:,.1f} img/s" if ours else ("failed" if ours_d is None else "-"),
           "plain_jax": "-",
           "reference": f"{ref:,.1f} img/s{tf32}" if ref else ref_status,
           "ratio": _ratio(ours / ref if ours and ref else None), "compiled": "-",
           "compiled_ratio": "-", "goal": "-", "met": "-", "value": None}
    if i == 0:
      value = ours / ref if ours and ref else None
      row.update(goal=f">= {INCEPTION_GOAL:g}x pytorch-fid", met=_met(value, INCEPTION_GOAL,
                                                                       small), value=value)
    rows.append(row)
    if ref_strict and ours:
      rows.append({"measurement": f"Inception forward, precision '{precision}' vs "
                                  "pytorch-fid with TF32 off",
                   "jaxgan": f"{ours:,.1f} img/s", "plain_jax": "-",
                   "reference": f"{ref_strict:,.1f} img/s",
                   "ratio": _ratio(ours / ref_strict), "compiled": "-",
                   "compiled_ratio": "-", "goal": "-", "met": "-", "value": None})
    e2e = (ours_d or {}).get("end to end img/s")
    if e2e and i == 0:
      rows.append({"measurement": f"Inception end to end (host uint8 -> float64 statistics), "
                                  f"precision '{precision}'",
                   "jaxgan": f"{e2e:,.1f} img/s", "plain_jax": "-", "reference": "-",
                   "ratio": "-", "compiled": "-", "compiled_ratio": "-", "goal": "-",
                   "met": "-", "value": None})
  if not fid.get("jaxgan"):
    rows.append({"measurement": "Inception forward", "jaxgan": status, "plain_jax": "-",
                 "reference": "-", "ratio": "-", "compiled": "-", "compiled_ratio": "-",
                 "goal": f">= {INCEPTION_GOAL:g}x pytorch-fid", "met": _met(None, 0, small),
                 "value": None})
  fd = fid.get("frechet")
  dim = (fid.get("meta") or {}).get("fid_dim", 2048)
  rows.append({
      "measurement": f"Frechet distance, {dim}-d",
      "jaxgan": f"{fd['again']:.3f} s (first call {fd['first']:.2f} s)" if fd else status,
      "plain_jax": "-",
      "reference": f"{fd['reference']:.3f} s ({fd['name']})" if fd else "-",
      "ratio": _ratio(fd["reference"] / fd["again"] if fd and fd["again"] else None),
      "compiled": "-", "compiled_ratio": "-", "goal": f"< {FRECHET_GOAL_S:g} s",
      "met": _met(fd["again"] if fd else None, FRECHET_GOAL_S, small, below=True),
      "value": fd["again"] if fd else None})

  sweep = steps.get("sweep", {})
  rows.append({"measurement": "bench/sweep.py (figures in device_check.json)",
               "jaxgan": sweep.get("status", "not run"), "plain_jax": "-", "reference": "-",
               "ratio": "-", "compiled": "-", "compiled_ratio": "-", "goal": "-", "met": "-",
               "value": None})

  tests = steps.get("parity_tests", {})
  counts = tests.get("counts") or {}
  told = ", ".join(f"{n} {k}" for k, n in counts.items() if k != "deselected")
  passed = tests.get("status") == "ok" and counts.get("passed", 0) > 0 and not (
      counts.get("failed") or counts.get("errors"))
  rows.append({"measurement": "golden parity tests (" + " ".join(
                   tests.get("files", [])) + ")" if tests.get("files") else
               "golden parity tests",
               "jaxgan": told or tests.get("status", "not run"), "plain_jax": "-",
               "reference": "-", "ratio": "-", "compiled": "-", "compiled_ratio": "-",
               "goal": "all pass", "met": "yes" if passed else (
                   "no" if tests.get("status") in ("ok", "failed") else "n/a"),
               "value": None})
  stacked = steps.get("stacked_mnist", {})
  if stacked.get("status", "not run") != "not run":  # Opt-in: a row only when asked for.
    rows.append({"measurement": "Stacked MNIST, full size (stacked_mnist/report.md)",
                 "jaxgan": stacked["status"], "plain_jax": "-", "reference": "-",
                 "ratio": "-", "compiled": "-", "compiled_ratio": "-",
                 "goal": ">= 990 modes, KL <= 0.1 (issue 14)", "met": "see report",
                 "value": None})
  return rows


HEADER = ("measurement", "jaxgan", "plain JAX", "PyTorch eager / pytorch-fid / scipy",
          "ratio", "torch.compile", "ratio", "goal (issue 16)", "met")
KEYS = ("measurement", "jaxgan", "plain_jax", "reference", "ratio", "compiled",
        "compiled_ratio", "goal", "met")


def markdown_table(rows: list[dict]) -> str:
  lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
  lines += ["| " + " | ".join(str(r[k]) for k in KEYS) + " |" for r in rows]
  return "\n".join(lines)


def versions_line(doc: dict) -> str:
  env = doc.get("env", {})
  v = env.get("versions", {})
  parts = [f"{k} {v[k]}" for k in ("jax", "jaxlib", "flax", "optax", "torch", "pytorch-fid")
           if k in v]
  torch = env.get("torch") or {}
  if torch.get("cuda"):
    parts.append(f"torch CUDA {torch['cuda']}")
  smi = env.get("nvidia_smi") or {}
  if smi.get("available"):
    parts.append(f"driver {smi['gpus'][0].get('driver_version')} (CUDA "
                 f"{smi.get('cuda_driver_api')})")
  return ", ".join(parts)


def notes(doc: dict) -> list[str]:
  out = ["Ratios: other's time / jaxgan's for steps and the Frechet distance, jaxgan's "
         "images/s / other's for Inception; > 1 means jaxgan is faster.",
         "bfloat16: jaxgan computes in bfloat16 with float32 parameters; PyTorch runs its "
         "float32 models under `torch.autocast(dtype=torch.bfloat16)`. The DCGAN bfloat16 "
         "goal compares jaxgan bfloat16 with PyTorch eager float32; the ratio column beside "
         "it is against PyTorch with autocast.",
         "Inception: random weights (`random_state_dict(0)`), which do not change the speed; "
         "32x32 uint8 inputs resized to 299x299 inside each model. jaxgan 'highest' is full "
         "float32; pytorch-fid runs with PyTorch's defaults (cuDNN may use TF32)."]
  if doc.get("small"):
    out.append("`--small`: CPU-sized workloads and few steps; the goals are for the "
               "full-size workloads on a GPU and are not judged here.")
  return out


def markdown(doc: dict) -> str:
  steps = doc["steps"]
  load = doc.get("env", {}).get("load_average")
  cpu = doc["device"].get("platform") == "cpu" and load
  lines = [f"# Device check: {doc['device']['name']}, {doc['date']}", "",
           f"{versions_line(doc)}" + ("; `--small`" if doc.get("small") else "")
           + (f"; load average at the start {load[0]:g} on {doc['env'].get('cpu_count')} "
              f"cores" if cpu else ""), "",
           markdown_table(doc["summary"]), ""]
  lines += [f"- {n}" for n in notes(doc)]
  lines += ["", "| step | status | seconds | budget s |", "|---|---|---|---|"]
  for name, step in steps.items():
    seconds, budget = step.get("seconds"), step.get("budget_s")
    lines.append(f"| {name} | {step.get('status')} | {'-' if seconds is None else seconds} | "
                 f"{'-' if budget is None else budget} |")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p_env = sub.add_parser("env")
  p_env.add_argument("--out", required=True)
  p_env.add_argument("--small", action="store_true")
  p_asm = sub.add_parser("assemble")
  p_asm.add_argument("--work", required=True)
  p_asm.add_argument("--out", required=True)
  p_asm.add_argument("--small", action="store_true")
  args = parser.parse_args()
  if args.command == "env":
    env = collect_env(args.small)
    pathlib.Path(args.out).write_text(json.dumps(env, indent=1))
    print(json.dumps(env, indent=1))
    return
  doc = assemble(pathlib.Path(args.work), args.small)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "device_check.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
  md = markdown(doc)
  (out / "device_check.md").write_text(md)
  date = doc["date"][:10]
  print(f"\nwrote {out / 'device_check.json'} and {out / 'device_check.md'}; to keep them: "
        f"cp {out}/device_check.json bench/results/{doc['device']['slug']}-{date}.json && cp "
        f"{out}/device_check.md bench/results/{doc['device']['slug']}-{date}.md && python "
        f"bench/update_readme.py\n", file=sys.stderr)
  print(md)


if __name__ == "__main__":
  main()
