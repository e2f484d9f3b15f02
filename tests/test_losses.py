"""Games: values and gradients against closed forms, numpy and TF-GAN's documented tests."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxgan import losses

LOG2 = math.log(2.0)


def _np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# --- The three generator games at D(G(z)) = 1/2, i.e. logit 0 (tutorial sec. 3.2.3). ---
# cost J(l) for one sample; dJ/dl; dJ/dD where D = sigmoid(l).
AT_HALF = {
    # 1/2 log(1 - D): value -log(2)/2; dJ/dD = -1/(2(1-D)) = -1; dJ/dl = -D/2 = -1/4.
    "minimax": (losses.generator_minimax, -LOG2 / 2, -0.25, -1.0),
    # -1/2 log D: value log(2)/2; dJ/dD = -1/(2D) = -1; dJ/dl = -(1-D)/2 = -1/4.
    "non_saturating": (losses.generator_non_saturating, LOG2 / 2, -0.25, -1.0),
    # -1/2 D/(1-D): value -1/2; dJ/dD = -1/(2(1-D)^2) = -2; dJ/dl = -exp(l)/2 = -1/2.
    "maximum_likelihood": (losses.generator_maximum_likelihood, -0.5, -0.5, -2.0),
}


@pytest.mark.parametrize("name", AT_HALF)
def test_generator_costs_at_one_half(name):
  fn, value, d_logit, d_prob = AT_HALF[name]
  l0 = jnp.zeros((1,))
  np.testing.assert_allclose(fn(l0), value, rtol=1e-6)
  np.testing.assert_allclose(jax.grad(lambda l: fn(l))(l0)[0], d_logit, rtol=1e-6)
  # Derivative with respect to D itself: compose with the logit l = log(D / (1 - D)).
  as_prob = lambda d: fn(jnp.log(d) - jnp.log1p(-d))
  np.testing.assert_allclose(jax.grad(as_prob)(jnp.full((1,), 0.5)), [d_prob], rtol=1e-5)


def test_generator_costs_against_numpy_formulas():
  logits = np.random.default_rng(0).normal(0, 3, size=64).astype(np.float32)
  d = _np_sigmoid(logits)
  np.testing.assert_allclose(losses.generator_minimax(logits), 0.5 * np.mean(np.log1p(-d)),
                             rtol=1e-5)
  np.testing.assert_allclose(losses.generator_non_saturating(logits), -0.5 * np.mean(np.log(d)),
                             rtol=1e-5)
  np.testing.assert_allclose(losses.generator_maximum_likelihood(logits),
                             -0.5 * np.mean(d / (1 - d)), rtol=1e-5)


def test_minimax_generator_is_minus_discriminator_cost_up_to_a_constant():
  rng = np.random.default_rng(1)
  real = jnp.asarray(rng.normal(size=16), jnp.float32)
  for _ in range(3):
    fake = jnp.asarray(rng.normal(size=16), jnp.float32)
    const = 0.5 * np.mean(np.log(_np_sigmoid(real)))  # The half of -J(D) G cannot change.
    np.testing.assert_allclose(losses.generator_minimax(fake),
                               -losses.discriminator_cross_entropy(real, fake) - const, rtol=1e-5)
    np.testing.assert_allclose(
        jax.grad(losses.generator_minimax)(fake),
        -jax.grad(losses.discriminator_cross_entropy, argnums=1)(real, fake), rtol=1e-6)


def test_discriminator_cross_entropy_against_numpy():
  rng = np.random.default_rng(2)
  real, fake = rng.normal(0, 2, 32), rng.normal(0, 2, 32)
  alpha, beta = 0.1, 0.2
  dr, df = _np_sigmoid(real), _np_sigmoid(fake)
  want = (-0.5 * np.mean((1 - alpha) * np.log(dr) + alpha * np.log(1 - dr))
          - 0.5 * np.mean(beta * np.log(df) + (1 - beta) * np.log(1 - df)))
  got = losses.discriminator_cross_entropy(jnp.asarray(real, jnp.float32),
                                           jnp.asarray(fake, jnp.float32), alpha, beta)
  np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.1, 0.0), (0.2, 0.3)])
@pytest.mark.parametrize("p_data,p_model", [(0.3, 0.7), (2.0, 0.1), (0.05, 1.5)])
def test_optimal_discriminator_with_label_smoothing(alpha, beta, p_data, p_model):
  """The pointwise minimiser is D* = ((1-alpha) p_data + beta p_model) / (p_data + p_model)."""
  grad_r = jax.grad(losses.discriminator_cross_entropy, argnums=0)
  grad_f = jax.grad(losses.discriminator_cross_entropy, argnums=1)

  def slope(l):  # d/dl of p_data * (real term at l) + p_model * (fake term at l).
    x = jnp.full((1,), l, jnp.float32)
    return float(p_data * grad_r(x, x, alpha, beta)[0] + p_model * grad_f(x, x, alpha, beta)[0])

  lo, hi = -30.0, 30.0  # The objective is convex in l: bisect on the sign of its slope.
  for _ in range(80):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
  want = ((1 - alpha) * p_data + beta * p_model) / (p_data + p_model)
  np.testing.assert_allclose(_np_sigmoid(0.5 * (lo + hi)), want, atol=1e-5)


def test_wasserstein_hinge_least_squares_against_numpy():
  rng = np.random.default_rng(3)
  r, f = rng.normal(0, 2, 20), rng.normal(0, 2, 20)
  rj, fj = jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32)
  cases = [
      (losses.critic_wasserstein(rj, fj), f.mean() - r.mean()),
      (losses.generator_wasserstein(fj), -f.mean()),
      (losses.discriminator_hinge(rj, fj),
       np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean()),
      (losses.generator_hinge(fj), -f.mean()),
      (losses.discriminator_least_squares(rj, fj),
       0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean()),
      (losses.generator_least_squares(fj), 0.5 * ((f - 1) ** 2).mean()),
  ]
  for got, want in cases:
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# TF-GAN's losses_impl_test.py: real outputs [-5, 1.4, 12.5, 2.7], generated [10, 4.4, -5.5,
# 3.6]. TF-GAN sums the two halves of the discriminator cost where the tutorial averages
# them (factor 2), and its label smoothing ls targets 1 - ls/2 (ls = 0.25 -> 0.875, i.e.
# our alpha = 0.125).
TF_REAL = jnp.array([-5.0, 1.4, 12.5, 2.7])
TF_FAKE = jnp.array([10.0, 4.4, -5.5, 3.6])


def test_tfgan_documented_values():
  np.testing.assert_allclose(
      2 * losses.discriminator_cross_entropy(TF_REAL, TF_FAKE, real_label_smoothing=0.125), 6.19637, atol=1e-4)
  np.testing.assert_allclose(2 * losses.generator_non_saturating(TF_FAKE), 1.38582, atol=1e-4)
  # TF-GAN's minimax generator loss also contains softplus(-1) from a real logit of 1.
  np.testing.assert_allclose(2 * losses.generator_minimax(TF_FAKE) - math.log1p(math.exp(-1)),
                             -4.82408, atol=1e-4)
  np.testing.assert_allclose(losses.generator_wasserstein(TF_FAKE), -3.125, atol=1e-5)
  np.testing.assert_allclose(losses.critic_wasserstein(TF_REAL, TF_FAKE), 0.225, atol=1e-5)
  np.testing.assert_allclose(losses.discriminator_hinge(TF_REAL, TF_FAKE), 6.75, atol=1e-5)
  np.testing.assert_allclose(losses.generator_hinge(TF_FAKE), -3.125, atol=1e-5)
  np.testing.assert_allclose(losses.generator_least_squares(TF_FAKE), 17.69625, atol=1e-4)
  np.testing.assert_allclose(losses.discriminator_least_squares(TF_REAL, TF_FAKE), 41.73375,
                             atol=1e-4)


@pytest.mark.parametrize("name", list(losses.GAMES))
def test_gradients_match_finite_differences(name):
  game = losses.GAMES[name]
  rng = np.random.default_rng(4)
  real = jnp.asarray(rng.normal(size=6))
  fake = jnp.asarray(rng.normal(size=6) + 0.3)  # Keep the hinge away from its kinks.
  check_grads(lambda r, f: game.d_loss(r, f), (real, fake), order=2, modes=["rev"],
              atol=1e-2, rtol=1e-2, eps=1e-3)
  check_grads(game.g_loss, (fake,), order=2, modes=["rev"], atol=1e-2, rtol=1e-2, eps=1e-3)


@pytest.mark.parametrize("name", ["minimax", "non_saturating", "maximum_likelihood"])
def test_cross_entropy_games_are_stable_at_saturation(name):
  game = losses.GAMES[name]
  extreme = jnp.array([-200.0, -50.0, 50.0, 200.0])
  d_val, d_grad = jax.value_and_grad(game.d_loss, argnums=(0, 1))(extreme, extreme, 0.1, 0.0)
  assert np.isfinite(d_val) and all(np.isfinite(g).all() for g in d_grad)
  if name != "maximum_likelihood":  # exp(l) overflows by design; it is unbounded below.
    g_val, g_grad = jax.value_and_grad(game.g_loss)(extreme)
    assert np.isfinite(g_val) and np.isfinite(g_grad).all()
  # A confidently rejected sample: the non-saturating cost keeps a gradient of -1/(2B),
  # the minimax cost's gradient vanishes (tutorial fig. 16).
  rejected = jnp.array([-50.0])
  np.testing.assert_allclose(jax.grad(losses.generator_non_saturating)(rejected), [-0.5],
                             rtol=1e-6)
  assert abs(float(jax.grad(losses.generator_minimax)(rejected)[0])) < 1e-20


def test_get_game_rejects_unknown_names():
  with pytest.raises(ValueError, match="non_saturating"):
    losses.get_game("nonsaturating")
