"""The optimal discriminator, the figure: trained D vs D* per case, and error vs steps."""

from __future__ import annotations

import pathlib

import matplotlib.pyplot as plt
import numpy as np

from jaxgan.experiments import common
from jaxgan.experiments.optimal_discriminator.measure import CASES


def draw(results: dict, out: pathlib.Path) -> list[str]:
  xs, mask = results["x"], results["mask"]
  p_data, p_model = results["p_data"], results["p_model"]
  fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
  for ax, (label, _, _) in zip(axes.ravel()[:3], CASES):
    d, theory = results["learned"][label]
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
  for color, (label, hist) in zip(("tab:blue", "tab:green", "tab:purple"),
                                  results["curves"].items()):
    h = np.asarray(hist)
    ax.plot(h[:, 0], h[:, 2], c=color, marker="o", ms=3, label=f"{label} (mean)")
    ax.plot(h[:, 0], h[:, 1], c=color, ls=":", label=f"{label} (max)")
  ax.set_yscale("log")
  ax.set_xlabel("D training step")
  ax.set_ylabel("|D - D*| on the grid")
  ax.set_title("error vs training", fontsize=9)
  ax.legend(fontsize=6)
  return [common.save_figure(fig, out / "optimal_discriminator.png")]
