"""The step's numbers are arrays in the state: vmapped variants equal one-by-one steps, and
new values never retrace.

For each numeric hyperparameter, K values are stacked into one state with
``jax.vmap(state.with_hyperparameters)`` and trained by ``jax.vmap(step)``; each variant
must equal the same step run alone with that value (float32, CPU), and the variants
must differ from each other (so a value the step ignored would fail the test).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties
from jaxgan.hparams import NAMES, HParams, make_hparams
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step

LATENT, B, CLASSES = 3, 16, 4

GP = StepConfig(game="wasserstein", penalty="gradient_penalty", n_critic=2)
NS = StepConfig(game="non_saturating")
CLIP = StepConfig(game="wasserstein", d_constraint=penalties.weight_clipping, n_critic=2)
ACGAN = StepConfig(game="non_saturating", acgan=True)

# name -> (step structure, values, state options)
CASES = {
    "penalty_weight": (GP, [0.1, 1.0, 10.0], {}),
    "real_label_smoothing": (NS, [0.0, 0.1, 0.3], {}),
    "fake_label": (NS, [0.0, 0.1, 0.3], {}),
    "weight_clip": (CLIP, [0.02, 0.05, 0.2], {"sgd": 1.0}),
    "ema_decay": (NS, [0.5, 0.9, 0.999], {"ema": True}),
    "aux_weight_d": (ACGAN, [0.0, 0.5, 2.0], {"labelled": True}),
    "aux_weight_g": (ACGAN, [0.0, 0.5, 2.0], {"labelled": True}),
    "g.learning_rate": (GP, [1e-4, 1e-3, 1e-2], {}),
    "d.learning_rate": (GP, [1e-4, 1e-3, 1e-2], {}),
    "d.b1": (GP, [0.0, 0.5, 0.9], {}),
    "g.b2": (GP, [0.9, 0.99, 0.999], {}),
}


_COMPILED: dict = {}


def _steps(cfg):
  """(jit(step), jit(vmap(step))) of a structure, built once: jit then caches by state shape."""
  if cfg not in _COMPILED:
    _COMPILED[cfg] = (jax.jit(make_train_step(cfg)),
                      jax.jit(jax.vmap(make_train_step(cfg), in_axes=(0, None))))
  return _COMPILED[cfg]


@functools.lru_cache(maxsize=None)  # One state per structure: compiled steps are reused.
def _state_and_batch(n_critic, ema=False, labelled=False, sgd=None):
  classes = CLASSES if labelled else 0
  G, D = make_models("mlp", (2,), width=16, depth=2, num_classes=classes,
                     conditional_g=labelled, aux_classifier=labelled)
  tx = make_optimizer("sgd", sgd) if sgd else make_optimizer("adam", 1e-3, b1=0.5, b2=0.9)
  state = create_state(jax.random.key(0), G, D, tx, tx, LATENT, (2,), classes, ema=ema,
                       hparams=make_hparams(penalty_weight=1.0, ema_decay=0.9,
                                            aux_weight_d=1.0, aux_weight_g=1.0,
                                            weight_clip=0.05))
  batch = jax.random.normal(jax.random.key(1), (n_critic, B, 2))
  if labelled:
    batch = {"image": batch, "label": jax.random.randint(jax.random.key(2), (n_critic, B), 0,
                                                         classes)}
  return state, batch


def _players(state):
  return [np.asarray(x) for x in jax.tree.leaves((state.g.params, state.d.params, state.g_ema))]


def _rel(a, b) -> float:
  return float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30))


@pytest.mark.parametrize("name", list(CASES))
def test_vmapped_variants_equal_one_by_one_steps(name):
  cfg, values, options = CASES[name]
  state, batch = _state_and_batch(cfg.n_critic, **options)
  step, vstep = _steps(cfg)
  stacked = jax.vmap(lambda v: state.with_hyperparameters({name: v}))(jnp.asarray(values))
  for _ in range(2):
    stacked, _ = vstep(stacked, batch)
  singles = []
  for i, value in enumerate(values):
    single = state.with_hyperparameters({name: value})
    for _ in range(2):
      single, _ = step(single, batch)
    variant = jax.tree.map(lambda x, i=i: x[i], stacked)
    assert float(variant.hyperparameters()[name]) == pytest.approx(value)
    for a, b in zip(_players(variant), _players(single), strict=True):
      assert _rel(a, b) <= 1e-6, (name, value, _rel(a, b))
    singles.append(_players(single))
  # The value matters: the variants' parameters differ.
  for other in singles[1:]:
    assert max(_rel(a, b) for a, b in zip(singles[0], other)) > 1e-5, name


def test_new_values_do_not_retrace():
  traces = []
  inner = make_train_step(GP)

  def counted(state, batch):
    traces.append(1)  # Runs only while tracing.
    return inner(state, batch)

  step = jax.jit(counted)
  state, batch = _state_and_batch(GP.n_critic)
  for i, name in enumerate(sorted(state.hyperparameters())):
    value = 0.5 * float(state.hyperparameters()[name]) + 0.01 * (i + 1)
    state, _ = step(state.with_hyperparameters({name: value}), batch)
  assert len(traces) == 1


def test_hyperparameters_name_every_number_and_refuse_unknown_ones():
  state, _ = _state_and_batch(1)
  names = set(state.hyperparameters())
  assert set(NAMES) <= names
  assert {"g.learning_rate", "g.b1", "g.b2", "g.eps", "d.learning_rate"} <= names
  changed = state.with_hyperparameters({"penalty_weight": 3.0, "d.learning_rate": 0.25})
  assert float(changed.hparams.penalty_weight) == 3.0
  assert float(changed.d.opt_state.hyperparams["learning_rate"]) == 0.25
  assert float(changed.g.opt_state.hyperparams["learning_rate"]) == pytest.approx(1e-3)
  with pytest.raises(KeyError, match="penalty_wieght"):
    state.with_hyperparameters({"penalty_wieght": 1.0})
  with pytest.raises(KeyError, match="g.momentum"):
    state.with_hyperparameters({"g.momentum": 0.9})  # Adam has none.


def test_make_hparams_is_float32_and_refuses_unknown_names():
  hp = make_hparams(penalty_weight=10)
  assert isinstance(hp, HParams) and hp.penalty_weight.dtype == jnp.float32
  assert float(hp.penalty_weight) == 10.0 and float(hp.weight_clip) == 0.0
  with pytest.raises(TypeError, match="alpha"):
    make_hparams(alpha=0.1)
