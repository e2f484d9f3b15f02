"""The compiled step against a plain-Python reference of the same algorithm.

The reference below re-derives everything from the written-out formulas (per-example
input gradients via vmap, explicit SGD, a Python loop over critic steps), sharing with
the library only the documented key schedule: the key of step s is fold_in(key, s),
split into (k_d, k_g); k_d is split into one key per critic step, each split into
(k_z, k_eps); eps ~ U[0, 1] of shape (B, 1); z ~ N(0, I).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses, penalties
from jaxgan.hparams import make_hparams
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step

LATENT, B, LR = 3, 8, 0.05


@dataclasses.dataclass(frozen=True)
class Case:
  """One configuration: the step's structure and the numbers the reference uses."""
  game: str
  mode: str
  n_critic: int
  penalty_weight: float = 0.0
  alpha: float = 0.0
  clip: float = 0.0

  def step_config(self) -> StepConfig:
    return StepConfig(game=self.game, n_critic=self.n_critic, mode=self.mode,
                      penalty="gradient_penalty" if self.penalty_weight else None,
                      d_constraint=penalties.weight_clipping if self.clip else None)

  def hparams(self):
    return make_hparams(penalty_weight=self.penalty_weight, real_label_smoothing=self.alpha,
                        weight_clip=self.clip)


def _setup(n_critic=1, hparams=None, tx=None, name="mlp", shape=(2,), latent=LATENT, ema=False,
           **model_kwargs):
  model_kwargs = model_kwargs or dict(width=8, depth=2)
  G, D = make_models(name, shape, **model_kwargs)
  tx = tx or optax.sgd(LR)
  state = create_state(jax.random.key(0), G, D, tx, tx, latent, shape, ema=ema,
                       hparams=hparams)
  batch = jax.random.normal(jax.random.key(1), (n_critic, B, *shape))
  return G, D, state, batch


def _reference_step(G, D, g_params, d_params, base_key, step, batch, case: Case):
  """One step of the algorithm written out directly (SGD with rate LR)."""
  g_apply = lambda p, z: G.apply({"params": p}, z)
  d_apply = lambda p, x: D.apply({"params": p}, x)

  def d_cost(p, real, fake, k_eps):
    r, f = d_apply(p, real), d_apply(p, fake)
    if case.game == "wasserstein":
      cost = jnp.mean(f) - jnp.mean(r)
    else:  # non_saturating's discriminator: tutorial eq. 8 with real target 1 - alpha.
      a = case.alpha
      cost = (0.5 * jnp.mean((1 - a) * jax.nn.softplus(-r) + a * jax.nn.softplus(r))
              + 0.5 * jnp.mean(jax.nn.softplus(f)))
    if case.penalty_weight:
      eps = jax.random.uniform(k_eps, (real.shape[0], 1))
      x_hat = eps * real + (1 - eps) * fake
      per_example = jax.vmap(jax.grad(lambda x: d_apply(p, x[None])[0]))(x_hat)
      cost += case.penalty_weight * jnp.mean((jnp.linalg.norm(per_example, axis=1) - 1) ** 2)
    return cost

  def g_cost(p, d_p, z):
    f = d_apply(d_p, g_apply(p, z))
    return -jnp.mean(f) if case.game == "wasserstein" else 0.5 * jnp.mean(jax.nn.softplus(-f))

  sgd = lambda p, g: jax.tree.map(lambda a, b: a - LR * b, p, g)
  k_d, k_g = jax.random.split(jax.random.fold_in(base_key, step))
  d_start = d_params
  for i, k in enumerate(jax.random.split(k_d, case.n_critic)):
    k_z, k_eps = jax.random.split(k)
    fake = g_apply(g_params, jax.random.normal(k_z, (B, LATENT)))
    d_params = sgd(d_params, jax.grad(d_cost)(d_params, batch[i], fake, k_eps))
    if case.clip:
      d_params = jax.tree.map(lambda v: jnp.clip(v, -case.clip, case.clip), d_params)
  d_seen_by_g = d_start if case.mode == "simultaneous" else d_params
  z = jax.random.normal(k_g, (B, LATENT))
  g_params = sgd(g_params, jax.grad(g_cost)(g_params, d_seen_by_g, z))
  return g_params, d_params


CASES = [
    Case("wasserstein", "alternating", 3, penalty_weight=0.7),
    Case("wasserstein", "simultaneous", 3, penalty_weight=0.7),
    Case("non_saturating", "simultaneous", 1, alpha=0.1),
    Case("non_saturating", "alternating", 2, alpha=0.1),
    Case("wasserstein", "alternating", 2, clip=0.05),
]


def _assert_trees_close(got, want, rtol=2e-5, atol=2e-6):
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _max_diff(a, b) -> float:
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a),
                                                             jax.tree.leaves(b)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.game}-{c.mode}-n{c.n_critic}-"
                         f"gp{c.penalty_weight}-clip{c.clip}")
def test_step_matches_reference(case):
  G, D, state, batch = _setup(case.n_critic, case.hparams())
  step = jax.jit(make_train_step(case.step_config()))
  new, metrics = step(state, batch)
  new, metrics = step(new, batch + 0.5)  # Two steps: the second uses fold_in(key, 1).
  g_ref, d_ref = _reference_step(G, D, state.g.params, state.d.params, state.key, 0, batch, case)
  g_ref, d_ref = _reference_step(G, D, g_ref, d_ref, state.key, 1, batch + 0.5, case)
  _assert_trees_close(new.g.params, g_ref)
  _assert_trees_close(new.d.params, d_ref)
  assert int(new.step) == 2
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_modes_differ_and_both_players_move():
  base = CASES[0]
  _, _, state, batch = _setup(base.n_critic, base.hparams())
  alt, _ = make_train_step(base.step_config())(state, batch)
  sim_cfg = dataclasses.replace(base.step_config(), mode="simultaneous")
  sim, _ = make_train_step(sim_cfg)(state, batch)
  assert _max_diff(alt.g.params, state.g.params) > 0 and _max_diff(alt.d.params, state.d.params) > 0
  assert _max_diff(alt.d.params, sim.d.params) == 0  # D does not depend on the schedule...
  assert _max_diff(alt.g.params, sim.g.params) > 1e-6  # ...G does.


def test_n_critic_updates_per_generator_update():
  cfg = StepConfig(game="wasserstein", penalty="gradient_penalty", n_critic=5)
  tx = make_optimizer("adam", 1e-3)
  _, _, state, batch = _setup(5, make_hparams(penalty_weight=10.0), tx=tx)
  traces = []
  inner = make_train_step(cfg)

  def counted(state, batch):
    traces.append(1)  # Runs only while tracing.
    return inner(state, batch)

  step = jax.jit(counted, donate_argnums=0)
  for _ in range(3):
    state, _ = step(state, batch)
  assert int(state.d.opt_state.count) == 15 and int(state.g.opt_state.count) == 3
  assert len(traces) == 1  # Traced (and compiled) once for all steps.


def test_weight_clipping_bounds_the_critic():
  case = CASES[-1]
  _, _, state, batch = _setup(case.n_critic, case.hparams(), tx=optax.sgd(10.0))
  new, _ = make_train_step(case.step_config())(state, batch)
  leaves = jax.tree.leaves(new.d.params)
  assert max(float(jnp.max(jnp.abs(p))) for p in leaves) <= 0.05 + 1e-7
  assert any(float(jnp.max(jnp.abs(p))) == pytest.approx(0.05) for p in leaves)


def test_dcgan_step_updates_both_players_and_their_batch_stats():
  cfg = StepConfig(game="non_saturating", n_critic=1)
  _, _, state, batch = _setup(1, make_hparams(real_label_smoothing=0.1),
                              tx=make_optimizer("adam", 2e-4), name="dcgan", shape=(28, 28, 1),
                              latent=16, features=8)
  new, metrics = jax.jit(make_train_step(cfg))(state, jnp.tanh(batch))
  for old_tree, new_tree in ((state.g.batch_stats, new.g.batch_stats),
                             (state.d.batch_stats, new.d.batch_stats),
                             (state.g.params, new.g.params), (state.d.params, new.d.params)):
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old_tree),
                                                     jax.tree.leaves(new_tree)))
  assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


def test_batch_with_wrong_critic_axis_is_rejected():
  _, _, state, batch = _setup(3)
  with pytest.raises(ValueError, match="n_critic=3"):
    make_train_step(StepConfig(game="wasserstein", n_critic=3))(state, batch[:2])


@pytest.mark.parametrize("field,value,match", [
    ("game", "nope", "non_saturating"), ("game", lambda r, f: r, "losses.Game"),
    ("mode", "together", "alternating"), ("penalty", "gp", "gradient_penalty"),
    ("n_critic", 0, "n_critic")])
def test_bad_step_config(field, value, match):
  with pytest.raises(ValueError, match=match):
    make_train_step(StepConfig(**{field: value}))


def test_ema_of_generator_parameters_is_the_closed_form():
  cfg = StepConfig(game="non_saturating")
  _, _, state, batch = _setup(1, make_hparams(ema_decay=0.9), ema=True)
  new, _ = make_train_step(cfg)(state, batch)
  for e, p0, p1 in zip(*(jax.tree.leaves(t) for t in (new.g_ema, state.g.params,
                                                       new.g.params))):
    np.testing.assert_allclose(e, 0.9 * p0 + 0.1 * p1, rtol=1e-6, atol=1e-7)
  assert new.generator().params is new.g_ema and new.generator(False).params is new.g.params


def test_feature_matching_generator_cost():
  cfg = StepConfig(game="non_saturating", feature_matching=True)
  G, D, state, batch = _setup(1)
  new, metrics = make_train_step(cfg)(state, batch)
  _, k_g = jax.random.split(jax.random.fold_in(state.key, 0))
  fake = G.apply({"params": state.g.params}, jax.random.normal(k_g, (B, LATENT)))
  feats = lambda x: np.asarray(D.apply({"params": new.d.params}, x, with_aux=True)[1]["features"],
                               np.float64)
  want = np.sum((feats(batch[-1]).mean(0) - feats(fake).mean(0)) ** 2)
  np.testing.assert_allclose(metrics["g_loss"], want, rtol=1e-4)


def _labelled(n_critic=1, hparams=None, **model_kwargs):
  G, D = make_models("mlp", (2,), width=8, depth=2, num_classes=4, **model_kwargs)
  state = create_state(jax.random.key(0), G, D, optax.sgd(LR), optax.sgd(LR), LATENT, (2,),
                       num_classes=4, hparams=hparams)
  batch = {"image": jax.random.normal(jax.random.key(1), (n_critic, 64, 2)),
           "label": jax.random.randint(jax.random.key(2), (n_critic, 64), 0, 4)}
  return state, batch


def test_acgan_class_losses_start_near_log_k():
  cfg = StepConfig(game="non_saturating", acgan=True)
  state, batch = _labelled(hparams=make_hparams(aux_weight_d=1.0, aux_weight_g=1.0),
                           conditional_g=True, aux_classifier=True)
  _, metrics = jax.jit(make_train_step(cfg))(state, batch)
  # Near-zero initial class logits: cross-entropy log(4) on real and on generated samples.
  np.testing.assert_allclose(metrics["d_class_loss"], 2 * np.log(4), rtol=0.15)
  np.testing.assert_allclose(metrics["g_class_loss"], np.log(4), rtol=0.15)
  # Accuracy of 4-way guesses from near-uniform logits: about 1/4, certainly not 0 or 1.
  assert 0.05 < float(metrics["d_real_class_accuracy"]) < 0.6


def test_only_d_sees_labels():
  cfg = StepConfig(game="non_saturating", acgan=True)
  state, batch = _labelled(hparams=make_hparams(aux_weight_d=1.0, aux_weight_g=1.0),
                           aux_classifier=True)
  assert not state.g.interface.labels and state.d.interface.labels
  _, metrics = jax.jit(make_train_step(cfg))(state, batch)
  np.testing.assert_allclose(metrics["d_class_loss"], np.log(4), rtol=0.15)  # Real only.
  assert "g_class_loss" not in metrics


def test_projection_discriminator_step_and_missing_labels():
  cfg = StepConfig(game="hinge", n_critic=2)
  state, batch = _labelled(2, conditional_g=True, d_conditioning="projection")
  new, metrics = jax.jit(make_train_step(cfg))(state, batch)
  assert np.isfinite(float(metrics["d_loss"])) and int(new.step) == 1
  with pytest.raises(ValueError, match="class-conditional.*no 'label'"):
    make_train_step(cfg)(state, batch["image"])


def test_conditional_generator_draws_the_labels_of_the_real_batch():
  """G's labels in D's step are the real minibatch's, so a projection critic sees pairs."""
  state, batch = _labelled(1, conditional_g=True, d_conditioning="projection")
  seen = []
  apply = state.g.apply_fn

  def spy(variables, z, labels=None, **kwargs):
    seen.append(labels)
    return apply(variables, z, labels=labels, **kwargs)

  state = state.replace(g=state.g.replace(apply_fn=spy))
  make_train_step(StepConfig(game="hinge"))(state, batch)
  assert len(seen) == 2  # D's step and G's step.
  for labels in seen:
    np.testing.assert_array_equal(labels, batch["label"][0])


def test_bfloat16_compute_keeps_float32_parameters_and_a_finite_penalty():
  cfg = StepConfig(game="wasserstein", penalty="gradient_penalty", n_critic=2)
  G, D = make_models("dcgan", (28, 28, 1), features=4, d_norm="none", dtype="bfloat16")
  tx = make_optimizer("adam", 1e-4, b1=0.0, b2=0.9)
  state = create_state(jax.random.key(0), G, D, tx, tx, 16, (28, 28, 1),
                       hparams=make_hparams(penalty_weight=10.0))
  batch = jnp.tanh(jax.random.normal(jax.random.key(1), (2, 8, 28, 28, 1)))
  step = jax.jit(make_train_step(cfg))
  for _ in range(3):
    state, metrics = step(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert float(metrics["d_penalty"]) > 0 and metrics["d_loss"].dtype == jnp.float32
  assert {p.dtype for p in jax.tree.leaves((state.g.params, state.d.params))} == \
      {np.dtype(np.float32)}
  assert state.g(jnp.zeros((1, 16))).dtype == jnp.bfloat16  # The compute really is bf16.


def _two_steps(cfg, n_critic, hparams):
  _, _, state, batch = _setup(n_critic, hparams)
  step = jax.jit(make_train_step(cfg))
  for i in range(2):
    state, metrics = step(state, batch + 0.3 * i)
  return state, metrics


@pytest.mark.parametrize("name,mine", [
    ("non_saturating", losses.Game(
        lambda r, f: 0.5 * jnp.mean(jax.nn.softplus(-r)) + 0.5 * jnp.mean(jax.nn.softplus(f)),
        lambda f: 0.5 * jnp.mean(jax.nn.softplus(-f)))),
    ("wasserstein", losses.Game(lambda r, f: jnp.mean(f) - jnp.mean(r), lambda f: -jnp.mean(f))),
])
def test_hand_written_game_equals_its_registry_twin(name, mine):
  theirs, _ = _two_steps(StepConfig(game=name, n_critic=2), 2, None)
  ours, metrics = _two_steps(StepConfig(game=mine, n_critic=2), 2, None)
  _assert_trees_close((ours.g.params, ours.d.params), (theirs.g.params, theirs.d.params),
                      rtol=1e-6, atol=1e-7)
  assert _max_diff(ours.d.params, _setup(2)[2].d.params) > 0  # It trained.


def test_hand_written_penalty_equals_the_registry_gradient_penalty():
  def my_gp(critic, real, fake, key):
    eps = jax.random.uniform(key, (real.shape[0], 1))
    x = eps * real + (1 - eps) * fake
    grads = jax.vmap(jax.grad(lambda v: critic(v[None])[0]))(x)
    return jnp.mean((jnp.sqrt(jnp.sum(grads ** 2, axis=-1)) - 1) ** 2)

  hp = make_hparams(penalty_weight=5.0)
  theirs, m1 = _two_steps(StepConfig(game="wasserstein", penalty="gradient_penalty", n_critic=2),
                          2, hp)
  ours, m2 = _two_steps(StepConfig(game="wasserstein", penalty=my_gp, n_critic=2), 2, hp)
  np.testing.assert_allclose(m2["d_penalty"], m1["d_penalty"], rtol=1e-5)
  _assert_trees_close(ours.d.params, theirs.d.params, rtol=1e-5, atol=1e-6)
