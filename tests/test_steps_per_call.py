"""Several steps per compiled call (train.steps_per_call) compute what single steps do."""

import json
import pathlib
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan import train  # noqa: E402
from jaxgan.train import DivergenceError, _call_end, train_and_evaluate  # noqa: E402


def _config(steps_per_call, **train_fields):
  c = test_config.get_config()
  c.train.steps, c.train.log_every, c.train.plot_every, c.train.checkpoint_every = 12, 4, 12, 4
  c.train.steps_per_call = steps_per_call
  for k, v in train_fields.items():
    c.train[k] = v
  return c


def _final(workdir, step=12):
  tree = ocp.StandardCheckpointer().restore(workdir / "checkpoints" / str(step) / "default")
  as_data = lambda x: (jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
                       else x)
  return [np.asarray(as_data(x)) for x in jax.tree.leaves(tree)]


def _rows(workdir):
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("k", [4, 3])  # 3 does not divide log_every=4: calls of 3 and 1.
def test_k_steps_per_call_equal_k_single_calls_bitwise(tmp_path, k):
  train_and_evaluate(_config(1), str(tmp_path / "one"))
  train_and_evaluate(_config(k), str(tmp_path / "many"))
  for a, b in zip(_final(tmp_path / "one"), _final(tmp_path / "many"), strict=True):
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
  one, many = _rows(tmp_path / "one"), _rows(tmp_path / "many")
  assert [r["step"] for r in one] == [r["step"] for r in many] == [4, 8, 12]
  for r, s in zip(one, many):
    assert {k: v for k, v in r.items() if k != "elapsed_s"} == \
        {k: v for k, v in s.items() if k != "elapsed_s"}


def test_image_batches_of_several_steps_are_the_single_steps_batches(tmp_path):
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
           y_train=rng.integers(0, 10, 40).astype(np.uint8))
  from jaxgan import parallel
  from jaxgan.data.source import make_source
  mesh = parallel.make_mesh()
  source = make_source("npz", batch_size=8, n_critic=2, seed=3,
                       sharding=parallel.batch_sharding(mesh), path=str(tmp_path / "d.npz"))
  many = source.batches(5, 3)
  for i in range(3):
    one = source.batch(5 + i)
    for key in ("image", "label"):
      np.testing.assert_array_equal(np.asarray(many[key][i]), np.asarray(one[key]))


def test_a_non_finite_step_inside_a_call_is_named(tmp_path, monkeypatch):
  from faulty_train import poison
  monkeypatch.setattr(train, "make_source", poison(train.make_source, {6}))
  with pytest.raises(DivergenceError, match="training diverged at step 6"):
    train_and_evaluate(_config(4), str(tmp_path))
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["4"]


def test_calls_end_where_the_run_logs_plots_or_saves():
  t = _config(10, log_every=4, plot_every=6, checkpoint_every=100).train
  ends, step = [], 0
  while step < t.steps:
    step = _call_end(step, t)
    ends.append(step)
  assert ends == [4, 6, 8, 12]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU-only warning")
def test_several_steps_per_call_of_a_dcgan_on_a_cpu_are_warned_about():
  from jaxgan.config import get_config
  from jaxgan.validation import config_warnings
  c = get_config()
  c.train.steps_per_call = 4
  assert not any("steps_per_call" in w for w in config_warnings(c))  # The toy MLP: fine.
  c.model.name = "dcgan"
  (warning,) = [w for w in config_warnings(c) if "steps_per_call" in w]
  assert "config.train.steps_per_call=4 with DCGAN on a CPU" in warning
