"""``jaxgan sweep`` and ``jaxgan sample --variant`` from the command line."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _jaxgan(*args):
  return subprocess.run([sys.executable, "-m", "jaxgan.cli", *map(str, args)],
                        capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("cli_sweep")
  run = _jaxgan("sweep", f"--config={ROOT / 'configs/test.py'}", f"--workdir={workdir}",
                "--sweep", "seed=0:2", "--sweep", "penalty.weight=0.1,1",
                "--config.train.steps=4")
  assert run.returncode == 0, run.stderr[-3000:]
  return workdir, run


def test_sweep_writes_its_summary(sweep_run):
  workdir, run = sweep_run
  assert "| penalty.weight | seeds | diverged |" in run.stdout
  assert "Sweep of 4 variants in 1 program(s)" in run.stdout
  summary = json.loads((workdir / "summary.json").read_text())
  assert sorted(summary["variants"]) == ["0", "1", "2", "3"] and summary["diverged"] == {}


def test_sample_a_variant_and_refuse_a_missing_one(sweep_run, tmp_path):
  workdir, _ = sweep_run
  run = _jaxgan("sample", "--workdir", workdir, "--variant", 2, "--out", tmp_path / "s.npz",
                "-n", 7)
  assert run.returncode == 0, run.stderr[-2000:]
  assert np.load(tmp_path / "s.npz")["x"].shape == (7, 2)
  run = _jaxgan("sample", "--workdir", workdir, "--out", tmp_path / "t.npz")
  assert run.returncode == 2 and "is a sweep: pass --variant N" in run.stderr
  run = _jaxgan("sample", "--workdir", workdir, "--variant", 9, "--out", tmp_path / "t.npz")
  assert run.returncode == 2 and "--variant must be 0..3, got 9" in run.stderr
  assert "Traceback" not in run.stderr


# Every kind of bad spec is checked in-process (tests/test_sweep_grid.py); here, that the
# command turns one of them, and an invalid variant, into one line and exit status 2.
@pytest.mark.parametrize("args,message", [
    (["--sweep", "penalty.weight=0.1,x"], "--sweep penalty.weight: 'x' is not a number"),
    (["--sweep", "loss.real_label_smoothing=0.1,0.2"], "variant 0 (loss.real_label_smoothing=0.1)"),
])
def test_bad_sweeps_are_one_line_errors(tmp_path, args, message):
  run = _jaxgan("sweep", f"--config={ROOT / 'configs/test.py'}", f"--workdir={tmp_path}", *args)
  assert run.returncode == 2, run.stderr[-2000:]
  assert message in run.stderr and "Traceback" not in run.stderr


def test_a_sweep_needs_its_own_workdir():
  run = _jaxgan("sweep", "--sweep", "seed=0:2")
  assert run.returncode == 2 and "needs --workdir" in run.stderr
