"""What the benchmarks share: timing, and the repository on the import path."""

from __future__ import annotations

import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/, not the root, on the path.
  sys.path.insert(0, str(ROOT))


LAST_WARMUP_S = [0.0]  # Seconds of the last measurement's warmup (compilation included).


def median_ms(run_step, warmup: int, steps: int) -> float:
  """Median wall time of ``run_step()`` in milliseconds, after at least one untimed call.

  ``run_step`` must block until its work is done (``jax.block_until_ready``, or
  ``torch.cuda.synchronize``). The warmup's seconds go to ``LAST_WARMUP_S[0]``.
  """
  t0 = time.perf_counter()
  for _ in range(max(warmup, 1)):  # At least one: the first step compiles.
    run_step()
  LAST_WARMUP_S[0] = time.perf_counter() - t0
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    run_step()
    times.append(time.perf_counter() - t0)
  return 1e3 * statistics.median(times)
