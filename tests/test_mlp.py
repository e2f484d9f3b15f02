"""PacGAN's synthetic nets: maxout units and batch norm in the MLPs, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.nets import make_models


def test_pacgan_mlp_layout_and_maxout_units_match_numpy():
  G, D = make_models("pacgan_mlp", (2,))
  z, x = jnp.zeros((3, 2)), jax.random.normal(jax.random.key(1), (5, 4))  # D packed by 2.
  g_vars = G.init(jax.random.key(0), z, train=False)
  d_vars = D.init(jax.random.key(0), x, train=False)
  g_shapes = [p.shape for p in jax.tree.leaves(g_vars["params"]["MLP_0"])]
  assert sorted(g_shapes) == sorted([(400,)] * 12 + [(2, 400), (400, 400), (400, 400),
                                                     (400, 400), (400, 2), (2,)])
  assert len(g_vars["batch_stats"]["MLP_0"]) == 4  # Batch norm after each hidden layer.
  p = d_vars["params"]
  h = np.asarray(x, np.float64)
  for i in range(3):  # Three maxout layers of 200 units with 5 pieces each.
    kernel, bias = (np.asarray(p[f"Dense_{i}"][k], np.float64) for k in ("kernel", "bias"))
    assert kernel.shape[1] == 1000
    h = (h @ kernel + bias).reshape(len(h), 200, 5).max(-1)
  head = p["DiscriminatorHead_0"]["Dense_0"]
  want = h @ np.asarray(head["kernel"], np.float64)[:, 0] + float(head["bias"][0])
  np.testing.assert_allclose(D.apply(d_vars, x, train=False), want, rtol=1e-4, atol=1e-5)
