"""Fuzzing the config's numbers (issue 18.6): every numeric field of get_config() with random
finite, non-finite, negative and huge values. Validation must answer with a ConfigError
naming a field, or accept; a handful of accepted draws train one step on the tiny config
and must end in a named error (ConfigError, DivergenceError) or a finite run."""

import json
import math
import pathlib
import sys

import ml_collections
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from configs import test as test_config  # noqa: E402
from jaxgan.config import get_config  # noqa: E402
from jaxgan.train import DivergenceError, train_and_evaluate  # noqa: E402
from jaxgan.validation import ConfigError, validate_config  # noqa: E402

NON_FINITE = [math.nan, math.inf, -math.inf]
NEGATIVE = [-1, -0.5, -7, -10**9, -1e30]
HUGE = [10**9, 2**31, 2**32, 10**18, 2**63, 10**30, 1e30, 1e300]


def _numeric_fields(config, prefix=""):
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _numeric_fields(value, f"{prefix}{key}.")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
      yield f"{prefix}{key}"


FIELDS = sorted(_numeric_fields(get_config()))


def _value(rng, pool):
  kind = rng.choice(pool)
  if kind == "finite_int":
    return int(rng.integers(0, 21))
  if kind == "finite_float":
    return float(rng.uniform(-2, 2) * 10 ** rng.uniform(-4, 1))
  if kind == "mid":  # Large but not absurd: fits some machines, not others.
    return int(10 ** rng.uniform(4, 8.5))
  return {"non_finite": NON_FINITE, "negative": NEGATIVE, "huge": HUGE}[kind][
      int(rng.integers(0, {"non_finite": 3, "negative": 5, "huge": 8}[kind]))]


def _set(config, field, value):
  *parents, leaf = field.split(".")
  node = config
  for p in parents:
    node = node[p]
  with config.ignore_type(), config.unlocked():
    node[leaf] = value


def test_the_fuzzer_sees_every_numeric_field():
  assert len(FIELDS) > 30 and "train.ema_decay" in FIELDS and "seed" in FIELDS
  assert "distributed.process_id" in FIELDS and "g_optimizer.decay_steps" in FIELDS


def test_validation_answers_every_draw_with_a_named_config_error_or_accepts():
  rng = np.random.default_rng(18)
  pool = ["finite_int", "finite_float", "non_finite", "negative", "huge", "mid"]
  outcomes = {"accepted": 0, "refused": 0}
  for draw in range(400):
    config = get_config() if draw % 2 else test_config.get_config()
    fields = rng.choice(FIELDS, size=int(rng.integers(1, 4)), replace=False)
    for field in fields:
      _set(config, field, _value(rng, pool))
    try:
      validate_config(config, device_count=1, memory_bytes=16 * 2**30)
      outcomes["accepted"] += 1
    except ConfigError as e:
      assert "config." in str(e), (draw, str(e))
      assert "\n" not in str(e), (draw, str(e))
      outcomes["refused"] += 1
  assert outcomes["accepted"] > 20 and outcomes["refused"] > 200, outcomes


@pytest.mark.parametrize("draw", range(6))
def test_accepted_draws_train_one_step_or_fail_by_name(tmp_path, draw):
  """Draws from the extremes and small finite values only: 'mid' values could be accepted
  and then need gigabytes, which a shared test machine should not be asked for."""
  rng = np.random.default_rng(1000 + draw)
  pool = ["finite_int", "finite_float", "non_finite", "negative", "huge"]
  fields = [f for f in FIELDS if f != "train.steps"]
  for _ in range(100):  # The first draw that validation accepts.
    config = test_config.get_config()
    config.train.steps = 1
    config.train.log_every = config.train.plot_every = config.train.checkpoint_every = 1
    chosen = {str(f): _value(rng, pool) for f in rng.choice(fields, size=2, replace=False)}
    for field, value in chosen.items():
      _set(config, field, value)
    try:
      validate_config(config, device_count=1)
      break
    except ConfigError:
      continue
  else:
    pytest.fail("no draw was accepted")
  print(chosen)
  try:
    train_and_evaluate(config, str(tmp_path / "run"))
  except (ConfigError, DivergenceError) as e:
    print(type(e).__name__, e)
    assert "\n" not in str(e).strip() or "different model" in str(e), str(e)
    return
  summary = json.loads((tmp_path / "run" / "summary.json").read_text())
  assert summary["step"] == 1, (chosen, summary)
  assert all(math.isfinite(v) for v in summary.values() if isinstance(v, float)), \
      (chosen, summary)
