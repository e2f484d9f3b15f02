"""Metrics to JSON lines and TensorBoard event files, and a plot of the loss curves."""

from __future__ import annotations

import json
import os
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboardX import SummaryWriter  # noqa: E402

CURVES = (("d_loss", "g_loss"), ("d_penalty", "d_real_minus_fake"),
          ("d_grad_norm", "g_grad_norm"), ("modes", "high_quality"))


class MetricWriter:
  """Appends ``{'step': s, **scalars}`` rows to ``metrics.jsonl`` and to TensorBoard."""

  def __init__(self, workdir: str | os.PathLike):
    self.workdir = pathlib.Path(workdir)
    self._jsonl = open(self.workdir / "metrics.jsonl", "a")
    self._tb = SummaryWriter(str(self.workdir / "tensorboard"), flush_secs=10)

  def write(self, step: int, scalars: dict[str, float]) -> None:
    self._jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)

  def close(self) -> None:
    self._jsonl.close()
    self._tb.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
  """Rows of a metrics.jsonl; a resumed run's repeated steps keep their latest row."""
  rows: dict[int, dict] = {}
  for line in pathlib.Path(path).read_text().splitlines():
    if line.strip():
      row = json.loads(line)
      rows[row["step"]] = row
  return [rows[s] for s in sorted(rows)]


def plot_curves(metrics_path: str | os.PathLike, png: str | os.PathLike) -> None:
  """Writes a PNG with one panel per pair of CURVES found in the metrics."""
  rows = read_metrics(metrics_path)
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
