"""Faults injected on purpose, for the reliability tests (a test hook, off by default).

Set the environment variable ``JAXGAN_FAULT`` to a comma-separated list of
``kind@step`` items; the training loop calls ``FaultPlan.apply`` before each step. Steps
are numbered as in metrics and checkpoints: step S is the S-th generator update.

- ``nan@S``: the real batch of step S is all NaN, so its losses go NaN;
- ``sigkill@S`` / ``sigterm@S``: the process sends itself that signal just before
  running step S (so steps up to S-1 have run).
"""

from __future__ import annotations

import dataclasses
import os
import signal

import jax.numpy as jnp

ENV = "JAXGAN_FAULT"
KINDS = ("nan", "sigkill", "sigterm")


@dataclasses.dataclass(frozen=True)
class FaultPlan:
  faults: tuple[tuple[str, int], ...] = ()

  @classmethod
  def from_env(cls) -> "FaultPlan":
    spec = os.environ.get(ENV, "").strip()
    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
      kind, _, step = item.partition("@")
      if kind not in KINDS or not step.isdigit():
        raise ValueError(f"{ENV}={spec!r}: items must look like kind@step with kind in "
                         f"{', '.join(KINDS)}")
      faults.append((kind, int(step)))
    return cls(tuple(faults))

  def apply(self, step: int, batch):
    """Returns the batch to train step ``step`` on, after injecting the planned faults."""
    for kind, at in self.faults:
      if at != step:
        continue
      if kind == "nan":
        if isinstance(batch, dict):
          batch = {**batch, "image": batch["image"] * jnp.nan}
        else:
          batch = batch * jnp.nan
      else:
        os.kill(os.getpid(), signal.SIGKILL if kind == "sigkill" else signal.SIGTERM)
    return batch
