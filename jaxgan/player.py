"""A player of the game: any Flax module, with its parameters, optimizer and what it accepts.

The players are plain Flax modules. The least a generator needs is ``__call__(self, z)``
returning samples, and a discriminator ``__call__(self, x)`` returning one logit (or
critic value) per example, shape (B,) or (B, 1). Three keyword arguments are optional
and are passed only to modules whose ``__call__`` declares them:

- ``labels``: class labels (B,) of the samples; a generator that declares it is
  class-conditional when it has classes (its ``num_classes`` field, else the data's);
- ``train``: True in the training step (batch norm on the batch, running statistics
  updated), False for sampling and evaluation;
- ``with_aux`` (discriminators): when True, return ``(logits, aux)`` where ``aux`` is a
  dict that may hold 'features' (B, F) (for feature matching) and 'class_logits'
  (B, K) (the AC-GAN head).

What a module declares, and which auxiliary outputs it has, is found once by
``Interface.of`` (when the train state is created) and kept as a static field of the
``Player``, so the step asks each module only for what it supports and says clearly
when a setting needs more (AC-GAN weights without a class head, say).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Protocol, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

Array = jax.Array
PyTree = Any
OPTIONAL_ARGUMENTS = ("labels", "train", "with_aux")


class Generator(Protocol):
  """The least a generator is: latent codes (B, latent_dim) -> samples (B, *data_shape)."""

  def __call__(self, z: Array) -> Array: ...


class ConditionalGenerator(Protocol):
  """A class-conditional generator: it also takes the labels (B,) of the samples it draws."""

  def __call__(self, z: Array, labels: Array | None = None) -> Array: ...


class Discriminator(Protocol):
  """The least a discriminator is: samples (B, *data_shape) -> logits (B,) or (B, 1)."""

  def __call__(self, x: Array) -> Array: ...


class FullDiscriminator(Protocol):
  """Every optional argument; ``with_aux=True`` returns ``(logits, aux)``."""

  def __call__(self, x: Array, labels: Array | None = None, train: bool = True,
               with_aux: bool = False) -> Array | tuple[Array, dict[str, Array]]: ...


@dataclasses.dataclass(frozen=True)
class Interface:
  """What a module accepts, found once from its ``__call__`` and an abstract evaluation.

  Attributes:
    labels: the module is given class labels (it declares ``labels`` and there are classes).
    train: it declares ``train``.
    with_aux: it declares ``with_aux``.
    aux_outputs: the keys of its auxiliary outputs (empty without ``with_aux``).
    num_classes: classes of its labels (0 when ``labels`` is False).
    input_shape: the shape of one input example (a generator's: ``(latent_dim,)``).
  """

  labels: bool = False
  train: bool = False
  with_aux: bool = False
  aux_outputs: tuple[str, ...] = ()
  num_classes: int = 0
  input_shape: tuple[int, ...] = ()

  @classmethod
  def of(cls, module: nn.Module, input_shape: Sequence[int], num_classes: int = 0
         ) -> "Interface":
    """Reads the module's ``__call__`` signature; ``num_classes``: classes of the data.

    A module with a ``num_classes`` field takes labels only when that field is > 0 (so a
    library net built unconditional ignores the data's labels).
    """
    declared = inspect.signature(type(module).__call__).parameters
    own_classes = getattr(module, "num_classes", num_classes)
    classes = own_classes if isinstance(own_classes, int) else num_classes
    takes_labels = "labels" in declared and classes > 0
    if takes_labels and num_classes == 0:
      raise ValueError(f"{type(module).__name__} is class-conditional (num_classes={classes}) "
                       "but the data has no labels (create_state's num_classes is 0)")
    return cls(labels=takes_labels, train="train" in declared,
               with_aux="with_aux" in declared,
               num_classes=classes if takes_labels else 0, input_shape=tuple(input_shape))

  def kwargs(self, labels: Array | None, train: bool, with_aux: bool) -> dict[str, Any]:
    """The keyword arguments of a call, restricted to those the module declares."""
    out: dict[str, Any] = {}
    if self.labels:
      out["labels"] = labels
    if self.train:
      out["train"] = train
    if self.with_aux and with_aux:
      out["with_aux"] = True
    return out


@struct.dataclass
class Player:
  """One player's parameters, batch statistics and optimizer state, and its static parts.

  ``apply_fn`` (the module's apply), ``tx`` (the optax optimizer) and ``interface`` are
  static: not leaves of the pytree, not checkpointed.
  """

  params: PyTree
  batch_stats: PyTree
  opt_state: optax.OptState
  apply_fn: Callable = struct.field(pytree_node=False)
  tx: optax.GradientTransformation = struct.field(pytree_node=False)
  interface: Interface = struct.field(pytree_node=False, default=Interface())

  def apply(self, params: PyTree, batch_stats: PyTree, x: Array, *, labels: Array | None = None,
            train: bool = True, with_aux: bool = False) -> tuple[Any, PyTree]:
    """Runs the module on ``x``; returns (output, batch statistics after the call).

    Only the arguments the module declares are passed. In training mode batch norm uses
    the statistics of ``x`` alone and the returned running averages include it; in
    evaluation mode the running averages are used and returned unchanged ('batch_stats'
    also holds other untrained state, such as the reference batch of reference/virtual
    batch norm). With ``with_aux`` the output is ``(out, aux)``, ``aux`` empty for a
    module without auxiliary outputs.
    """
    variables = {"params": params}
    if batch_stats:
      variables["batch_stats"] = batch_stats
    kwargs = self.interface.kwargs(labels, train, with_aux)
    if train and batch_stats:
      out, updates = self.apply_fn(variables, x, mutable=["batch_stats"], **kwargs)
      stats = updates["batch_stats"]
    else:
      out, stats = self.apply_fn(variables, x, **kwargs), batch_stats
    if with_aux and not (self.interface.with_aux and isinstance(out, tuple)):
      out = (out, {})
    return out, stats

  def __call__(self, x: Array, *, labels: Array | None = None, train: bool = False,
               with_aux: bool = False) -> Any:
    """Output at the current parameters (evaluation mode by default)."""
    return self.apply(self.params, self.batch_stats, x, labels=labels, train=train,
                      with_aux=with_aux)[0]

  def apply_gradients(self, grads: PyTree, batch_stats: PyTree) -> "Player":
    """One optimizer update of the parameters; the batch statistics are replaced."""
    updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
    return self.replace(params=optax.apply_updates(self.params, updates),
                        batch_stats=batch_stats, opt_state=opt_state)

  def optimizer_hyperparameters(self) -> dict[str, Array]:
    """The numbers ``optax.inject_hyperparams`` keeps in the optimizer state (else {})."""
    return dict(getattr(self.opt_state, "hyperparams", {}))

  def with_optimizer_hyperparameters(self, values: dict[str, Any]) -> "Player":
    """The player with some optimizer hyperparameters replaced (e.g. {'learning_rate': 1e-3})."""
    known = self.optimizer_hyperparameters()
    unknown = sorted(set(values) - set(known))
    if unknown:
      has = ", ".join(known) or ("none (build the optimizer with optax.inject_hyperparams, as "
                                 "jaxgan.optimizers.make_optimizer does)")
      raise KeyError(f"optimizer hyperparameter(s) {', '.join(unknown)} not in this "
                     f"optimizer's state; it has: {has}")
    new = {**known, **{k: jnp.asarray(v, known[k].dtype) for k, v in values.items()}}
    return self.replace(opt_state=self.opt_state._replace(hyperparams=new))


def init_player(module: nn.Module, tx: optax.GradientTransformation, key: Array,
                input_shape: Sequence[int], num_classes: int = 0,
                discriminator: bool = False) -> Player:
  """Initialises ``module`` on a zero example and finds out what it accepts.

  Args:
    module: the Flax module.
    tx: its optimizer.
    key: PRNG key of the initialisation.
    input_shape: shape of one input example (no batch axis).
    num_classes: classes of the data's labels (0: unlabelled).
    discriminator: check that the output is one value per example.

  Returns:
    The player, with its ``Interface``.
  """
  interface = Interface.of(module, input_shape, num_classes)
  x = jnp.zeros((1, *input_shape), jnp.float32)
  y = jnp.zeros((1,), jnp.int32) if interface.labels else None
  variables = module.init(key, x, **interface.kwargs(y, train=False, with_aux=False))
  player = Player(params=variables["params"], batch_stats=variables.get("batch_stats", {}),
                  opt_state=tx.init(variables["params"]), apply_fn=module.apply, tx=tx,
                  interface=interface)
  if not discriminator:
    return player
  two = jnp.zeros((2, *input_shape), jnp.float32)
  labels = jnp.zeros((2,), jnp.int32) if interface.labels else None
  out, aux = jax.eval_shape(lambda p: player(two, labels=labels, with_aux=True), player.params)
  per_example(out, 2, type(module).__name__)
  return player.replace(interface=dataclasses.replace(interface, aux_outputs=tuple(sorted(aux))))


def per_example(out: Any, batch: int, name: str = "the discriminator") -> Any:
  """D's output as shape (B,): (B,) as is, (B, 1) squeezed; anything else is an error."""
  shape = tuple(getattr(out, "shape", ()))
  if shape not in ((batch,), (batch, 1)):
    raise ValueError(f"{name} must return one value per example, shape ({batch},) or "
                     f"({batch}, 1), for a batch of {batch}; it returned "
                     f"{f'shape {shape}' if hasattr(out, 'shape') else type(out).__name__}")
  return out.reshape(batch) if isinstance(out, jax.Array) else out


def generate(g: Player, key: Array, n: int, *, labels: Array | None = None,
             params: PyTree = None, train: bool = False) -> tuple[Array, PyTree]:
  """``n`` samples of the generator from latent codes z ~ N(0, I) drawn with ``key``.

  Args:
    g: the generator.
    key: PRNG key of the latent codes.
    n: number of samples.
    labels: class labels (n,) for a conditional generator (ignored otherwise).
    params: parameters to use instead of ``g.params`` (e.g. the moving average, or the
      ones being differentiated).
    train: training mode (batch norm on this batch; its statistics returned updated).

  Returns:
    (samples, G's batch statistics after the call).
  """
  z = jax.random.normal(key, (n, *g.interface.input_shape), jnp.float32)
  return g.apply(g.params if params is None else params, g.batch_stats, z, labels=labels,
                 train=train)
