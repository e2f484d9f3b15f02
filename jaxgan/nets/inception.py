"""Inception-v3 as the FID uses it: the 2015-12-05 TensorFlow graph, ported like pytorch-fid.

The Frechet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale
update rule converge to a local Nash equilibrium", arXiv:1706.08500) and the Inception
Score (Salimans et al. 2016, arXiv:1606.03498) are defined with one particular network:
the Inception-v3 graph TensorFlow released on 2015-12-05 (``inception-2015-12-05.tgz``).
pytorch-fid (github.com/mseitzer/pytorch-fid, ``src/pytorch_fid/inception.py``) rebuilds
that graph from torchvision's Inception-v3 and converted its weights to
``pt_inception-2015-12-05-6726825d.pth``; this module is the same network in Flax, with
the same layer names, so that file loads into it (``jaxgan.inception_weights``).

How the FID graph differs from torchvision's ``inception_v3`` (Szegedy et al. 2016,
"Rethinking the Inception architecture", arXiv:1512.00567):

- Mixed_5b/5c/5d (pytorch-fid's FIDInceptionA), Mixed_6b..6e (FIDInceptionC) and
  Mixed_7b (FIDInceptionE_1): the pooling branch is a 3x3, stride 1, padding 1 average
  pool that divides by the number of *real* pixels in the window (TensorFlow's 'SAME'
  average pool; PyTorch's ``count_include_pad=False``). torchvision divides by 9
  everywhere, counting the zero padding.
- Mixed_7c (FIDInceptionE_2): the pooling branch is a 3x3, stride 1, padding 1 *max*
  pool, not an average pool (the 2015 graph has it; the paper describes an average).
- The classifier has 1008 outputs (1000 ImageNet classes and 8 unused ones) and there
  are no auxiliary logits.
- Every convolution has no bias and is followed by batch normalisation with
  epsilon 0.001 and a ReLU (as in torchvision).

This module is inference-only: batch normalisation always uses the stored statistics
(``batch_stats``), and there is no dropout, so each image's outputs do not depend on
the rest of the batch. The layout is NHWC. The input must already be preprocessed:
RGB scaled to [-1, 1], normally resized to 299x299 (``jaxgan.metrics.preprocess``);
the network is fully convolutional up to the global pool, so other sizes >= 75x75 run
too (the features then differ from the reference).

Outputs: ``pool3``, the 2048 features after the global average pool (the FID and KID
features), and ``logits``, the 1008 class logits ``pool3 @ W`` of the final layer
*without its bias*, which is what the original Inception Score code
(openai/improved-gan, ``inception_score/model.py``) and torch-fidelity's
``logits_unbiased`` use.

Known difference from TensorFlow's FID (TTUR): the TF graph resizes inside the graph
with TF1's bilinear rule; pytorch-fid (and this port) resizes with PyTorch's
``align_corners=False`` rule, which shifts FID values slightly. We match pytorch-fid.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

NUM_CLASSES = 1008
FEATURE_DIM = 2048
INPUT_SIZE = 299
BN_EPSILON = 1e-3

Pair = tuple[int, int]


class BasicConv(nn.Module):
  """Convolution without bias -> batch norm (stored statistics, eps 0.001) -> ReLU."""

  features: int
  kernel_size: Pair
  strides: Pair = (1, 1)
  padding: Pair = (0, 0)  # Symmetric (rows, columns) zero padding, as PyTorch's Conv2d.

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel_size, self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPSILON, name="bn")(x)
    return nn.relu(x)


def _avg_pool_same(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average over the real pixels of each window (TF 'SAME' pooling)."""
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_same(x: jax.Array) -> jax.Array:
  """3x3 stride-1 max pool with one pixel of padding (padding never wins the max)."""
  return nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))


def _max_pool_reduce(x: jax.Array) -> jax.Array:
  """3x3 stride-2 max pool without padding (the grid-size reductions)."""
  return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class InceptionA(nn.Module):
  """35x35 block (Mixed_5b..5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""

  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """35x35 -> 17x17 reduction (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = BasicConv(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_reduce(x)], axis=-1)


class InceptionC(nn.Module):
  """17x17 block (Mixed_6b..6e) with factorised 7x7 convolutions (1x7 and 7x1)."""

  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c7 = self.channels_7x7
    row, col = dict(kernel_size=(1, 7), padding=(0, 3)), dict(kernel_size=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c7, **row, name="branch7x7_2")(b7)
    b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
    bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c7, **col, name="branch7x7dbl_2")(bd)
    bd = BasicConv(c7, **row, name="branch7x7dbl_3")(bd)
    bd = BasicConv(c7, **col, name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """17x17 -> 8x8 reduction (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_reduce(x)], axis=-1)


class InceptionE(nn.Module):
  """8x8 block (Mixed_7b, 7c) with split 1x3 / 3x1 outputs; ``pool`` is 'avg' or 'max'."""

  pool: str = "avg"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv(384, **row, name="branch3x3_2a")(b3),
                          BasicConv(384, **col, name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv(384, **row, name="branch3x3dbl_3a")(bd),
                          BasicConv(384, **col, name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.pool == "avg":
      pooled = _avg_pool_same(x)
    elif self.pool == "max":
      pooled = _max_pool_same(x)
    else:
      raise ValueError(f"InceptionE pool must be 'avg' or 'max', got {self.pool!r}")
    bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """Preprocessed images (B, H, W, 3) in [-1, 1] -> {'pool3': (B, 2048), 'logits': (B, 1008)}.

  Variables: 'params' (conv kernels HWIO, batch-norm scale/bias, ``fc`` kernel) and
  'batch_stats' (batch-norm running mean/var), named like pytorch-fid's state dict.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> dict[str, jax.Array]:
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f"InceptionV3 expects NHWC RGB images (B, H, W, 3), got {x.shape}")
    if min(x.shape[1:3]) < 75:
      raise ValueError(f"InceptionV3 needs images of at least 75x75, got {x.shape[1:3]}; "
                       "resize them first (jaxgan.metrics.preprocess)")
    x = BasicConv(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)  # 149x149
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)                  # 147x147
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_reduce(x)                                              # 73x73
    x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)                 # 71x71
    x = _max_pool_reduce(x)                                              # 35x35
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)                                   # 17x17
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)                                   # 8x8
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(NUM_CLASSES, use_bias=False, name="fc")(pool3)
    return {"pool3": pool3, "logits": logits}


def variable_shapes() -> dict:
  """The variable tree {'params': ..., 'batch_stats': ...} as ShapeDtypeStructs (no compute)."""
  x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
  return jax.eval_shape(InceptionV3().init, jax.random.key(0), x)
