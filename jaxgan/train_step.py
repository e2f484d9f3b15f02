"""The compiled train step: ``(state, batch) -> (state, metrics)`` updating both players.

One call runs ``n_critic`` discriminator updates (a ``lax.scan``, each on its own real
minibatch ``batch[i]``) and one generator update. Two schedules (tutorial sec. 3.2 and
4.2):

- 'simultaneous': the generator's gradient is taken against the discriminator as it
  was at the start of the step, i.e. both players' gradients come from the same state
  (simultaneous gradient descent, as the tutorial describes the game);
- 'alternating': the generator's gradient is taken against the discriminator after
  its ``n_critic`` updates (the WGAN / WGAN-GP algorithms).

Class labels (tutorial sec. 4.1): a conditional G gets labels drawn uniformly; D may be
conditioned on labels and/or carry an auxiliary classifier (AC-GAN), whose cross-entropy
is added to D's cost on real data (and on G's samples when G is conditional) and to G's
cost on its samples. Feature matching replaces G's cost; G's parameters are also
tracked by an exponential moving average ``g_ema``.

Both players are updated by the same function, ``_update``; only their losses differ.
A step whose losses or gradient norms are not finite leaves both players unchanged and
reports ``metrics['nonfinite'] = 1``.
Batch norm in D sees the real and the generated minibatch in separate calls, so each
is normalised with its own statistics. D's running statistics are updated by D's own
updates only, G's by G's own update only.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Union

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses, penalties
from jaxgan.train_state import GANState, Player

Array = jax.Array
Metrics = dict[str, Array]
Batch = Union[Array, dict]

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
  # Unrolling of the critic scan (lax.scan's ``unroll``; True: all n_critic steps).
  # XLA:CPU runs loop bodies several times slower than straight-line code (WGAN-GP-32,
  # 5 critic steps, 2 cores: 110 ms rolled, 45 ms unrolled), and GPUs gain from fusing
  # across steps; 1 keeps a rolled loop, for compile time with large n_critic.
  critic_unroll: int | bool = True
  mode: str = "alternating"
  num_classes: int = 0        # Classes of the labelled data (0: labels unused).
  conditional_g: bool = False  # G gets a label, drawn uniformly for each sample.
  d_labels: bool = False      # D's logit is conditioned on the label (concat / projection).
  aux_weight_d: float = 0.0   # AC-GAN: weight of D's class cross-entropy (needs its aux head).
  aux_weight_g: float = 0.0   # AC-GAN: weight of G's class cross-entropy on its samples.
  feature_matching: bool = False  # G's cost: ||E f(x) - E f(G(z))||^2 on D's features.
  ema_decay: float = 0.0      # Moving average of G's parameters (0: none is kept).


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


def _f32(tree):
  """Losses are computed in float32 also when the nets compute in bfloat16."""
  return jax.tree.map(lambda x: x.astype(jnp.float32), tree)


def _class_loss(logits: Array, labels: Array) -> Array:
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def make_train_step(cfg: StepConfig) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Returns the (not yet jitted) step.

  ``batch`` is the real data for the n_critic discriminator updates: an array
  (n_critic, B, *data_shape), or a dict with 'image' of that shape and, for labelled
  data, 'label' (n_critic, B).
  """
  game = losses.get_game(cfg.game)
  if cfg.mode not in MODES:
    raise ValueError(f"config.train.mode={cfg.mode!r} is not one of: {', '.join(MODES)}")
  if cfg.penalty not in penalties.PENALTIES:
    raise ValueError(f"config.penalty.name={cfg.penalty!r} is not one of: "
                     f"{', '.join(penalties.PENALTIES)}")
  smoothing = dict(alpha=cfg.alpha, beta=cfg.beta) if game.smoothable else {}
  acgan_fakes = cfg.conditional_g and cfg.aux_weight_d > 0

  def sample_fake(g: Player, key: Array, n: int, params=None):
    """(images, labels or None, G's batch stats after the call)."""
    y = None
    if cfg.conditional_g:
      key, k_y = jax.random.split(key)
      y = jax.random.randint(k_y, (n,), 0, cfg.num_classes)
    z = jax.random.normal(key, (n, cfg.latent_dim), jnp.float32)
    x, stats = g.apply(g.params if params is None else params, g.batch_stats, z, labels=y)
    return x, y, stats

  def d_labels(y):
    return y if cfg.d_labels else None

  def d_loss_fn(params, d: Player, g: Player, real: Array, y_real, key: Array):
    k_z, k_pen = jax.random.split(key)
    fake, y_fake, _ = sample_fake(g, k_z, real.shape[0])
    fake = jax.lax.stop_gradient(fake)
    (real_out, aux_r), stats = d.apply(params, d.batch_stats, real, labels=d_labels(y_real),
                                       with_aux=True)
    (fake_out, aux_f), stats = d.apply(params, stats, fake, labels=d_labels(y_fake),
                                       with_aux=True)
    real_out, aux_r, fake_out, aux_f = _f32((real_out, aux_r, fake_out, aux_f))
    loss = game.d_loss(real_out, fake_out, **smoothing)
    metrics = {"loss": loss, "real": jnp.mean(real_out), "fake": jnp.mean(fake_out)}
    total = loss
    if cfg.aux_weight_d:
      class_loss = _class_loss(aux_r["class_logits"], y_real)
      metrics["real_class_accuracy"] = jnp.mean(
          jnp.argmax(aux_r["class_logits"], -1) == y_real)
      if acgan_fakes:  # AC-GAN: D also names the class G was asked for.
        class_loss += _class_loss(aux_f["class_logits"], y_fake)
      metrics["class_loss"] = class_loss
      total += cfg.aux_weight_d * class_loss
    on_fake = cfg.penalty == "r2"
    labels = d_labels(y_fake if on_fake else y_real)
    critic = lambda x: d.apply(params, stats, x, labels=labels)[0].astype(jnp.float32)
    pen = penalties.penalty(cfg.penalty, critic, real, fake, k_pen, cfg.one_sided)
    metrics["penalty"] = pen
    return total + cfg.penalty_weight * pen, (metrics, stats)

  def g_loss_fn(params, g: Player, d: Player, real: Array, y_real, key: Array):
    fake, y, stats = sample_fake(g, key, real.shape[0], params)
    fake_out, aux_f = _f32(d.apply(d.params, d.batch_stats, fake, labels=d_labels(y),
                                   with_aux=True)[0])
    if cfg.feature_matching:  # Salimans et al. 2016, sec. 3.1.
      _, aux_r = _f32(d.apply(d.params, d.batch_stats, real, labels=d_labels(y_real),
                              with_aux=True)[0])
      loss = jnp.sum(jnp.square(jnp.mean(aux_r["features"], 0) - jnp.mean(aux_f["features"], 0)))
    else:
      loss = game.g_loss(fake_out)
    metrics = {"loss": loss}
    if cfg.aux_weight_g and cfg.conditional_g:
      metrics["class_loss"] = _class_loss(aux_f["class_logits"], y)
      loss += cfg.aux_weight_g * metrics["class_loss"]
    return loss, (metrics, stats)

  def step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    if not isinstance(batch, dict):
      batch = {"image": batch}
    images, labels = batch["image"], batch.get("label")
    if images.shape[0] != cfg.n_critic:
      raise ValueError(f"batch must have leading axis n_critic={cfg.n_critic}, "
                       f"got shape {images.shape}")
    if labels is None and (cfg.d_labels or cfg.aux_weight_d):
      raise ValueError("this configuration uses class labels, but the batch has no 'label'")
    if labels is None:
      labels = jnp.zeros(images.shape[:2], jnp.int32)  # Unused placeholders.
    key = jax.random.fold_in(state.key, state.step)
    k_d, k_g = jax.random.split(key)

    def update_g(d: Player) -> tuple[Player, Metrics]:
      return _update(state.g, lambda p: g_loss_fn(p, state.g, d, images[-1], labels[-1], k_g))

    def critic_step(d: Player, xs) -> tuple[Player, Metrics]:
      real, y, k = xs
      d, metrics = _update(d, lambda p: d_loss_fn(p, d, state.g, real, y, k))
      if cfg.clip > 0:
        d = d.replace(params=penalties.clip_weights(d.params, cfg.clip))
      return d, metrics

    if cfg.mode == "simultaneous":
      g, g_metrics = update_g(state.d)
    xs = (images, labels, jax.random.split(k_d, cfg.n_critic))
    if cfg.n_critic == 1:  # Even unrolled, a one-step scan stays a loop: call the body.
      d, d_metrics = critic_step(state.d, jax.tree.map(lambda a: a[0], xs))
    else:
      d, d_metrics = jax.lax.scan(critic_step, state.d, xs, unroll=cfg.critic_unroll)
    if cfg.mode == "alternating":
      g, g_metrics = update_g(d)
    d_metrics = jax.tree.map(jnp.mean, d_metrics)  # Averaged over the critic steps.
    metrics = {**_prefix("d", d_metrics), **_prefix("g", g_metrics)}
    metrics["d_real_minus_fake"] = d_metrics["real"] - d_metrics["fake"]
    decay = cfg.ema_decay
    if (state.g_ema is None) != (decay == 0):
      raise ValueError(f"ema_decay={decay} but the state {'has no' if decay else 'has a'} "
                       "g_ema; create it with create_state(..., ema=ema_decay > 0)")
    g_ema = (jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state.g_ema, g.params)
             if decay else None)
    # Divergence guard: a step whose losses or gradient norms are not finite changes no
    # parameter (the caller decides whether to stop or go on).
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
    g, d, g_ema = jax.tree.map(lambda new, old: jnp.where(finite, new, old), (g, d, g_ema),
                               (state.g, state.d, state.g_ema))
    metrics["nonfinite"] = jnp.logical_not(finite).astype(jnp.float32)
    return state.replace(step=state.step + 1, g=g, d=d, g_ema=g_ema), metrics

  return step
