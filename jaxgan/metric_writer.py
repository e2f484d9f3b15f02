"""A run's metrics: JSON lines (``metrics.jsonl``) and TensorBoard event files, and reading them back."""

from __future__ import annotations

import json
import os
import pathlib

from tensorboardX import SummaryWriter


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
