"""Rerunning on a workdir (issue 18): what a resume may change, what it must not touch, and
runs that cannot finish. In-process ``train_and_evaluate`` on the tiny config."""

import json
import pathlib
import shutil
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan import checkpoint, train  # noqa: E402
from jaxgan.metric_writer import read_metrics  # noqa: E402
from jaxgan.train import DivergenceError, OutOfMemoryError, train_and_evaluate  # noqa: E402
from jaxgan.validation import ConfigError  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import faulty_train  # noqa: E402


def _config(**train):
  c = test_config.get_config()
  c.train.steps, c.train.checkpoint_every, c.train.log_every, c.train.plot_every = 4, 2, 2, 4
  for k, v in train.items():
    c.train[k] = v
  return c


@pytest.fixture(scope="module")
def run4(tmp_path_factory):
  """A finished 4-step run (checkpoints 2 and 4); tests copy it."""
  workdir = tmp_path_factory.mktemp("run4") / "run"
  train_and_evaluate(_config(), str(workdir))
  return workdir


def _copy(run, tmp_path) -> pathlib.Path:
  shutil.copytree(run, tmp_path / "run")
  return tmp_path / "run"


def _run_files(workdir):
  return {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()}


# --- 18.1: a corrupted latest checkpoint. ---

def _truncate(step_dir: pathlib.Path, size=100):
  """`truncate -s 100` on the data files of a checkpoint (orbax's OCDBT 'd/' files)."""
  files = [p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"]
  assert files
  for p in files:
    with open(p, "r+b") as f:
      f.truncate(size)


def test_resume_past_a_corrupted_latest_checkpoint_runs_to_the_end(run4, tmp_path, caplog):
  workdir = _copy(run4, tmp_path)
  _truncate(workdir / "checkpoints" / "4")
  state = train_and_evaluate(_config(steps=6), str(workdir))
  assert int(state.step) == 6
  steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  assert steps == [2, 4, 6]
  assert (workdir / "checkpoints" / "unreadable" / "4").is_dir()  # Moved aside, not deleted.
  manager = checkpoint.make_manager(workdir / "checkpoints", 5)
  restored = checkpoint.restore_latest(manager, state, step=4)  # Saved again, readable.
  assert int(restored.step) == 4
  warnings = [r.getMessage() for r in caplog.records if "step 4" in r.getMessage()]
  assert any("unreadable" in w for w in warnings) and any("Moved" in w for w in warnings)
  assert all("\n" not in w and "tensorstore_spec" not in w and len(w) < 600 for w in warnings)


# --- 18.2: a bad line in metrics.jsonl. ---

def test_a_bad_metrics_line_is_skipped_with_a_warning_and_the_run_finishes(run4, tmp_path,
                                                                           caplog):
  workdir = _copy(run4, tmp_path)
  with open(workdir / "metrics.jsonl", "a") as f:
    f.write('{"step": 5, "d_lo')  # A partial line (full disk), no newline.
  train_and_evaluate(_config(steps=8, plot_every=2), str(workdir))
  assert [r["step"] for r in read_metrics(workdir / "metrics.jsonl")] == [2, 4, 6, 8]
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  assert lines[-3] == '{"step": 5, "d_lo'  # Kept apart: the next row starts a new line.
  assert [json.loads(line)["step"] for line in lines[-2:]] == [6, 8]
  assert "metrics.jsonl, line 3: skipped" in caplog.text
  assert (workdir / "checkpoints" / "8").is_dir() and (workdir / "losses.png").exists()


# --- 18.3: nothing is overwritten before a resume is accepted. ---

@pytest.mark.parametrize("allow", [False, True])
def test_a_refused_resume_leaves_the_run_as_it_was(run4, tmp_path, allow):
  workdir = _copy(run4, tmp_path)
  before = _run_files(workdir)
  c = _config(steps=6, allow_config_change=allow)
  c.data.name = "mog1d"  # 1-D data: another data.json, and nets of other shapes.
  with pytest.raises((ConfigError, checkpoint.CheckpointError)) as info:
    train_and_evaluate(c, str(workdir))
  assert "data.name" in str(info.value)
  assert _run_files(workdir) == before  # data.json, config.json, metrics.jsonl, ...


# --- 18.4: config changes on resume, steps below the checkpoint. ---

def test_a_changed_learning_rate_is_refused_naming_old_and_new(run4, tmp_path):
  workdir = _copy(run4, tmp_path)
  c = _config(steps=6)
  c.g_optimizer.learning_rate, c.seed = 0.01, 3
  with pytest.raises(ConfigError) as info:
    train_and_evaluate(c, str(workdir))
  message = str(info.value)
  assert "config.g_optimizer.learning_rate 0.0005 -> 0.01" in message
  assert "config.seed 0 -> 3" in message and "allow_config_change" in message
  assert json.loads((workdir / "config.json").read_text())["g_optimizer"]["learning_rate"] == \
      5e-4


def test_an_allowed_change_is_applied_warned_and_recorded(run4, tmp_path, caplog):
  workdir = _copy(run4, tmp_path)
  c = _config(steps=6, allow_config_change=True)
  c.g_optimizer.learning_rate = 0.01
  state = train_and_evaluate(c, str(workdir))
  # Without the override the checkpoint's 5e-4 would silently stay in the optimizer state.
  assert float(state.hyperparameters()["g.learning_rate"]) == pytest.approx(0.01)
  assert float(state.hyperparameters()["d.learning_rate"]) == pytest.approx(5e-4)
  assert "config.g_optimizer.learning_rate=0.01 instead of the run's 0.0005" in caplog.text
  events = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()
            if "config_change" in line]
  assert events == [{"step": 4, "config_change": {
      "g_optimizer.learning_rate": {"from": 0.0005, "to": 0.01}}}]
  assert json.loads((workdir / "config.json").read_text())["g_optimizer"]["learning_rate"] == \
      0.01


def test_run_length_and_logging_may_change_silently(run4, tmp_path, caplog):
  workdir = _copy(run4, tmp_path)
  state = train_and_evaluate(_config(steps=6, log_every=1, keep_checkpoints=2,
                                     eval_samples=100), str(workdir))
  assert int(state.step) == 6 and "instead of the run's" not in caplog.text


def test_steps_below_the_checkpoint_are_refused(run4, tmp_path):
  workdir = _copy(run4, tmp_path)
  before = _run_files(workdir)
  with pytest.raises(ConfigError, match=r"config.train.steps=3 is below the step of the "
                                        r"checkpoint .* \(4\)"):
    train_and_evaluate(_config(steps=3), str(workdir))
  assert _run_files(workdir) == before


def test_a_complete_run_says_so_and_keeps_its_summary(run4, tmp_path, capsys):
  workdir = _copy(run4, tmp_path)
  summary = (workdir / "summary.json").read_text()
  state = train_and_evaluate(_config(), str(workdir))
  assert int(state.step) == 4
  assert "is complete: its checkpoint is at step 4" in capsys.readouterr().out
  assert (workdir / "summary.json").read_text() == summary


# --- 18.11: an empty workdir, skipping every step, a config.json that is not JSON. ---

def test_an_empty_workdir_is_refused(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(ConfigError, match="--workdir is empty"):
    train_and_evaluate(_config(), "")
  assert list(tmp_path.iterdir()) == []


def test_skipping_most_steps_is_a_failure(tmp_path, monkeypatch):
  """on_nonfinite='skip' with every batch NaN: DivergenceError at the first checkpoint."""
  monkeypatch.setattr(train, "make_source", faulty_train.poison(train.make_source,
                                                                  set(range(1, 100))))
  with pytest.raises(DivergenceError, match=r"2 of the 2 steps trained since step 0 .* "
                                            r"skipped .*at most half"):
    train_and_evaluate(_config(on_nonfinite="skip"), str(tmp_path / "run"))
  assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.isdigit()]


def test_a_config_json_that_is_not_json_is_named(run4, tmp_path):
  workdir = _copy(run4, tmp_path)
  (workdir / "config.json").write_text('{"seed": 0,')
  with pytest.raises(ConfigError, match=f"{workdir / 'config.json'} is not valid JSON"):
    train_and_evaluate(_config(steps=6), str(workdir))


# --- 18.7: out of memory. ---

def test_out_of_memory_names_the_settings_to_lower(tmp_path):
  """A DCGAN whose parameters cannot be allocated (validation only bounds MLPs)."""
  from configs import mnist_dcgan
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "x.npz", x_train=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8))
  c = mnist_dcgan.get_config()
  c.data.name, c.data.path, c.data.batch_size = "npz", str(tmp_path / "x.npz"), 8
  c.model.features, c.model.latent_dim, c.train.steps = 2**16, 8, 1
  with pytest.raises(OutOfMemoryError, match=r"ran out of memory while building the train "
                                              r"state .*lower config.model.features=65536"):
    train_and_evaluate(c, str(tmp_path / "run"))


def test_out_of_memory_in_a_step_names_batch_and_width(tmp_path, monkeypatch):
  def exhausted(*args, **kwargs):
    raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 99 bytes.")
  monkeypatch.setattr(train, "make_train_step", lambda cfg: exhausted)
  with pytest.raises(OutOfMemoryError, match=r"while training step 1 .*lower "
                                              r"config.data.batch_size=16, config.train.n_critic"
                                              r"=2, config.model.width=16"):
    train_and_evaluate(_config(), str(tmp_path / "run"))


def test_distributed_without_a_coordinator_is_named(tmp_path):
  c = _config()
  c.distributed.enabled = True
  with pytest.raises(ConfigError, match="config.distributed.enabled=True, but jax.distributed "
                                        "did not start"):
    train_and_evaluate(c, str(tmp_path / "run"))
