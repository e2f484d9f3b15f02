"""Generator costs, the measurement: the costs and their derivatives as functions of
D(G(z)), and the variance of minibatch gradients for a Gaussian generator."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import losses

COSTS = {
    "minimax": losses.generator_minimax,
    "non_saturating": losses.generator_non_saturating,
    "maximum_likelihood": losses.generator_maximum_likelihood,
}
COLORS = {"minimax": "tab:blue", "non_saturating": "tab:green", "maximum_likelihood": "tab:red"}


def cost_of_d(name: str, d: jax.Array) -> jax.Array:
  """The per-sample cost J(G) as a function of D(G(z)) = d (the library's function of l)."""
  logit = jnp.log(d) - jnp.log1p(-d)
  return COSTS[name](logit[None])


def _log_normal(x, mean, log_s):
  return -0.5 * jnp.square((x - mean) * jnp.exp(-log_s)) - log_s - 0.5 * math.log(2 * math.pi)


def minibatch_gradients(name: str, offset: float, batch: int, n_batches: int,
                        key: jax.Array) -> np.ndarray:
  """(n_batches, 2) estimates of grad_(mu, log_s) J(G) at theta = (offset, 0)."""
  theta0 = jnp.array([offset, 0.0])

  def cost(theta, z):
    x = theta[0] + jnp.exp(theta[1]) * z
    # Optimal D for the current generator theta0, held fixed: l = log p_data - log p_g.
    logit = _log_normal(x, 0.0, 0.0) - _log_normal(x, theta0[0], theta0[1])
    return COSTS[name](logit)

  z = jax.random.normal(key, (n_batches, batch))
  return np.asarray(jax.jit(jax.vmap(jax.grad(cost), in_axes=(None, 0)))(theta0, z))


def measure(quick: bool = False) -> dict:
  """The three costs and |dJ/dD| on a grid of D(G(z)); gradient statistics per offset."""
  batch = 64
  n_batches = 512 if quick else 20000
  offsets = (1.0, 2.0) if quick else (0.5, 1.0, 1.5, 2.0, 3.0)
  d = jnp.linspace(1e-3, 1 - 1e-3, 999)
  results: dict = {
      "variance": {}, "offsets": list(offsets), "batch": batch, "n_batches": n_batches,
      "d": np.asarray(d),
      "curves": {n: np.asarray(jax.vmap(lambda v, n=n: cost_of_d(n, v))(d)) for n in COSTS},
      "slopes": {n: np.asarray(jax.vmap(jax.grad(lambda v, n=n: cost_of_d(n, v)))(d))
                 for n in COSTS}}
  for i, offset in enumerate(offsets):
    row = {}
    for j, name in enumerate(COSTS):
      g = minibatch_gradients(name, offset, batch, n_batches,
                              jax.random.fold_in(jax.random.key(i), j))
      mean = g.mean(0)
      var = float(np.sum(g.var(0, ddof=1)))
      row[name] = {"mean_grad": mean.tolist(), "total_variance": var,
                   "mean_sq_norm": float(np.sum(mean ** 2)),
                   "relative_variance": var / float(np.sum(mean ** 2))}
    row["kl_half_grad"] = [0.5 * offset, -0.5 * offset ** 2]
    results["variance"][offset] = row
  return results
