"""Pictures of a toy run: samples over the data, with the discriminator's landscape."""

from __future__ import annotations

import os
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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
    _plot_2d(ax, real, fake, critic)
  else:
    _plot_1d(ax, real[:, 0], fake[:, 0], critic, density)
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _plot_2d(ax, real, fake, critic):
  finite = fake[np.all(np.isfinite(fake), axis=1)]
  lim = 1.25 * float(np.max(np.abs(real if len(real) else finite)))
  if critic is not None:
    grid = np.linspace(-lim, lim, 121)
    xx, yy = np.meshgrid(grid, grid)
    values = np.asarray(critic(np.stack([xx.ravel(), yy.ravel()], -1).astype(np.float32)))
    contour = ax.contourf(xx, yy, values.reshape(xx.shape), levels=30, cmap="viridis",
                          alpha=0.6)
    plt.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="D output")
  ax.scatter(real[:, 0], real[:, 1], s=3, c="tab:orange", alpha=0.5, label="data")
  ax.scatter(finite[:, 0], finite[:, 1], s=3, c="tab:blue", alpha=0.5, label="generated")
  ax.set_xlim(-lim, lim)
  ax.set_ylim(-lim, lim)
  ax.set_aspect("equal")
  ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, markerscale=4)


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
  images = np.asarray(images, np.float64)
  n, h, w, c = images.shape
  cols = -(-n // rows)
  grid = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1, c))  # White 1-pixel gutters.
  for i, img in enumerate(images):
    r, k = divmod(i, cols)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = \
        (np.clip(img, -1, 1) + 1) / 2
  return np.round(grid * 255).astype(np.uint8)


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
