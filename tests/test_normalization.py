"""Reference / virtual batch norm: closed forms and independence from the minibatch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets.dcgan import DCGANGenerator
from jaxgan.nets.normalization import ReferenceNorm

R = 6


def _apply(virtual, x):
  module = ReferenceNorm(R, virtual=virtual)
  params = module.init(jax.random.key(0), x)
  return np.asarray(module.apply(params, x), np.float64)


@pytest.mark.parametrize("virtual", [False, True])
def test_closed_form_on_feature_maps(virtual):
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, (R + 4, 5, 5, 3))
  ref = x[:R]
  m_ref, sq_ref = ref.mean(axis=(0, 1, 2)), (ref ** 2).mean(axis=(0, 1, 2))
  want = np.empty_like(x)
  for i, xi in enumerate(x):
    m, sq = m_ref, sq_ref
    if virtual and i >= R:  # Statistics of the reference batch plus this example.
      m = (R * m_ref + xi.mean(axis=(0, 1))) / (R + 1)
      sq = (R * sq_ref + (xi ** 2).mean(axis=(0, 1))) / (R + 1)
    want[i] = (xi - m) / np.sqrt(sq - m ** 2 + 1e-5)
  np.testing.assert_allclose(_apply(virtual, jnp.asarray(x, jnp.float32)), want, atol=2e-4)


@pytest.mark.parametrize("norm", ["reference", "virtual"])
def test_an_example_does_not_depend_on_its_minibatch(norm):
  g = DCGANGenerator(image_size=28, channels=1, features=8, norm=norm, ref_size=R)
  z = jax.random.normal(jax.random.key(1), (4, 16))
  variables = g.init(jax.random.key(2), z, train=False)
  run = lambda zz: np.asarray(g.apply(variables, zz, train=True, mutable=["batch_stats"])[0])
  others = jax.random.normal(jax.random.key(3), (4, 16)) * 3.0
  a = run(z)
  b = run(jnp.concatenate([z[:1], others[1:]]))
  np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # Same first example, new neighbours.
  assert a.shape == (4, 28, 28, 1)


def test_ordinary_batch_norm_does_depend_on_its_minibatch():
  g = DCGANGenerator(image_size=28, channels=1, features=8, norm="batch")
  z = jax.random.normal(jax.random.key(1), (4, 16))
  variables = g.init(jax.random.key(2), z, train=False)
  run = lambda zz: np.asarray(g.apply(variables, zz, train=True, mutable=["batch_stats"])[0])
  others = jax.random.normal(jax.random.key(3), (4, 16)) * 3.0
  assert np.abs(run(z)[0] - run(jnp.concatenate([z[:1], others[1:]]))[0]).max() > 1e-3


def test_reference_batch_is_fixed_at_init_and_kept():
  g = DCGANGenerator(image_size=28, channels=1, features=8, norm="virtual", ref_size=R)
  variables = g.init(jax.random.key(2), jnp.zeros((1, 16)), train=False)
  ref = variables["batch_stats"]["reference_z"]
  assert ref.shape == (R, 16) and float(jnp.std(ref)) > 0.5
  _, updated = g.apply(variables, jnp.ones((2, 16)), train=True, mutable=["batch_stats"])
  np.testing.assert_array_equal(updated["batch_stats"]["reference_z"], ref)


def test_input_without_reference_rows_is_refused():
  with pytest.raises(ValueError, match="reference batch"):
    _apply(False, jnp.ones((R, 3)))
