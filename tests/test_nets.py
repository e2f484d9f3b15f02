"""Tests for jaxgan.nets: MLP and DCGAN players and the make_models factory.

Expected values come from closed forms (parameter counts, layer shapes from the DCGAN
layout) or from numpy re-implementations, never from the code under test.

Threefry-based ``init`` is slow to compile on CPU, so most tests take the variable
structure from ``jax.eval_shape(module.init, ...)`` (no compilation) and fill it with
numpy random values; one test runs the real initialiser with a fast ('rbg') key.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import make_models
from jaxgan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.nets.mlp import MLPDiscriminator, MLPGenerator

LATENT = 16
FEATURES = 8
# image size -> (channels, start size, number of stride-2 layers, BN layers in G, in D)
DCGAN_CASES = {28: (1, 7, 2, 2, 1), 32: (3, 4, 3, 3, 2), 64: (3, 4, 4, 4, 3)}


# ----------------------------------------------------------------------------- helpers


def _shapes(module, *args):
  """The variable tree of ``module.init(key, *args)`` as ShapeDtypeStructs (no compile)."""
  return jax.eval_shape(module.init, jax.random.key(0), *args)


def _fill(shapes, seed=0):
  """Concrete variables for a shape tree: fan-in scaled kernels, BN stats (0, 1)."""
  rng = np.random.default_rng(seed)

  def leaf(path, s):
    name = path[-1].key
    if name == "kernel":
      fan_in = math.prod(s.shape[:-1])
      v = rng.normal(0.0, 1.0 / math.sqrt(fan_in), s.shape)
    elif name == "bias":
      v = 0.1 * rng.normal(size=s.shape)
    elif name == "scale":
      v = 1.0 + 0.1 * rng.normal(size=s.shape)
    elif name == "mean":
      v = np.zeros(s.shape)
    elif name == "var":
      v = np.ones(s.shape)
    else:  # pragma: no cover - an unexpected variable name is a test failure
      raise AssertionError(f"unexpected variable {path}")
    return jnp.asarray(v, s.dtype)

  return jax.tree_util.tree_map_with_path(leaf, shapes)


def _n_params(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))


def _dense_count(n_in: int, width: int, depth: int, n_out: int) -> int:
  """Weights + biases of ``depth`` hidden Dense(width) layers and a Dense(n_out)."""
  sizes = [n_in] + [width] * depth + [n_out]
  return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _apply(module, variables, x, train=True):
  """Jitted apply; returns (output, updated batch_stats or None)."""
  if train and "batch_stats" in variables:
    fn = jax.jit(lambda v, x: module.apply(v, x, train=True, mutable=["batch_stats"]))
    out, state = fn(variables, x)
    return np.asarray(out), state["batch_stats"]
  fn = jax.jit(lambda v, x: module.apply(v, x, train=train))
  return np.asarray(fn(variables, x)), None


def _conv_eqn_params(jaxpr_text: str, key: str) -> list[tuple[int, int]]:
  return [tuple(int(v) for v in m) for m in
          re.findall(key + r"=\((\d+), (\d+)\)", jaxpr_text)]


def _dcgan(size, g_norm="batch", d_norm="batch"):
  channels = DCGAN_CASES[size][0]
  return make_models("dcgan", (size, size, channels), features=FEATURES, g_norm=g_norm,
                     d_norm=d_norm)


# ----------------------------------------------------------------------------- MLP


@pytest.mark.parametrize("data_shape", [(2,), (1,), (3, 4)])
def test_mlp_output_shapes(data_shape):
  g, d = make_models("mlp", data_shape, width=8, depth=2)
  z = jnp.zeros((5, LATENT))
  g_vars = _fill(_shapes(g, z))
  x = g.apply(g_vars, z)
  assert x.shape == (5, *data_shape)
  d_vars = _fill(_shapes(d, x))
  assert d.apply(d_vars, x).shape == (5,)


@pytest.mark.parametrize("width,depth", [(8, 1), (8, 3), (33, 2), (512, 3), (7, 0)])
def test_mlp_parameter_count_closed_form(width, depth):
  data_shape = (2,)
  g, d = make_models("mlp", data_shape, width=width, depth=depth)
  g_params = _shapes(g, jnp.zeros((1, LATENT)))["params"]
  d_params = _shapes(d, jnp.zeros((1, *data_shape)))["params"]
  assert _n_params(g_params) == _dense_count(LATENT, width, depth, 2)
  assert _n_params(d_params) == _dense_count(2, width, depth, 1)


def test_mlp_defaults_match_gan_toy():
  """gan_toy.py: three hidden ReLU layers of 512 units for both players."""
  g, d = MLPGenerator((2,)), MLPDiscriminator()
  assert _n_params(_shapes(g, jnp.zeros((1, 2)))) == _dense_count(2, 512, 3, 2)
  assert _n_params(_shapes(d, jnp.zeros((1, 2)))) == _dense_count(2, 512, 3, 1)


def test_mlp_discriminator_matches_numpy_relu_network():
  _, d = make_models("mlp", (2,), width=6, depth=3)
  x = np.random.default_rng(1).normal(size=(7, 2)).astype(np.float32)
  variables = _fill(_shapes(d, x), seed=3)
  # Hidden layers Dense_0..Dense_2, then the output layer inside the shared head.
  params = variables["params"]
  layers = [params[f"Dense_{i}"] for i in range(3)] + [params["DiscriminatorHead_0"]["Dense_0"]]
  assert set(params) == {"Dense_0", "Dense_1", "Dense_2", "DiscriminatorHead_0"}
  h = x.astype(np.float64)
  for i, layer in enumerate(layers):
    h = h @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"])
    if i < len(layers) - 1:
      h = np.maximum(h, 0.0)
  np.testing.assert_allclose(np.asarray(d.apply(variables, x)), h[:, 0], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- DCGAN structure


@pytest.mark.parametrize("size", sorted(DCGAN_CASES))
def test_dcgan_output_shapes_and_range(size):
  channels = DCGAN_CASES[size][0]
  g, d = _dcgan(size)
  z = 10.0 * jax.random.normal(jax.random.key(1), (3, LATENT))  # Large: saturates tanh.
  g_vars = _fill(_shapes(g, z), seed=size)
  x, _ = _apply(g, g_vars, z)
  assert x.shape == (3, size, size, channels)
  assert np.all(np.isfinite(x))
  assert x.min() >= -1.0 and x.max() <= 1.0
  assert np.abs(x).max() > 0.5  # Not trivially squashed to 0.
  x_eval, _ = _apply(g, g_vars, z, train=False)
  assert x_eval.shape == x.shape and x_eval.min() >= -1.0 and x_eval.max() <= 1.0

  d_vars = _fill(_shapes(d, jnp.asarray(x)), seed=size + 1)
  logits, _ = _apply(d, d_vars, jnp.asarray(x))
  assert logits.shape == (3,)
  assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("size", sorted(DCGAN_CASES))
def test_dcgan_batch_norm_layers(size):
  """BN everywhere except G's output layer and D's input layer."""
  channels, _, n, g_bn, d_bn = DCGAN_CASES[size]
  g, d = _dcgan(size)
  g_vars = _shapes(g, jnp.zeros((2, LATENT)))
  d_vars = _shapes(d, jnp.zeros((2, size, size, channels)))
  assert len(g_vars["batch_stats"]) == g_bn == n
  assert len(d_vars["batch_stats"]) == d_bn == n - 1
  # G's BN layers follow its hidden layers: f * 2^(n-1), ..., f; none has `channels`
  # features (the output layer). D's follow layers 2..n: 2f, ..., f * 2^(n-1); none
  # has f features (the input layer).
  g_sizes = sorted(v["mean"].shape[0] for v in g_vars["batch_stats"].values())
  d_sizes = sorted(v["mean"].shape[0] for v in d_vars["batch_stats"].values())
  assert g_sizes == [FEATURES * 2**i for i in range(n)]
  assert d_sizes == [FEATURES * 2**i for i in range(1, n)]
  # Every BN layer has a learned scale and offset and no other parameters.
  for params, count in ((g_vars["params"], g_bn), (d_vars["params"], d_bn)):
    bn = {k: v for k, v in params.items() if k.startswith("BatchNorm")}
    assert len(bn) == count
    assert all(set(v) == {"scale", "bias"} for v in bn.values())


@pytest.mark.parametrize("size", sorted(DCGAN_CASES))
def test_dcgan_kernel_shapes_follow_layout(size):
  """Layer shapes from the DCGAN layout: features double/halve per stride-2 layer."""
  channels, start, n, _, _ = DCGAN_CASES[size]
  f = FEATURES
  g, d = _dcgan(size)
  gp = _shapes(g, jnp.zeros((2, LATENT)))["params"]
  dp = _shapes(d, jnp.zeros((2, size, size, channels)))["params"]

  g_convs = sorted((k for k in gp if not k.startswith("BatchNorm")),
                   key=lambda k: int(k.rsplit("_", 1)[1]))
  assert all(k.startswith("ConvTranspose_") for k in g_convs), g_convs
  g_expected = [(start, start, LATENT, f * 2**(n - 1))]
  g_expected += [(4, 4, f * 2**(n - i), f * 2**(n - i - 1)) for i in range(1, n)]
  g_expected += [(4, 4, f, channels)]
  assert [gp[k]["kernel"].shape for k in g_convs] == g_expected
  # Only the output layer has a bias: the others are followed by batch norm.
  assert [("bias" in gp[k]) for k in g_convs] == [False] * n + [True]

  d_convs = sorted((k for k in dp if k.startswith("Conv_")),
                   key=lambda k: int(k.rsplit("_", 1)[1]))
  d_expected = [(4, 4, channels, f)]
  d_expected += [(4, 4, f * 2**(i - 1), f * 2**i) for i in range(1, n)]
  assert [dp[k]["kernel"].shape for k in d_convs] == d_expected
  # The output layer: a dense layer on the flattened start x start map (the same function
  # as DCGAN's final valid start x start convolution).
  assert set(dp) - set(d_convs) - {k for k in dp if k.startswith("BatchNorm")} == \
      {"DiscriminatorHead_0"}
  assert dp["DiscriminatorHead_0"]["Dense_0"]["kernel"].shape == \
      (start * start * f * 2**(n - 1), 1)


@pytest.mark.parametrize("size", sorted(DCGAN_CASES))
def test_dcgan_uses_strided_and_transposed_convolutions_without_pooling(size):
  channels, _, n, _, _ = DCGAN_CASES[size]
  g, d = _dcgan(size)
  # The layers as defined; on a CPU the stride-2 layers are computed without dilation
  # ('auto', tests/test_strided_conv.py), the same functions, checked here too.
  g, d = g.clone(upsample_method="dilated"), d.clone(downsample_method="strided")
  z = jnp.zeros((2, LATENT))
  x = jnp.zeros((2, size, size, channels))
  g_vars = _fill(_shapes(g, z))
  d_vars = _fill(_shapes(d, x))
  z_rand = jax.random.normal(jax.random.key(1), z.shape)
  x_rand = jax.random.normal(jax.random.key(2), x.shape)
  for m, v, inp, auto in ((g, g_vars, z_rand, g.clone(upsample_method="auto")),
                          (d, d_vars, x_rand, d.clone(downsample_method="auto"))):
    if size != 28:  # One size (two stride-2 layers each) is enough for the equality.
      break
    want, got = (k.apply(v, inp, mutable=["batch_stats"])[0] for k in (m, auto))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
  g_text = str(jax.make_jaxpr(
      lambda v, z: g.apply(v, z, mutable=["batch_stats"]))(g_vars, z))
  d_text = str(jax.make_jaxpr(
      lambda v, x: d.apply(v, x, mutable=["batch_stats"]))(d_vars, x))
  for text in (g_text, d_text):
    assert "reduce_window" not in text  # max/avg pooling lower to reduce_window.
    assert "resize" not in text and "gather" not in text  # No upsampling by resizing.
  # G: n + 1 convolutions, all with unit window stride; the n upsampling layers are
  # transposed convolutions (lhs dilation 2), the 1x1 -> start projection is not.
  assert g_text.count("conv_general_dilated[") == n + 1
  assert _conv_eqn_params(g_text, "window_strides") == [(1, 1)] * (n + 1)
  assert _conv_eqn_params(g_text, "lhs_dilation") == [(1, 1)] + [(2, 2)] * n
  # D: n stride-2 convolutions, then the dense output layer.
  assert d_text.count("conv_general_dilated[") == n
  assert _conv_eqn_params(d_text, "window_strides") == [(2, 2)] * n
  assert _conv_eqn_params(d_text, "lhs_dilation") == [(1, 1)] * n


def test_dcgan_real_initializer_uses_normal_002():
  """DCGAN guideline: weights from N(0, 0.02); BN scales near 1, offsets 0."""
  g, d = _dcgan(28)
  key = jax.random.key(0, impl="rbg")  # Fast to compile; threefry is slow on CPU.
  g_vars = jax.jit(g.init)(key, jnp.zeros((2, LATENT)))
  d_vars = jax.jit(d.init)(key, jnp.zeros((2, 28, 28, 1)))
  kernels = np.concatenate([
      np.ravel(v["kernel"]) for vars_ in (g_vars, d_vars)
      for v in vars_["params"].values() if "kernel" in v])
  assert kernels.size > 10000
  assert abs(kernels.mean()) < 0.002
  assert kernels.std() == pytest.approx(0.02, rel=0.05)
  for vars_ in (g_vars, d_vars):
    for name, v in vars_["params"].items():
      if name.startswith("BatchNorm"):
        assert np.abs(np.asarray(v["scale"]) - 1.0).max() < 0.15
        np.testing.assert_array_equal(np.asarray(v["bias"]), 0.0)
    for v in vars_["batch_stats"].values():
      np.testing.assert_array_equal(np.asarray(v["mean"]), 0.0)
      np.testing.assert_array_equal(np.asarray(v["var"]), 1.0)


# ----------------------------------------------------------------------------- batch norm


@pytest.fixture(scope="module")
def bn_critic():
  _, d = _dcgan(32, d_norm="batch")
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.normal(size=(6, 32, 32, 3)), jnp.float32)
  b = jnp.asarray(5.0 + 3.0 * rng.normal(size=(6, 32, 32, 3)), jnp.float32)
  variables = _fill(_shapes(d, a), seed=7)
  return d, variables, a, b


def test_batch_norm_normalises_each_call_with_its_own_batch(bn_critic):
  d, variables, a, b = bn_critic
  out_a, stats_a = _apply(d, variables, a)
  out_b, stats_b = _apply(d, variables, b)
  # A processed by its own call after B's call (running statistics updated by B):
  # train mode ignores the running averages, so A's output is unchanged.
  out_a2, _ = _apply(d, {"params": variables["params"], "batch_stats": stats_b}, a)
  np.testing.assert_allclose(out_a2, out_a, rtol=1e-5, atol=1e-5)
  # The same B processed together with A in one call is normalised with the pooled
  # statistics, so A's outputs change.
  out_ab, _ = _apply(d, variables, jnp.concatenate([a, b]))
  scale = np.abs(out_a).max()
  assert np.abs(out_ab[:6] - out_a).max() > 0.1 * scale
  assert np.abs(out_ab[6:] - out_b).max() > 0.1 * np.abs(out_b).max()
  # The running statistics moved, and differently for the two batches.
  for name in stats_a:
    assert not np.allclose(stats_a[name]["mean"], stats_b[name]["mean"])


def test_batch_norm_running_average_momentum(bn_critic):
  """running = 0.9 * running + 0.1 * batch statistic (PyTorch momentum 0.1)."""
  d, variables, a, _ = bn_critic
  _, state = jax.jit(lambda v, x: d.apply(
      v, x, train=True, mutable=["batch_stats", "intermediates"],
      capture_intermediates=True))(variables, a)
  pre_bn = np.asarray(state["intermediates"]["Conv_1"]["__call__"][0], np.float64)
  batch_mean = pre_bn.mean(axis=(0, 1, 2))
  batch_var = pre_bn.var(axis=(0, 1, 2))
  got = state["batch_stats"]["BatchNorm_0"]
  np.testing.assert_allclose(got["mean"], 0.9 * 0.0 + 0.1 * batch_mean, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(got["var"], 0.9 * 1.0 + 0.1 * batch_var, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- per-example critic


@pytest.mark.parametrize("d_norm,train", [("none", True), ("layer", True), ("batch", False)])
def test_critic_outputs_are_per_example(d_norm, train):
  """No coupling between examples: batch output == single-example outputs."""
  _, d = _dcgan(28, d_norm=d_norm)
  rng = np.random.default_rng(2)
  x = np.concatenate([rng.normal(size=(3, 28, 28, 1)),
                      4.0 + 2.0 * rng.normal(size=(2, 28, 28, 1))]).astype(np.float32)
  variables = _fill(_shapes(d, jnp.asarray(x)), seed=11)
  if d_norm != "batch":
    assert "batch_stats" not in variables
  fn = jax.jit(lambda v, x: d.apply(v, x, train=train))
  batch = np.asarray(fn(variables, jnp.asarray(x)))
  single = np.array([np.asarray(fn(variables, jnp.asarray(x[i:i + 1])))[0]
                     for i in range(len(x))])
  assert np.abs(batch).max() > 1e-3  # Non-trivial outputs.
  np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-5 * np.abs(batch).max())


def test_layer_norm_critic_normalises_each_example():
  """A 'layer' critic's output on one example does not move when the rest of the
  batch is replaced by a very different distribution."""
  _, d = _dcgan(28, d_norm="layer")
  rng = np.random.default_rng(3)
  a = rng.normal(size=(1, 28, 28, 1)).astype(np.float32)
  b1 = rng.normal(size=(3, 28, 28, 1)).astype(np.float32)
  b2 = (10.0 + 5.0 * rng.normal(size=(3, 28, 28, 1))).astype(np.float32)
  variables = _fill(_shapes(d, jnp.asarray(a)), seed=5)
  fn = jax.jit(lambda v, x: d.apply(v, x, train=True))
  o1 = np.asarray(fn(variables, jnp.asarray(np.concatenate([a, b1]))))[0]
  o2 = np.asarray(fn(variables, jnp.asarray(np.concatenate([a, b2]))))[0]
  np.testing.assert_allclose(o1, o2, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- errors


def test_make_models_unknown_name():
  with pytest.raises(ValueError, match=r"make_models: name='resnet' is not one of: mlp, pacgan_mlp, dcgan"):
    make_models("resnet", (2,))


@pytest.mark.parametrize("shape", [(32, 28, 3), (2,), (32, 32), (28, 32, 1)])
def test_make_models_dcgan_needs_square_images(shape):
  with pytest.raises(ValueError, match="square"):
    make_models("dcgan", shape)


@pytest.mark.parametrize("field", ["g_norm", "d_norm"])
@pytest.mark.parametrize("bad", ["group", "instance", "Batch", ""])
def test_make_models_bad_norm(field, bad):
  with pytest.raises(ValueError, match=rf"make_models: {field}='{bad}' is not one of"):
    make_models("dcgan", (32, 32, 3), **{field: bad})


@pytest.mark.parametrize("size", [48, 16, 128, 27])
def test_dcgan_unsupported_image_size(size):
  """Raised when the modules are initialised (make_models itself builds lazily)."""
  g, d = make_models("dcgan", (size, size, 3))
  with pytest.raises(ValueError, match=str(size)):
    _shapes(g, jnp.zeros((1, LATENT)))
  with pytest.raises(ValueError, match=str(size)):
    _shapes(d, jnp.zeros((1, size, size, 3)))
  with pytest.raises(ValueError, match=str(size)):
    _shapes(DCGANGenerator(image_size=size), jnp.zeros((1, LATENT)))


def test_dcgan_discriminator_rejects_wrong_image_size():
  d = DCGANDiscriminator(image_size=32)
  with pytest.raises(ValueError, match="32x32"):
    _shapes(d, jnp.zeros((1, 28, 28, 3)))
