"""A run's metrics: JSON lines (``metrics.jsonl``) and TensorBoard event files, and reading them back.

``metrics.jsonl`` is appended to by every (resumed) run of a workdir. A line that is not a
JSON object with a ``step`` (a partial line left by a full disk or a killed process) is
skipped with a warning when reading; writing starts on a fresh line after one.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from absl import logging
from tensorboardX import SummaryWriter


class MetricWriter:
  """Appends ``{'step': s, **scalars}`` rows to ``metrics.jsonl`` and to TensorBoard."""

  def __init__(self, workdir: str | os.PathLike):
    self.workdir = pathlib.Path(workdir)
    path = self.workdir / "metrics.jsonl"
    torn = _ends_without_newline(path)
    self._jsonl = open(path, "a")
    if torn:  # A partial last line: keep it apart from the next row.
      self._jsonl.write("\n")
    self._tb = SummaryWriter(str(self.workdir / "tensorboard"), flush_secs=10)

  def write(self, step: int, scalars: dict[str, float]) -> None:
    self._jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)

  def write_image(self, step: int, name: str, png: str | os.PathLike) -> None:
    """A picture (a PNG the run wrote) to TensorBoard; one that cannot be read is warned
    about, never stops the run."""
    try:
      from PIL import Image
      with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as e:
      logging.warning("%s not sent to TensorBoard: %s", png, e)
      return
    self._tb.add_image(name, pixels, step, dataformats="HWC")

  def write_event(self, step: int, event: dict) -> None:
    """A row of non-scalar facts (e.g. a config change on resume): metrics.jsonl only."""
    self._jsonl.write(json.dumps({"step": step, **event}) + "\n")
    self._jsonl.flush()

  def close(self) -> None:
    self._jsonl.close()
    self._tb.close()


def _ends_without_newline(path: pathlib.Path) -> bool:
  if not path.exists() or path.stat().st_size == 0:
    return False
  with open(path, "rb") as f:
    f.seek(-1, os.SEEK_END)
    return f.read(1) != b"\n"


_warned: set[tuple[str, int, str]] = set()


def read_metrics(path: str | os.PathLike) -> list[dict]:
  """Rows of a metrics.jsonl, one per step in step order.

  Rows of the same step (a resumed run's repeated steps, events) are merged, later values
  winning. Unreadable lines are skipped, each warned about once per process.
  """
  rows: dict[int, dict] = {}
  text = pathlib.Path(path).read_text(errors="replace")
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
      if not isinstance(row, dict) or not isinstance(row.get("step"), int):
        raise ValueError("not an object with an integer 'step'")
    except ValueError as e:
      key = (str(path), number, line)
      if key not in _warned:
        _warned.add(key)
        logging.warning("%s, line %d: skipped, not a metrics row (%s): %.80r", path, number,
                        e, line)
      continue
    rows[row["step"]] = {**rows.get(row["step"], {}), **row}
  return [rows[s] for s in sorted(rows)]
