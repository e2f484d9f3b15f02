"""A group of variants as one program: each variant equals its run made alone, a diverging
variant is frozen and leaves the others bitwise unchanged, and the program compiles once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.data.source import ToySource
from jaxgan.sweep import program
from jaxgan.sweep.grid import SweepError, make_grid
from jaxgan.train_step import make_train_step

STEPS = 3


def _config(optimizer="sgd"):
  c = config_lib.get_config()
  c.model.width, c.model.depth, c.data.batch_size, c.train.n_critic = 16, 2, 16, 2
  for o in (c.g_optimizer, c.d_optimizer):
    o.name, o.learning_rate = optimizer, 0.01
  return c


def _run_sweep(config, specs, steps=STEPS):
  (group,) = make_grid(config, specs).groups
  init, args = program.initializer(group, (2,))
  sweep = jax.jit(init)(*args)
  data = program.ToyBatches(config.data.name, [v.config.seed for v in group],
                            config.data.batch_size, config.train.n_critic)
  step = jax.jit(program.make_sweep_step(config))
  for s in range(steps):
    sweep, metrics = step(sweep, data.batch(s))
  return group, sweep, metrics


def _run_alone(config, steps=STEPS):
  state = config_lib.initial_state(config)
  source = ToySource(config.data.name, config.data.batch_size, config.train.n_critic,
                     config.seed, None)
  step = jax.jit(make_train_step(config_lib.step_config(config)))
  for s in range(steps):
    state, _ = step(state, source.batch(s))
  return state


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves((state.g.params, state.d.params,
                                                  state.g.opt_state, state.d.opt_state))]


@pytest.mark.slow  # The default run checks the same through run_sweep (test_sweep_run.py).
def test_variants_equal_the_runs_made_one_by_one():
  group, sweep, metrics = _run_sweep(_config(), ["seed=0:2", "penalty.weight=0.1,10",
                                                 "d_optimizer.learning_rate=0.001,0.01"])
  assert len(group) == 8 and metrics["d_loss"].shape == (8,)
  worst = 0.0
  for i, variant in enumerate(group):
    alone = _run_alone(variant.config)
    for a, b in zip(_leaves(program.variant_state(sweep, i)), _leaves(alone), strict=True):
      worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30)))
  assert worst <= 1e-6, worst
  assert int(sweep.step) == STEPS and bool(np.all(sweep.alive))


def test_a_diverging_variant_is_frozen_and_the_others_are_bitwise_unchanged():
  lr = "g_optimizer.learning_rate"
  _, calm, _ = _run_sweep(_config(), ["seed=0,1", f"{lr}=0.01,0.02"], steps=4)
  _, wild, metrics = _run_sweep(_config(), ["seed=0,1", f"{lr}=0.01,1e30"], steps=4)
  assert list(np.asarray(wild.alive)) == [True, False, True, False]
  diverged = np.asarray(wild.diverged_at)
  assert diverged[0] == diverged[2] == -1 and 1 <= diverged[1] <= 4 and 1 <= diverged[3] <= 4
  for i in (0, 2):
    for a, b in zip(_leaves(program.variant_state(calm, i)),
                    _leaves(program.variant_state(wild, i))):
      assert a.tobytes() == b.tobytes()
  frozen = program.variant_state(wild, 1)
  assert all(np.isfinite(x).all() for x in _leaves(frozen))  # Its last finite state.
  assert int(frozen.step) == diverged[1] - 1
  assert list(np.asarray(metrics["frozen"])) == [0.0, 1.0, 0.0, 1.0]


def test_a_numeric_grid_is_one_group_and_compiles_once():
  config = _config()
  grid = make_grid(config, ["seed=0:2", "penalty.weight=0.1,1,10", "train.ema_decay=0.9,0.99",
                            "g_optimizer.learning_rate=0.01,0.1"])
  (group,) = grid.groups
  assert len(group) == 24
  traces = []
  inner = program.make_sweep_step(config)

  def counted(sweep, batches):
    traces.append(1)
    return inner(sweep, batches)

  step = jax.jit(counted)
  init, args = program.initializer(group, (2,))
  sweep = init(*args)
  data = program.ToyBatches(config.data.name, [v.config.seed for v in group], 16, 2)
  for s in range(3):
    sweep, _ = step(sweep, data.batch(s))
  assert len(traces) == 1
  hp = sweep.states.hyperparameters()
  np.testing.assert_allclose(hp["penalty_weight"][:6], [0.1] * 4 + [1.0] * 2)
  np.testing.assert_allclose(hp["g.learning_rate"][:2], [0.01, 0.1])


def test_memory_of_the_program_grows_with_the_variants_and_a_grid_too_big_is_refused():
  config = _config()
  sizes = {}
  for k in (1, 8):
    (group,) = make_grid(config, [f"seed=0:{k}"]).groups
    init, args = program.initializer(group, (2,))
    abstract = jax.eval_shape(init, *args)
    batches = jax.ShapeDtypeStruct((k, 2, 16, 2), jnp.float32)
    compiled = jax.jit(program.make_sweep_step(config)).lower(abstract, batches).compile()
    sizes[k] = program.program_bytes(compiled)
  assert sizes[8] > 4 * sizes[1] > 0
  per_variant = sizes[8] / 8
  program.check_fits(8, sizes[8], available=int(100 * per_variant))
  with pytest.raises(SweepError, match=r"64 variants need .* about 8 variants would fit"):
    program.check_fits(64, int(64 * per_variant), available=int(10 * per_variant), fraction=0.8)


DEVICES = '''
import json, jax, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from jaxgan import config as config_lib
from jaxgan.sweep import program
from jaxgan.sweep.grid import make_grid
from jaxgan.sweep.run import _mesh, _place

assert jax.device_count() == 4
c = config_lib.get_config()
c.model.width, c.model.depth, c.data.batch_size, c.train.n_critic = 16, 2, 16, 2
for o in (c.g_optimizer, c.d_optimizer):
  o.name, o.learning_rate = "sgd", 0.01
out = {}
for k in (4, 2):  # 4 variants: one per device; 2 variants: each over 2 devices' batch halves.
  (group,) = make_grid(c, [f"seed=0:{k}"]).groups
  init, args = program.initializer(group, (2,))
  results = {}
  for n in (1, 4):
    mesh = _mesh(k, 16) if n == 4 else _mesh(1, 1)
    sweep = _place(jax.jit(init)(*args), mesh)
    data = program.ToyBatches(c.data.name, list(range(k)), 16, 2,
                              NamedSharding(mesh, P("variant", None, "data")))
    step = jax.jit(program.make_sweep_step(c))
    for s in range(3):
      sweep, _ = step(sweep, data.batch(s))
    kernel = sweep.states.d.params["Dense_0"]["kernel"]
    results[n] = (np.asarray(kernel), dict(mesh.shape), len(kernel.sharding.device_set))
  a, b = results[1][0], results[4][0]
  out[k] = {"rel": float(np.max(np.abs(a - b)) / np.max(np.abs(a))), "mesh": results[4][1],
            "devices": results[4][2]}
print(json.dumps(out))
'''


def test_variants_are_spread_over_devices_and_equal_one_device():
  from devices import run_on_cpu_devices
  out = run_on_cpu_devices(DEVICES, 4)
  assert out["4"]["mesh"] == {"variant": 4, "data": 1} and out["4"]["devices"] == 4
  assert out["2"]["mesh"] == {"variant": 2, "data": 2} and out["2"]["devices"] == 4
  assert out["4"]["rel"] <= 1e-6 and out["2"]["rel"] <= 1e-6, out
