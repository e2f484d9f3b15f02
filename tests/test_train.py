"""End to end: train.py on the tiny config, resuming, and bad input from the command line."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _train(workdir, *overrides, config="configs/test.py"):
  cmd = [sys.executable, str(ROOT / "train.py"), f"--config={ROOT / config}",
         f"--workdir={workdir}", *overrides]
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_train_writes_pictures_metrics_checkpoints_and_resumes(tmp_path):
  run = _train(tmp_path)
  assert run.returncode == 0, run.stderr[-3000:]
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [2, 3, 4, 6]  # log_every=2, plot_every=3, steps=6.
  assert {"d_loss", "g_loss", "d_penalty", "d_grad_norm", "g_grad_norm"} <= set(rows[0])
  assert "modes" in rows[1] and 0 <= rows[1]["modes"] <= 25
  for png in ("samples_000003.png", "samples_final.png"):
    assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == \
      ["3", "6"]
  assert json.loads((tmp_path / "summary.json").read_text())["step"] == 6

  resumed = _train(tmp_path, "--config.train.steps=8")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resuming from the checkpoint of step 6" in resumed.stdout
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows][-1] == 8


@pytest.mark.parametrize("config", ["configs/toy_wgan_clip.py", "configs/toy_gan_ns.py"])
def test_other_toy_configs_run(tmp_path, config):
  run = _train(tmp_path, "--config.train.steps=2", "--config.train.log_every=1",
               "--config.model.width=8", "--config.data.batch_size=8",
               "--config.data.name=8gaussians", config=config)
  assert run.returncode == 0, run.stderr[-3000:]
  assert (tmp_path / "samples_final.png").exists()


@pytest.mark.parametrize("override,message", [
    ("--config.train.n_critic=0", "config.train.n_critic must be >= 1"),
    ("--config.loss.game=nonsaturating", "config.loss.game='nonsaturating' is not one of"),
    ("--config.g_optimizer.learning_rate=-0.1", "config.g_optimizer.learning_rate must be >= 0"),
    ("--config.train.stepz=3", "stepz"),
])
def test_bad_command_line_input_is_named(tmp_path, override, message):
  run = _train(tmp_path, override)
  assert run.returncode != 0
  assert message in run.stderr
