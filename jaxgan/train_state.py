"""One pytree for the whole game: both players, the step's numbers, the step counter and key."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxgan.hparams import NAMES, HParams, make_hparams
from jaxgan.packing import packed_shape
from jaxgan.player import Player, generate, init_player

Array = jax.Array
PyTree = Any


@struct.dataclass
class GANState:
  """The train state: generator ``g``, discriminator ``d``, ``step``, base ``key``, ``hparams``.

  ``g_ema`` is an exponential moving average of G's parameters for sampling, or None
  when the run keeps none. The key of step ``s`` is ``fold_in(key, s)``, so a run is a
  function of its seed. ``hparams`` holds the step's numeric hyperparameters; the
  players' optimizer states hold theirs (learning rates, betas).
  """

  step: Array
  key: Array
  g: Player
  d: Player
  hparams: HParams = HParams()
  g_ema: PyTree = None

  def generator(self, use_ema: bool = True) -> Player:
    """G for sampling: with the moving-average parameters if kept and ``use_ema``."""
    return self.g.replace(params=self.g_ema) if use_ema and self.g_ema is not None else self.g

  def sample(self, key: Array, n: int, labels: Array | None = None,
             use_ema: bool = True) -> Array:
    """``n`` samples of G in evaluation mode (the moving average when kept and ``use_ema``)."""
    return generate(self.generator(use_ema), key, n, labels=labels)[0]

  def hyperparameters(self) -> dict[str, Array]:
    """Every numeric hyperparameter by name, the optimizers' as 'g.learning_rate', 'd.b1'..."""
    out = {name: getattr(self.hparams, name) for name in NAMES}
    for prefix, player in (("g", self.g), ("d", self.d)):
      out.update({f"{prefix}.{k}": v for k, v in player.optimizer_hyperparameters().items()})
    return out

  def with_hyperparameters(self, values: Mapping[str, Any]) -> "GANState":
    """The state with some hyperparameters replaced, named as in ``hyperparameters()``.

    The new values take the dtype of the old ones; a leading axis (one value per
    variant) is kept, for training variants under ``jax.vmap``.

    Raises:
      KeyError: naming a hyperparameter the state does not have.
    """
    unknown = sorted(set(values) - set(self.hyperparameters()))
    if unknown:
      raise KeyError(f"unknown hyperparameter(s) {', '.join(unknown)}; this state has: "
                     f"{', '.join(self.hyperparameters())}")
    own = {k: jnp.asarray(v, jnp.float32) for k, v in values.items() if k in NAMES}
    state = self.replace(hparams=self.hparams.replace(**own))
    for prefix in ("g", "d"):
      mine = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")}
      if mine:
        player = getattr(state, prefix).with_optimizer_hyperparameters(mine)
        state = state.replace(**{prefix: player})
    return state


def create_state(
    key: Array,
    generator: nn.Module,
    discriminator: nn.Module,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    latent_dim: int,
    data_shape: Sequence[int],
    num_classes: int = 0,
    ema: bool = False,
    hparams: HParams | None = None,
    pack: int = 1,
) -> GANState:
  """Initialises both players and finds out what each module accepts.

  Args:
    key: PRNG key (``jax.random.key(seed)``); split into the players' initialisation keys
      and the run's base key.
    generator, discriminator: any Flax modules (see ``jaxgan.player`` for what they may
      declare).
    g_tx, d_tx: the players' optimizers (``jaxgan.optimizers.make_optimizer`` keeps
      learning rates and betas in the optimizer state, so they can be changed and vmapped).
    latent_dim: size of G's input.
    data_shape: shape of one real example, without the batch axis.
    num_classes: classes of the data's labels (0: unlabelled).
    ema: keep a moving average of G's parameters (starting from a copy of them).
    hparams: the step's numeric hyperparameters (default: all 0); copied into the state.
    pack: D takes packs of this many examples (``StepConfig.pack``, PacGAN).

  Returns:
    The train state at step 0.
  """
  k_g, k_d, k_run = jax.random.split(key, 3)
  g = init_player(generator, g_tx, k_g, (latent_dim,), num_classes)
  d = init_player(discriminator, d_tx, k_d, packed_shape(data_shape, pack), num_classes,
                  discriminator=True)
  return GANState(step=jnp.zeros((), jnp.int32), key=k_run, g=g, d=d,
                  # A copy: the caller's arrays survive a step that donates the state.
                  hparams=make_hparams() if hparams is None else jax.tree.map(jnp.array, hparams),
                  g_ema=jax.tree.map(jnp.copy, g.params) if ema else None)
