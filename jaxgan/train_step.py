"""The compiled train step: ``(state, batch) -> (state, metrics)`` updating both players.

One call runs ``n_critic`` discriminator updates (a ``lax.scan``, each on its own real
minibatch ``batch[i]``) and one generator update. Two schedules (tutorial sec. 3.2 and
4.2):

- 'simultaneous': the generator's gradient is taken against the discriminator as it
  was at the start of the step, i.e. both players' gradients come from the same state
  (simultaneous gradient descent, as the tutorial describes the game);
- 'alternating': the generator's gradient is taken against the discriminator after
  its ``n_critic`` updates (the WGAN / WGAN-GP algorithms).

What the step computes comes in as functions (``StepConfig``: a ``losses.Game``, a
penalty, a constraint on D's parameters); its numbers (penalty weight, label smoothing,
clip bound, EMA decay, AC-GAN weights, and in the optimizer states the learning rates)
are arrays in the train state, so changing them never recompiles and ``jax.vmap`` can
train several variants at once.

Class labels (tutorial sec. 4.1): a conditional G draws the labels of the real
minibatch it is trained against (a sample of the data's label distribution), so D sees
real and generated samples of the same classes, and a label-conditioned critic's
penalty has one label per interpolated pair. D may carry an auxiliary classifier
(AC-GAN): its cross-entropy is added to D's cost on real data (and on G's samples when G
is conditional) and to G's cost on its samples. Feature matching replaces G's cost; G's
parameters are also tracked by an exponential moving average ``g_ema`` when the state
keeps one.

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
from jaxgan.packing import pack, packed_shape
from jaxgan.player import Player, generate, per_example
from jaxgan.train_state import GANState

Array = jax.Array
Metrics = dict[str, Array]
Batch = Union[Array, dict]

MODES = ("simultaneous", "alternating")
FULL_UNROLL_MAX = 16  # StepConfig.critic_unroll=None: unroll all critic steps up to this,
BOUNDED_UNROLL = 4    # and this many per loop iteration above it.


def critic_unroll(n_critic: int, unroll: Union[int, bool, None] = None) -> Union[int, bool]:
  """``lax.scan``'s ``unroll`` for ``n_critic`` critic steps (see StepConfig.critic_unroll)."""
  if unroll is None:
    return True if n_critic <= FULL_UNROLL_MAX else BOUNDED_UNROLL
  return unroll


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """The structure of the step: what changes the compiled program. Numbers are in the state.

  Attributes:
    game: the players' costs, a ``losses.Game`` (or the name of one in ``losses.GAMES``).
    penalty: ``penalty(critic, real, fake, key) -> scalar`` added to D's cost times
      ``hparams.penalty_weight`` (or a name in ``penalties.PENALTIES``); None: no penalty.
    d_constraint: ``constraint(params, hparams) -> params`` applied to D's parameters
      after each of its updates (``penalties.weight_clipping``); None: none.
    n_critic: D updates per G update.
    critic_unroll: ``lax.scan``'s ``unroll`` for the critic steps (True: all of them;
      k: k steps per loop iteration). None (the default) unrolls all of them up to
      ``FULL_UNROLL_MAX`` critic steps and ``BOUNDED_UNROLL`` above: straight-line code
      runs faster on XLA:CPU and fuses across steps on GPUs, but its compile time grows
      with ``n_critic`` (a 16-unit MLP with n_critic=200 did not compile in 5 minutes).
    mode: 'alternating' or 'simultaneous'.
    acgan: add AC-GAN's class cross-entropies (weights ``hparams.aux_weight_d`` and
      ``aux_weight_g``); needs a D with a 'class_logits' output and labelled data.
    feature_matching: G's cost is ||E f(x) - E f(G(z))||^2 on D's 'features' output
      (Salimans et al. 2016, sec. 3.1) instead of the game's.
    pack: D judges packs of this many samples (PacGAN, ``jaxgan.packing``); real and
      generated batches are packed after augmentation, and the penalty sees the packs.
    augment: ``augment(x, key) -> x`` applied to real and generated samples before D in
      both players' costs (DiffAugment, ``jaxgan.augment``); None: none.
  """

  game: Union[str, losses.Game] = "non_saturating"
  penalty: Union[str, penalties.Penalty, None] = None
  d_constraint: Union[penalties.Constraint, None] = None
  n_critic: int = 1
  critic_unroll: Union[int, bool, None] = None
  mode: str = "alternating"
  acgan: bool = False
  feature_matching: bool = False
  pack: int = 1
  augment: Union[Callable, None] = None


def _prefix(prefix: str, metrics: Metrics) -> Metrics:
  return {f"{prefix}_{k}": v for k, v in metrics.items()}


def _f32(tree):
  """Losses are computed in float32 also when the nets compute in bfloat16."""
  return jax.tree.map(lambda x: x.astype(jnp.float32), tree)


def _class_loss(logits: Array, labels: Array) -> Array:
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def _update(player: Player, loss_fn: Callable) -> tuple[Player, Metrics]:
  """One optimizer step of ``player`` on ``loss_fn(params) -> (loss, (metrics, stats))``."""
  (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      player.params)
  metrics = dict(metrics, total=loss, grad_norm=optax.tree.norm(grads))
  return player.apply_gradients(grads, batch_stats), metrics


def _check_players(cfg: StepConfig, g: Player, d: Player, labelled: bool,
                   example_shape: tuple) -> None:
  """What the step needs from the players and the batch, checked once, while tracing."""
  aux = d.interface.aux_outputs
  want = packed_shape(example_shape, cfg.pack)
  if d.interface.input_shape != want:
    raise ValueError(f"the discriminator takes examples of shape {d.interface.input_shape}, but "
                     f"the batch's examples are {example_shape}"
                     + (f", packed by {cfg.pack}: {want} (create_state(..., pack={cfg.pack}))"
                        if cfg.pack > 1 else ""))
  if cfg.pack > 1 and (cfg.acgan or d.interface.labels):
    raise ValueError(f"StepConfig.pack={cfg.pack} with a discriminator that takes labels or an "
                     "AC-GAN head: a pack of m samples has no one label; use pack=1")
  if cfg.acgan and "class_logits" not in aux:
    raise ValueError("StepConfig.acgan=True needs a discriminator with a class head: its "
                     "__call__ must declare with_aux and return (logits, {'class_logits': ...})"
                     f"; this one's auxiliary outputs: {', '.join(aux) or 'none'}")
  if cfg.feature_matching and "features" not in aux:
    raise ValueError("StepConfig.feature_matching=True needs a discriminator whose with_aux "
                     f"outputs hold 'features'; this one's: {', '.join(aux) or 'none'}")
  needs = [why for why, on in (("the generator is class-conditional", g.interface.labels),
                               ("the discriminator takes labels", d.interface.labels),
                               ("StepConfig.acgan is on", cfg.acgan)) if on]
  if needs and not labelled:
    raise ValueError(f"{' and '.join(needs)}, but the batch has no 'label' "
                     "(pass {'image': ..., 'label': ...})")


def make_train_step(cfg: StepConfig) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """Returns the (not yet jitted) step.

  Args:
    cfg: the step's structure; names of games and penalties are looked up here.

  Returns:
    ``step(state, batch) -> (state, metrics)``. ``batch`` is the real data of the
    ``n_critic`` discriminator updates: an array (n_critic, B, *data_shape), or a dict
    with 'image' of that shape and, for labelled data, 'label' (n_critic, B). Metrics
    are scalars: D's (averaged over the critic steps) prefixed ``d_``, G's ``g_``.
  """
  game = losses.get_game(cfg.game)
  penalty = penalties.get_penalty(cfg.penalty)
  if not isinstance(cfg.pack, int) or cfg.pack < 1:
    raise ValueError(f"StepConfig.pack must be an integer >= 1, got {cfg.pack!r}")

  def d_input(x: Array, key: Array) -> Array:
    """What D sees of a batch: augmented (DiffAugment), then packed (PacGAN)."""
    if cfg.augment is not None:
      x = cfg.augment(x, jax.random.fold_in(key, 7))  # Its own stream: the step's is unchanged.
    return pack(x, cfg.pack)
  if cfg.mode not in MODES:
    raise ValueError(f"StepConfig.mode={cfg.mode!r} is not one of: {', '.join(MODES)}")
  if not isinstance(cfg.n_critic, int) or cfg.n_critic < 1:
    raise ValueError(f"StepConfig.n_critic must be an integer >= 1, got {cfg.n_critic!r}")

  def d_outputs(d: Player, params, stats, x: Array, y: Array, with_aux: bool = False):
    """((logits (B,) in float32, aux), D's batch statistics); aux is {} unless asked for."""
    out, stats = d.apply(params, stats, x, labels=y, with_aux=with_aux)
    logits, aux = out if with_aux else (out, {})
    return _f32((per_example(logits, x.shape[0]), aux)), stats

  def d_loss_fn(params, state: GANState, d: Player, real: Array, y: Array, key: Array):
    hp = state.hparams
    k_z, k_pen = jax.random.split(key)
    fake, _ = generate(state.g, k_z, real.shape[0], labels=y, train=True)
    real, fake = d_input(real, key), d_input(jax.lax.stop_gradient(fake), key)
    (real_out, aux_r), stats = d_outputs(d, params, d.batch_stats, real, y, cfg.acgan)
    (fake_out, aux_f), stats = d_outputs(d, params, stats, fake, y, cfg.acgan)
    smoothing = (dict(real_label_smoothing=hp.real_label_smoothing, fake_label=hp.fake_label)
                 if game.smoothable else {})
    loss = game.d_loss(real_out, fake_out, **smoothing)
    metrics = {"loss": loss, "real": jnp.mean(real_out), "fake": jnp.mean(fake_out)}
    total = loss
    if cfg.acgan:
      class_loss = _class_loss(aux_r["class_logits"], y)
      metrics["real_class_accuracy"] = jnp.mean(jnp.argmax(aux_r["class_logits"], -1) == y)
      if state.g.interface.labels:  # AC-GAN: D also names the class G was asked for.
        class_loss += _class_loss(aux_f["class_logits"], y)
      metrics["class_loss"] = class_loss
      total += hp.aux_weight_d * class_loss
    if penalty is not None:
      critic = lambda x: d_outputs(d, params, stats, x, y)[0][0]
      metrics["penalty"] = penalty(critic, real, fake, k_pen)
      total += hp.penalty_weight * metrics["penalty"]
    return total, (metrics, stats)

  def g_loss_fn(params, state: GANState, d: Player, real: Array, y: Array, key: Array):
    g, with_aux = state.g, cfg.acgan or cfg.feature_matching
    fake, stats = generate(g, key, real.shape[0], labels=y, params=params, train=True)
    (fake_out, aux_f), _ = d_outputs(d, d.params, d.batch_stats, d_input(fake, key), y,
                                     with_aux)
    if cfg.feature_matching:
      (_, aux_r), _ = d_outputs(d, d.params, d.batch_stats, d_input(real, key), y, with_aux)
      loss = jnp.sum(jnp.square(jnp.mean(aux_r["features"], 0) - jnp.mean(aux_f["features"], 0)))
    else:
      loss = game.g_loss(fake_out)
    metrics = {"loss": loss}
    if cfg.acgan and g.interface.labels:
      metrics["class_loss"] = _class_loss(aux_f["class_logits"], y)
      loss += state.hparams.aux_weight_g * metrics["class_loss"]
    return loss, (metrics, stats)

  def step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    if not isinstance(batch, dict):
      batch = {"image": batch}
    images, labels = batch["image"], batch.get("label")
    if images.shape[0] != cfg.n_critic:
      raise ValueError(f"batch must have leading axis n_critic={cfg.n_critic}, "
                       f"got shape {images.shape}")
    _check_players(cfg, state.g, state.d, labels is not None, tuple(images.shape[2:]))
    if labels is None:
      labels = jnp.zeros(images.shape[:2], jnp.int32)  # Unused placeholders.
    key = jax.random.fold_in(state.key, state.step)
    k_d, k_g = jax.random.split(key)

    def update_g(d: Player) -> tuple[Player, Metrics]:
      return _update(state.g, lambda p: g_loss_fn(p, state, d, images[-1], labels[-1], k_g))

    def critic_step(d: Player, xs) -> tuple[Player, Metrics]:
      real, y, k = xs
      d, metrics = _update(d, lambda p: d_loss_fn(p, state, d, real, y, k))
      if cfg.d_constraint is not None:
        d = d.replace(params=cfg.d_constraint(d.params, state.hparams))
      return d, metrics

    if cfg.mode == "simultaneous":
      g, g_metrics = update_g(state.d)
    xs = (images, labels, jax.random.split(k_d, cfg.n_critic))
    if cfg.n_critic == 1:  # Even unrolled, a one-step scan stays a loop: call the body.
      d, d_metrics = critic_step(state.d, jax.tree.map(lambda a: a[0], xs))
    else:
      d, d_metrics = jax.lax.scan(critic_step, state.d, xs,
                                  unroll=critic_unroll(cfg.n_critic, cfg.critic_unroll))
    if cfg.mode == "alternating":
      g, g_metrics = update_g(d)
    d_metrics = jax.tree.map(jnp.mean, d_metrics)  # Averaged over the critic steps.
    metrics = {**_prefix("d", d_metrics), **_prefix("g", g_metrics)}
    metrics["d_real_minus_fake"] = d_metrics["real"] - d_metrics["fake"]
    g_ema = state.g_ema
    if g_ema is not None:
      decay = state.hparams.ema_decay
      g_ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, g_ema, g.params)
    # Divergence guard: a step whose losses or gradient norms are not finite changes no
    # parameter (the caller decides whether to stop or go on).
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
    g, d, g_ema = jax.tree.map(lambda new, old: jnp.where(finite, new, old), (g, d, g_ema),
                               (state.g, state.d, state.g_ema))
    metrics["nonfinite"] = jnp.logical_not(finite).astype(jnp.float32)
    return state.replace(step=state.step + 1, g=g, d=d, g_ema=g_ema), metrics

  return step
