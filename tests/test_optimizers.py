"""Tests for jaxgan.optimizers.make_optimizer against numpy versions of the update rules.

Reference rules (float64 numpy), as optax 0.2 defines them:
- Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; update = -lr m_hat / (sqrt(v_hat) + eps)
  with bias corrections m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
- RMSProp (optax.scale_by_rms, eps inside the root, no bias correction, nu starts at 0):
  nu = decay nu + (1-decay) g^2; update = -lr g / sqrt(nu + eps).
- SGD: update = -lr g, or with momentum: trace = g + momentum trace; update = -lr trace.
"""

from __future__ import annotations

import pathlib
import sys

import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import cifar10_wgan_gp, test as test_config  # noqa: E402
from jaxgan.config import get_config, optimizers  # noqa: E402
from jaxgan.optimizers import OPTIMIZERS, make_optimizer  # noqa: E402
from jaxgan.validation import config_warnings  # noqa: E402

SHAPES = {"w": (3, 4), "b": (4,)}


def _grads(n_steps: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
  rng = np.random.default_rng(seed)
  return [{k: rng.normal(size=s) * 10.0**rng.uniform(-3, 1, size=s) for k, s in SHAPES.items()}
          for _ in range(n_steps)]


def _run(tx, grads):
  params = {k: jnp.zeros(s, jnp.float32) for k, s in SHAPES.items()}
  state = tx.init(params)
  out = []
  for g in grads:
    upd, state = tx.update({k: jnp.asarray(v, jnp.float32) for k, v in g.items()}, state, params)
    out.append({k: np.asarray(v, np.float64) for k, v in upd.items()})
  return out


def _adam_ref(grads, lr, b1, b2, eps, lrs=None):
  m = {k: np.zeros(s) for k, s in SHAPES.items()}
  v = {k: np.zeros(s) for k, s in SHAPES.items()}
  out = []
  for t, g in enumerate(grads, start=1):
    rate = lr if lrs is None else lrs[t - 1]
    step = {}
    for k in g:
      m[k] = b1 * m[k] + (1 - b1) * g[k]
      v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
      m_hat, v_hat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
      step[k] = -rate * m_hat / (np.sqrt(v_hat) + eps)
    out.append(step)
  return out


def _rmsprop_ref(grads, lr, decay, eps):
  nu = {k: np.zeros(s) for k, s in SHAPES.items()}
  out = []
  for g in grads:
    step = {}
    for k in g:
      nu[k] = decay * nu[k] + (1 - decay) * g[k] ** 2
      step[k] = -lr * g[k] / np.sqrt(nu[k] + eps)
    out.append(step)
  return out


def _sgd_ref(grads, lr, momentum):
  trace = {k: np.zeros(s) for k, s in SHAPES.items()}
  out = []
  for g in grads:
    step = {}
    for k in g:
      trace[k] = g[k] + momentum * trace[k]
      step[k] = -lr * trace[k]
    out.append(step)
  return out


def _assert_steps_close(got, expected, rtol=1e-5):
  assert len(got) == len(expected)
  for t, (a, b) in enumerate(zip(got, expected)):
    for k in b:
      scale = np.abs(b[k]).max()
      np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-6 * scale,
                                 err_msg=f"step {t}, leaf {k}")


# ----------------------------------------------------------------------------- Adam


def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps():
  lr, eps = 2e-4, 1e-3  # A large eps makes its placement visible.
  (g,) = _grads(1)
  (got,) = _run(make_optimizer("adam", lr, b1=0.5, b2=0.999, eps=eps), [g])
  for k in g:
    np.testing.assert_allclose(got[k], -lr * g[k] / (np.abs(g[k]) + eps), rtol=1e-5)


@pytest.mark.parametrize("b1,b2,eps", [(0.5, 0.999, 1e-8), (0.0, 0.9, 1e-8), (0.9, 0.99, 1e-2)])
def test_adam_matches_numpy(b1, b2, eps):
  grads = _grads(5, seed=1)
  got = _run(make_optimizer("adam", 1e-3, b1=b1, b2=b2, eps=eps), grads)
  _assert_steps_close(got, _adam_ref(grads, 1e-3, b1, b2, eps))


def test_adam_defaults_are_dcgan_betas():
  """Defaults b1=0.5, b2=0.999, eps=1e-8 (DCGAN)."""
  grads = _grads(4, seed=2)
  got = _run(make_optimizer("adam", 1e-3), grads)
  _assert_steps_close(got, _adam_ref(grads, 1e-3, 0.5, 0.999, 1e-8))
  other = _adam_ref(grads, 1e-3, 0.9, 0.999, 1e-8)
  assert not np.allclose(got[-1]["w"], other[-1]["w"], rtol=1e-3)


# ----------------------------------------------------------------------------- RMSProp


def test_rmsprop_first_step_eps_inside_the_root():
  lr, decay, eps = 5e-5, 0.9, 1e-2
  (g,) = _grads(1, seed=3)
  (got,) = _run(make_optimizer("rmsprop", lr, decay=decay, eps=eps), [g])
  for k in g:
    expected = -lr * g[k] / np.sqrt((1 - decay) * g[k] ** 2 + eps)
    np.testing.assert_allclose(got[k], expected, rtol=1e-5)
    # Not the PyTorch placement sqrt(v) + eps (distinguishable with this eps).
    torch_style = -lr * g[k] / (np.sqrt((1 - decay) * g[k] ** 2) + eps)
    assert not np.allclose(got[k], torch_style, rtol=1e-3)


@pytest.mark.parametrize("decay,eps", [(0.9, 1e-8), (0.99, 1e-6)])
def test_rmsprop_matches_numpy(decay, eps):
  grads = _grads(5, seed=4)
  got = _run(make_optimizer("rmsprop", 5e-5, decay=decay, eps=eps), grads)
  _assert_steps_close(got, _rmsprop_ref(grads, 5e-5, decay, eps))


# ----------------------------------------------------------------------------- SGD


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_sgd_matches_numpy(momentum):
  grads = _grads(4, seed=5)
  got = _run(make_optimizer("sgd", 0.1, momentum=momentum), grads)
  _assert_steps_close(got, _sgd_ref(grads, 0.1, momentum))


def test_sgd_first_step_is_minus_lr_g():
  (g,) = _grads(1, seed=6)
  (got,) = _run(make_optimizer("sgd", 0.03, momentum=0.9), [g])
  for k in g:
    np.testing.assert_allclose(got[k], -0.03 * g[k], rtol=1e-6)


# ----------------------------------------------------------------------------- decay


def _linear(lr, decay_steps, n):
  return [lr * max(0.0, 1.0 - t / decay_steps) for t in range(n)]


def test_linear_decay_sgd():
  lr, decay_steps, n = 0.1, 4, 8
  g = {k: np.ones(s) for k, s in SHAPES.items()}
  got = _run(make_optimizer("sgd", lr, decay_steps=decay_steps), [g] * n)
  expected = _linear(lr, decay_steps, n)  # 0.1, 0.075, 0.05, 0.025, 0, 0, 0, 0
  for t in range(n):
    np.testing.assert_allclose(got[t]["w"], -expected[t], rtol=1e-6, atol=1e-12)
  assert all(np.all(got[t]["b"] == 0.0) for t in range(decay_steps, n))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_linear_decay_reaches_zero_for_every_optimizer(name):
  decay_steps = 5
  grads = _grads(8, seed=7)
  got = _run(make_optimizer(name, 1e-2, decay_steps=decay_steps), grads)
  for t in range(decay_steps, 8):
    for k in got[t]:
      np.testing.assert_array_equal(got[t][k], 0.0)
  assert all(np.abs(got[t]["w"]).max() > 0 for t in range(decay_steps))


def test_linear_decay_adam_matches_numpy():
  lr, decay_steps = 1e-3, 6
  grads = _grads(8, seed=8)
  got = _run(make_optimizer("adam", lr, b1=0.0, b2=0.9, decay_steps=decay_steps), grads)
  _assert_steps_close(got, _adam_ref(grads, lr, 0.0, 0.9, 1e-8,
                                     lrs=_linear(lr, decay_steps, 8)))


def test_no_decay_by_default():
  g = {k: np.ones(s) for k, s in SHAPES.items()}
  got = _run(make_optimizer("sgd", 0.1), [g] * 50)
  np.testing.assert_allclose(got[-1]["w"], -0.1, rtol=1e-6)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_negative_learning_rate_raises(name):
  with pytest.raises(ValueError, match="learning_rate"):
    make_optimizer(name, -1e-4)


def test_zero_learning_rate_gives_zero_updates():
  got = _run(make_optimizer("adam", 0.0), _grads(2))
  assert all(np.all(s[k] == 0.0) for s in got for k in s)


def test_unknown_optimizer_raises():
  with pytest.raises(ValueError, match="adagrad"):
    make_optimizer("adagrad", 1e-3)


# ----------------------------------------------------------------------------- decay by
# training steps (issue 18.10): D, updated n_critic times per step, decays by steps too.


def test_decay_counts_training_steps_for_a_player_updated_several_times_per_step():
  lr, n_critic, steps = 0.1, 5, 10
  g = {k: np.ones(s) for k, s in SHAPES.items()}
  got = _run(make_optimizer("sgd", lr, decay_steps=steps, updates_per_step=n_critic),
             [g] * (n_critic * steps))
  # Update u belongs to training step u // n_critic; factor 1 - step / steps.
  expected = [lr * (1 - (u // n_critic) / steps) for u in range(n_critic * steps)]
  np.testing.assert_allclose([-x["w"][0, 0] for x in got], expected, rtol=1e-6)
  # At the last step D's rate is 1/steps of the initial, not 0 since step steps / n_critic.
  np.testing.assert_allclose(-got[-1]["w"], lr / steps, rtol=1e-6)


def test_the_config_layer_passes_n_critic_for_d():
  c = test_config.get_config()
  c.train.steps, c.train.n_critic = 10, 5
  for o in (c.g_optimizer, c.d_optimizer):
    o.name, o.learning_rate, o.decay_steps = "sgd", 0.1, c.train.steps
  g_tx, d_tx = optimizers(c)
  ones = {k: np.ones(s) for k, s in SHAPES.items()}
  d_last = _run(d_tx, [ones] * (5 * 10))[-1]  # D: 5 updates per training step.
  g_last = _run(g_tx, [ones] * 10)[-1]        # G: one.
  np.testing.assert_allclose(-d_last["w"], 0.1 / 10, rtol=1e-6)
  np.testing.assert_allclose(-g_last["w"], 0.1 / 10, rtol=1e-6)


def test_a_decay_that_ends_before_the_run_is_warned_about():
  c = get_config()
  c.train.steps, c.d_optimizer.decay_steps, c.g_optimizer.decay_steps = 1000, 400, 1000
  (warning,) = config_warnings(c)
  assert "config.d_optimizer.decay_steps=400 ends before config.train.steps=1000" in warning
  assert "last 600 steps" in warning


def test_cifar10_wgan_gp_decays_both_players_over_the_run():
  c = cifar10_wgan_gp.get_config()
  assert c.g_optimizer.decay_steps == c.d_optimizer.decay_steps == c.train.steps


def test_bad_updates_per_step_raises():
  with pytest.raises(ValueError, match="updates_per_step"):
    make_optimizer("sgd", 0.1, decay_steps=5, updates_per_step=0)
