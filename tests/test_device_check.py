"""Tests for bench/device_check.sh (run with --small on the CPU), its report
(bench/device_report.py) and the README generator (bench/update_readme.py).

The README tests work on a temporary copy of README.md and fabricated results files; the
real README is only read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import device_report  # noqa: E402
import update_readme  # noqa: E402

STATUSES = {"ok", "partial", "failed", "timeout", "absent", "skipped", "not run"}


def _small_check(tmp_path, **env_extra):
  """Runs device_check.sh OUT --small on the CPU; (the run, OUT, device_check.json)."""
  out = tmp_path / "out"
  env = {**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu",
         "BUDGET_SWEEP": "8",  # bench/sweep.py --small alone takes a minute on 2 cores.
         "TMPDIR": str(tmp_path), **env_extra}
  run = subprocess.run(["bash", str(REPO / "bench" / "device_check.sh"), str(out), "--small"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
  return run, out, json.loads((out / "device_check.json").read_text())


def _assert_report_closes_the_run(run, out, tmp_path):
  md = (out / "device_check.md").read_text()
  assert "| measurement | jaxgan |" in md and "Frechet distance" in md
  # The table is the last thing printed; nothing of the run is left in TMPDIR.
  assert run.stdout.rstrip().endswith(md.rstrip().splitlines()[-1])
  assert not list(tmp_path.glob("device_check.*"))
  assert (out / "device_check.log").stat().st_size > 0
  return md


def test_device_check_runs_only_the_named_steps(tmp_path):
  """The default run's guard on the script (the whole of it is the slow test below):
  STEPS picks steps, the others are reported as not run, and the report still closes."""
  run, out, doc = _small_check(tmp_path, STEPS="env,fid_throughput")
  assert doc["small"] is True and doc["device"]["platform"] == "cpu"
  for name in ("install", "env", "fid_throughput"):
    assert doc["steps"][name]["status"] == "ok", (name, doc["steps"][name])
  for name in ("train_step_dcgan", "train_step_wgan_gp", "sweep", "parity_tests",
               "stacked_mnist"):
    assert doc["steps"][name]["status"] == "not run", (name, doc["steps"][name])
    assert f"=== {name}: not run (STEPS=env,fid_throughput)" in run.stdout
  assert doc["steps"]["fid_throughput"]["figures"]["frechet"]["rel_diff"] < 1e-6
  md = _assert_report_closes_the_run(run, out, tmp_path)
  assert "Stacked MNIST" not in md  # Its row only when it was asked for.


def test_device_check_stacked_mnist_without_the_digits_is_reported_absent(tmp_path):
  """The opt-in full-size Stacked MNIST step needs MNIST carried in: without it the step
  is 'absent' with the path it looked for, and the run still closes with a report."""
  missing = tmp_path / "no_such" / "mnist.npz"
  out = tmp_path / "out"
  env = {**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu",
         "TMPDIR": str(tmp_path), "STEPS": "stacked_mnist", "MNIST": str(missing)}
  run = subprocess.run(["bash", str(REPO / "bench" / "device_check.sh"), str(out)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=200)
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
  doc = json.loads((out / "device_check.json").read_text())
  assert doc["steps"]["stacked_mnist"]["status"] == "absent"
  assert str(missing) in doc["steps"]["stacked_mnist"]["note"]
  assert doc["steps"]["env"]["status"] == "not run"
  assert "| Stacked MNIST, full size" in (out / "device_check.md").read_text()
  assert not (out / "stacked_mnist").exists()


@pytest.mark.slow
def test_device_check_small_on_cpu(tmp_path):
  run, out, doc = _small_check(tmp_path)
  assert doc["small"] is True and doc["device"]["platform"] == "cpu"
  assert doc["env"]["versions"]["jax"]
  for name in device_report.STEPS:
    assert doc["steps"][name]["status"] in STATUSES, (name, doc["steps"][name])
  for name in ("install", "env", "train_step_dcgan", "train_step_wgan_gp", "fid_throughput",
               "parity_tests"):
    assert doc["steps"][name]["status"] in ("ok", "partial"), (name, doc["steps"][name])
  figures = doc["steps"]["train_step_dcgan"]["figures"]["measurements"]
  mine = {(m["dtype"], m["impl"]): m for m in figures}
  assert mine["float32", "jaxgan"]["status"] == "ok" and mine["float32", "jaxgan"]["ms"] > 0
  assert mine["bfloat16", "jaxgan"]["status"] == "ok"
  assert mine["float32", "torch_compile"]["status"] in ("skipped", "not installed")
  assert doc["steps"]["fid_throughput"]["figures"]["frechet"]["rel_diff"] < 1e-6
  assert doc["steps"]["parity_tests"]["counts"]["passed"] > 0
  assert doc["steps"]["stacked_mnist"]["status"] == "not run"  # Opt-in.
  md = _assert_report_closes_the_run(run, out, tmp_path)
  assert "DCGAN-64 step, float32" in md and ">= 1.15x PyTorch eager float32" in md


@pytest.mark.slow
def test_device_check_small_runs_the_stacked_mnist_step_when_named(tmp_path):
  """The dry run of the full-size Stacked MNIST step (--small: the quick experiment,
  generated digits, 4 DCGAN steps): its report and figures land in OUT/stacked_mnist."""
  run, out, doc = _small_check(tmp_path, STEPS="stacked_mnist")
  assert doc["steps"]["stacked_mnist"]["status"] == "ok", doc["steps"]["stacked_mnist"]
  report = (out / "stacked_mnist" / "report.md").read_text()
  assert "DCGAN" in report and (out / "stacked_mnist" / "runs" / "dcgan.json").is_file()
  assert "| Stacked MNIST, full size (stacked_mnist/report.md) | ok |" in (
      out / "device_check.md").read_text()


def test_device_check_refuses_bad_arguments(tmp_path):
  for args in ([], ["--small"], [str(tmp_path), "--big"]):
    run = subprocess.run(["bash", str(REPO / "bench" / "device_check.sh"), *args],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and ("usage" in run.stderr or "unknown" in run.stderr), args
  run = subprocess.run(["bash", str(REPO / "bench" / "device_check.sh"), str(tmp_path)],
                       env={**os.environ, "STEPS": "env,fid"}, capture_output=True, text=True,
                       timeout=30)
  assert run.returncode == 2 and "unknown step in STEPS: fid" in run.stderr, run.stderr
  assert not (tmp_path / "device_check.json").exists()


# ----------------------------------------------------------------------------- report


def _write_work(work: pathlib.Path, steps: list[dict], files: dict[str, dict]) -> None:
  work.mkdir()
  (work / "steps.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
  for name, doc in files.items():
    (work / f"{name}.json").write_text(json.dumps(doc))


def test_assemble_records_failures_and_timeouts(tmp_path):
  work = tmp_path / "work"
  dcgan = {"meta": {"workloads": {"DCGAN-64": {"batch": 128, "n_critic": 1}}},
           "measurements": [
               _m("DCGAN-64", "float32", "jaxgan", 10.0, 128),
               _m("DCGAN-64", "float32", "torch_eager", 12.0, 128),
               {"workload": "DCGAN-64", "dtype": "float32", "impl": "torch_compile",
                "status": "failed", "note": "RuntimeError: no compiler"}],
           "complete": True}
  _write_work(work, [
      {"name": "install", "status": "ok", "rc": None, "seconds": 0.1, "budget_s": 20},
      {"name": "train_step_dcgan", "status": "ok", "rc": 0, "seconds": 50, "budget_s": 95},
      {"name": "train_step_wgan_gp", "status": "timeout", "rc": 124, "seconds": 110,
       "budget_s": 110},
      {"name": "parity_tests", "status": "failed", "rc": 1, "seconds": 9, "budget_s": 60,
       "files": ["tests/test_frechet.py"]}], {"train_step_dcgan": dcgan})
  (work / "parity_tests.log").write_text("F..\n1 failed, 2 passed in 3.1s\n")
  doc = device_report.assemble(work, small=False)
  steps = doc["steps"]
  assert set(device_report.STEPS) <= set(steps)
  assert steps["train_step_dcgan"]["status"] == "partial"  # One measurement failed.
  assert steps["train_step_wgan_gp"]["status"] == "timeout"
  assert steps["fid_throughput"]["status"] == "not run"
  assert steps["parity_tests"]["counts"] == {"failed": 1, "passed": 2}
  row = lambda prefix: [r for r in doc["summary"] if r["measurement"].startswith(prefix)]  # noqa
  (dcgan_row,) = row("DCGAN-64 step, float32")
  assert dcgan_row["ratio"] == "1.20x" and dcgan_row["met"] == "yes"
  assert dcgan_row["compiled"] == "failed"
  assert row("DCGAN-64 step, bfloat16") == []  # Not measured in that run.
  (wgan_row,) = row("WGAN-GP-64 step, float32")
  assert wgan_row["jaxgan"] == "timeout" and wgan_row["met"] == "n/a"
  parity = [r for r in doc["summary"] if r["measurement"].startswith("golden")][0]
  assert parity["met"] == "no" and "1 failed" in parity["jaxgan"]
  md = device_report.markdown(doc)
  assert "| train_step_wgan_gp | timeout | 110 | 110 |" in md


# ----------------------------------------------------------------------------- README


def _m(workload, dtype, impl, ms, images):
  return {"workload": workload, "dtype": dtype, "impl": impl, "images": images,
          "status": "ok", "ms": ms, "images_per_s": images / ms * 1e3, "warmup_s": 1.0}


def _results(platform: str, small: bool, date: str, with_torch: bool = True) -> dict:
  """A device_check.json as device_check.sh writes it, with made-up figures."""
  measurements = {"DCGAN-64": [_m("DCGAN-64", "float32", "jaxgan", 10.0, 128),
                               _m("DCGAN-64", "bfloat16", "jaxgan", 6.0, 128)],
                  "WGAN-GP-64": [_m("WGAN-GP-64", "float32", "jaxgan", 30.0, 320)]}
  if with_torch:
    measurements["DCGAN-64"] += [_m("DCGAN-64", "float32", "torch_eager", 12.5, 128),
                                 _m("DCGAN-64", "bfloat16", "torch_eager", 9.0, 128)]
    measurements["WGAN-GP-64"] += [_m("WGAN-GP-64", "float32", "torch_eager", 40.0, 320)]
  steps = {"install": {"status": "ok"}, "env": {"status": "ok"}}
  for name, workload in (("train_step_dcgan", "DCGAN-64"),
                         ("train_step_wgan_gp", "WGAN-GP-64")):
    steps[name] = {"status": "ok", "figures": {
        "meta": {"workloads": {workload: {"batch": 128 if workload == "DCGAN-64" else 64,
                                          "n_critic": 1 if workload == "DCGAN-64" else 5}}},
        "measurements": measurements[workload], "complete": True}}
  steps["fid_throughput"] = {"status": "ok", "figures": {
      "meta": {"batch": 500, "fid_dim": 2048},
      "jaxgan": {"highest": {"forward img/s": 3000.0, "end to end img/s": 2500.0,
                             "first batch (compile) s": 20.0}},
      "pytorch_fid": {"forward img/s": 1200.0, "device": "NVIDIA H200",
                      "cudnn_allow_tf32": True} if with_torch else None,
      "pytorch_fid_status": "ok" if with_torch else "not installed (torch)",
      "frechet": {"first": 2.0, "again": 0.15, "reference": 9.0, "name": "scipy sqrtm",
                  "rel_diff": 1e-12}, "errors": {}, "complete": True}}
  steps["sweep"] = {"status": "absent"}
  steps["parity_tests"] = {"status": "ok", "counts": {"passed": 25},
                           "files": ["tests/test_inception.py", "tests/test_frechet.py"]}
  name = "NVIDIA H200" if platform == "gpu" else "cpu-2core"
  env = {"versions": {"jax": "0.11.2", "flax": "0.12.9", "torch": "2.11.0+cu130"},
         "cpu_count": 2, "torch": {"version": "2.11.0+cu130", "cuda": "13.0"},
         "nvidia_smi": {"available": platform == "gpu", "gpus": [{"driver_version": "580.1"}],
                        "cuda_driver_api": "13.0"}}
  return {"schema": 1, "date": date, "small": small,
          "device": {"name": name, "slug": device_report.slug(name), "platform": platform},
          "env": env, "steps": steps}


def _readme_copy(tmp_path) -> pathlib.Path:
  copy = tmp_path / "README.md"
  shutil.copyfile(REPO / "README.md", copy)
  return copy


def _split(text: str) -> tuple[str, str, str]:
  start = update_readme.START.search(text)
  end = update_readme.END.search(text)
  return text[:start.end()], text[start.end():end.start()], text[end.start():]


def _run_update(readme, results, *extra):
  return subprocess.run([sys.executable, str(REPO / "bench" / "update_readme.py"), "--readme",
                         str(readme), "--results", str(results), *extra],
                        capture_output=True, text=True, timeout=60)


def test_readme_from_the_newest_gpu_results(tmp_path):
  real = hashlib.sha256((REPO / "README.md").read_bytes()).hexdigest()
  readme, results = _readme_copy(tmp_path), tmp_path / "results"
  results.mkdir()
  old_gpu = _results("gpu", False, "2026-01-01T00:00:00+00:00")
  old_gpu["device"]["name"] = "NVIDIA H100 80GB HBM3"
  (results / "nvidia-h100-2026-01-01.json").write_text(json.dumps(old_gpu))
  (results / "nvidia-h200-2026-02-01.json").write_text(
      json.dumps(_results("gpu", False, "2026-02-01T00:00:00+00:00")))
  (results / "cpu-2core-2026-03-01.json").write_text(
      json.dumps(_results("cpu", True, "2026-03-01T00:00:00+00:00")))
  (results / "nvidia-h200-small-2026-04-01.json").write_text(   # A --small run on a GPU.
      json.dumps(_results("gpu", True, "2026-04-01T00:00:00+00:00")))
  (results / "notes.json").write_text("[1, 2]")  # Not a report: ignored.
  before = readme.read_text()

  run = _run_update(readme, results)
  assert run.returncode == 0, run.stderr
  after = readme.read_text()
  head0, _, tail0 = _split(before)
  head1, body, tail1 = _split(after)
  assert head0 == head1 and tail0 == tail1  # Only the section changed.
  prose = " ".join(body.split())
  assert "NVIDIA H200 on 2026-02-01" in prose and "H100" not in body
  assert "nvidia-h200-2026-02-01.json" in prose and "No GPU figure" not in prose
  assert "| DCGAN-64 step, float32, batch 128 | 10.00 ms (12,800 img/s)" in body
  assert "| 1.25x |" in body                         # DCGAN float32: 12.5 / 10.
  assert ">= 1.8x PyTorch eager float32 (here 2.08x)" in body   # 12.5 / 6.
  dcgan = [l for l in body.splitlines() if l.startswith("| DCGAN-64 step, float32")][0]
  assert dcgan.endswith("| yes |")
  wgan = [l for l in body.splitlines() if l.startswith("| WGAN-GP-64 step, float32")][0]
  assert "1.33x" in wgan and wgan.endswith("| no |")   # 40 / 30 < 1.6.
  inception = [l for l in body.splitlines() if l.startswith("| Inception forward")][0]
  assert "2.50x" in inception and inception.endswith("| yes |")
  frechet = [l for l in body.splitlines() if l.startswith("| Frechet distance")][0]
  assert "0.150 s" in frechet and frechet.endswith("| yes |")
  # Idempotent, and --check agrees.
  assert _run_update(readme, results, "--check").returncode == 0
  assert _run_update(readme, results).returncode == 0 and readme.read_text() == after
  assert hashlib.sha256((REPO / "README.md").read_bytes()).hexdigest() == real


def test_readme_without_gpu_results_keeps_cpu_figures(tmp_path):
  readme, results = _readme_copy(tmp_path), tmp_path / "results"
  results.mkdir()
  before = readme.read_text()
  # No results at all, then only a CPU run without PyTorch: the section is kept.
  assert _run_update(readme, results).returncode == 0 and readme.read_text() == before
  (results / "cpu-2core-2026-03-02.json").write_text(
      json.dumps(_results("cpu", True, "2026-03-02T00:00:00+00:00", with_torch=False)))
  run = _run_update(readme, results)
  assert run.returncode == 0 and "section kept" in run.stdout
  assert readme.read_text() == before
  # A CPU run with PyTorch figures: 'no GPU figure' and its ratios.
  (results / "cpu-2core-2026-03-01.json").write_text(
      json.dumps(_results("cpu", True, "2026-03-01T00:00:00+00:00")))
  assert _run_update(readme, results).returncode == 0
  head0, _, tail0 = _split(before)
  head1, body, tail1 = _split(readme.read_text())
  assert head0 == head1 and tail0 == tail1
  body = " ".join(body.split())  # The sentence is wrapped.
  assert body.startswith("No GPU figure of jaxgan exists yet.")
  assert "2-core CPU" in body and "DCGAN step runs at 1.25x PyTorch eager" in body
  assert "WGAN-GP step at 1.33x" in body and "Inception forward at 2.50x" in body
  assert "cpu-2core-2026-03-01.json" in body


def test_readme_markers_are_required(tmp_path):
  readme, results = tmp_path / "README.md", tmp_path / "results"
  results.mkdir()
  (results / "nvidia-h200-2026-02-01.json").write_text(
      json.dumps(_results("gpu", False, "2026-02-01T00:00:00+00:00")))
  readme.write_text("# x\n\n<!-- performance:end -->\n<!-- performance:start -->\n")
  run = _run_update(readme, results)
  assert run.returncode != 0 and "performance:start" in run.stderr
  assert readme.read_text().startswith("# x")


@pytest.mark.parametrize("name,slug", [("NVIDIA H200", "nvidia-h200"),
                                       ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"),
                                       ("cpu-2core", "cpu-2core")])
def test_slug(name, slug):
  assert device_report.slug(name) == slug
