"""jaxgan.nets.strided_conv: DCGAN's stride-2 convolutions computed without dilation.

The references are float64 numpy loops written from the definitions (a transposed
convolution scatters each input pixel's kernel-weighted copy to the output; a strided
convolution gathers a window every second pixel), and XLA's own ``lax.conv_transpose``
/ strided ``lax.conv_general_dilated`` (what ``nn.ConvTranspose`` / ``nn.Conv`` call),
including the second derivatives WGAN-GP's gradient penalty takes.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.nets import strided_conv as sc

SHAPES = [(2, 4, 8, 5), (3, 5, 6, 3), (2, 8, 16, 16), (1, 1, 4, 2)]  # (B, H=W, C, F)


def _numpy_transposed_conv(x, k):
  """Flax's ConvTranspose(strides 2, padding ((2, 2), (2, 2))) from its definition.

  lax.conv_transpose convolves the stride-2 dilated input, padded by 2, with the
  (unflipped) kernel: y[o] = sum_t xd[o + t - 2] k[t]. As a scatter: input pixel i adds
  x[i] k[t] to output 2i + 2 - t; outputs outside [0, 2H) are dropped.
  """
  b, h, w, _ = x.shape
  y = np.zeros((b, 2 * h + 4, 2 * w + 4, k.shape[-1]))
  for i in range(h):
    for j in range(w):
      for t in range(4):
        for u in range(4):
          y[:, 2 * i + 2 - t + 2, 2 * j + 2 - u + 2] += x[:, i, j] @ k[t, u]
  return y[:, 2:2 + 2 * h, 2:2 + 2 * w]


def _data(shape, seed=0):
  b, h, c, f = shape
  rng = np.random.default_rng(seed)
  return rng.standard_normal((b, h, h, c)), rng.standard_normal((4, 4, c, f))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", sc.UP_METHODS)
def test_every_method_equals_the_definition(shape, method):
  x, k = _data(shape)
  want = _numpy_transposed_conv(x, k)
  got = sc.upsample(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), method)
  assert got.shape == want.shape
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ("phases", "phases3x3"))
def test_gradients_equal_those_of_lax_conv_transpose(method):
  x, k = (jnp.asarray(a, jnp.float32) for a in _data((2, 4, 6, 5), seed=1))
  g = jnp.asarray(np.random.default_rng(2).standard_normal((2, 8, 8, 5)), jnp.float32)
  loss = lambda fn: lambda x, k: jnp.sum(fn(x, k) * g)
  want = jax.grad(loss(sc.dilated), (0, 1))(x, k)
  got = jax.grad(loss(lambda x, k: sc.upsample(x, k, method)), (0, 1))(x, k)
  for a, b in zip(got, want):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_module_has_conv_transposes_parameters_and_output():
  x = jnp.asarray(_data((2, 4, 8, 5))[0], jnp.float32)
  flax_layer = nn.ConvTranspose(5, (4, 4), (2, 2), padding=((2, 2), (2, 2)))
  variables = flax_layer.init(jax.random.key(0), x)
  ours = sc.UpConv(5)
  mine = ours.init(jax.random.key(0), x)
  assert jax.tree.map(jnp.shape, mine) == jax.tree.map(jnp.shape, variables)
  # Same initialisers: the same key gives the same parameters.
  jax.tree.map(np.testing.assert_array_equal, mine, variables)
  np.testing.assert_allclose(np.asarray(ours.apply(variables, x)),
                             np.asarray(flax_layer.apply(variables, x)), atol=1e-5)


def test_bfloat16_computation_keeps_float32_parameters():
  x = jnp.ones((1, 4, 4, 3), jnp.float32)
  layer = sc.UpConv(2, dtype=jnp.bfloat16)
  variables = layer.init(jax.random.key(0), x)
  assert variables["params"]["kernel"].dtype == jnp.float32
  assert layer.apply(variables, x).dtype == jnp.bfloat16


def test_auto_on_cpu_has_no_dilated_convolution():
  """On a CPU 'auto' must take the phase path (XLA writes lhs_dilate for the other)."""
  x, k = jnp.zeros((2, 4, 4, 16)), jnp.zeros((4, 4, 16, 16))
  hlo = lambda method: jax.jit(lambda x, k: jax.grad(
      lambda x, k: jnp.sum(sc.upsample(x, k, method) ** 2), (0, 1))(x, k)
  ).lower(x, k).compile().as_text()
  assert "lhs_dilate" in hlo("dilated")  # The check can see a dilated convolution.
  assert "lhs_dilate" not in hlo("auto")


def test_vmapped_kernels_equal_a_loop():
  x, k = _data((2, 4, 6, 16))
  x = jnp.asarray(x, jnp.float32)
  ks = jnp.asarray(np.stack([k, 2 * k, -k]), jnp.float32)
  got = jax.vmap(lambda k: sc.upsample(x, k))(ks)
  for i in range(3):
    np.testing.assert_allclose(np.asarray(got[i]), np.asarray(sc.dilated(x, ks[i])),
                               rtol=1e-5, atol=1e-5)


def test_bad_method_and_kernel_are_named():
  x = jnp.zeros((1, 2, 2, 3))
  with pytest.raises(ValueError, match="unknown transposed-convolution method 'fast'"):
    sc.upsample(x, jnp.zeros((4, 4, 3, 2)), "fast")
  with pytest.raises(ValueError, match="4x4 kernel"):
    sc.upsample(x, jnp.zeros((3, 3, 3, 2)))
  with pytest.raises(ValueError, match=r"\(batch, height, width, channels\)"):
    sc.UpConv(2).init(jax.random.key(0), jnp.zeros((2, 2, 3)))


# ----------------------------------------------------------------------------- down


def _numpy_strided_conv(x, k):
  """nn.Conv(kernel 4, strides 2, padding 1): y[m, n] = sum_tu xpad[2m + t, 2n + u] k[t, u]."""
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  b, h, w, _ = x.shape
  y = np.zeros((b, h // 2, w // 2, k.shape[-1]))
  for m in range(h // 2):
    for n in range(w // 2):
      y[:, m, n] = np.einsum("btuc,tucf->bf", xp[:, 2 * m:2 * m + 4, 2 * n:2 * n + 4], k)
  return y


@pytest.mark.parametrize("shape", [(2, 8, 3, 5), (3, 4, 6, 16), (1, 14, 2, 3)])
@pytest.mark.parametrize("method", sc.DOWN_METHODS)
def test_every_down_method_equals_the_definition(shape, method):
  x, k = _data(shape)
  want = _numpy_strided_conv(x, k)
  got = sc.downsample(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), method)
  assert got.shape == want.shape
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_patches_take_odd_sizes():
  x, k = _data((2, 7, 3, 4))
  got = sc.downsample(jnp.asarray(x, jnp.float32), jnp.asarray(k, jnp.float32), "patches")
  assert got.shape == (2, 3, 3, 4)
  np.testing.assert_allclose(np.asarray(got), _numpy_strided_conv(x, k), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn,ref", [(lambda x, k: sc.downsample(x, k, "patches"), sc.strided),
                                    (lambda x, k: sc.upsample(x, k, "phases"), sc.dilated)])
def test_gradient_penalty_gradients_equal_xlas(fn, ref):
  """WGAN-GP differentiates ||d D / d x||^2 with respect to the kernel: second derivatives."""
  x, k = _data((2, 8, 4, 6), seed=3)
  x, k = jnp.asarray(x, jnp.float32), jnp.asarray(0.2 * k, jnp.float32)  # tanh unsaturated
  def penalty(conv):
    def of_kernel(k):
      grad_x = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x)
      return jnp.sum(grad_x ** 2)
    return of_kernel
  want = jax.grad(penalty(ref))(k)
  got = jax.grad(penalty(fn))(k)
  scale = float(jnp.max(jnp.abs(want)))
  assert scale > 1e-2
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5 * scale)


def test_down_module_has_convs_parameters_and_output():
  x = jnp.asarray(_data((2, 8, 3, 5))[0], jnp.float32)
  flax_layer = nn.Conv(5, (4, 4), (2, 2), padding=((1, 1), (1, 1)))
  variables = flax_layer.init(jax.random.key(0), x)
  mine = sc.DownConv(5).init(jax.random.key(0), x)
  jax.tree.map(np.testing.assert_array_equal, mine, variables)
  np.testing.assert_allclose(np.asarray(sc.DownConv(5).apply(variables, x)),
                             np.asarray(flax_layer.apply(variables, x)), atol=1e-5)
  with pytest.raises(ValueError, match="unknown convolution method 'fast'"):
    sc.DownConv(5, method="fast").init(jax.random.key(0), x)


def test_down_auto_on_cpu_has_no_strided_convolution():
  x, k = jnp.zeros((2, 8, 8, 16)), jnp.zeros((4, 4, 16, 16))
  hlo = lambda method: jax.jit(lambda x, k: jax.grad(
      lambda x, k: jnp.sum(sc.downsample(x, k, method) ** 2), (0, 1))(x, k)
  ).lower(x, k).compile().as_text()
  assert "lhs_dilate" in hlo("strided")  # Its input gradient has a dilated input.
  assert "lhs_dilate" not in hlo("auto") and "convolution(" not in hlo("auto")
