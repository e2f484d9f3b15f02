"""jaxgan: generative adversarial networks in JAX and Flax, written as pure functions.

The public surface, in the order a GAN is put together:

- ``losses.Game`` (two functions of D's outputs) and ``losses.GAMES``; penalties
  ``(critic, real, fake, key) -> scalar`` and ``penalties.PENALTIES``; constraints on D's
  parameters, ``penalties.weight_clipping``;
- any Flax modules as players (``jaxgan.player`` describes what they may declare), or
  the library's ``make_models``; optimizers from ``make_optimizer``;
- ``create_state`` -> ``GANState`` (both players, the step's numbers ``HParams``, step,
  key); ``make_train_step(StepConfig(...))`` -> ``step(state, batch) -> (state, metrics)``;
- ``GANState.hyperparameters()`` / ``with_hyperparameters()``: every number the step uses,
  changeable without recompiling and batchable with ``jax.vmap``.

The config-driven training loop is ``jaxgan.train.train_and_evaluate`` (``jaxgan train``
on the command line), its config schema ``jaxgan.config.get_config``; evaluation (FID, IS,
KID) is in ``jaxgan.metrics``.
"""

__version__ = "0.2.0"

from jaxgan import losses, penalties  # noqa: E402
from jaxgan.hparams import HParams, make_hparams  # noqa: E402
from jaxgan.losses import GAMES, Game  # noqa: E402
from jaxgan.nets import make_models  # noqa: E402
from jaxgan.optimizers import make_optimizer  # noqa: E402
from jaxgan.penalties import PENALTIES  # noqa: E402
from jaxgan.player import Interface, Player, generate  # noqa: E402
from jaxgan.train_state import GANState, create_state  # noqa: E402
from jaxgan.train_step import StepConfig, make_train_step  # noqa: E402

__all__ = [
    "GAMES", "GANState", "Game", "HParams", "Interface", "PENALTIES", "Player", "StepConfig",
    "__version__", "create_state", "generate", "losses", "make_hparams", "make_models",
    "make_optimizer", "make_train_step", "penalties",
]
