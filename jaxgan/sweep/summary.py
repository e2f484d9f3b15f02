"""The comparison of a sweep: mean and standard error over seeds, as tables and a figure.

One row per setting of the non-seed axes; for every final metric, the mean over that
setting's seeds and the standard error of the mean (sample standard deviation over
sqrt(n), n the number of seeds; undefined for one seed). Variants that diverged are
counted in each row and named, with the step, under the table.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Sequence

import numpy as np

from jaxgan.plotting import plt
from jaxgan.sweep.grid import Axis, Variant

SKIP = ("step", "variant", "nonfinite", "frozen", "elapsed_s", "skipped_steps", "diverged_at",
        "eval_n")
# Shown in summary.md and summary.png when present (summary.csv has every metric).
KEY_METRICS = ("modes", "high_quality", "d_real_minus_fake", "d_loss", "g_loss", "d_penalty",
               "fid", "kid", "precision", "recall", "inception_score")


def key_metrics(rows: Sequence[dict]) -> list[str]:
  present = {k[:-5] for k in rows[0] if k.endswith("_mean")}
  return [m for m in KEY_METRICS if m in present] or sorted(present)


def _key(variant: Variant, axes: Sequence[Axis]) -> tuple:
  return tuple(variant.setting[a.field] for a in axes if a.field != "seed")


def summarize(axes: Sequence[Axis], variants: Sequence[Variant], final: dict[int, dict],
              diverged: dict[int, int]) -> list[dict]:
  """Rows: the non-seed axes' values, 'seeds', 'diverged', and '<metric>_mean'/'_se'.

  Args:
    axes: the sweep's axes.
    variants: its variants.
    final: variant index -> its final metrics (numbers).
    diverged: variant index -> the step at which it went non-finite (only those that did).
  """
  groups: dict[tuple, list[Variant]] = {}
  for v in variants:
    groups.setdefault(_key(v, axes), []).append(v)
  metrics = sorted({k for v in variants for k, x in final.get(v.index, {}).items()
                    if k not in SKIP and isinstance(x, (int, float))})
  rows = []
  for key, members in groups.items():
    row = dict(zip([a.field for a in axes if a.field != "seed"], key))
    row["seeds"], row["diverged"] = len(members), sum(v.index in diverged for v in members)
    for m in metrics:
      values = np.asarray([final[v.index][m] for v in members if m in final.get(v.index, {})],
                          np.float64)
      values = values[np.isfinite(values)]
      row[f"{m}_mean"] = float(values.mean()) if len(values) else math.nan
      row[f"{m}_se"] = (float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1
                        else math.nan)
    rows.append(row)
  return rows


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _cell(mean: float, se: float) -> str:
  if not math.isfinite(mean):
    return "n/a"
  return f"{mean:.4g}" if not math.isfinite(se) else f"{mean:.4g} ± {se:.2g}"


def write_markdown(rows: Sequence[dict], variants: Sequence[Variant], diverged: dict[int, int],
                   path: str | os.PathLike, title: str = "Sweep summary") -> str:
  """A markdown table (mean ± standard error over seeds) and the list of diverged variants."""
  axes = [k for k in rows[0] if k not in ("seeds", "diverged") and not k.endswith(("_mean", "_se"))]
  metrics = key_metrics(rows)
  header = [*axes, "seeds", "diverged", *metrics]
  lines = [f"# {title}", "", "Mean ± standard error over seeds of the final metrics "
           "(every metric: summary.csv).", "",
           "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for r in rows:
    cells = [str(r[a]) for a in axes] + [str(r["seeds"]), str(r["diverged"])]
    cells += [_cell(r[f"{m}_mean"], r[f"{m}_se"]) for m in metrics]
    lines.append("| " + " | ".join(cells) + " |")
  if diverged:
    lines += ["", "Diverged (non-finite loss or gradient; frozen at their last finite state):"]
    lines += [f"- variant {v.index} ({v.label()}): at step {diverged[v.index]}"
              for v in variants if v.index in diverged]
  text = "\n".join(lines) + "\n"
  with open(path, "w") as f:
    f.write(text)
  return text


def plot_against_axes(rows: Sequence[dict], numeric_axes: Sequence[Axis], png: str | os.PathLike,
                      metrics: Sequence[str] | None = None) -> bool:
  """Each metric against each numeric axis, with standard-error bars; one line per setting
  of the other axes. Returns False (no file) when the sweep has no numeric axis."""
  if not numeric_axes or not rows:
    return False
  metrics = list(metrics or key_metrics(rows))
  fig, axes = plt.subplots(len(metrics), len(numeric_axes), squeeze=False,
                           figsize=(4.2 * len(numeric_axes), 2.8 * len(metrics)))
  others = lambda axis: [k for k in rows[0] if k not in ("seeds", "diverged", axis.field)
                         and not k.endswith(("_mean", "_se"))]
  for j, axis in enumerate(numeric_axes):
    lines: dict[tuple, list[dict]] = {}
    for r in rows:
      lines.setdefault(tuple(r[k] for k in others(axis)), []).append(r)
    for i, metric in enumerate(metrics):
      ax = axes[i, j]
      for label, members in lines.items():
        members = sorted(members, key=lambda r: r[axis.field])
        x = [r[axis.field] for r in members]
        y = [r[f"{metric}_mean"] for r in members]
        err = [0.0 if not math.isfinite(r[f"{metric}_se"]) else r[f"{metric}_se"] for r in members]
        name = ", ".join(f"{k}={v}" for k, v in zip(others(axis), label)) or None
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
      values = [v for v in axis.values if v > 0]
      if len(values) == len(axis.values) and max(values) / min(values) >= 20:
        ax.set_xscale("log")
      ax.set_xlabel(axis.field)
      ax.set_ylabel(metric)
      ax.grid(alpha=0.3)
      if i == 0 and len(lines) > 1:
        ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(png, dpi=90)
  plt.close(fig)
  return True
