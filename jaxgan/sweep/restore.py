"""Reading a sweep's workdir back: one variant as the train state of a single run."""

from __future__ import annotations

import json
import pathlib

import jax
import ml_collections

from jaxgan import checkpoint
from jaxgan.sweep import program
from jaxgan.sweep.grid import Axis, SweepError, make_grid
from jaxgan.train_state import GANState


def is_sweep(workdir: str | pathlib.Path) -> bool:
  return (pathlib.Path(workdir) / "sweep.json").exists()


def _read_json(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except FileNotFoundError:
    raise SweepError(f"{path} is missing: is {path.parent} a jaxgan sweep?") from None
  except ValueError as e:
    raise SweepError(f"{path} is not valid JSON ({e})") from None


def restore_variant(workdir: str | pathlib.Path, index: int, step: int | None = None
                    ) -> tuple[ml_collections.ConfigDict, GANState, tuple, int]:
  """(config, train state, data shape, classes) of variant ``index`` of a sweep's checkpoint.

  Raises:
    SweepError: no such variant, or its group has not been trained yet.
  """
  path = pathlib.Path(workdir)
  description = _read_json(path / "sweep.json")
  base = ml_collections.ConfigDict(_read_json(path / "config.json"))
  count = len(description["variants"])
  if not 0 <= index < count:
    raise SweepError(f"{path} is a sweep of {count} variants: --variant must be 0..{count - 1}, "
                     f"got {index}")
  grid = make_grid(base, [Axis(a["field"], tuple(a["values"])) for a in description["axes"]])
  g = description["variants"][index]["group"]
  group = grid.groups[g]
  data = _read_json(path / "data.json").get(str(g))
  if data is None:
    raise SweepError(f"variant {index}'s group {g} has not started training in {path}")
  shape, classes = tuple(data["shape"]), data["num_classes"]
  init, args = program.initializer(group, shape, classes)
  sweep = jax.jit(init)(*args)
  manager = checkpoint.make_manager(path / "checkpoints" / f"group_{g}", 1)
  try:
    if step is not None and step not in manager.all_steps():
      raise SweepError(f"no checkpoint of step {step} for group {g}; have {manager.all_steps()}")
    sweep = checkpoint.restore_latest(manager, sweep, step=step)
  finally:
    manager.close()
  if int(sweep.step) == 0:
    raise SweepError(f"no checkpoint of group {g} in {path / 'checkpoints'}")
  position = [v.index for v in group].index(index)
  return group[position].config, program.variant_state(sweep, position), shape, classes
