"""What a rerun on an existing workdir may change, and reading a run's JSON files.

The rule: a resume may change only the fields in ``FREE`` (how long the run trains, how
often it logs, plots and saves, how it is distributed: nothing that changes what a step
computes). Any other difference from the run's ``config.json`` is refused, naming each
field with its saved and new value, unless ``train.allow_config_change=True``: then every
change is warned about (old and new value), recorded in ``metrics.jsonl`` at the resumed
step, and the numbers kept in the train state (learning rates, betas, penalty weight,
...: ``jaxgan.config.HYPERPARAMETERS``) are set to the new values, which would otherwise
be silently restored from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import ml_collections

from jaxgan.config import get_config
from jaxgan.validation import ConfigError

FREE = ("train.steps", "train.log_every", "train.plot_every", "train.checkpoint_every",
        "train.keep_checkpoints", "train.eval_samples", "train.on_nonfinite",
        "train.critic_unroll", "train.allow_config_change", "train.steps_per_call",
        "train.eval_every", "train.eval_reference", "train.eval_mode",
        "train.eval_weights", "train.eval_cache_dir", "data.data_dir", "data.workers",
        "data.prefetch", "distributed.")


def read_json(path: str | pathlib.Path) -> Any:
  """The JSON in ``path``; ConfigError naming the file when it is not JSON."""
  try:
    return json.loads(pathlib.Path(path).read_text())
  except (ValueError, UnicodeDecodeError) as e:
    raise ConfigError(f"{path} is not valid JSON ({e}); restore it from a backup or move "
                      "the run away") from None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
  """{'train.steps': 6, ...} for a nested dict of config values."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


@dataclasses.dataclass(frozen=True)
class Change:
  field: str
  old: Any
  new: Any

  def __str__(self) -> str:
    return f"config.{self.field}: {self.old!r} (saved run) vs {self.new!r} (now)"

  def short(self) -> str:
    return f"config.{self.field} {self.old!r} -> {self.new!r}"


def changes(saved: dict, config: ml_collections.ConfigDict) -> list[Change]:
  """The fields where ``config`` differs from a run's saved config (defaults fill fields
  that the saved one predates)."""
  old = flatten(json.loads(get_config().to_json_best_effort())) | flatten(saved)
  new = flatten(json.loads(config.to_json_best_effort()))
  return [Change(k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys())
          if old.get(k) != new.get(k)]


def is_free(field: str) -> bool:
  return any(field == f or (f.endswith(".") and field.startswith(f)) for f in FREE)


def check_resume(saved: dict, config: ml_collections.ConfigDict, workdir) -> list[Change]:
  """The changes a resume makes that are not free; ConfigError unless they are allowed."""
  changed = [c for c in changes(saved, config) if not is_free(c.field)]
  if changed and not config.train.get("allow_config_change", False):
    raise ConfigError(
        f"the run in {workdir} was trained with another config ("
        + ", ".join(c.short() for c in changed) + "); resume with the saved values, train "
        "into another --workdir, or accept the change with "
        "--config.train.allow_config_change=True (recorded in metrics.jsonl)")
  return changed
