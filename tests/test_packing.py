"""PacGAN packing: the layout, what a packed D sees, and the penalty on packed interpolates."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.hparams import make_hparams
from jaxgan.packing import pack, packed_shape
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step


def test_pack_concatenates_consecutive_examples_along_the_last_axis():
  x = np.arange(6 * 2).reshape(6, 2)
  np.testing.assert_array_equal(pack(jnp.asarray(x), 2),
                                np.concatenate([x[0::2], x[1::2]], axis=1))
  images = np.arange(4 * 2 * 2 * 3).reshape(4, 2, 2, 3)
  np.testing.assert_array_equal(pack(jnp.asarray(images), 2),
                                np.concatenate([images[0::2], images[1::2]], axis=-1))
  assert packed_shape((28, 28, 1), 3) == (28, 28, 3) and pack(jnp.asarray(x), 1) is not None
  with pytest.raises(ValueError, match="batch of 6 cannot be packed in groups of m=4"):
    pack(jnp.asarray(x), 4)


class G(nn.Module):
  @nn.compact
  def __call__(self, z):
    return nn.Dense(2)(z)


class LinearD(nn.Module):  # f(p) = <w, p> + b on a packed example p.
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(x)


def _state(m):
  tx = optax.sgd(0.0)  # Nothing moves: the metrics are those of the initial players.
  return create_state(jax.random.key(0), G(), LinearD(), tx, tx, 2, (2,), pack=m,
                      hparams=make_hparams(penalty_weight=1.0))


@pytest.mark.parametrize("m", [1, 2, 4])
def test_a_packed_critic_sees_m_samples_and_its_penalty_the_packed_gradient(m):
  state = _state(m)
  assert state.d.interface.input_shape == (2 * m,)
  real = jax.random.normal(jax.random.key(1), (1, 8, 2))
  cfg = StepConfig(game="wasserstein", penalty="gradient_penalty", pack=m)
  _, metrics = make_train_step(cfg)(state, real)
  w = np.asarray(state.d.params["Dense_0"]["kernel"], np.float64)[:, 0]
  b = float(state.d.params["Dense_0"]["bias"][0])
  packs = np.asarray(real[0], np.float64).reshape(8 // m, 2 * m)
  np.testing.assert_allclose(metrics["d_real"], np.mean(packs @ w + b), rtol=1e-5, atol=1e-6)
  # The critic's gradient on any packed input is w (2m numbers): (||w|| - 1)^2.
  np.testing.assert_allclose(metrics["d_penalty"], (np.linalg.norm(w) - 1) ** 2, rtol=1e-5)


def test_a_discriminator_made_for_another_pack_is_a_named_error():
  with pytest.raises(ValueError, match=r"takes examples of shape \(2,\).*packed by 2: \(4,\)"):
    make_train_step(StepConfig(pack=2))(_state(1), jnp.zeros((1, 8, 2)))
