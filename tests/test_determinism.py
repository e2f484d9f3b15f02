"""Same config and seed give the same run; another seed gives another run."""

import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan.train import train_and_evaluate  # noqa: E402


def _run(tmp_path, name, seed):
  c = test_config.get_config()
  c.seed, c.train.steps, c.train.plot_every = seed, 4, 4
  return train_and_evaluate(c, str(tmp_path / name))


def test_same_seed_same_parameters_other_seed_differs(tmp_path):
  a, b, c = _run(tmp_path, "a", 0), _run(tmp_path, "b", 0), _run(tmp_path, "c", 1)
  leaves = lambda s: jax.tree.leaves((s.g.params, s.d.params, s.d.opt_state))
  assert all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))
  assert not any(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a.g.params),
                                                      jax.tree.leaves(c.g.params)))
