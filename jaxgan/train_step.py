"""The compiled train step: ``(state, batch) -> (state, metrics)`` updating both players.

One call runs ``n_critic`` discriminator updates (a ``lax.scan``, each on its own real
minibatch ``batch[i]``) and one generator update. Two schedules (tutorial sec. 3.2 and
4.2):

- 'simultaneous': the generator's gradient is taken against the discriminator as it
  was at the start of the step, i.e. both players' gradients come from the same state
  (simultaneous gradient descent, as the tutorial describes the game);
- 'alternating': the generator's gradient is taken against the discriminator after
  its ``n_critic`` updates (the WGAN / WGAN-GP algorithms).

Both players are updated by the same function, ``_update``; only their losses differ.
A step whose losses or gradient norms are not finite leaves both players unchanged and
reports ``metrics['nonfinite'] = 1``.
Batch norm in D sees the real and the generated minibatch in separate calls, so each
is normalised with its own statistics. D's running statistics are updated by D's own
updates only, G's by G's own update only.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from jaxgan import losses, penalties
from jaxgan.train_state import GANState, Player

Array = jax.Array
Metrics = dict[str, Array]

MODES = ("simultaneous", "alternating")


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """What the step computes; every field is a plain value (hashable, static under jit)."""

  game: str = "non_saturating"
  latent_dim: int = 2
  alpha: float = 0.0          # One-sided label smoothing: real target 1 - alpha.
  beta: float = 0.0           # Fake target (harmful two-sided smoothing when > 0).
  penalty: str = "none"       # One of penalties.PENALTIES.
  penalty_weight: float = 0.0
  one_sided: bool = False     # One-sided gradient penalty.
  clip: float = 0.0           # WGAN weight clipping of D's parameters when > 0.
  n_critic: int = 1
  mode: str = "alternating"


def _global_norm(tree) -> Array:
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def _update(player: Player, loss_fn: Callable) -> tuple[Player, Metrics]:
  """One optimizer step of ``player`` on ``loss_fn(params) -> (loss, (metrics, stats))``."""
  (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      player.params)
  metrics = dict(metrics, total=loss, grad_norm=_global_norm(grads))
  return player.apply_gradients(grads, batch_stats), metrics


def _prefix(prefix: str, metrics: Metrics) -> Metrics:
  return {f"{prefix}_{k}": v for k, v in metrics.items()}


def make_train_step(cfg: StepConfig) -> Callable[[GANState, Array], tuple[GANState, Metrics]]:
  """Returns the (not yet jitted) step; ``batch`` has shape (n_critic, B, *data_shape)."""
  game = losses.get_game(cfg.game)
  if cfg.mode not in MODES:
    raise ValueError(f"config.train.mode={cfg.mode!r} is not one of: {', '.join(MODES)}")
  if cfg.penalty not in penalties.PENALTIES:
    raise ValueError(f"config.penalty.name={cfg.penalty!r} is not one of: "
                     f"{', '.join(penalties.PENALTIES)}")
  smoothing = dict(alpha=cfg.alpha, beta=cfg.beta) if game.smoothable else {}

  def sample_fake(g: Player, key: Array, n: int, params=None) -> tuple[Array, dict]:
    z = jax.random.normal(key, (n, cfg.latent_dim), jnp.float32)
    return g.apply(g.params if params is None else params, g.batch_stats, z, train=True)

  def d_loss_fn(params, d: Player, g: Player, real: Array, key: Array):
    k_z, k_pen = jax.random.split(key)
    fake = jax.lax.stop_gradient(sample_fake(g, k_z, real.shape[0])[0])
    real_out, stats = d.apply(params, d.batch_stats, real)
    fake_out, stats = d.apply(params, stats, fake)
    loss = game.d_loss(real_out, fake_out, **smoothing)
    critic = lambda x: d.apply(params, stats, x)[0]
    pen = penalties.penalty(cfg.penalty, critic, real, fake, k_pen, cfg.one_sided)
    metrics = {"loss": loss, "penalty": pen, "real": jnp.mean(real_out),
               "fake": jnp.mean(fake_out)}
    return loss + cfg.penalty_weight * pen, (metrics, stats)

  def g_loss_fn(params, g: Player, d: Player, key: Array, n: int):
    fake, stats = sample_fake(g, key, n, params)
    fake_out, _ = d.apply(d.params, d.batch_stats, fake)
    loss = game.g_loss(fake_out)
    return loss, ({"loss": loss}, stats)

  def step(state: GANState, batch: Array) -> tuple[GANState, Metrics]:
    if batch.shape[0] != cfg.n_critic:
      raise ValueError(f"batch must have leading axis n_critic={cfg.n_critic}, "
                       f"got shape {batch.shape}")
    key = jax.random.fold_in(state.key, state.step)
    k_d, k_g = jax.random.split(key)
    n = batch.shape[1]

    def update_g(d: Player) -> tuple[Player, Metrics]:
      return _update(state.g, lambda p: g_loss_fn(p, state.g, d, k_g, n))

    def critic_step(d: Player, xs) -> tuple[Player, Metrics]:
      real, k = xs
      d, metrics = _update(d, lambda p: d_loss_fn(p, d, state.g, real, k))
      if cfg.clip > 0:
        d = d.replace(params=penalties.clip_weights(d.params, cfg.clip))
      return d, metrics

    if cfg.mode == "simultaneous":
      g, g_metrics = update_g(state.d)
    d, d_metrics = jax.lax.scan(critic_step, state.d,
                                (batch, jax.random.split(k_d, cfg.n_critic)))
    if cfg.mode == "alternating":
      g, g_metrics = update_g(d)
    d_metrics = jax.tree.map(jnp.mean, d_metrics)  # Averaged over the critic steps.
    metrics = {**_prefix("d", d_metrics), **_prefix("g", g_metrics)}
    metrics["d_real_minus_fake"] = d_metrics["real"] - d_metrics["fake"]
    # Divergence guard: a step whose losses or gradient norms are not finite changes no
    # parameter (the caller decides whether to stop or go on).
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
    g, d = jax.tree.map(lambda new, old: jnp.where(finite, new, old), (g, d),
                        (state.g, state.d))
    metrics["nonfinite"] = jnp.logical_not(finite).astype(jnp.float32)
    return state.replace(step=state.step + 1, g=g, d=d), metrics

  return step
