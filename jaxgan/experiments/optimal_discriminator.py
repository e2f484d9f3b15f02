"""The optimal discriminator and label smoothing (GAN tutorial sec. 3.2.1 and 4.2).

For fixed densities, the discriminator minimising J(D) (``losses.discriminator_cross_entropy``)
is, pointwise (Goodfellow 2016, eq. 10; with smoothing, sec. 4.2):

    D*(x) = ((1 - alpha) p_data(x) + beta p_model(x)) / (p_data(x) + p_model(x)),

which for alpha = beta = 0 is p_data / (p_data + p_model). One-sided smoothing (real
target 1 - alpha) caps D at 1 - alpha on the data; a fake target beta > 0 makes D equal
beta where p_data is ~0 but p_model is large, which is the spurious reward the tutorial
warns about.

Setup: p_data is the library's 'mog1d' mixture (0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2));
p_model is a fixed Gaussian N(0, 1.5^2) (no generator is trained). D is the library's
MLP discriminator on 1-D inputs, trained with Adam on fresh samples of both
densities at every step, and compared with D* on a grid.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from jaxgan import losses
from jaxgan.data import toy
from jaxgan.experiments import common
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


def run(out_dir, quick: bool = False) -> dict:
  """Trains D for each (alpha, beta) case; writes report.md and two PNGs."""
  timer = common.Timer()
  out = common.out_path(out_dir)
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

  results: dict = {"cases": {}}
  curves, learned = {}, {}
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
    curves[label], learned[label] = history, (d, theory)
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

  fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
  xs = np.asarray(x)
  for ax, (label, _, _) in zip(axes.ravel()[:3], CASES):
    d, theory = learned[label]
    ax.fill_between(xs, 0, p_data / p_data.max(), color="tab:orange", alpha=0.25,
                    label="p_data (scaled)")
    ax.fill_between(xs, 0, p_model / p_data.max(), color="tab:blue", alpha=0.2,
                    label="p_model (same scale)")
    ax.plot(xs, theory, "k--", lw=2, label="theory D*(x)")
    ax.plot(xs, d, c="tab:red", lw=1.5, label="trained D(x)")
    ax.axvspan(xs[0], xs[mask][0], color="0.85")
    ax.axvspan(xs[mask][-1], xs[-1], color="0.85")
    r = results["cases"][label]
    ax.set_title(f"{label}: max|err| {r['max_abs_err']:.3f}, mean {r['mean_abs_err']:.4f}",
                 fontsize=9)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("x")
  axes[0, 0].legend(fontsize=7, loc="center left")
  ax = axes[1, 1]
  for color, (label, hist) in zip(("tab:blue", "tab:green", "tab:purple"), curves.items()):
    h = np.asarray(hist)
    ax.plot(h[:, 0], h[:, 2], c=color, marker="o", ms=3, label=f"{label} (mean)")
    ax.plot(h[:, 0], h[:, 1], c=color, ls=":", label=f"{label} (max)")
  ax.set_yscale("log")
  ax.set_xlabel("D training step")
  ax.set_ylabel("|D - D*| on the grid")
  ax.set_title("error vs training", fontsize=9)
  ax.legend(fontsize=6)
  fig_d = common.save_figure(fig, out / "optimal_discriminator.png")

  rows = [(label, r["alpha"], r["beta"], r["max_abs_err"], r["mean_abs_err"],
           r["initial_mean_abs_err"], r["d_on_data"], r["theory_on_data"],
           r["on_data_ratio_to_unsmoothed"], r["d_off_data"], r["theory_off_data"])
          for label, r in results["cases"].items()]
  lo, hi = xs[mask][0], xs[mask][-1]
  sections = [
      "Claim (Goodfellow 2016, NIPS tutorial, eq. 10 and sec. 4.2): the discriminator that "
      "minimises J(D) is D*(x) = ((1-alpha) p_data + beta p_model)/(p_data + p_model); "
      "one-sided smoothing (alpha) lowers D to 1-alpha on the data, a fake target beta > 0 "
      "makes D ~ beta where p_data ~ 0 but p_model is large.",
      "## Setup\n"
      f"- p_data: 'mog1d' = 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2); p_model: fixed N({MODEL_MEAN}, "
      f"{MODEL_STD}^2).\n"
      f"- D: `MLPDiscriminator(width={width}, depth={depth})` (ReLU), cost "
      "`losses.discriminator_cross_entropy(real, fake, alpha, beta)`, Adam lr "
      f"{lr} with cosine decay, {steps} steps, {batch} fresh samples of each density per step.\n"
      f"- Error |D - D*| on {GRID[2]} grid points in [{GRID[0]}, {GRID[1]}], restricted to "
      f"(p_data+p_model)/2 >= {MIN_DENSITY} (x in [{lo:.2f}, {hi:.2f}]; outside, both "
      "densities are negligible and D is unconstrained; grey in the figure).\n"
      "- 'on data': mean over |x| within 0.25 of +-2; 'off data': mean over |x| <= 0.5, where "
      "p_data/p_model < 1e-2. p_model overlaps the data modes, so D* there is ~0.78, not 1; "
      "one-sided smoothing multiplies it by 1 - alpha (the ratio column).",
      "## Results\n" + common.md_table(
          ["case", "alpha", "beta", "max abs err", "mean abs err", "mean err at init",
           "D on data", "D* on data", "D on data / D on data (alpha=0)", "D off data",
           "D* off data"], rows),
      f"![D vs theory]({fig_d})\n\nTop and bottom left: trained D(x) (red) vs D*(x) (dashed) "
      "with both densities. Bottom right: error vs D training steps.",
  ]
  return common.write_report(out, "Optimal discriminator and label smoothing", sections,
                             results, [fig_d], timer(), quick)
