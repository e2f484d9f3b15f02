"""Minibatch discrimination and the conditional discriminator head, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets.conditioning import DiscriminatorHead, concat_label
from jaxgan.nets.minibatch_discrimination import MinibatchDiscrimination


def test_closeness_features_match_numpy():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(5, 7)).astype(np.float32)
  layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
  params = layer.init(jax.random.key(0), f)
  out = np.asarray(layer.apply(params, f), np.float64)
  t = np.asarray(params["params"]["T"], np.float64)
  m = (f.astype(np.float64) @ t).reshape(5, 4, 3)
  want = np.zeros((5, 4))
  for i in range(5):
    for j in range(5):
      if i != j:
        want[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
  np.testing.assert_allclose(out[:, :7], f, rtol=1e-6)
  np.testing.assert_allclose(out[:, 7:], want, rtol=1e-4, atol=1e-6)


def test_identical_examples_are_maximally_close():
  f = jnp.ones((6, 4))
  layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
  out = layer.apply(layer.init(jax.random.key(0), f), f)
  np.testing.assert_allclose(out[:, 4:], 5.0, rtol=1e-6)  # exp(0) from each of 5 others.


def test_projection_head_adds_the_label_embedding_inner_product():
  rng = np.random.default_rng(1)
  feats = jnp.asarray(rng.normal(size=(3, 8)), jnp.float32)
  head = DiscriminatorHead(num_classes=4, conditioning="projection")
  params = head.init(jax.random.key(0), feats, jnp.zeros(3, jnp.int32))
  l0, _ = head.apply(params, feats, jnp.zeros(3, jnp.int32))
  l2, aux = head.apply(params, feats, jnp.full(3, 2, jnp.int32))
  emb = np.asarray(params["params"]["Embed_0"]["embedding"], np.float64)
  want = np.asarray(feats, np.float64) @ (emb[2] - emb[0])
  np.testing.assert_allclose(np.asarray(l2) - np.asarray(l0), want, rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(aux["features"], feats)


def test_aux_classifier_and_concat_label():
  head = DiscriminatorHead(num_classes=5, aux_classifier=True)
  feats = jnp.ones((2, 3))
  _, aux = head.apply(head.init(jax.random.key(0), feats, None), feats, None)
  assert aux["class_logits"].shape == (2, 5)
  x = concat_label(jnp.zeros((2, 4, 4, 1)), jnp.array([1, 3]), 5)
  assert x.shape == (2, 4, 4, 6)
  np.testing.assert_array_equal(x[0, 2, 1, 1:], [0, 1, 0, 0, 0])
  np.testing.assert_array_equal(x[1, 0, 3, 1:], [0, 0, 0, 1, 0])
