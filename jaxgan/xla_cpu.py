"""XLA:CPU compiler options for jaxgan's convolution-heavy compiled functions.

Recent XLA:CPU hands convolutions to the YNNPACK library ("YNN fusions"). For the
Inception-v3 forward that made the stem's 3x3 convolutions at 147x147 and 71x71 about
half of the time (2-core CPU, jax 0.10.2: 10.7 images/s; with the convolutions left to
XLA's own Eigen path, 20.2 images/s; PyTorch, pytorch-fid's model: 14.6), and the
DCGAN-64 training step (batch 128) took 3.0 s instead of 1.9 s
(bench/results/cpu-2core-2026-12-05-gaps.md). ``CONVOLUTIONS_OFF_YNN`` keeps YNNPACK
for matrix products and reductions only. It is passed per function (``jax.jit(...,
compiler_options=options())``: the Inception forward, the training and sweep steps), so
nothing else in the process changes; pass it to your own ``jax.jit`` of
``make_train_step`` likewise. Other backends ignore XLA:CPU's options.

An XLA that does not know the option (older than the YNN fusions, which did not have the
slowdown either) rejects it; ``options()`` then returns None and says so in the log.
"""

from __future__ import annotations

import functools
import logging

import jax
import jax.numpy as jnp

CONVOLUTIONS_OFF_YNN = {
    "xla_cpu_experimental_ynn_fusion_type":
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE",
}


@functools.cache
def options() -> dict | None:
  """``CONVOLUTIONS_OFF_YNN`` if this XLA accepts it, else None (XLA's defaults)."""
  try:
    jax.jit(lambda x: x + 1, compiler_options=CONVOLUTIONS_OFF_YNN).lower(
        jnp.zeros((), jnp.float32)).compile()
  except Exception as e:  # noqa: BLE001 - XLA raises its own runtime error types.
    logging.getLogger(__name__).info(
        "XLA:CPU convolution options not accepted by this jax (%s); using XLA's defaults",
        str(e).splitlines()[0][:200])
    return None
  return dict(CONVOLUTIONS_OFF_YNN)
