"""KL(p||q) vs KL(q||p), the figure: the fitted q's over p, and both landscapes."""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxgan.data import toy
from jaxgan.experiments import common
from jaxgan.experiments.divergences.measure import log_q


def draw(results: dict, out: pathlib.Path) -> list[str]:
  """``divergences.png``: top, p_data and each start's fitted q; bottom, each divergence
  over (m, s) with the Adam paths (white) and their ends (red)."""
  xs = np.linspace(-6, 6, 1201)
  p = np.exp(np.asarray(toy.mog1d_log_density(jnp.asarray(xs))))
  land = results["landscape"]
  fig, axes = plt.subplots(2, 2, figsize=(11, 8))
  for col, (direction, title) in enumerate((("forward", "q* = argmin KL(p_data || q)"),
                                            ("reverse", "q* = argmin KL(q || p_data)"))):
    ax = axes[0, col]
    ax.plot(xs, p, c="k", lw=2, label="p_data")
    for f, path in zip(results[direction], results["paths"][direction]):
      q = np.exp(np.asarray(log_q(jnp.asarray(xs), jnp.asarray(path[-1]))))
      ax.plot(xs, q, ls="--", label=f"q* from m0={f['init'][0]}: m={f['m']:.2f}, s={f['s']:.2f}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x")
    ax.legend(fontsize=7)
    ax = axes[1, col]
    cs = ax.contourf(land["m"], np.exp(land["log_s"]), np.log10(land[direction] + 1e-3),
                     levels=30, cmap="viridis")
    plt.colorbar(cs, ax=ax, label=f"log10 {'KL(p||q)' if direction == 'forward' else 'KL(q||p)'}")
    for path in results["paths"][direction]:
      ax.plot(path[:, 0], np.exp(path[:, 1]), c="w", lw=1)
      ax.plot(path[-1, 0], np.exp(path[-1, 1]), "r*", ms=10)
    ax.set_yscale("log")
    ax.set_xlabel("m")
    ax.set_ylabel("s")
    ax.set_title("landscape (quadrature) and Adam paths (MC gradients)", fontsize=9)
  return [common.save_figure(fig, out / "divergences.png")]
