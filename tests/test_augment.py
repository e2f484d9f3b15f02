"""DiffAugment: each transform against a numpy reference; one key, one augmentation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (5, 8, 8, 3)).astype(np.float32)


def test_color_transforms_match_numpy():
  u = RNG.uniform(0, 1, 5).astype(np.float32)
  b = u[:, None, None, None]
  np.testing.assert_allclose(augment.brightness(X, jnp.asarray(u)), X + b, rtol=1e-6)
  mean_c = X.mean(-1, keepdims=True)
  np.testing.assert_allclose(augment.saturation(X, jnp.asarray(u)), (X - mean_c) * b + mean_c,
                             rtol=1e-5, atol=1e-6)
  mean = X.mean((1, 2, 3), keepdims=True)
  np.testing.assert_allclose(augment.contrast(X, jnp.asarray(u)), (X - mean) * b + mean,
                             rtol=1e-5, atol=1e-6)


def _translate_numpy(x, rows, cols):
  out = np.zeros_like(x)
  h, w = x.shape[1:3]
  for i, (r, c) in enumerate(zip(rows, cols)):
    for y in range(h):
      for z in range(w):
        if 0 <= y - r < h and 0 <= z - c < w:
          out[i, y, z] = x[i, y - r, z - c]
  return out


def test_translation_matches_numpy():
  rows, cols = np.array([0, 1, -2, 3, -1]), np.array([2, -1, 0, -3, 1])
  np.testing.assert_array_equal(augment.translate(X, jnp.asarray(rows), jnp.asarray(cols)),
                                _translate_numpy(X, rows, cols))


def test_cutout_matches_numpy():
  rows, cols, size = np.array([0, 3, 7, 4, 8]), np.array([5, 0, 2, 8, 4]), 4
  want = X.copy()
  for i, (r, c) in enumerate(zip(rows, cols)):
    want[i, max(r - 2, 0):max(r + 2, 0), max(c - 2, 0):max(c + 2, 0)] = 0.0
  np.testing.assert_array_equal(augment.cutout(X, jnp.asarray(rows), jnp.asarray(cols), size),
                                want)


def test_the_same_key_gives_the_same_augmentation_to_real_and_fake():
  ones, twos = jnp.ones((5, 8, 8, 3)), 2 * jnp.ones((5, 8, 8, 3))
  key = jax.random.key(3)
  a = augment.augment(ones, key, ("translation", "cutout"))
  b = augment.augment(twos, key, ("translation", "cutout"))
  np.testing.assert_array_equal(a == 0, b == 0)  # The same shifts and squares.
  assert 0 < float(jnp.mean(a == 0)) < 1
  c = augment.augment(ones, jax.random.key(4), ("translation", "cutout"))
  assert bool(jnp.any((a == 0) != (c == 0)))  # Another key, another augmentation.


def test_gradients_flow_through_every_policy():
  grad = jax.grad(lambda x: jnp.sum(augment.augment(x, jax.random.key(0)) ** 2))(jnp.asarray(X))
  assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.max(jnp.abs(grad))) > 0


def test_policies_by_name():
  assert augment.make_augment("") is None
  f = augment.make_augment("color, cutout")
  np.testing.assert_array_equal(f(X, jax.random.key(1)),
                                augment.augment(X, jax.random.key(1), ("color", "cutout")))
  with pytest.raises(ValueError, match="unknown DiffAugment policy zoom"):
    augment.make_augment("color,zoom")


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_the_step_augments_real_and_fake_with_one_key():
  from jaxgan.hparams import make_hparams
  from jaxgan.nets import make_models
  from jaxgan.optimizers import make_optimizer
  from jaxgan.train_state import create_state
  from jaxgan.train_step import StepConfig, make_train_step
  keys = []

  def spy(x, key):
    keys.append(jax.random.key_data(key))
    return augment.augment(x, key)

  G, D = make_models("dcgan", (28, 28, 1), features=4, d_norm="none")
  tx = make_optimizer("sgd", 0.01)
  state = create_state(jax.random.key(0), G, D, tx, tx, 8, (28, 28, 1), hparams=make_hparams())
  batch = jnp.tanh(jax.random.normal(jax.random.key(1), (1, 4, 28, 28, 1)))
  _, metrics = make_train_step(StepConfig(augment=spy))(state, batch)
  assert len(keys) == 3  # D's step: real and fake; G's step: its samples.
  np.testing.assert_array_equal(keys[0], keys[1])
  assert not np.array_equal(keys[0], keys[2])
  assert np.isfinite(float(metrics["d_loss"]))
