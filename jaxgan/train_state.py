"""One pytree for the whole game: both players, the step counter and the PRNG key."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

Array = jax.Array
PyTree = Any


@struct.dataclass
class Player:
  """One player's parameters, batch-norm statistics and optimizer state.

  ``apply_fn`` (the Flax module's apply) and ``tx`` (the optax optimizer) are static:
  they are not leaves of the pytree and are not checkpointed.
  """

  params: PyTree
  batch_stats: PyTree
  opt_state: optax.OptState
  apply_fn: Callable = struct.field(pytree_node=False)
  tx: optax.GradientTransformation = struct.field(pytree_node=False)

  def apply(self, params: PyTree, batch_stats: PyTree, x: Array, train: bool = True,
            **kwargs) -> tuple[Any, PyTree]:
    """Runs the module on ``x`` (``kwargs``: labels, with_aux); returns (output, new stats).

    In training mode, batch norm uses the statistics of ``x`` alone and the returned
    running averages include it; in evaluation mode the running averages are used and
    returned unchanged. ('batch_stats' also holds other untrained state, such as the
    reference batch of reference/virtual batch norm.)
    """
    variables = {"params": params}
    if batch_stats:
      variables["batch_stats"] = batch_stats
    if train and batch_stats:
      out, updates = self.apply_fn(variables, x, train=True, mutable=["batch_stats"], **kwargs)
      return out, updates["batch_stats"]
    return self.apply_fn(variables, x, train=train, **kwargs), batch_stats

  def __call__(self, x: Array, train: bool = False, **kwargs) -> Any:
    """Output of the module at the current parameters (evaluation mode by default)."""
    return self.apply(self.params, self.batch_stats, x, train, **kwargs)[0]

  def apply_gradients(self, grads: PyTree, batch_stats: PyTree) -> "Player":
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    return self.replace(params=optax.apply_updates(self.params, updates),
                        batch_stats=batch_stats, opt_state=opt_state)


@struct.dataclass
class GANState:
  """The train state: generator ``g``, discriminator ``d``, ``step`` and base ``key``.

  ``g_ema`` is an exponential moving average of G's parameters for sampling, or None
  when the run keeps none. The key of step ``s`` is ``fold_in(key, s)``, so a run is a
  function of its seed.
  """

  step: Array
  key: Array
  g: Player
  d: Player
  g_ema: PyTree = None

  def generator(self, use_ema: bool = True) -> Player:
    """G for sampling: with the moving-average parameters if kept and ``use_ema``."""
    return self.g.replace(params=self.g_ema) if use_ema and self.g_ema is not None else self.g


def _init_player(module: nn.Module, tx: optax.GradientTransformation, key: Array,
                 example: Array, labels: Array | None) -> Player:
  variables = module.init(key, example, labels, train=False)
  params = variables["params"]
  return Player(params=params, batch_stats=variables.get("batch_stats", {}),
                opt_state=tx.init(params), apply_fn=module.apply, tx=tx)


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
) -> GANState:
  """Initialises both players from ``key`` (``num_classes`` > 0 for labelled data).

  ``ema``: keep a moving average of G's parameters (starting from a copy of them).
  """
  k_g, k_d, k_run = jax.random.split(key, 3)
  z = jnp.zeros((1, latent_dim), jnp.float32)
  x = jnp.zeros((1, *data_shape), jnp.float32)
  y = jnp.zeros((1,), jnp.int32) if num_classes else None
  g = _init_player(generator, g_tx, k_g, z, y)
  return GANState(step=jnp.zeros((), jnp.int32), key=k_run, g=g,
                  d=_init_player(discriminator, d_tx, k_d, x, y),
                  g_ema=jax.tree.map(jnp.copy, g.params) if ema else None)
