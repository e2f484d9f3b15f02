"""Saving and restoring the train state with orbax's CheckpointManager.

Restoring is defensive: a checkpoint that cannot be read (a crash mid-write, a truncated
or deleted file) is reported in one line and the next older one is tried; a checkpoint
whose arrays do not have the shapes of the state being restored (a run with another
config) is refused, naming the arrays that differ. A training run that resumed past
unreadable checkpoints moves them aside (``set_aside``, into ``<checkpoints>/unreadable/``)
so that their steps can be saved again; nothing is deleted.

The layout of the train state is versioned: ``FORMAT`` is written beside the checkpoints
(``jaxgan_format.json``), and checkpoints of another layout are refused with a message
that says why, rather than as "a different model".
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys
from typing import Sequence

import jax
import orbax.checkpoint as ocp
from absl import logging


# 1: jaxgan 0.1. 2: jaxgan 0.2, the step's numbers in the state (GANState.hparams, the
# optimizers wrapped in optax.inject_hyperparams) and typed PRNG keys.
FORMAT = 2
_FORMAT_FILE = "jaxgan_format.json"
UNREADABLE_DIR = "unreadable"  # Not a step name: orbax's step listing ignores it.


class CheckpointError(RuntimeError):
  """No usable checkpoint, or one made for a different model or state layout."""


def make_manager(directory: str | os.PathLike, keep: int) -> ocp.CheckpointManager:
  """A manager of the checkpoints under ``directory`` that keeps the last ``keep``.

  A new directory is marked with the state layout ``FORMAT``.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
  manager = ocp.CheckpointManager(os.path.abspath(directory), options=options,
                                  item_handlers=ocp.StandardCheckpointHandler())
  marker = pathlib.Path(manager.directory) / _FORMAT_FILE
  if not manager.all_steps() and not marker.exists() and jax.process_index() == 0:
    marker.write_text(json.dumps({"format": FORMAT}))
  return manager


def _check_format(manager: ocp.CheckpointManager) -> None:
  marker = pathlib.Path(manager.directory) / _FORMAT_FILE
  try:
    found = json.loads(marker.read_text())["format"] if marker.exists() else 1
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{marker} is unreadable ({e}); it says which layout the "
                          "checkpoints beside it have") from None
  if found != FORMAT:
    raise CheckpointError(
        f"the checkpoints in {manager.directory} have the train-state layout {found} (written "
        f"by {'jaxgan 0.1' if found == 1 else 'another jaxgan version'}); this version reads "
        f"layout {FORMAT}, which keeps the step's hyperparameters in the state. Finish that "
        "run with the jaxgan version that started it, or train into another --workdir.")


def save(manager: ocp.CheckpointManager, step: int, state) -> bool:
  """Saves ``state`` as the checkpoint of ``step`` (asynchronously; the caller decides when)."""
  return manager.save(step, args=ocp.args.StandardSave(state), force=True)


def _key_name(entry) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  return str(entry)


def _shapes(tree) -> dict[str, tuple]:
  """{'g.params.Dense_0.kernel': shape, ...} for every array leaf of ``tree``."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {".".join(_key_name(k) for k in path): tuple(leaf.shape) for path, leaf in leaves}


def shape_mismatches(saved, expected) -> list[str]:
  """Human-readable differences between two trees of arrays (or array metadata)."""
  a, b = _shapes(saved), _shapes(expected)
  out = [f"{k}: checkpoint {a[k]} vs now {b[k]}" for k in sorted(a.keys() & b.keys())
         if a[k] != b[k]]
  out += [f"{k}: only in the checkpoint" for k in sorted(a.keys() - b.keys())]
  out += [f"{k}: not in the checkpoint" for k in sorted(b.keys() - a.keys())]
  return out


def _one_line(e: BaseException, limit: int = 300) -> str:
  """An exception as one short line: TensorStore's JSON spec left out, the middle elided."""
  text = re.sub(r"\s*\[tensorstore_spec='[^']*'\]", "", str(e))
  text = " ".join(text.split())
  if len(text) > limit:  # The cause is at the end of TensorStore's chain of contexts.
    text = text[:limit // 3] + " ... " + text[-(limit - limit // 3 - 5):]
  return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _quiet_closed_loop_callbacks() -> None:
  """Hides what a failed read leaves behind: TensorStore's late callbacks into the closed
  asyncio loop of orbax's call, each printed as a traceback of 'Event loop is closed'.

  Installed once per process (the callbacks arrive after the call has returned); every
  other unraisable exception still goes to the previous hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, "_jaxgan_quiet", False):
    return

  def hook(unraisable):
    value = unraisable.exc_value
    if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
      return
    previous(unraisable)

  hook._jaxgan_quiet = True
  sys.unraisablehook = hook


def restore_with_fallback(manager: ocp.CheckpointManager, state,
                          step: int | None = None) -> tuple[object, list[int]]:
  """(the newest readable checkpoint shaped like ``state``, the newer steps that were not).

  Returns ``(state, [])`` when there is no checkpoint. With ``step``, only that checkpoint
  is tried. Raises CheckpointError when the checkpoints were made for a different model,
  or when checkpoints exist but none can be read.
  """
  steps = sorted(manager.all_steps(), reverse=True) if step is None else [step]
  if steps:
    _check_format(manager)
    _quiet_closed_loop_callbacks()
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  failures, unreadable = [], []
  for step in steps:
    try:
      metadata = manager.item_metadata(step)
      if metadata is None:
        raise ValueError("no metadata")
    except Exception as e:  # noqa: BLE001 - any failure to read means unusable.
      _unreadable(step, e, failures, unreadable)
      continue
    mismatches = shape_mismatches(metadata, abstract)
    if mismatches:
      shown = "\n  ".join(mismatches[:12])
      more = f"\n  ... and {len(mismatches) - 12} more" if len(mismatches) > 12 else ""
      raise CheckpointError(
          f"the checkpoint of step {step} in {manager.directory} was made for a different "
          f"model; arrays that differ:\n  {shown}{more}")
    try:
      return manager.restore(step, args=ocp.args.StandardRestore(abstract)), unreadable
    except Exception as e:  # noqa: BLE001
      _unreadable(step, e, failures, unreadable)
  if failures:
    raise CheckpointError(
        f"no readable checkpoint in {manager.directory}:\n  " + "\n  ".join(failures) +
        "\nMove that directory away to start afresh.")
  return state, []


def _unreadable(step: int, e: Exception, failures: list[str], unreadable: list[int]) -> None:
  """Records a checkpoint that could not be read; a lack of memory is not its fault."""
  if isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e):
    raise e
  failures.append(f"step {step}: {_one_line(e)}")
  unreadable.append(step)
  logging.warning("Checkpoint of step %d is unreadable (%s); trying an older one.", step,
                  _one_line(e))


def restore_latest(manager: ocp.CheckpointManager, state, step: int | None = None):
  """Returns the newest readable checkpoint shaped like ``state``, or ``state`` if none exist.

  With ``step``, only that checkpoint is tried. Raises CheckpointError when the
  checkpoints were made for a different model, or when checkpoints exist but none can be
  read. Unreadable checkpoints are left where they are (see ``set_aside``).
  """
  return restore_with_fallback(manager, state, step)[0]


def set_aside(manager: ocp.CheckpointManager, steps: Sequence[int]) -> list[pathlib.Path]:
  """Moves the checkpoints of ``steps`` into ``<checkpoints>/unreadable/`` (kept, not deleted).

  A resumed run saves those steps again; orbax refuses to save a step whose directory
  exists. Returns the new paths; the manager's step list is reloaded.
  """
  root = pathlib.Path(manager.directory)
  moved = []
  if jax.process_index() == 0:
    for step in steps:
      source = root / str(step)
      if not source.exists():
        continue
      target, n = root / UNREADABLE_DIR / str(step), 1
      while target.exists():
        target, n = root / UNREADABLE_DIR / f"{step}.{n}", n + 1
      target.parent.mkdir(exist_ok=True)
      source.rename(target)
      moved.append(target)
      logging.warning("Moved the unreadable checkpoint of step %d to %s; that step will be "
                      "trained and saved again.", step, target)
  if jax.process_count() > 1:  # Every host sees the moves before listing the steps again.
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices("jaxgan.checkpoint.set_aside")
  manager.reload()
  return moved
