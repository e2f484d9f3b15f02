"""Spectral normalization: after enough power iterations every normalized kernel of D has
largest singular value 1 (numpy's SVD), and the state carries u and sigma."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import make_models


def _names(path):
  return [getattr(k, "key", str(k)) for k in path]


def _kernels(params):
  """{(enclosing modules, layer): kernel} for every kernel of D."""
  return {(tuple(n[:-2]), n[-2]): np.asarray(leaf, np.float64)
          for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
          for n in [_names(path)] if n[-1] == "kernel"}


def _sigmas(stats):
  """{(enclosing modules, layer): sigma}: Flax keeps 'layer/kernel/sigma' in SpectralNorm_i."""
  return {(tuple(n[:-2]), n[-1].split("/")[0]): float(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(stats)[0]
          for n in [_names(path)] if n[-1].endswith("/sigma")}


@pytest.mark.parametrize("name,shape", [("mlp", (2,)), ("dcgan", (28, 28, 1))])
def test_normalized_kernels_have_unit_spectral_norm(name, shape):
  _, D = make_models(name, shape, width=16, depth=2, features=4, d_norm="none",
                     spectral_norm=True)
  x = jax.random.normal(jax.random.key(1), (4, *shape))
  variables = D.init(jax.random.key(0), x, train=False)
  params, stats = variables["params"], variables["batch_stats"]
  one = lambda _, s: D.apply({"params": params, "batch_stats": s}, x, train=True,
                            mutable=["batch_stats"])[1]["batch_stats"]
  # One power iteration per call in training mode; random kernels' top two singular
  # values can be close, so give it many.
  stats = jax.jit(lambda s: jax.lax.fori_loop(0, 300, one, s))(stats)
  sigmas, kernels = _sigmas(stats), _kernels(params)
  assert sigmas.keys() == kernels.keys() and len(kernels) >= 3  # Every layer, the last too.
  for where, kernel in kernels.items():
    top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    # The normalized kernel W / sigma has largest singular value top / sigma.
    assert abs(top / sigmas[where] - 1.0) < 1e-3, (where, top, sigmas[where])


def test_without_spectral_norm_there_is_no_state():
  _, D = make_models("mlp", (2,), width=8, depth=1)
  assert "batch_stats" not in D.init(jax.random.key(0), jnp.zeros((1, 2)), train=False)
