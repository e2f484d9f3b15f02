"""The grid of a sweep: axes parsed from ``field=values``, their product, and its groups.

An axis names a config field and its values:

- ``seed=0:16`` (a range, ``start:stop[:step]``, for the seed only) or ``seed=0,3,7``;
- a numeric hyperparameter (a key of ``jaxgan.config.HYPERPARAMETERS``, e.g.
  ``penalty.weight=0.1,1,10``): these are arrays in the train state, so every value of
  them trains in one compiled program;
- any other field, e.g. ``loss.game=wasserstein,hinge`` or ``train.n_critic=1,5``: it
  changes the program's structure, so the grid splits into groups, one program each,
  run in turn. Whether weight clipping and the moving average of G are on at all
  (``penalty.weight_clip > 0``, ``train.ema_decay > 0``) is structure too.

The grid is the product of the axes, in the order given (the last axis varies fastest).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
from typing import Any, Sequence

import ml_collections

from jaxgan.config import HYPERPARAMETERS, get_config
from jaxgan.validation import ConfigError, check_field

NUMERIC = ("seed", *HYPERPARAMETERS)


class SweepError(ValueError):
  """A sweep specification that cannot be run; the message names the axis."""


@dataclasses.dataclass(frozen=True)
class Axis:
  field: str
  values: tuple

  @property
  def numeric(self) -> bool:
    """Swept inside one compiled program (the seed and the numeric hyperparameters)."""
    return self.field in NUMERIC


def _schema_value(field: str):
  node = get_config()
  for key in field.split("."):
    node = node[key]
  return node


def _parse_range(field: str, text: str) -> tuple[int, ...]:
  parts = text.split(":")
  try:
    start, stop, *step = (int(p) for p in parts)
  except ValueError:
    raise SweepError(f"--sweep {field}={text}: a range is start:stop[:step] of integers") from None
  values = tuple(range(start, stop, step[0] if step else 1)) if len(parts) <= 3 else ()
  if not values:
    raise SweepError(f"--sweep {field}={text}: the range is empty")
  return values


def _parse_value(field: str, text: str, kind: type):
  if kind is bool:
    if text.lower() not in ("true", "false"):
      raise SweepError(f"--sweep {field}: {text!r} is not true or false")
    return text.lower() == "true"
  try:
    value = kind(text)
  except ValueError:
    raise SweepError(f"--sweep {field}: {text!r} is not {'an integer' if kind is int else 'a number' if kind is float else 'a value'}") from None
  if isinstance(value, float) and not math.isfinite(value):
    raise SweepError(f"--sweep {field}: {text!r} is not a finite number")
  return value


def parse_axis(spec: str) -> Axis:
  """``'field=v1,v2,...'`` (or ``'seed=a:b'``) -> Axis, checked against the config schema.

  Raises:
    SweepError: in one line naming the axis: no '=', an unknown field, an empty list, a
      value of the wrong type, a range for anything but the seed.
  """
  field, sep, text = spec.partition("=")
  field, text = field.strip(), text.strip()
  if not sep or not field:
    raise SweepError(f"--sweep {spec!r}: expected field=value1,value2,... (e.g. seed=0:4)")
  try:
    check_field(field)
  except ConfigError as e:
    raise SweepError(f"--sweep {field}: {e}") from None
  default = _schema_value(field)
  if isinstance(default, ml_collections.ConfigDict):
    raise SweepError(f"--sweep {field}: is a group of fields, not a value")
  if not text or not any(t.strip() for t in text.split(",")):
    raise SweepError(f"--sweep {field}: the list of values is empty")
  if ":" in text:
    if field != "seed":
      raise SweepError(f"--sweep {field}={text}: ranges (a:b) are for the seed only; "
                       "list the values, e.g. 0.1,1,10")
    return Axis(field, _parse_range(field, text))
  kind = float if field in HYPERPARAMETERS else type(default)
  items = [t.strip() for t in text.split(",")]
  if any(not t for t in items):
    raise SweepError(f"--sweep {field}={text}: an empty value in the list")
  values = tuple(_parse_value(field, t, kind) for t in items)
  if len(set(values)) != len(values):
    raise SweepError(f"--sweep {field}={text}: a value is repeated")
  return Axis(field, values)


def set_field(config: ml_collections.ConfigDict, field: str, value: Any) -> None:
  node = config
  *parents, leaf = field.split(".")
  for key in parents:
    node = node[key]
  with config.unlocked():
    node[leaf] = value


@dataclasses.dataclass(frozen=True)
class Variant:
  """One run of the grid: its index, its values of the axes and its full config."""
  index: int
  setting: dict
  config: ml_collections.ConfigDict = dataclasses.field(compare=False, repr=False)

  def label(self) -> str:
    return ", ".join(f"{k}={v}" for k, v in self.setting.items())


def structure_key(config: ml_collections.ConfigDict) -> str:
  """What makes two variants' programs differ: the config without its numbers."""
  plain = json.loads(config.to_json_best_effort())
  for field in NUMERIC:
    node = plain
    *parents, leaf = field.split(".")
    for key in parents:
      node = node[key]
    node.pop(leaf, None)
  plain["_weight_clipping"] = config.penalty.weight_clip > 0
  plain["_ema"] = config.train.ema_decay > 0
  return json.dumps(plain, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class Grid:
  axes: tuple[Axis, ...]
  variants: tuple[Variant, ...]

  @property
  def groups(self) -> list[tuple[Variant, ...]]:
    """Variants that share one compiled program, in grid order of their first member."""
    out: dict[str, list[Variant]] = {}
    for v in self.variants:
      out.setdefault(structure_key(v.config), []).append(v)
    return [tuple(g) for g in out.values()]

  @property
  def numeric_axes(self) -> list[Axis]:
    return [a for a in self.axes if a.numeric and a.field != "seed"]


def make_grid(config: ml_collections.ConfigDict, specs: Sequence[str | Axis]) -> Grid:
  """The product of the axes over ``config``; each variant's config is a copy with its values."""
  axes = tuple(s if isinstance(s, Axis) else parse_axis(s) for s in specs)
  fields = [a.field for a in axes]
  repeated = sorted({f for f in fields if fields.count(f) > 1})
  if repeated:
    raise SweepError(f"--sweep {repeated[0]}: given twice")
  variants = []
  for i, values in enumerate(itertools.product(*(a.values for a in axes))):
    cfg = copy.deepcopy(config)
    for field, value in zip(fields, values):
      set_field(cfg, field, value)
    variants.append(Variant(i, dict(zip(fields, values)), cfg))
  return Grid(axes, tuple(variants))
