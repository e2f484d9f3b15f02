"""The games: discriminator and generator costs as pure functions of logits.

Notation follows Goodfellow, "NIPS 2016 Tutorial: Generative Adversarial Networks"
(arXiv:1701.00160), section 3.2. ``D(x) = sigmoid(l(x))`` where ``l`` is the
discriminator's logit; every cost is written in terms of ``l`` with ``softplus`` so
that it stays finite where ``D`` saturates at 0 or 1. Useful identities:

    -log D       = softplus(-l)
    -log (1 - D) = softplus(l)
    sigmoid^-1(D) = l

All costs are averages over the batch (the tutorial's expectations), so the tutorial's
factor 1/2 in front of each expectation is kept: ``J(D) = -1/2 E log D(x) - 1/2 E log(1 -
D(G(z)))``. Each generator cost takes only the logits of generated samples; terms of a
cost that do not depend on the generator are left out (stated per function).

The Wasserstein, hinge and least-squares games use the critic's raw output in place
of a logit.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array
DLoss = Callable[..., Array]
GLoss = Callable[[Array], Array]


def _cross_entropy(logits: Array, target: float | Array) -> Array:
  """Mean binary cross-entropy -[t log sigmoid(l) + (1-t) log(1-sigmoid(l))]."""
  return jnp.mean(target * jax.nn.softplus(-logits) + (1.0 - target) * jax.nn.softplus(logits))


def discriminator_cross_entropy(
    real_logits: Array, fake_logits: Array, real_label_smoothing: float | Array = 0.0,
    fake_label: float | Array = 0.0
) -> Array:
  """The discriminator's cost J(D), tutorial eq. (8), with label smoothing.

  J(D) = -1/2 E_x [(1-alpha) log D(x) + alpha log(1 - D(x))]
         -1/2 E_z [beta log D(G(z)) + (1-beta) log(1 - D(G(z)))]

  with alpha = ``real_label_smoothing`` and beta = ``fake_label``. Alpha is one-sided
  label smoothing (Salimans et al. 2016, "Improved techniques for training GANs",
  sec. 3.4; tutorial sec. 4.2): the real target becomes ``1 - alpha``. Beta > 0 also
  smooths the fake target, which the tutorial warns against: the optimal D becomes
  ((1-alpha) p_data + beta p_model) / (p_data + p_model), which rewards the generator
  for staying where p_data is small. Both may be traced arrays.
  """
  return (0.5 * _cross_entropy(real_logits, 1.0 - real_label_smoothing)
          + 0.5 * _cross_entropy(fake_logits, fake_label))


def generator_minimax(fake_logits: Array) -> Array:
  """Zero-sum (minimax) generator cost, tutorial eq. (9): J(G) = -J(D).

  Only the generator-dependent half is returned: 1/2 E_z log(1 - D(G(z))) =
  -1/2 E softplus(l). The other half of -J(D), 1/2 E_x log D(x), is a constant with
  respect to the generator. This cost saturates (vanishing gradient) when D rejects
  the samples confidently.
  """
  return -0.5 * jnp.mean(jax.nn.softplus(fake_logits))


def generator_non_saturating(fake_logits: Array) -> Array:
  """Heuristic, non-saturating generator cost, tutorial eq. (13).

  J(G) = -1/2 E_z log D(G(z)) = 1/2 E softplus(-l)   (Goodfellow et al. 2014, sec. 3).
  """
  return 0.5 * jnp.mean(jax.nn.softplus(-fake_logits))


def generator_maximum_likelihood(fake_logits: Array) -> Array:
  """Maximum-likelihood generator cost, tutorial eq. (15) (Goodfellow 2014, ICLR workshop).

  J(G) = -1/2 E_z exp(sigma^-1(D(G(z)))) = -1/2 E exp(l). With an optimal D its expected
  gradient equals that of KL(p_data || p_model). It is unbounded below in l, so it is
  numerically the most fragile of the three games.
  """
  return -0.5 * jnp.mean(jnp.exp(fake_logits))


def critic_wasserstein(real_out: Array, fake_out: Array) -> Array:
  """WGAN critic cost (Arjovsky et al. 2017, alg. 1): E f(G(z)) - E f(x).

  Minimizing it maximizes E f(x) - E f(G(z)), the critic's estimate of the
  Wasserstein-1 distance (given a Lipschitz constraint from clipping or a penalty).
  """
  return jnp.mean(fake_out) - jnp.mean(real_out)


def generator_wasserstein(fake_out: Array) -> Array:
  """WGAN generator cost (Arjovsky et al. 2017, alg. 1): -E f(G(z))."""
  return -jnp.mean(fake_out)


def discriminator_hinge(real_out: Array, fake_out: Array) -> Array:
  """Hinge discriminator cost (Lim & Ye 2017; Miyato et al. 2018, eq. 16).

  E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))).
  """
  return jnp.mean(jax.nn.relu(1.0 - real_out)) + jnp.mean(jax.nn.relu(1.0 + fake_out))


def generator_hinge(fake_out: Array) -> Array:
  """Hinge generator cost (Miyato et al. 2018, eq. 17): -E D(G(z))."""
  return -jnp.mean(fake_out)


def discriminator_least_squares(real_out: Array, fake_out: Array) -> Array:
  """LSGAN discriminator cost (Mao et al. 2017, eq. 2 with a=0, b=1).

  1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2.
  """
  return 0.5 * jnp.mean(jnp.square(real_out - 1.0)) + 0.5 * jnp.mean(jnp.square(fake_out))


def generator_least_squares(fake_out: Array) -> Array:
  """LSGAN generator cost (Mao et al. 2017, eq. 2 with c=1): 1/2 E (D(G(z)) - 1)^2."""
  return 0.5 * jnp.mean(jnp.square(fake_out - 1.0))


@dataclasses.dataclass(frozen=True)
class Game:
  """A game: two pure functions of the discriminator's outputs, like optax's (init, update).

  Attributes:
    d_loss: ``d_loss(real_out, fake_out) -> scalar``, D's cost; ``real_out`` and
      ``fake_out`` are D's logits (or critic values), shape (B,), on real and generated
      samples.
    g_loss: ``g_loss(fake_out) -> scalar``, G's cost.
    smoothable: ``d_loss`` also takes the keyword arguments ``real_label_smoothing`` and
      ``fake_label`` (the cross-entropy games do); the step then passes the state's
      values of both.

  Any pair of functions is a game: ``Game(lambda r, f: jnp.mean(f - r), lambda f:
  -jnp.mean(f))`` is the Wasserstein one.
  """

  d_loss: DLoss
  g_loss: GLoss
  smoothable: bool = False


GAMES: dict[str, Game] = {
    "minimax": Game(discriminator_cross_entropy, generator_minimax, smoothable=True),
    "non_saturating": Game(discriminator_cross_entropy, generator_non_saturating, smoothable=True),
    "maximum_likelihood": Game(
        discriminator_cross_entropy, generator_maximum_likelihood, smoothable=True
    ),
    "wasserstein": Game(critic_wasserstein, generator_wasserstein),
    "hinge": Game(discriminator_hinge, generator_hinge),
    "least_squares": Game(discriminator_least_squares, generator_least_squares),
}


def get_game(game: str | Game) -> Game:
  """A game itself, or the registered game of that name (the error lists the names)."""
  if isinstance(game, Game):
    return game
  if game not in GAMES:
    raise ValueError(f"unknown game {game!r}; expected a losses.Game or one of: "
                     f"{', '.join(GAMES)}")
  return GAMES[game]
