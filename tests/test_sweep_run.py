"""run_sweep end to end: variants equal single runs, SIGKILL then rerun equals an
uninterrupted sweep bitwise, and the summary is the mean and standard error over seeds."""

import json
import math
import subprocess
import sys
import textwrap

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxgan import config as config_lib
from jaxgan.sweep.run import run_sweep
from jaxgan.train import train_and_evaluate

SETUP = textwrap.dedent('''
    from jaxgan import config as config_lib

    def tiny(steps=6):
      c = config_lib.get_config()
      c.model.width, c.model.depth, c.data.batch_size, c.train.n_critic = 8, 2, 16, 2
      c.train.steps, c.train.log_every, c.train.plot_every = steps, 2, steps
      c.train.checkpoint_every, c.train.eval_samples = 2, 200
      for o in (c.g_optimizer, c.d_optimizer):
        o.name, o.learning_rate = "sgd", 0.01
      return c
''')
exec(SETUP)  # noqa: S102 - the same tiny config here and in the subprocess.


def _arrays(directory, step):
  tree = ocp.StandardCheckpointer().restore(directory / str(step) / "default")
  as_data = lambda x: (jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x)
  return jax.tree.map(lambda x: np.asarray(as_data(x)), tree)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp("sweep")
  run_sweep(tiny(), str(path), ["penalty.weight=0.1,1", "seed=0,1"])
  return path


def test_variants_equal_the_runs_trained_one_by_one(sweep_dir, tmp_path):
  sweep = _arrays(sweep_dir / "checkpoints" / "group_0", 6)
  worst = 0.0
  for i, (weight, seed) in enumerate([(0.1, 0), (0.1, 1), (1.0, 0), (1.0, 1)]):
    c = tiny()
    c.penalty.weight, c.seed = weight, seed
    train_and_evaluate(c, str(tmp_path / str(i)))
    alone = _arrays(tmp_path / str(i) / "checkpoints", 6)
    for a, b in zip(jax.tree.leaves((sweep["states"]["g"], sweep["states"]["d"])),
                    jax.tree.leaves((alone["g"], alone["d"])), strict=True):
      worst = max(worst, float(np.max(np.abs(a[i] - b)) / (np.max(np.abs(b)) + 1e-30)))
  assert worst <= 1e-6, worst


def test_metrics_rows_carry_each_variants_setting(sweep_dir):
  rows = [json.loads(line) for line in (sweep_dir / "metrics.jsonl").read_text().splitlines()]
  assert {(r["step"], r["variant"]) for r in rows} == {(s, v) for s in (2, 4, 6) for v in range(4)}
  row = next(r for r in rows if r["variant"] == 3 and r["step"] == 6)
  assert row["penalty.weight"] == 1.0 and row["seed"] == 1 and "modes" in row
  assert sorted(p.name for p in (sweep_dir / "tensorboard").iterdir()) == [
      f"variant_{i:03d}" for i in range(4)]


def test_summary_is_mean_and_standard_error_over_seeds(sweep_dir):
  result = json.loads((sweep_dir / "summary.json").read_text())
  rows = {r["penalty.weight"]: r for r in result["rows"]}
  assert set(rows) == {0.1, 1.0} and rows[0.1]["seeds"] == 2
  for weight, members in ((0.1, ("0", "1")), (1.0, ("2", "3"))):
    for metric in ("modes", "d_loss", "high_quality"):
      x = np.array([result["variants"][m][metric] for m in members], np.float64)
      assert rows[weight][f"{metric}_mean"] == pytest.approx(x.mean())
      assert rows[weight][f"{metric}_se"] == pytest.approx(x.std(ddof=1) / math.sqrt(2))
  table = (sweep_dir / "summary.md").read_text()
  assert "| penalty.weight | seeds | diverged | modes |" in table
  for name in ("summary.csv", "summary.png", "samples_final.png", "sweep.json"):
    assert (sweep_dir / name).stat().st_size > 0


KILLED = SETUP + textwrap.dedent('''
    import os, signal, sys
    from jaxgan.sweep.run import run_sweep

    def kill(group, step, sweep, metrics):
      if sys.argv[2] == "kill" and step == 5:
        os.kill(os.getpid(), signal.SIGKILL)

    run_sweep(tiny(8), sys.argv[1], ["seed=0:3"], hooks=[kill])
''')


@pytest.mark.slow  # Default-suite budget: tests/test_train.py kills and resumes a run there.
def test_sigkill_then_rerun_equals_an_uninterrupted_sweep(tmp_path):
  run = lambda d, mode: subprocess.run([sys.executable, "-c", KILLED, str(d), mode],
                                       capture_output=True, text=True, timeout=300)
  assert run(tmp_path / "ref", "go").returncode == 0
  assert run(tmp_path / "kill", "kill").returncode == -9
  assert not (tmp_path / "kill" / "checkpoints" / "group_0" / "8").exists()
  resumed = run(tmp_path / "kill", "go")
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  a = _arrays(tmp_path / "ref" / "checkpoints" / "group_0", 8)
  b = _arrays(tmp_path / "kill" / "checkpoints" / "group_0", 8)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


def test_a_variant_restores_as_its_single_run(sweep_dir):
  from jaxgan.sweep.restore import restore_variant
  from jaxgan.sweep.grid import SweepError
  config, state, shape, classes = restore_variant(sweep_dir, 3)
  assert config.seed == 1 and config.penalty.weight == 1.0 and shape == (2,) and classes == 0
  assert int(state.step) == 6 and float(state.hparams.penalty_weight) == 1.0
  sweep = _arrays(sweep_dir / "checkpoints" / "group_0", 6)
  np.testing.assert_array_equal(state.d.params["Dense_0"]["kernel"],
                                sweep["states"]["d"]["params"]["Dense_0"]["kernel"][3])
  assert state.sample(jax.random.key(0), 5).shape == (5, 2)
  with pytest.raises(SweepError, match="sweep of 4 variants: --variant must be 0..3, got 4"):
    restore_variant(sweep_dir, 4)
