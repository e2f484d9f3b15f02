"""KL(p||q) vs KL(q||p), the measurement: Adam fits from several starts, exact
scores by quadrature, and the landscapes the figure draws."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.data import toy

INITS = ((-3.0, 0.0), (-0.5, 0.0), (0.5, 0.0), (3.0, 0.0))  # (m, log_s) starting points.
MOMENT_MEAN = 0.0
MOMENT_STD = math.sqrt(0.25 + 4.0)  # Var of the mixture: component var + var of the means.
X = jnp.linspace(-12.0, 12.0, 12001)


def log_q(x, params):
  m, log_s = params[..., 0:1], params[..., 1:2]
  return (-0.5 * jnp.square((x - m) * jnp.exp(-log_s)) - log_s - 0.5 * math.log(2 * math.pi))


@jax.jit
def kl_quadrature(params: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(KL(p || q), KL(q || p)) by the trapezoid rule on X; params (..., 2)."""
  lp = toy.mog1d_log_density(X)
  lq = log_q(X, params)
  forward = jnp.trapezoid(jnp.exp(lp) * (lp - lq), X, axis=-1)
  reverse = jnp.trapezoid(jnp.exp(lq) * (lq - lp), X, axis=-1)
  return forward, reverse


def _mc_loss(direction: str, params, key, n: int):
  if direction == "forward":  # E_p[log p - log q]; only -E_p log q depends on params.
    x = toy.sample("mog1d", key, n)[:, 0]
    return -jnp.mean(log_q(x, params))
  eps = jax.random.normal(key, (n,))
  x = params[0] + jnp.exp(params[1]) * eps  # Reparameterisation.
  return jnp.mean(log_q(x, params) - toy.mog1d_log_density(x))


def fit(direction: str, inits, steps: int, n: int, lr: float, key) -> np.ndarray:
  """Adam on the MC estimate from every start at once (vmapped).

  Returns the (len(inits), steps + 1, 2) parameter trajectories.
  """
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.02))

  def one(params, key):
    def body(carry, k):
      p, s = carry
      g = jax.grad(lambda q: _mc_loss(direction, q, k, n))(p)
      u, s = tx.update(g, s, p)
      p = optax.apply_updates(p, u)
      return (p, s), p
    _, path = jax.lax.scan(body, (params, tx.init(params)), jax.random.split(key, steps))
    return jnp.concatenate([params[None], path])

  p0 = jnp.asarray(inits, jnp.float32)
  return np.asarray(jax.jit(jax.vmap(one))(p0, jax.random.split(key, len(inits))))


def measure(quick: bool = False) -> dict:
  """Fits q both ways from every start; the KLs of the fits and reference points, KL(q||p)'s
  central stationary point, and both landscapes over (m, log s)."""
  steps, n, lr = (300, 256, 0.05) if quick else (3000, 1024, 0.03)
  fits: dict = {"forward": [], "reverse": []}
  for d, direction in enumerate(fits):
    paths = fit(direction, INITS, steps, n, lr, jax.random.key(d))
    for init, path in zip(INITS, paths):
      fwd, rev = kl_quadrature(jnp.asarray(path[-1]))
      fits[direction].append({"init": init, "m": float(path[-1, 0]),
                              "s": float(np.exp(path[-1, 1])), "kl_p_q": float(fwd),
                              "kl_q_p": float(rev), "path": path})
  moment = jnp.array([MOMENT_MEAN, math.log(MOMENT_STD)])
  mode = jnp.array([2.0, math.log(0.5)])
  ref = {name: tuple(float(v) for v in kl_quadrature(p))
         for name, p in (("moment matching (0, 2.062)", moment), ("one mode (2, 0.5)", mode))}
  results = {
      "settings": {"steps": steps, "n": n, "lr": lr},
      "paths": {k: [f.pop("path") for f in v] for k, v in fits.items()},
      "forward": fits["forward"], "reverse": fits["reverse"],
      "theory": {"forward_m": MOMENT_MEAN, "forward_s": MOMENT_STD, "reverse_abs_m": 2.0,
                 "reverse_s": 0.5, "reverse_kl": math.log(2.0)},
      "reference_kl": ref,
  }
  # KL(q || p)'s third stationary point: q centred between the modes, s minimising it.
  log_s = jnp.linspace(-1.5, 1.5, 601)
  centre = jax.jit(jax.vmap(lambda ls: kl_quadrature(jnp.stack([0.0, ls]))[1]))(log_s)
  c_params = jnp.stack([0.0, log_s[jnp.argmin(centre)]])
  hess = np.asarray(jax.jit(jax.hessian(lambda q: kl_quadrature(q)[1]))(c_params))
  results["reverse_central_stationary"] = {
      "m": 0.0, "s": float(jnp.exp(c_params[1])), "kl_q_p": float(jnp.min(centre)),
      "hessian_eigenvalues": np.linalg.eigvalsh(0.5 * (hess + hess.T)).tolist()}
  # The solution of each problem: the fit with the lowest value of its own objective.
  results["forward_best"] = min(results["forward"], key=lambda f: f["kl_p_q"])
  results["reverse_best"] = min(results["reverse"], key=lambda f: f["kl_q_p"])
  # Landscapes over (m, log_s) by quadrature.
  ms = np.linspace(-4, 4, 41 if quick else 81)
  lss = np.linspace(math.log(0.2), math.log(4.0), 31 if quick else 61)
  grid = jnp.asarray(np.stack(np.meshgrid(ms, lss), -1), jnp.float32)
  land_f, land_r = (np.asarray(v) for v in jax.jit(jax.vmap(kl_quadrature))(grid.reshape(-1, 2)))
  results["landscape"] = {"m": ms, "log_s": lss, "forward": land_f.reshape(len(lss), len(ms)),
                          "reverse": land_r.reshape(len(lss), len(ms))}
  return results
