"""The compiled step against a plain-Python reference of the same algorithm.

The reference below re-derives everything from the written-out formulas (per-example
input gradients via vmap, explicit SGD, a Python loop over critic steps), sharing with
the library only the documented key schedule: the key of step s is fold_in(key, s),
split into (k_d, k_g); k_d is split into one key per critic step, each split into
(k_z, k_eps); eps ~ U[0, 1] of shape (B, 1); z ~ N(0, I).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step

LATENT, B, LR = 3, 8, 0.05


def _setup(cfg: StepConfig, tx=None, name="mlp", shape=(2,), **model_kwargs):
  model_kwargs = model_kwargs or dict(width=8, depth=2)
  G, D = make_models(name, shape, **model_kwargs)
  tx = tx or optax.sgd(LR)
  state = create_state(jax.random.PRNGKey(0), G, D, tx, tx, cfg.latent_dim, shape)
  batch = jax.random.normal(jax.random.PRNGKey(1), (cfg.n_critic, B, *shape))
  return G, D, state, batch


def _reference_step(G, D, g_params, d_params, base_key, step, batch, cfg):
  """One step of the algorithm written out directly (SGD with rate LR)."""
  g_apply = lambda p, z: G.apply({"params": p}, z)
  d_apply = lambda p, x: D.apply({"params": p}, x)

  def d_cost(p, real, fake, k_eps):
    r, f = d_apply(p, real), d_apply(p, fake)
    if cfg.game == "wasserstein":
      cost = jnp.mean(f) - jnp.mean(r)
    else:  # non_saturating's discriminator: tutorial eq. 8 with real target 1 - alpha.
      a = cfg.alpha
      cost = (0.5 * jnp.mean((1 - a) * jax.nn.softplus(-r) + a * jax.nn.softplus(r))
              + 0.5 * jnp.mean(jax.nn.softplus(f)))
    if cfg.penalty == "gradient_penalty":
      eps = jax.random.uniform(k_eps, (real.shape[0], 1))
      x_hat = eps * real + (1 - eps) * fake
      per_example = jax.vmap(jax.grad(lambda x: d_apply(p, x[None])[0]))(x_hat)
      cost += cfg.penalty_weight * jnp.mean((jnp.linalg.norm(per_example, axis=1) - 1) ** 2)
    return cost

  def g_cost(p, d_p, z):
    f = d_apply(d_p, g_apply(p, z))
    return -jnp.mean(f) if cfg.game == "wasserstein" else 0.5 * jnp.mean(jax.nn.softplus(-f))

  sgd = lambda p, g: jax.tree.map(lambda a, b: a - LR * b, p, g)
  k_d, k_g = jax.random.split(jax.random.fold_in(base_key, step))
  d_start = d_params
  for i, k in enumerate(jax.random.split(k_d, cfg.n_critic)):
    k_z, k_eps = jax.random.split(k)
    fake = g_apply(g_params, jax.random.normal(k_z, (B, LATENT)))
    d_params = sgd(d_params, jax.grad(d_cost)(d_params, batch[i], fake, k_eps))
    if cfg.clip:
      d_params = jax.tree.map(lambda v: jnp.clip(v, -cfg.clip, cfg.clip), d_params)
  d_seen_by_g = d_start if cfg.mode == "simultaneous" else d_params
  z = jax.random.normal(k_g, (B, LATENT))
  g_params = sgd(g_params, jax.grad(g_cost)(g_params, d_seen_by_g, z))
  return g_params, d_params


CASES = [
    StepConfig(game="wasserstein", latent_dim=LATENT, penalty="gradient_penalty",
               penalty_weight=0.7, n_critic=3, mode="alternating"),
    StepConfig(game="wasserstein", latent_dim=LATENT, penalty="gradient_penalty",
               penalty_weight=0.7, n_critic=3, mode="simultaneous"),
    StepConfig(game="non_saturating", latent_dim=LATENT, alpha=0.1, n_critic=1,
               mode="simultaneous"),
    StepConfig(game="non_saturating", latent_dim=LATENT, alpha=0.1, n_critic=2,
               mode="alternating"),
    StepConfig(game="wasserstein", latent_dim=LATENT, clip=0.05, n_critic=2,
               mode="alternating"),
]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: f"{c.game}-{c.penalty}-{c.mode}-"
                         f"n{c.n_critic}-clip{c.clip}")
def test_step_matches_reference(cfg):
  G, D, state, batch = _setup(cfg)
  step = jax.jit(make_train_step(cfg))
  new, metrics = step(state, batch)
  new, metrics = step(new, batch + 0.5)  # Two steps: the second uses fold_in(key, 1).
  g_ref, d_ref = _reference_step(G, D, state.g.params, state.d.params, state.key, 0, batch, cfg)
  g_ref, d_ref = _reference_step(G, D, g_ref, d_ref, state.key, 1, batch + 0.5, cfg)
  for got, want in ((new.g.params, g_ref), (new.d.params, d_ref)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
  assert int(new.step) == 2
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_modes_differ_and_both_players_move():
  base = CASES[0]
  _, _, state, batch = _setup(base)
  alt, _ = make_train_step(base)(state, batch)
  sim, _ = make_train_step(StepConfig(**{**base.__dict__, "mode": "simultaneous"}))(state, batch)
  diff = lambda a, b: max(float(jnp.max(jnp.abs(x - y)))
                          for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
  assert diff(alt.g.params, state.g.params) > 0 and diff(alt.d.params, state.d.params) > 0
  assert diff(alt.d.params, sim.d.params) == 0  # D does not depend on the schedule...
  assert diff(alt.g.params, sim.g.params) > 1e-6  # ...G does.


def test_n_critic_updates_per_generator_update():
  cfg = StepConfig(game="wasserstein", latent_dim=LATENT, penalty="gradient_penalty",
                   penalty_weight=10.0, n_critic=5)
  tx = make_optimizer("adam", 1e-3)
  _, _, state, batch = _setup(cfg, tx=tx)
  traces = []
  inner = make_train_step(cfg)

  def counted(state, batch):
    traces.append(1)  # Runs only while tracing.
    return inner(state, batch)

  step = jax.jit(counted, donate_argnums=0)
  for _ in range(3):
    state, _ = step(state, batch)
  count = lambda opt_state: int(opt_state[0].count)  # optax.adam: (ScaleByAdamState, ...)
  assert count(state.d.opt_state) == 15 and count(state.g.opt_state) == 3
  assert len(traces) == 1  # Traced (and compiled) once for all steps.


def test_weight_clipping_bounds_the_critic():
  cfg = CASES[-1]
  _, _, state, batch = _setup(cfg, tx=optax.sgd(10.0))  # Large steps push weights out.
  new, _ = make_train_step(cfg)(state, batch)
  leaves = jax.tree.leaves(new.d.params)
  assert max(float(jnp.max(jnp.abs(p))) for p in leaves) <= 0.05 + 1e-7
  assert any(float(jnp.max(jnp.abs(p))) == pytest.approx(0.05) for p in leaves)


def test_dcgan_step_updates_both_players_and_their_batch_stats():
  cfg = StepConfig(game="non_saturating", latent_dim=16, alpha=0.1, n_critic=1)
  _, _, state, batch = _setup(cfg, tx=make_optimizer("adam", 2e-4), name="dcgan",
                              shape=(28, 28, 1), features=8)
  new, metrics = jax.jit(make_train_step(cfg))(state, jnp.tanh(batch))
  for old_tree, new_tree in ((state.g.batch_stats, new.g.batch_stats),
                             (state.d.batch_stats, new.d.batch_stats),
                             (state.g.params, new.g.params), (state.d.params, new.d.params)):
    assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(old_tree),
                                                     jax.tree.leaves(new_tree)))
  assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


def test_batch_with_wrong_critic_axis_is_rejected():
  cfg = StepConfig(game="wasserstein", latent_dim=LATENT, n_critic=3)
  _, _, state, batch = _setup(cfg)
  with pytest.raises(ValueError, match="n_critic=3"):
    make_train_step(cfg)(state, batch[:2])


@pytest.mark.parametrize("field,value,match", [("game", "nope", "non_saturating"),
                                               ("mode", "together", "alternating"),
                                               ("penalty", "gp", "gradient_penalty")])
def test_bad_step_config(field, value, match):
  with pytest.raises(ValueError, match=match):
    make_train_step(StepConfig(**{field: value}))


def test_ema_of_generator_parameters_is_the_closed_form():
  cfg = StepConfig(game="non_saturating", latent_dim=LATENT, ema_decay=0.9)
  G, D = make_models("mlp", (2,), width=8, depth=2)
  state = create_state(jax.random.PRNGKey(0), G, D, optax.sgd(LR), optax.sgd(LR), LATENT, (2,),
                       ema=True)
  batch = jax.random.normal(jax.random.PRNGKey(1), (1, B, 2))
  new, _ = make_train_step(cfg)(state, batch)
  for e, p0, p1 in zip(*(jax.tree.leaves(t) for t in (new.g_ema, state.g.params,
                                                       new.g.params))):
    np.testing.assert_allclose(e, 0.9 * p0 + 0.1 * p1, rtol=1e-6, atol=1e-7)
  assert new.generator().params is new.g_ema and new.generator(False).params is new.g.params


def test_feature_matching_generator_cost():
  cfg = StepConfig(game="non_saturating", latent_dim=LATENT, feature_matching=True)
  G, D, state, batch = _setup(cfg)
  new, metrics = make_train_step(cfg)(state, batch)
  _, k_g = jax.random.split(jax.random.fold_in(state.key, 0))
  fake = G.apply({"params": state.g.params}, jax.random.normal(k_g, (B, LATENT)))
  feats = lambda x: np.asarray(D.apply({"params": new.d.params}, x, with_aux=True)[1]["features"],
                               np.float64)
  want = np.sum((feats(batch[-1]).mean(0) - feats(fake).mean(0)) ** 2)
  np.testing.assert_allclose(metrics["g_loss"], want, rtol=1e-4)


def _labelled(cfg, **model_kwargs):
  G, D = make_models("mlp", (2,), width=8, depth=2, num_classes=4, **model_kwargs)
  state = create_state(jax.random.PRNGKey(0), G, D, optax.sgd(LR), optax.sgd(LR), LATENT, (2,),
                       num_classes=4)
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (cfg.n_critic, 64, 2)),
           "label": jax.random.randint(jax.random.PRNGKey(2), (cfg.n_critic, 64), 0, 4)}
  return state, batch


def test_acgan_class_losses_start_near_log_k():
  cfg = StepConfig(game="non_saturating", latent_dim=LATENT, num_classes=4, conditional_g=True,
                   aux_weight_d=1.0, aux_weight_g=1.0)
  state, batch = _labelled(cfg, conditional_g=True, aux_classifier=True)
  _, metrics = jax.jit(make_train_step(cfg))(state, batch)
  # Near-zero initial class logits: cross-entropy log(4) on real and on generated samples.
  np.testing.assert_allclose(metrics["d_class_loss"], 2 * np.log(4), rtol=0.15)
  np.testing.assert_allclose(metrics["g_class_loss"], np.log(4), rtol=0.15)
  assert 0.0 <= float(metrics["d_real_class_accuracy"]) <= 1.0


def test_only_d_sees_labels():
  cfg = StepConfig(game="non_saturating", latent_dim=LATENT, num_classes=4, aux_weight_d=1.0,
                   aux_weight_g=1.0)
  state, batch = _labelled(cfg, aux_classifier=True)
  _, metrics = jax.jit(make_train_step(cfg))(state, batch)
  np.testing.assert_allclose(metrics["d_class_loss"], np.log(4), rtol=0.15)  # Real only.
  assert "g_class_loss" not in metrics


def test_projection_discriminator_step_and_missing_labels():
  cfg = StepConfig(game="hinge", latent_dim=LATENT, num_classes=4, conditional_g=True,
                   d_labels=True, n_critic=2)
  state, batch = _labelled(cfg, conditional_g=True, d_conditioning="projection")
  new, metrics = jax.jit(make_train_step(cfg))(state, batch)
  assert np.isfinite(float(metrics["d_loss"])) and int(new.step) == 1
  with pytest.raises(ValueError, match="class labels"):
    make_train_step(cfg)(state, batch["image"])


def test_bfloat16_compute_keeps_float32_parameters_and_a_finite_penalty():
  cfg = StepConfig(game="wasserstein", latent_dim=16, penalty="gradient_penalty",
                   penalty_weight=10.0, n_critic=2)
  G, D = make_models("dcgan", (28, 28, 1), features=4, d_norm="none", dtype="bfloat16")
  tx = make_optimizer("adam", 1e-4, b1=0.0, b2=0.9)
  state = create_state(jax.random.PRNGKey(0), G, D, tx, tx, 16, (28, 28, 1))
  batch = jnp.tanh(jax.random.normal(jax.random.PRNGKey(1), (2, 8, 28, 28, 1)))
  step = jax.jit(make_train_step(cfg))
  for _ in range(3):
    state, metrics = step(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  assert float(metrics["d_penalty"]) > 0 and metrics["d_loss"].dtype == jnp.float32
  assert {p.dtype for p in jax.tree.leaves((state.g.params, state.d.params))} == \
      {np.dtype(np.float32)}
  assert state.g(jnp.zeros((1, 16))).dtype == jnp.bfloat16  # The compute really is bf16.
