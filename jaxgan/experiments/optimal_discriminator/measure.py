"""The optimal discriminator, the measurement: D trained for each (alpha, beta) case and
compared with D* on a grid."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import losses
from jaxgan.data import toy
from jaxgan.nets.mlp import MLPDiscriminator

MODEL_MEAN, MODEL_STD = 0.0, 1.5
# (label, alpha, beta)
CASES = (("alpha=0, beta=0", 0.0, 0.0),
         ("alpha=0.1 (one-sided)", 0.1, 0.0),
         ("alpha=0.1, beta=0.3", 0.1, 0.3))
GRID = (-5.0, 5.0, 501)
MIN_DENSITY = 1e-3  # Error measured where (p_data + p_model) / 2 >= this.


def log_p_model(x):
  """log N(x; MODEL_MEAN, MODEL_STD^2)."""
  z = (x - MODEL_MEAN) / MODEL_STD
  return -0.5 * z * z - math.log(MODEL_STD) - 0.5 * math.log(2 * math.pi)


def optimal_d(x, alpha: float, beta: float):
  """D*(x) = ((1-alpha) p_data + beta p_model) / (p_data + p_model), computed stably.

  With w = p_data / (p_data + p_model) = sigmoid(log p_data - log p_model):
  D* = (1 - alpha) w + beta (1 - w).
  """
  w = jax.nn.sigmoid(toy.mog1d_log_density(x) - log_p_model(x))
  return (1.0 - alpha) * w + beta * (1.0 - w)


def _trainer(width: int, depth: int, batch: int, lr: float, steps: int, chunk: int):
  """Returns (init, run_chunk, d_on): jitted, with alpha and beta as traced inputs."""
  disc = MLPDiscriminator(width=width, depth=depth)
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))

  def init(key):
    params = disc.init(key, jnp.zeros((1, 1)))["params"]
    return params, tx.init(params)

  def d_on(params, x):
    return jax.nn.sigmoid(disc.apply({"params": params}, x[:, None]))

  def loss_fn(params, real, fake, alpha, beta):
    logits = lambda x: disc.apply({"params": params}, x)
    return losses.discriminator_cross_entropy(logits(real), logits(fake), alpha, beta)

  @jax.jit
  def run_chunk(carry, key, alpha, beta):
    def body(c, k):
      params, opt_state = c
      k_real, k_fake = jax.random.split(k)
      real = toy.sample("mog1d", k_real, batch)
      fake = MODEL_MEAN + MODEL_STD * jax.random.normal(k_fake, (batch, 1))
      grads = jax.grad(loss_fn)(params, real, fake, alpha, beta)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None
    carry, _ = jax.lax.scan(body, carry, jax.random.split(key, chunk))
    return carry

  return init, run_chunk, jax.jit(d_on)


def measure(quick: bool = False) -> dict:
  """Trains D for each (alpha, beta) case; its error to D* over training, D on and off
  the data, and the curves the figure draws."""
  width, depth, batch, steps, n_checks = (64, 3, 512, 600, 6) if quick else (128, 3, 1024, 4000, 16)
  lr = 1e-2 if quick else 3e-3
  chunk = steps // n_checks
  init, run_chunk, d_on = _trainer(width, depth, batch, lr, steps, chunk)
  x = jnp.linspace(*GRID)
  p_data = np.exp(np.asarray(toy.mog1d_log_density(x)))
  p_model = np.exp(np.asarray(log_p_model(x)))
  mask = 0.5 * (p_data + p_model) >= MIN_DENSITY
  on_data = (np.abs(np.abs(np.asarray(x)) - 2.0) <= 0.25)        # Near the data modes.
  off_data = np.abs(np.asarray(x)) <= 0.5                         # p_data ~ 0, p_model large.
  results: dict = {"cases": {}, "curves": {}, "learned": {}, "x": np.asarray(x),
                   "p_data": p_data, "p_model": p_model, "mask": mask,
                   "settings": {"width": width, "depth": depth, "batch": batch, "steps": steps,
                                "lr": lr}}
  for idx, (label, alpha, beta) in enumerate(CASES):
    key = jax.random.key(idx)
    carry = init(jax.random.fold_in(key, 1))
    theory = np.asarray(optimal_d(x, alpha, beta))
    history = []
    for c in range(n_checks + 1):
      if c:
        carry = run_chunk(carry, jax.random.fold_in(key, 100 + c), alpha, beta)
      err = np.abs(np.asarray(d_on(carry[0], x)) - theory)[mask]
      history.append((c * chunk, float(err.max()), float(err.mean())))
    d = np.asarray(d_on(carry[0], x))
    results["curves"][label], results["learned"][label] = history, (d, theory)
    results["cases"][label] = {
        "alpha": alpha, "beta": beta,
        "max_abs_err": history[-1][1], "mean_abs_err": history[-1][2],
        "initial_mean_abs_err": history[0][2],
        "d_on_data": float(d[on_data].mean()), "theory_on_data": float(theory[on_data].mean()),
        "d_off_data": float(d[off_data].mean()), "theory_off_data": float(theory[off_data].mean()),
        "error_history": history,
    }
  base = results["cases"][CASES[0][0]]["d_on_data"]
  for r in results["cases"].values():  # Theory: 1 - alpha + beta p_model / p_data ~ 1 - alpha.
    r["on_data_ratio_to_unsmoothed"] = r["d_on_data"] / base
  return results
