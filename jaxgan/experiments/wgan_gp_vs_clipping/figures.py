"""WGAN clipping vs WGAN-GP, the figures: toy critics, depth gradients and weights."""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxgan import plotting
from jaxgan.experiments import common


def _critics(results: dict, out: pathlib.Path) -> str:
  """``critics.png``: critic contours with real (orange) and generated (blue) points."""
  datasets, methods = results["datasets"], results["toy_methods"]
  fig, axes = plt.subplots(len(datasets), len(methods),
                           figsize=(3.6 * len(methods), 3.6 * len(datasets)), squeeze=False)
  for i, name in enumerate(datasets):
    lim = 1.3 * float(np.max(np.abs(np.asarray(results["pools"][name][:5000]))))
    for j, method in enumerate(methods):
      state, ev, _ = results["toy_arrays"][(name, method.label)]
      r = results["toy"][f"{name}/{method.label}"]
      extra = f", {r['modes']} modes" if "modes" in r else ""
      plotting.plot_critic_and_samples(
          axes[i, j], lambda x, s=state: s.d(jnp.asarray(x)), ev["real"][:500],
          ev["fake"][:500], lim, f"{name}: {method.label}\n|grad| "
          f"{r['input_grad_norm_mean']:.2f}, W~{r['w_estimate']:.3f}{extra}")
  return common.save_figure(fig, out / "critics.png")


def _depth(results: dict, out: pathlib.Path) -> str:
  """``depth_gradients_and_weights.png``: per-layer norms (trained, piled) and weights."""
  s = results["settings"]
  fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
  for label, r in results["depth"].items():
    axes[0].plot(np.arange(len(r["layer_norms"])), r["layer_norms"], marker="o", ms=3,
                 label=f"{label} (spread {r['layer_spread_decades']:.1f} decades)")
  axes[0].set_xlabel("Dense layer k (0 = critic input x, larger = nearer the output)")
  axes[0].set_ylabel("RMS_x ||d f(x) / d h_k||")
  axes[0].set_title(f"{s['deep_layers']}-layer ReLU critic, width {s['depth_width']}, "
                    f"Swiss Roll, {s['depth_steps']} G steps", fontsize=9)
  for label, r in results["clipped_init"].items():
    axes[1].plot(np.arange(len(r["layer_norms"])), r["layer_norms"], marker="o", ms=3,
                 ls="-" if r["width"] == 512 else "--", label=label)
  axes[1].set_xlabel("Dense layer k")
  axes[1].set_title(f"untrained {s['deep_layers']}-layer critics, every weight at +-c",
                    fontsize=9)
  for method in results["depth_methods"]:
    w = results["depth_arrays"][method.label]
    scale = method.clip if method.clip else np.abs(w).max()
    axes[2].hist(w / scale, bins=101, range=(-1.05, 1.05), histtype="step", density=True,
                 label=f"{method.label} (w / {'c' if method.clip else 'max|w|'})")
  axes[2].set_xlabel("critic kernel weight, scaled")
  axes[2].set_title("weight histograms of the trained deep critics", fontsize=9)
  for ax in axes:
    ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
  return common.save_figure(fig, out / "depth_gradients_and_weights.png")


def _toy_weights(results: dict, out: pathlib.Path) -> str:
  """``toy_weights.png``: the Swiss Roll critics' kernel weights, per method."""
  methods = results["toy_methods"]
  fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.4))
  for ax, method in zip(axes, methods):
    _, _, w = results["toy_arrays"][("swissroll", method.label)]
    ax.hist(w, bins=101, color="tab:blue" if method.clip else "tab:green")
    ax.set_yscale("log")
    ax.set_title(f"swissroll, {method.label}: critic kernels", fontsize=9)
    ax.set_xlabel("weight")
  return common.save_figure(fig, out / "toy_weights.png")


def draw(results: dict, out: pathlib.Path) -> list[str]:
  if not results["toy_methods"]:  # Quick runs skip the toy sets.
    return [_depth(results, out)]
  return [_critics(results, out), _depth(results, out), _toy_weights(results, out)]
