"""Pictures: toy samples over the discriminator's landscape, image grids, loss curves.

The one module that sets matplotlib's backend (Agg: files, no screen).
"""

from __future__ import annotations

import math
import os
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan.data.images import to_uint8  # noqa: E402
from jaxgan.metric_writer import read_metrics  # noqa: E402

CURVES = (("d_loss", "g_loss"), ("d_penalty", "d_real_minus_fake"),
          ("d_grad_norm", "g_grad_norm"), ("modes", "high_quality"))


def plot_toy(path: str | os.PathLike, real, fake, critic: Callable | None = None,
             density: Callable | None = None, title: str = "") -> None:
  """Writes a PNG of generated vs real samples.

  2-D data: a scatter plot over the contours of ``critic`` (a function of an (N, 2)
  array returning (N,) values), when given. 1-D data: histograms, with the true
  density ``density`` and ``critic`` (e.g. D(x)) as curves, when given.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  fig, ax = plt.subplots(figsize=(6, 6) if real.shape[-1] == 2 else (8, 4.5))
  if real.shape[-1] == 2:
    plot_critic_and_samples(ax, critic, real, fake, legend=True)
  else:
    _plot_1d(ax, real[:, 0], fake[:, 0], critic, density)
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_critic_and_samples(ax, critic: Callable | None, real, fake, lim: float | None = None,
                            title: str = "", legend: bool = False) -> None:
  """2-D samples, data (orange) and generated (blue), over the contours of ``critic``.

  Args:
    ax: the matplotlib axes.
    critic: a function of an (N, 2) float32 array returning (N,) values, or None.
    real, fake: (N, 2) points; non-finite generated points are left out.
    lim: the square [-lim, lim]^2 shown (default: 1.25 x the largest |coordinate| of the
      data). A colour bar and a legend are drawn when ``legend``.
    title: the axes' title.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  finite = fake[np.all(np.isfinite(fake), axis=1)]
  if lim is None:
    lim = 1.25 * float(np.max(np.abs(real if len(real) else finite)))
  if critic is not None:
    grid = np.linspace(-lim, lim, 121)
    xx, yy = np.meshgrid(grid, grid)
    values = np.asarray(critic(np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)))
    contour = ax.contourf(xx, yy, values.reshape(xx.shape), levels=30, cmap="viridis",
                          alpha=0.6)
    if legend:
      plt.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="D output")
  size = 3 if legend else 2
  ax.scatter(real[:, 0], real[:, 1], s=size, c="tab:orange", alpha=0.5, label="data")
  ax.scatter(finite[:, 0], finite[:, 1], s=size, c="tab:blue", alpha=0.5, label="generated")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect("equal")
  if legend:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, markerscale=4)
  else:
    ax.set_xticks([])
    ax.set_yticks([])
  if title:
    ax.set_title(title, fontsize=9)


def _plot_1d(ax, real, fake, critic, density):
  lo, hi = np.percentile(real, 0.5) - 1.0, np.percentile(real, 99.5) + 1.0
  bins = np.linspace(lo, hi, 81)
  ax.hist(real, bins, density=True, alpha=0.4, color="tab:orange", label="data")
  ax.hist(np.clip(fake, lo, hi), bins, density=True, alpha=0.4, color="tab:blue",
          label="generated")
  x = np.linspace(lo, hi, 400, dtype=np.float32)
  if density is not None:
    ax.plot(x, np.asarray(density(x)), c="tab:red", label="p_data")
  if critic is not None:
    ax.plot(x, np.asarray(critic(x[:, None])), c="k", label="D output")
  ax.legend(loc="upper right")


def image_grid(images, rows: int) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1] into one uint8 picture with ``rows`` rows."""
  images = to_uint8(np.asarray(images, np.float64))
  n, h, w, c = images.shape
  cols = -(-n // rows)
  grid = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1, c), 255, np.uint8)  # White gutters.
  for i, img in enumerate(images):
    r, k = divmod(i, cols)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = img
  return grid


def save_image_grid(path: str | os.PathLike, images, rows: int, title: str = "",
                    row_labels=None) -> None:
  """Writes a PNG of a grid of images, optionally with a label left of each row."""
  grid = image_grid(images, rows)
  scale = max(1.0, 256 / grid.shape[0])
  fig = plt.figure(figsize=(grid.shape[1] * scale / 80 + 0.6, grid.shape[0] * scale / 80 + 0.5))
  ax = fig.add_axes((0.06 if row_labels is not None else 0.0, 0.0,
                     0.94 if row_labels is not None else 1.0, 0.93))
  ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray",
            interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])
  if row_labels is not None:
    h = (grid.shape[0] - 1) / rows
    ax.set_yticks([h * (i + 0.5) for i in range(rows)], [str(r) for r in row_labels])
  fig.suptitle(title, fontsize=9)
  fig.savefig(path, dpi=80)
  plt.close(fig)


def save_bars(path: str | os.PathLike, categories, series: dict, title: str = "",
              ylabel: str = "", reference: float | None = None) -> None:
  """Writes a PNG of grouped bars: one group per category, one bar per series (label ->
  values, one per category); ``reference`` draws a dashed horizontal line."""
  fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(categories) * max(1, len(series)) / 2
                                      + 2), 3.2))
  width = 0.8 / max(1, len(series))
  x = np.arange(len(categories))
  for i, (label, values) in enumerate(series.items()):
    ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
  if reference is not None:
    ax.axhline(reference, color="k", linestyle="--", linewidth=0.8)
  ax.set_xticks(x, [str(c) for c in categories])
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7, ncol=min(3, len(series)))
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_curves(metrics_path: str | os.PathLike, png: str | os.PathLike) -> None:
  """Writes a PNG with one panel per pair of CURVES found in a run's metrics.jsonl."""
  rows = read_metrics(metrics_path)  # Skips (and warns about) unreadable lines.
  number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
  rows = [{k: v for k, v in r.items() if number(v)} for r in rows]
  panels = [pair for pair in CURVES if any(k in r for r in rows for k in pair)]
  if not rows or not panels:
    return
  fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True,
                           squeeze=False)
  for ax, pair in zip(axes[:, 0], panels):
    for key in pair:
      points = [(r["step"], r[key]) for r in rows if key in r]
      if points:
        ax.plot(*zip(*points), label=key, marker="." if len(points) < 30 else None)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
  axes[-1, 0].set_xlabel("generator step")
  fig.tight_layout()
  fig.savefig(png, dpi=90)
  plt.close(fig)


def _panel_grid(n: int, size: float):
  cols = math.ceil(math.sqrt(n))
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
  for ax in axes.ravel()[n:]:
    ax.axis("off")
  return fig, axes.ravel()[:n]


def save_toy_panels(path: str | os.PathLike, real, fakes, critics, titles) -> None:
  """One panel per run (e.g. per sweep variant): its samples over its critic's contours."""
  lim = 1.25 * float(np.max(np.abs(np.asarray(real))))
  fig, axes = _panel_grid(len(fakes), 3.2)
  for ax, fake, critic, title in zip(axes, fakes, critics, titles):
    plot_critic_and_samples(ax, critic, np.asarray(real)[:500], fake[:1000], lim, title)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def save_panels(path: str | os.PathLike, grids, titles) -> None:
  """One panel per run: uint8 pictures (e.g. ``image_grid`` outputs) with titles."""
  fig, axes = _panel_grid(len(grids), 2.6)
  for ax, grid, title in zip(axes, grids, titles):
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray",
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)
