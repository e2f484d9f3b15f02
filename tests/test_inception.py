"""Tests for jaxgan.nets.inception: parity with pytorch-fid, pooling rules, inference mode.

Parity: ``tests/golden/fid_golden.npz`` holds pytorch-fid's outputs (see
``tools/make_fid_golden.py``: real pytorch-fid and torchvision modules, torch on CPU)
for ``random_state_dict(seed)``; here the same numpy weights go through
``convert_state_dict`` (the real loader's conversion) into the Flax net.
"""

from __future__ import annotations

import functools
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import inception_weights
from jaxgan.metrics.evaluate import inception_outputs
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.statistics import FeatureStats
from jaxgan.nets import inception
from jaxgan.nets.inception import InceptionV3

GOLDEN = pathlib.Path(__file__).parent / "golden" / "fid_golden.npz"


@functools.lru_cache(maxsize=None)
def _variables(seed: int):  # The conversion the real loader uses; no warning here.
  return inception_weights.convert_state_dict(inception_weights.random_state_dict(seed))


@functools.lru_cache(maxsize=None)
def _golden():
  with np.load(GOLDEN) as g:
    return {k: g[k] for k in g.files}


@functools.lru_cache(maxsize=None)
def _jaxgan_outputs():
  g = _golden()
  with jax.default_matmul_precision("highest"):
    out = inception_outputs(_variables(int(g["seed"])), jnp.asarray(g["images"]))
  return {k: np.asarray(v) for k, v in out.items()}


def _rel(a, b):
  return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_golden_features_match_pytorch_fid():
  g, out = _golden(), _jaxgan_outputs()
  assert "pytorch-fid" in str(g["versions"])
  assert out["pool3"].shape == g["pool3"].shape == (16, 2048)
  assert out["logits"].shape == g["logits"].shape == (16, 1008)
  assert _rel(out["pool3"], g["pool3"]) < 1e-4
  assert _rel(out["logits"], g["logits"]) < 1e-4
  for i in range(len(g["pool3"])):  # Every image, not just on average.
    assert _rel(out["pool3"][i], g["pool3"][i]) < 1e-4


def test_golden_fid_matches_pytorch_fid():
  """8 + 8 images in 2048 dimensions: both covariances singular, pytorch-fid's own branch."""
  g, out = _golden(), _jaxgan_outputs()
  a, b = FeatureStats.from_features(out["pool3"][:8]), FeatureStats.from_features(out["pool3"][8:])
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Small-N and singular-covariance notes.
    fid = frechet_distance(a.mean(), a.covariance(), b.mean(), b.covariance())
  want = float(g["fid_plain"])
  assert abs(fid - want) / abs(want) < 1e-5


# ----------------------------------------------------------------------------- structure


def test_variables_match_the_documented_layout():
  shapes = inception.variable_shapes()
  params = shapes["params"]
  top = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
         "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
         "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "fc"]
  assert sorted(params) == sorted(top)
  assert params["fc"]["kernel"].shape == (2048, 1008) and "bias" not in params["fc"]
  conv = params["Mixed_7c"]["branch3x3dbl_3a"]
  assert conv["conv"]["kernel"].shape == (1, 3, 384, 384) and "bias" not in conv["conv"]
  leaves = jax.tree_util.tree_leaves_with_path(params)
  kernels = [p for p, _ in leaves if p[-1].key == "kernel"]
  assert len(kernels) == 94 + 1  # 94 conv layers (torchvision's Inception3) and fc.
  stats = shapes["batch_stats"]["Mixed_6e"]["branch_pool"]["bn"]
  assert stats["mean"].shape == stats["var"].shape == (192,)


def test_pool_branches_follow_the_tf_graph():
  ones = jnp.ones((1, 4, 4, 1))
  # 'SAME' average (count_include_pad=False): a constant stays constant at the borders;
  # counting the padding (torchvision) would give 4/9 in the corners.
  np.testing.assert_allclose(inception._avg_pool_same(ones), ones, rtol=1e-6)
  x = -jnp.arange(1.0, 17.0).reshape(1, 4, 4, 1)  # Negative: padding must not win a max.
  got = np.asarray(inception._max_pool_same(x))[0, :, :, 0]
  xn = np.asarray(x)[0, :, :, 0]
  want = np.array([[xn[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].max() for j in range(4)]
                   for i in range(4)])
  np.testing.assert_array_equal(got, want)
  assert inception._max_pool_reduce(jnp.zeros((1, 147, 147, 2))).shape == (1, 73, 73, 2)


def test_outputs_do_not_depend_on_the_batch():
  variables = _variables(0)
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (5, 75, 75, 3)).astype(np.float32)  # 75x75: the smallest input.
  apply = jax.jit(InceptionV3().apply)
  with jax.default_matmul_precision("highest"):
    first = apply(variables, x[:3])
    other = apply(variables, x[[1, 4, 3]])  # Image 1 with other companions, elsewhere.
  assert first["pool3"].shape == (3, 2048) and first["logits"].shape == (3, 1008)
  np.testing.assert_allclose(other["pool3"][0], first["pool3"][1], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(other["logits"][0], first["logits"][1], rtol=1e-5, atol=1e-5)
  # Logits are pool3 @ W without a bias.
  w = variables["params"]["fc"]["kernel"]
  np.testing.assert_allclose(first["logits"], np.asarray(first["pool3"]) @ w, rtol=1e-4,
                             atol=1e-4)


def test_rejects_bad_inputs():
  variables = _variables(0)
  with pytest.raises(ValueError, match="NHWC"):
    InceptionV3().apply(variables, jnp.zeros((1, 3, 299, 299)))
  with pytest.raises(ValueError, match="75x75"):
    InceptionV3().apply(variables, jnp.zeros((1, 32, 32, 3)))
