"""Saving and restoring the train state with orbax's CheckpointManager."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def make_manager(directory: str | os.PathLike, keep: int) -> ocp.CheckpointManager:
  """A manager of the checkpoints under ``directory`` that keeps the last ``keep``."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def save(manager: ocp.CheckpointManager, step: int, state) -> bool:
  """Saves ``state`` as the checkpoint of ``step`` (asynchronously; the caller decides when)."""
  return manager.save(step, args=ocp.args.StandardSave(state), force=True)


def restore_latest(manager: ocp.CheckpointManager, state):
  """Returns the latest saved state shaped like ``state``, or ``state`` if none exists."""
  step = manager.latest_step()
  if step is None:
    return state
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))
