"""Penalties: the linear-critic identity, finite differences, no NaN at zero gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties


def _linear_critic(w):
  """f(x) = <w, x> per example; its input gradient is w everywhere."""
  return lambda x: jnp.sum(x * w, axis=tuple(range(1, x.ndim)))


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("one_sided", [False, True])
def test_linear_critic_penalty_is_closed_form(scale, one_sided):
  rng = np.random.default_rng(0)
  w = rng.normal(size=(3, 4)).astype(np.float32)
  w *= scale / np.linalg.norm(w)  # ||w|| = scale, the norm over all non-batch axes.
  real = jnp.asarray(rng.normal(size=(8, 3, 4)), jnp.float32)
  fake = jnp.asarray(rng.normal(size=(8, 3, 4)), jnp.float32)
  got = penalties.gradient_penalty(_linear_critic(w), real, fake, jax.random.key(1),
                                   one_sided=one_sided)
  gap = scale - 1.0
  want = max(gap, 0.0) ** 2 if one_sided else gap ** 2
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_tfgan_documented_gradient_penalty():
  # TF-GAN's losses_impl_test: D(x) = 2x on 4 values, so ||grad|| = 4 and (4 - 1)^2 = 9.
  gen = jnp.array([[3.1, 2.3, -12.3, 32.1]])
  real = jnp.array([[-12.3, 23.2, 16.3, -43.2]])
  got = penalties.gradient_penalty(lambda x: jnp.sum(2.0 * x, axis=1), real, gen,
                                   jax.random.key(0))
  np.testing.assert_allclose(got, 9.0, rtol=1e-6)


def test_interpolates_lie_on_segments_with_one_eps_per_example():
  rng = np.random.default_rng(2)
  real = jnp.asarray(rng.normal(size=(64, 5, 3)), jnp.float32)
  fake = jnp.asarray(rng.normal(size=(64, 5, 3)), jnp.float32)
  x = penalties.interpolates(jax.random.key(3), real, fake)
  eps = np.asarray((x - fake) / (real - fake)).reshape(64, -1)
  np.testing.assert_allclose(eps, eps[:, :1].repeat(15, axis=1), atol=2e-4)
  assert eps.min() >= -1e-4 and eps.max() <= 1 + 1e-4
  assert eps[:, 0].std() > 0.2  # Spread over [0, 1] (uniform std 0.29), not one shared eps.


def _tanh_critic(params, x):
  h = jnp.tanh(x @ params["w1"] + params["b1"])
  return (h @ params["w2"])[:, 0]


def test_penalty_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    rng = np.random.default_rng(4)
    params = {"w1": rng.normal(size=(3, 5)), "b1": rng.normal(size=(5,)),
              "w2": rng.normal(size=(5, 1))}
    real, fake = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    key = jax.random.key(5)
    loss = lambda p: penalties.gradient_penalty(lambda x: _tanh_critic(p, x), real, fake, key)
    grads = jax.grad(loss)(params)
    h = 1e-6
    for name, value in params.items():
      flat = value.ravel()
      for i in range(flat.size):
        bumped = [flat.copy(), flat.copy()]
        bumped[0][i] += h
        bumped[1][i] -= h
        up, down = (loss({**params, name: b.reshape(value.shape)}) for b in bumped)
        np.testing.assert_allclose(grads[name].ravel()[i], (up - down) / (2 * h),
                                   rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["gradient_penalty", "r1", "r2"])
def test_no_nan_at_zero_gradient(name):
  x = jnp.ones((4, 3))
  key = jax.random.key(0)

  def value(w):
    return penalties.PENALTIES[name](_linear_critic(w), x, -x, key)

  w0 = jnp.zeros((3,))
  val, grad = jax.value_and_grad(value)(w0)
  np.testing.assert_allclose(val, 1.0 if name == "gradient_penalty" else 0.0)
  assert np.isfinite(np.asarray(grad)).all()


def test_r1_and_r2_of_a_linear_critic_are_the_squared_norm():
  rng = np.random.default_rng(6)
  w = rng.normal(size=(2, 3)).astype(np.float32)
  x = jnp.asarray(rng.normal(size=(5, 2, 3)), jnp.float32)
  want = float(np.sum(w.astype(np.float64) ** 2))
  key = jax.random.key(0)
  np.testing.assert_allclose(penalties.r1_penalty(_linear_critic(w), x, 0 * x, key), want,
                             rtol=1e-5)
  np.testing.assert_allclose(penalties.r2_penalty(_linear_critic(w), 0 * x, x, key), want,
                             rtol=1e-5)


def test_quadratic_critic_per_example_norms():
  # f(x) = ||x||^2 / 2 per example has gradient x, so the penalty at x is mean (||x|| - 1)^2.
  rng = np.random.default_rng(7)
  x = rng.normal(size=(10, 4)).astype(np.float32)
  critic = lambda v: 0.5 * jnp.sum(v * v, axis=1)
  want = np.mean((np.linalg.norm(x.astype(np.float64), axis=1) - 1.0) ** 2)
  np.testing.assert_allclose(penalties.gradient_norm_penalty(critic, jnp.asarray(x)), want,
                             rtol=1e-5)


def test_clip_weights_projects_onto_the_box():
  tree = {"a": jnp.array([-0.5, -0.005, 0.0, 0.007, 3.0]), "b": {"c": jnp.array([[0.02]])}}
  clipped = penalties.clip_weights(tree, 0.01)
  np.testing.assert_allclose(clipped["a"], [-0.01, -0.005, 0.0, 0.007, 0.01])
  np.testing.assert_allclose(clipped["b"]["c"], [[0.01]])


def test_weight_clipping_constraint_reads_the_bound_from_hparams():
  from jaxgan.hparams import make_hparams
  tree = {"a": jnp.array([-0.5, 0.02, 3.0])}
  got = penalties.weight_clipping(tree, make_hparams(weight_clip=0.1))
  np.testing.assert_allclose(got["a"], [-0.1, 0.02, 0.1])


def test_one_sided_registry_entry_is_the_one_sided_penalty():
  w = np.array([0.3, 0.2], np.float32)  # ||w|| < 1: only the two-sided form penalises.
  real, fake = jnp.ones((4, 2)), -jnp.ones((4, 2))
  key = jax.random.key(1)
  two = penalties.PENALTIES["gradient_penalty"](_linear_critic(w), real, fake, key)
  one = penalties.PENALTIES["one_sided_gradient_penalty"](_linear_critic(w), real, fake, key)
  gap = 1.0 - float(np.linalg.norm(w))
  np.testing.assert_allclose(two, gap ** 2, rtol=1e-5)
  assert float(one) == 0.0


def test_penalty_names_are_resolved_and_functions_pass_through():
  assert penalties.get_penalty("r1") is penalties.r1_penalty
  assert penalties.get_penalty("none") is None and penalties.get_penalty(None) is None
  mine = lambda critic, real, fake, key: jnp.mean(critic(real))
  assert penalties.get_penalty(mine) is mine
  with pytest.raises(ValueError, match="gradient_penalty"):
    penalties.get_penalty("gp")
