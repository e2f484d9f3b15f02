"""The three generator costs as functions of D(G(z)), and the variance of their gradients.

GAN tutorial (Goodfellow 2016), sec. 3.2.3 and fig. 16: with D = D(G(z)) = sigmoid(l),

    minimax             J = 1/2 E log(1 - D)          (eq. 9, only its G-dependent half)
    non-saturating      J = -1/2 E log D               (eq. 13)
    maximum likelihood  J = -1/2 E exp(sigmoid^-1(D))  (eq. 15)

The minimax cost is flat where D(G(z)) ~ 0, i.e. at the start of training when D
rejects the samples (saturation); the non-saturating cost is steep there. The
maximum-likelihood cost is flat on the left too and its gradient comes from the few
samples with D close to 1: "the variance of the estimate of its gradient is very high"
(fig. 16 caption). The costs are evaluated with the library's functions
(``losses.generator_minimax`` etc.) and differentiated with ``jax.grad``.

Variance measurement: data N(0, 1); generator x = mu + exp(log_s) z, z ~ N(0, 1), with
parameters theta = (mu, log_s) at (offset, 0); D fixed at the exact optimum for that
generator, logit l(x) = log p_data(x) - log p_g(x) (held constant while differentiating
with respect to theta, as in an alternating update). For each cost, the gradient with
respect to theta is estimated on K independent minibatches of B samples; reported are
tr Cov(g) (the total variance), |E g|^2 and their ratio (relative variance, which
removes the costs' different scales). A check of the library's maximum-likelihood cost:
its expected gradient equals 1/2 grad KL(p_data || p_g) (Goodfellow 2014, "On
distinguishability criteria"), which for these Gaussians is 1/2 (mu, -mu^2) at log_s = 0.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxgan import losses
from jaxgan.experiments import common

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


def run(out_dir, quick: bool = False) -> dict:
  """Plots the costs and their derivatives; measures gradient variances. Writes report.md."""
  timer = common.Timer()
  out = common.out_path(out_dir)
  batch = 64
  n_batches = 512 if quick else 20000
  offsets = (1.0, 2.0) if quick else (0.5, 1.0, 1.5, 2.0, 3.0)

  d = jnp.linspace(1e-3, 1 - 1e-3, 999)
  curves = {n: np.asarray(jax.vmap(lambda v, n=n: cost_of_d(n, v))(d)) for n in COSTS}
  slopes = {n: np.asarray(jax.vmap(jax.grad(lambda v, n=n: cost_of_d(n, v)))(d)) for n in COSTS}

  results: dict = {"variance": {}, "offsets": list(offsets)}
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

  fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
  dn = np.asarray(d)
  for n in COSTS:
    axes[0].plot(dn, curves[n], c=COLORS[n], label=n)
    axes[1].plot(dn, np.abs(slopes[n]), c=COLORS[n], label=n)
  axes[0].set_ylim(-20, 5)
  axes[0].set_xlabel("D(G(z))")
  axes[0].set_ylabel("J(G)")
  axes[0].set_title("generator costs (tutorial fig. 16)", fontsize=9)
  axes[0].legend(fontsize=8)
  axes[1].set_yscale("log")
  axes[1].set_xlabel("D(G(z))")
  axes[1].set_ylabel("|dJ(G) / dD(G(z))|  (jax.grad)")
  axes[1].set_title("derivatives with respect to D(G(z))", fontsize=9)
  for n in COSTS:
    rel = [results["variance"][o][n]["relative_variance"] for o in offsets]
    axes[2].plot(offsets, rel, c=COLORS[n], marker="o", label=n)
  axes[2].set_yscale("log")
  axes[2].set_xlabel("generator mean offset from the data mean")
  axes[2].set_ylabel("tr Cov(g) / |E g|^2")
  axes[2].set_title(f"relative variance of minibatch gradients (B={batch})", fontsize=9)
  axes[2].legend(fontsize=8)
  fig_name = common.save_figure(fig, out / "generator_costs.png")

  rows = []
  for o in offsets:
    r = results["variance"][o]
    for n in COSTS:
      v = r[n]
      rows.append((o, n, v["total_variance"], v["mean_sq_norm"], v["relative_variance"],
                   f"({v['mean_grad'][0]:.4f}, {v['mean_grad'][1]:.4f})"))
    rows.append((o, "1/2 grad KL(p_data||p_g) (exact)", "", "", "",
                 f"({r['kl_half_grad'][0]:.4f}, {r['kl_half_grad'][1]:.4f})"))
  d_small = float(dn[np.argmin(np.abs(dn - 0.01))])
  slope_rows = [(n, float(np.abs(slopes[n])[np.argmin(np.abs(dn - 0.01))]),
                 float(np.abs(slopes[n])[np.argmin(np.abs(dn - 0.5))]),
                 float(np.abs(slopes[n])[np.argmin(np.abs(dn - 0.99))])) for n in COSTS]
  sections = [
      "Claims (Goodfellow 2016, sec. 3.2.3, fig. 16): the minimax cost saturates where "
      "D(G(z)) is small, the non-saturating cost does not; the maximum-likelihood cost's "
      "gradient comes from the samples with D(G(z)) near 1, so the variance of its "
      "estimate is very high.",
      "## Costs and derivatives\nThe three curves are the library's `generator_minimax`, "
      "`generator_non_saturating` and `generator_maximum_likelihood` evaluated at logit = "
      "sigmoid^-1(D) (with their 1/2 factors); the derivatives are `jax.grad` of the same.\n\n"
      + common.md_table(["cost", f"|dJ/dD| at D={d_small:.2f}", "at D=0.5", "at D=0.99"],
                        slope_rows),
      "## Gradient variance\n"
      f"Data N(0, 1); generator N(offset, 1) parameterised by (mu, log_s); D = exact optimal "
      f"discriminator for that generator, held fixed. Gradients w.r.t. (mu, log_s) of each "
      f"cost on {n_batches} independent minibatches of {batch} samples.\n\n"
      + common.md_table(["offset", "cost", "tr Cov(g)", "|E g|^2", "relative variance",
                         "E g (mu, log_s)"], rows)
      + "\n\nThe maximum-likelihood row's mean gradient should equal the exact "
      "1/2 grad KL(p_data || p_g) row (a check of the library's cost).",
      f"![costs]({fig_name})\n\nLeft: J(G) vs D(G(z)). Middle: |dJ/dD| (log scale). Right: "
      "relative variance of the minibatch gradient vs the generator's offset.",
  ]
  return common.write_report(out, "Generator costs and the variance of their gradients",
                             sections, results, [fig_name], timer(), quick)
