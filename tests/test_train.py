"""End to end: train.py on the tiny config, resuming, and bad input from the command line."""

import json
import os
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


@pytest.mark.slow  # Default-suite budget: the default toy config trains in the other tests.
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
  assert run.returncode == 2
  assert message in run.stderr


# --- Issue 18.7 and 18.11: common mistakes get one line naming the file or field, exit 2. ---

CONFIG_FILES = {
    "syntax.py": ("def get_config(:\n  pass\n", "syntax.py, line 1: invalid syntax"),
    "dict.py": ("def get_config():\n  return {'seed': 1}\n",
                "get_config() returned a dict, not an ml_collections.ConfigDict"),
    "none.py": ("x = 1\n", "defines no get_config()"),
    "raises.py": ("def get_config():\n  return {}['seed']\n",
                  "raises.py, line 2: KeyError: 'seed'"),
}


@pytest.mark.parametrize("name", ["missing.py", *CONFIG_FILES])
def test_config_file_mistakes_are_one_line(tmp_path, name):
  if name in CONFIG_FILES:
    (tmp_path / name).write_text(CONFIG_FILES[name][0])
  message = CONFIG_FILES.get(name, (None, "missing.py does not exist"))[1]
  run = _train(tmp_path / "run", config=str(tmp_path / name))
  assert run.returncode == 2, run.stderr[-3000:]
  assert run.stderr.startswith("error: config file ") and message in run.stderr, run.stderr
  assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize("overrides,message", [
    (["--workdir="], "--workdir is empty"),
    (["--config.distributed.enabled=True"],
     "config.distributed.enabled=True, but jax.distributed did not start"),
    (["--config.train.eval_samples=1000000000"], "config.train.eval_samples=1000000000 needs"),
    (["--config.data.name=npz", "--config.data.path=x.npz", "--config.seed=-1"],
     "config.seed must be >= 0"),
    (["--config.train.ema_decay=nan"], "config.train.ema_decay must be a finite number"),
])
def test_input_errors_exit_2_in_one_line(tmp_path, overrides, message):
  run = _train(tmp_path / "run", *overrides)
  assert run.returncode == 2, run.stderr[-3000:]
  lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
  assert len(lines) == 1 and message in lines[0], run.stderr[-3000:]
  assert "Traceback" not in run.stderr


@pytest.mark.slow  # In-process twin: tests/test_resume.py (the default run).
def test_resume_past_a_corrupted_checkpoint_from_the_command_line(tmp_path):
  """Issue 18.1 as reported: `truncate -s 100` the data files of the latest checkpoint.

  Before the fix every rerun failed at step 5 (orbax's StepAlreadyExistsError) after
  printing TensorStore's spec and asyncio tracebacks (issue 18.7)."""
  args = ["--config.train.steps=5", "--config.train.checkpoint_every=1"]
  assert _train(tmp_path, *args).returncode == 0
  for p in (tmp_path / "checkpoints" / "5").rglob("*"):
    if p.is_file() and p.parent.name == "d":
      os.truncate(p, 100)
  run = _train(tmp_path, *args)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "Resuming from the checkpoint of step 4" in run.stdout
  warnings = [line for line in run.stderr.splitlines() if line.startswith("W")]
  assert len(warnings) == 2, run.stderr[-3000:]  # Unreadable; moved aside.
  assert "Checkpoint of step 5 is unreadable" in warnings[0] and "Moved" in warnings[1]
  assert "Traceback" not in run.stderr and "tensorstore_spec" not in run.stderr
  assert "Event loop is closed" not in run.stderr
  run = _train(tmp_path, *args)  # And again: the run is complete.
  assert run.returncode == 0, run.stderr[-3000:]
  assert "complete: its checkpoint is at step 5" in run.stdout
  run = _train(tmp_path, "--config.train.steps=4", "--config.train.checkpoint_every=1")
  assert run.returncode == 2 and "config.train.steps=4 is below" in run.stderr


# --- Reliability: faults injected from the test side (tests/faulty_train.py). ---

RUN = ["--config.train.steps=12", "--config.train.checkpoint_every=4",
       "--config.train.log_every=4", "--config.train.plot_every=12"]


def _train_faults(workdir, faults, *overrides):
  cmd = [sys.executable, str(ROOT / "tests/faulty_train.py"), faults,
         f"--config={ROOT / 'configs/test.py'}", f"--workdir={workdir}", *overrides]
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def _final_arrays(workdir, step=12):
  import orbax.checkpoint as ocp
  import jax
  tree = ocp.StandardCheckpointer().restore(workdir / "checkpoints" / str(step) / "default")
  as_data = lambda x: (jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x)
  return jax.tree_util.tree_flatten_with_path(jax.tree.map(as_data, tree))[0]


def _assert_bitwise_equal(a_dir, b_dir):
  a, b = _final_arrays(a_dir), _final_arrays(b_dir)
  assert [p for p, _ in a] == [p for p, _ in b] and len(a) > 10
  for (path, x), (_, y) in zip(a, b):
    assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), path


def test_killed_and_stopped_runs_resume_bitwise_equal(tmp_path):
  ref = _train_faults(tmp_path / "ref", "", *RUN)
  assert ref.returncode == 0, ref.stderr[-3000:]

  killed = _train_faults(tmp_path / "kill", "sigkill@11", *RUN)
  assert killed.returncode == -9  # SIGKILL: no handler ran, nothing was saved at exit.
  resumed = _train_faults(tmp_path / "kill", "", *RUN)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Taking over the lock" in resumed.stderr  # Left by the killed process.
  assert ("Resuming from the checkpoint of step 8" in resumed.stdout
          or "Resuming from the checkpoint of step 4" in resumed.stdout)
  _assert_bitwise_equal(tmp_path / "ref", tmp_path / "kill")

  stopped = _train_faults(tmp_path / "term", "sigterm@6", *RUN)
  assert stopped.returncode == 128 + 15, stopped.stderr[-3000:]
  assert "stopped by SIGTERM after step 6" in stopped.stderr
  resumed = _train_faults(tmp_path / "term", "", *RUN)
  assert "Resuming from the checkpoint of step 6" in resumed.stdout
  _assert_bitwise_equal(tmp_path / "ref", tmp_path / "term")


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
  run = _train_faults(tmp_path, "nan@6", *RUN)
  assert run.returncode == 1
  assert "training diverged at step 6: non-finite" in run.stderr
  assert "d_loss" in run.stderr and "the last good checkpoint is step 4" in run.stderr
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == \
      ["4"]


def test_nan_steps_can_be_skipped(tmp_path):
  run = _train_faults(tmp_path, "nan@6,nan@7", *RUN,
                   "--config.train.on_nonfinite=skip")
  assert run.returncode == 0, run.stderr[-3000:]
  summary = json.loads((tmp_path / "summary.json").read_text())
  assert summary["skipped_steps"] == 2 and summary["step"] == 12
  import numpy as np
  assert all(np.isfinite(x).all() for _, x in _final_arrays(tmp_path))


@pytest.mark.slow  # Default-suite budget: tests/test_resume.py checks the resume rules there.
def test_resuming_with_another_model_names_the_fields(tmp_path):
  assert _train(tmp_path).returncode == 0
  run = _train(tmp_path, "--config.model.width=32")
  assert run.returncode == 2
  assert "was trained with another config (config.model.width 16 -> 32)" in run.stderr
  run = _train(tmp_path, "--config.model.width=32", "--config.train.allow_config_change=True")
  assert run.returncode == 2
  assert "was made for a different model" in run.stderr
  assert "config.model.width: 16 (saved run) vs 32 (now)" in run.stderr


@pytest.mark.slow  # Default-suite budget: tests/test_metric_writer.py writes TensorBoard events there.
def test_tensorboard_events_hold_the_logged_scalars(tmp_path):
  import struct
  from tensorboardX.proto import event_pb2
  assert _train(tmp_path).returncode == 0
  (events,) = (tmp_path / "tensorboard").iterdir()
  data, scalars = events.read_bytes(), {}
  while data:  # TFRecord framing: u64 length, u32 crc, payload, u32 crc.
    (length,) = struct.unpack("<Q", data[:8])
    event = event_pb2.Event.FromString(data[12:12 + length])
    data = data[12 + length + 4:]
    for value in event.summary.value:
      scalars[(value.tag, event.step)] = value.simple_value
  for row in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()):
    for key in ("d_loss", "g_loss", "d_grad_norm"):
      assert scalars[(key, row["step"])] == pytest.approx(row[key], rel=1e-6)


# --- Image configs, each on a tiny override with a small generated .npz. The default run
# trains the conditional one (labels, projection D, EMA); the others are checked by
# tests/test_validation.py there and trained here with `pytest -m slow`. ---

@pytest.mark.parametrize("config,shape", [
    pytest.param("configs/mnist_dcgan.py", (28, 28), marks=pytest.mark.slow),
    ("configs/mnist_cdcgan.py", (28, 28)),
    pytest.param("configs/cifar10_dcgan.py", (32, 32, 3), marks=pytest.mark.slow),
    pytest.param("configs/cifar10_wgan_gp.py", (32, 32, 3), marks=pytest.mark.slow),
])
def test_image_configs_run_end_to_end(tmp_path, config, shape):
  import numpy as np
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "tiny.npz", x_train=rng.integers(0, 256, (24, *shape), dtype=np.uint8),
           y_train=rng.integers(0, 10, 24).astype(np.uint8))
  run = _train(tmp_path / "run", "--config.data.name=npz",
               f"--config.data.path={tmp_path / 'tiny.npz'}", "--config.data.batch_size=8",
               "--config.model.features=4", "--config.model.latent_dim=8",
               "--config.train.steps=2", "--config.train.log_every=1",
               "--config.train.plot_every=2", config=config)
  assert run.returncode == 0, run.stderr[-3000:]
  rows = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in rows] == [1, 2]
  assert (tmp_path / "run/samples_final.png").read_bytes()[:4] == b"\x89PNG"
  assert (tmp_path / "run/checkpoints/2").is_dir()


def test_labels_requested_from_an_unlabelled_dataset(tmp_path):
  import numpy as np
  np.savez(tmp_path / "x.npz", x_train=np.zeros((16, 28, 28), np.uint8))
  run = _train(tmp_path / "run", "--config.data.name=npz", f"--config.data.path={tmp_path}/x.npz",
               "--config.data.batch_size=8", config="configs/mnist_cdcgan.py")
  assert run.returncode == 2 and "has none" in run.stderr
  run = _train(tmp_path / "run", "--config.data.name=npz", f"--config.data.path={tmp_path}/y.npz",
               config="configs/mnist_dcgan.py")
  assert run.returncode == 2 and "y.npz: no such file" in run.stderr
  assert "Traceback" not in run.stderr
