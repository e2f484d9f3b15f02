"""The critic loop of the step (issue 18.8): unrolled for small n_critic, a bounded unroll
above, so that large n_critic (WGAN's 100 early on) compiles in seconds."""

import dataclasses
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan.config import initial_state, step_config  # noqa: E402
from jaxgan.train_step import (BOUNDED_UNROLL, FULL_UNROLL_MAX, critic_unroll,  # noqa: E402
                               make_train_step)


def _setup(n_critic, unroll=0):
  c = test_config.get_config()  # A 16-unit MLP, batch 16.
  c.train.n_critic, c.train.critic_unroll = n_critic, unroll
  return initial_state(c), step_config(c), jnp.zeros((n_critic, c.data.batch_size, 2))


def _scan_unroll(cfg, state, batch):
  jaxpr = jax.make_jaxpr(make_train_step(cfg))(state, batch).jaxpr
  (scan,) = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
  return scan.params["unroll"]


@pytest.mark.parametrize("n_critic,expected", [(2, 2), (FULL_UNROLL_MAX, FULL_UNROLL_MAX),
                                               (FULL_UNROLL_MAX + 1, BOUNDED_UNROLL),
                                               (200, BOUNDED_UNROLL)])
def test_default_unrolls_small_n_critic_fully_and_bounds_large(n_critic, expected):
  state, cfg, batch = _setup(n_critic)
  assert _scan_unroll(cfg, state, batch) == expected


def test_config_field_sets_the_unroll():
  state, cfg, batch = _setup(200, unroll=10)
  assert cfg.critic_unroll == 10 and _scan_unroll(cfg, state, batch) == 10
  assert critic_unroll(5, True) is True  # An explicit value is kept.


def test_n_critic_200_compiles_in_under_30_seconds():
  state, cfg, batch = _setup(200)
  t0 = time.perf_counter()
  jax.jit(make_train_step(cfg)).lower(state, batch).compile()
  seconds = time.perf_counter() - t0
  print(f"n_critic=200 compile: {seconds:.1f} s")
  assert seconds < 30


def test_rolled_and_unrolled_critic_loops_agree():
  state, cfg, _ = _setup(3)
  batch = jax.random.normal(jax.random.key(1), (3, 16, 2))
  outs = [jax.jit(make_train_step(dataclasses.replace(cfg, critic_unroll=u)))(state, batch)
          for u in (True, 1)]
  for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
    if jnp.issubdtype(a.dtype, jnp.floating):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
