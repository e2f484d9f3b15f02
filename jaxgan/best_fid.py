"""The in-loop FID's best checkpoint: the state of the lowest FID so far, kept apart from
the rolling checkpoints so that it outlives them, and its record, which a resumed run
reads so as to go on comparing with it."""

from __future__ import annotations

import json
import math
import pathlib

from jaxgan import checkpoint, resume
from jaxgan.train_state import GANState


class BestFid:
  """The checkpoint of the lowest in-loop FID so far, in ``best_fid/`` (one kept), and
  ``best_fid.json`` ({'step', 'fid'}), which a resumed run reads to go on comparing."""

  def __init__(self, workdir: pathlib.Path):
    self.record = workdir / "best_fid.json"
    self.manager = checkpoint.make_manager(workdir / "best_fid", 1)
    self.fid = math.inf
    if self.record.exists():
      saved = resume.read_json(self.record)
      if isinstance(saved, dict) and isinstance(saved.get("fid"), (int, float)):
        self.fid = float(saved["fid"])

  def offer(self, step: int, fid: float, state: GANState) -> None:
    if not fid < self.fid:  # NaN never wins.
      return
    self.manager.wait_until_finished()
    for old in self.manager.all_steps():
      if old >= step:  # A resumed run that went back: the old best is in the future.
        self.manager.delete(old)
    checkpoint.save(self.manager, step, state)
    self.manager.wait_until_finished()
    self.fid = fid
    tmp = self.record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"step": step, "fid": fid}))
    tmp.replace(self.record)

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
