"""The in-loop FID's best checkpoint (jaxgan.best_fid), driven directly with a small pytree."""

import json

import numpy as np

from jaxgan import checkpoint
from jaxgan.best_fid import BestFid


def _state(v: float) -> dict:
  return {"w": np.full((3,), v, np.float32)}


def _kept(tmp_path) -> tuple[list[int], float]:
  manager = checkpoint.make_manager(tmp_path / "best_fid", 1)
  steps = list(manager.all_steps())
  value = float(checkpoint.restore_latest(manager, _state(0.0))["w"][0]) if steps else None
  manager.close()
  return steps, value


def test_only_a_lower_fid_replaces_the_best(tmp_path):
  best = BestFid(tmp_path)
  best.offer(10, 30.0, _state(10))
  best.offer(20, 31.0, _state(20))           # Worse: ignored.
  best.offer(30, float("nan"), _state(30))   # NaN never wins.
  best.offer(40, 25.0, _state(40))           # Better: replaces step 10.
  best.close()
  assert json.loads((tmp_path / "best_fid.json").read_text()) == {"step": 40, "fid": 25.0}
  assert _kept(tmp_path) == ([40], 40.0)


def test_a_resumed_run_compares_with_the_saved_best_and_drops_a_future_one(tmp_path):
  first = BestFid(tmp_path)
  first.offer(50, 20.0, _state(50))
  first.close()
  again = BestFid(tmp_path)                  # Reads best_fid.json: 20 to beat.
  assert again.fid == 20.0
  again.offer(30, 21.0, _state(30))          # Not better than the saved 20.
  assert _kept(tmp_path)[0] == [50]
  again.offer(30, 19.0, _state(30))          # Went back to step 30 and beat it: 50 goes.
  again.close()
  assert _kept(tmp_path) == ([30], 30.0)
  assert json.loads((tmp_path / "best_fid.json").read_text()) == {"step": 30, "fid": 19.0}
