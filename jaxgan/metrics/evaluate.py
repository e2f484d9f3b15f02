"""Inception features of image sets and of generators, batched and sharded over devices.

``FeatureExtractor`` runs preprocessing (``jaxgan.metrics.preprocess``, in one of its
modes: 'pytorch' (default), 'tf1', 'clean') and the FID Inception
(``jaxgan.nets.inception``) in one ``jax.jit``; each batch is sharded along a
'data' mesh axis over the local devices and the weights are replicated. Every batch has
the same shape (the last one is padded and the padding dropped), so it compiles once.
While one batch runs, the host reads the next one and folds the previous one's pool3
features into the float64 running statistics (``FeatureStats``). With several hosts,
give each process its share of the images and sum the statistics with
``jaxgan.metrics.statistics.merge_across_processes``.

Sources: an in-memory array, a folder of images (read lazily, batch by batch, with
``jaxgan.data.images.read_image(path, rgb=True)``: Pillow's ``convert('RGB')`` as in
pytorch-fid), an ``.npz`` of images (``x_train`` or its first array), or an ``.npz`` of
statistics (``mu``, ``sigma``, optionally ``n`` and the provenance; ``open_source``). An
``.npz`` of images may hold labels (``y_train`` beside ``x_train``, ``y`` beside ``x``),
which per-class metrics use. Images that are not
uint8 must be finite floats in [0, 1]; anything else raises ``SourceError`` (the same
class as ``jaxgan.data.images.DataError``) naming the file. A generator is evaluated
with ``generator_features``: ``sample(key, n)`` is called batch by batch and its images
stay on the devices, never written to disk (they are quantized with
``jaxgan.data.images.to_uint8``, as if saved to PNG, and must be finite).

Provenance: features remember the preprocessing mode, the SHA-256 of the Inception
weights (``weights_sha256``: of the arrays, so a ``.pth`` and its cached conversion agree)
and the size of the images (``Features.provenance``), and so do the statistics made
from them (``jaxgan.metrics.statistics.Provenance``).

Precision: float32 with ``matmul precision 'highest'`` by default, so that GPUs do not
silently use TF32/bf16 passes in convolutions (features then match pytorch-fid's float32
to about 1e-6); 'default' is faster on GPUs and TPUs but shifts the FID slightly.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib
import warnings
from typing import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from jaxgan import xla_cpu
from jaxgan.data.images import IMAGE_SUFFIXES, DataError, read_image, to_uint8
from jaxgan.metrics.preprocess import DEFAULT_MODE, check_mode, preprocess
from jaxgan.metrics.statistics import FeatureStats, Provenance, Statistics, read_statistics
from jaxgan.nets.inception import FEATURE_DIM, InceptionV3
from jaxgan.parallel import DATA_AXIS

# pytorch-fid reads these suffixes only, and in lower case only (it globs '*.png' ...).
PYTORCH_FID_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".gif")

SourceError = DataError  # One error class for image sources, training's and the metrics'.


# ----------------------------------------------------------------------------- extraction


def inception_outputs(variables, images: jax.Array, precision: str = "highest",
                      mode: str = DEFAULT_MODE):
  """{'pool3': (N, 2048), 'logits': (N, 1008)} of uint8 / [0, 1] NHWC images of any size,
  preprocessed as ``mode`` ('pytorch', 'tf1' or 'clean') does. Compiled once per shape,
  with ``jaxgan.xla_cpu.options()`` (XLA:CPU's own convolutions: 1.9x faster on a CPU)."""
  return _compiled_inception()(variables, images, precision, mode)


@functools.cache
def _compiled_inception():
  def outputs(variables, images, precision, mode):
    with jax.default_matmul_precision(precision):
      return InceptionV3().apply(variables, preprocess(images, mode=mode))
  return jax.jit(outputs, static_argnums=(2, 3), compiler_options=xla_cpu.options())


def weights_sha256(variables) -> str:
  """SHA-256 of a variable tree: per leaf, in sorted path order, ``'{path}|{dtype}|{shape}|'``
  (path as ``jax.tree_util.keystr`` writes it, e.g. ``['params']['fc']['kernel']``; dtype
  as numpy's little-endian ``str``, e.g. ``<f4``) then the values' little-endian bytes.

  Of the arrays, not of a file: the same for pytorch-fid's ``.pth`` and its cached
  conversion (``jaxgan.inception_weights``), different for any other weights (random
  ones included)."""
  h = hashlib.sha256()
  for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(variables),
                           key=lambda item: jax.tree_util.keystr(item[0])):
    value = np.ascontiguousarray(np.asarray(leaf))
    value = value.astype(value.dtype.newbyteorder("<"))
    h.update(f"{jax.tree_util.keystr(path)}|{value.dtype.str}|{value.shape}|".encode())
    h.update(value.tobytes())
  return h.hexdigest()


class FeatureExtractor:
  """Computes Inception outputs of batches, sharded over the devices of a 1-D mesh.

  ``mode``: the preprocessing (``jaxgan.metrics.preprocess.MODES``).
  """

  def __init__(self, variables, batch_size: int = 200, mesh: Mesh | None = None,
               precision: str = "highest", mode: str = DEFAULT_MODE):
    self.mesh = mesh if mesh is not None else Mesh(np.asarray(jax.local_devices()), (DATA_AXIS,))
    n_dev = self.mesh.size
    self.batch_size = -(-max(batch_size, 1) // n_dev) * n_dev  # A multiple of the devices.
    self.precision = precision
    self.mode = check_mode(mode)
    self.sharding = NamedSharding(self.mesh, P(DATA_AXIS))
    self.variables = jax.device_put(variables, NamedSharding(self.mesh, P()))

  @functools.cached_property
  def weights_sha256(self) -> str:
    """``weights_sha256`` of the Inception variables (computed once, when first asked)."""
    return weights_sha256(self.variables)

  def provenance(self, image_size: tuple[int, int] | None) -> Provenance:
    """How this extractor makes features of images of ``image_size`` (H, W)."""
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    return Provenance(self.mode, self.weights_sha256, size)

  def dispatch(self, images) -> tuple[dict, int]:
    """Starts one batch (<= batch_size images, host or device array); returns (outputs, n)."""
    n = images.shape[0]
    if n == 0 or n > self.batch_size:
      raise ValueError(f"a batch must hold 1..{self.batch_size} images, got {n}")
    if images.ndim != 4:
      raise SourceError(f"images must be NHWC (N, H, W, 1|3), got shape {images.shape}")
    if n < self.batch_size:  # Pad the last batch so that the shape never changes.
      pad = [(0, self.batch_size - n)] + [(0, 0)] * 3
      images = jnp.pad(images, pad) if isinstance(images, jax.Array) else np.pad(images, pad)
    images = jax.device_put(images, self.sharding)
    return inception_outputs(self.variables, images, self.precision, self.mode), n

  def __call__(self, images) -> dict[str, np.ndarray]:
    out, n = self.dispatch(images)
    return {k: np.asarray(v)[:n] for k, v in out.items()}


@dataclasses.dataclass
class Features:
  """Running pool3 statistics, and the raw outputs when they were kept."""

  stats: FeatureStats
  pool3: np.ndarray | None = None    # (N, 2048) float32, for the KID and PRDC.
  logits: np.ndarray | None = None   # (N, 1008) float32, for the Inception Score.
  labels: np.ndarray | None = None   # (N,) class labels, when the images have them.
  provenance: Provenance = dataclasses.field(default_factory=Provenance)

  @property
  def count(self) -> int:
    return self.stats.n

  def statistics(self, name: str = "") -> Statistics:
    """mu, sigma, N and provenance of these features."""
    return Statistics(self.stats.mean(), self.stats.covariance(), self.stats.n, name,
                      self.provenance)


def _run(dispatched: Iterable[tuple[dict, int]], total: int | None, keep_pool3: bool,
         keep_logits: bool, progress: bool, desc: str) -> Features:
  """Consumes dispatched batches one step behind, so the devices stay busy."""
  stats = FeatureStats.zeros(FEATURE_DIM)
  kept = {k: [] for k, on in (("pool3", keep_pool3), ("logits", keep_logits)) if on}

  def consume(item):
    out, n = item
    pool3 = np.asarray(out["pool3"])[:n]
    stats.update(pool3)
    for k, parts in kept.items():
      parts.append(pool3 if k == "pool3" else np.asarray(out[k])[:n])
    bar.update(n)

  with tqdm(total=total, unit="img", desc=desc, disable=not progress) as bar:
    pending = None
    for item in dispatched:  # Dispatching batch i + 1 before reading batch i back.
      if pending is not None:
        consume(pending)
      pending = item
    if pending is not None:
      consume(pending)
  joined = {k: np.concatenate(parts) for k, parts in kept.items() if parts}
  return Features(stats, joined.get("pool3"), joined.get("logits"))


def extract(batches: Iterable, extractor: FeatureExtractor, total: int | None = None,
            keep_pool3: bool = False, keep_logits: bool = False, progress: bool = True,
            desc: str = "Inception features") -> Features:
  """Features of an iterable of image batches (each at most ``extractor.batch_size``),
  with the extractor's provenance and the first batch's image size."""
  sizes = []

  def dispatched():
    for b in batches:
      sizes.append(tuple(b.shape[1:3]))
      yield extractor.dispatch(b)

  features = _run(dispatched(), total, keep_pool3, keep_logits, progress, desc)
  features.provenance = extractor.provenance(sizes[0] if sizes else None)
  return features


@functools.partial(jax.jit, static_argnames="quantize")
def _generated_to_images(images: jax.Array, quantize: bool) -> tuple[jax.Array, jax.Array]:
  """[-1, 1] generator output -> (uint8 as if saved to PNG, or float [0, 1]; all finite?).

  float32 arithmetic in both branches, also for float64 or bfloat16 generators.
  """
  x = images.astype(jnp.float32)
  finite = jnp.all(jnp.isfinite(x))
  if quantize:
    return to_uint8(x), finite
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0), finite


def _images_and_labels(drawn, b: int) -> tuple[jax.Array, jax.Array | None]:
  """``sample``'s result, images or (images, labels or None), checked."""
  images, labels = drawn if isinstance(drawn, tuple) else (drawn, None)
  if images.ndim != 4 or images.shape[0] != b:
    raise ValueError(f"sample(key, {b}) must return ({b}, H, W, C) images, got "
                     f"{images.shape}")
  if labels is not None and labels.shape != (b,):
    raise ValueError(f"sample(key, {b}) returned labels of shape {labels.shape}, not ({b},)")
  return images, labels


def generator_features(sample: Callable[[jax.Array, int], jax.Array], key: jax.Array,
                       num_samples: int, extractor: FeatureExtractor, quantize: bool = True,
                       keep_pool3: bool = False, keep_logits: bool = False,
                       progress: bool = True) -> Features:
  """Features of ``num_samples`` images from ``sample(key, n) -> (n, H, W, C) in [-1, 1]``.

  Batch i is ``sample(jax.random.fold_in(key, i), batch_size)`` (the extra images of the
  last batch are dropped). The images stay on the devices. ``quantize`` rounds them to
  uint8 first, which is what the FID of the same images saved as PNG would see. NaN or
  inf in any image raises ValueError (after the last batch: the check never waits).
  ``sample`` may also return (images, labels (n,)) (a conditional generator): the labels
  are kept in ``Features.labels``.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples must be positive, got {num_samples}")
  b = extractor.batch_size
  sizes, labels = [], []

  def dispatched():
    finite = []
    for i, start in enumerate(range(0, num_samples, b)):
      images, batch_labels = _images_and_labels(sample(jax.random.fold_in(key, i), b), b)
      sizes.append(tuple(images.shape[1:3]))
      if batch_labels is not None:
        labels.append(batch_labels)  # Read back at the end: never waits here.
      converted, ok = _generated_to_images(images, quantize)
      finite.append(ok)
      out, _ = extractor.dispatch(converted)
      yield out, min(b, num_samples - start)
    bad = [i for i, ok in enumerate(finite) if not bool(ok)]
    if bad:
      raise ValueError(f"sample(key, {b}) returned NaN or inf images in batch(es) {bad[:5]} "
                       "(a diverged generator?); no FID / IS of such images")

  features = _run(dispatched(), num_samples, keep_pool3, keep_logits, progress, "generator")
  features.provenance = extractor.provenance(sizes[0])
  if labels:
    features.labels = np.concatenate([np.asarray(y) for y in labels])[:num_samples]
  return features


# ----------------------------------------------------------------------------- sources


@dataclasses.dataclass
class ImageSource:
  """A set of images that can be read in batches."""

  name: str
  count: int
  read: Callable[[int, int], np.ndarray]  # (start, stop) -> (stop - start, H, W, C)
  image_size: tuple[int, int] | None = None  # (H, W)
  labels: np.ndarray | None = None           # (count,) integer class labels, if known.

  def batches(self, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, self.count, batch_size):
      yield self.read(start, min(start + batch_size, self.count))


def _check_images(images: np.ndarray, name: str) -> np.ndarray:
  if images.ndim == 3:
    images = images[..., None]  # (N, H, W) grayscale.
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    hint = (" (channels first? transpose to NHWC)" if images.ndim == 4 and
            images.shape[1] in (1, 3) else "")
    raise SourceError(f"{name}: images must be (N, H, W) or (N, H, W, 1|3), got "
                      f"{images.shape}{hint}")
  if len(images) == 0:
    raise SourceError(f"{name}: no images")
  if images.dtype != np.uint8:
    if not np.issubdtype(images.dtype, np.floating):
      raise SourceError(f"{name}: images must be uint8 or float in [0, 1], got {images.dtype}")
    bad = int(np.size(images) - np.count_nonzero(np.isfinite(images)))
    if bad:
      raise SourceError(f"{name}: {bad} pixel values are NaN or inf; images must be uint8 "
                        "or finite floats in [0, 1]")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
      raise SourceError(f"{name}: float images must lie in [0, 1], got [{lo:g}, {hi:g}]")
  return images


def _check_labels(labels, count: int, name: str) -> np.ndarray | None:
  if labels is None:
    return None
  labels = np.asarray(labels)
  if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
    raise SourceError(f"{name}: labels must be integers of shape ({count},), got "
                      f"{labels.dtype} {labels.shape}")
  if count and labels.min() < 0:
    raise SourceError(f"{name}: labels must be >= 0, got {labels.min()}")
  return labels.astype(np.int64)


def array_source(images, name: str = "array", max_images: int | None = None,
                 labels=None) -> ImageSource:
  """Images (N, H, W[, C]) in memory, and optionally their labels (N,)."""
  images = _check_images(np.asarray(images), name)
  labels = _check_labels(labels, len(images), name)
  if max_images:
    images = images[:max_images]
    labels = None if labels is None else labels[:max_images]
  return ImageSource(name, len(images), lambda a, b: images[a:b], tuple(images.shape[1:3]),
                     labels)


def _warn_unlike_pytorch_fid(root: pathlib.Path, files: list[pathlib.Path]) -> None:
  skipped = [f.name for f in files if f.suffix not in PYTORCH_FID_SUFFIXES]
  if skipped:
    warnings.warn(f"{root}: {len(skipped)} files that pytorch-fid would not read ({skipped[0]}"
                  f"{', ...' if len(skipped) > 1 else ''}; it reads lower-case "
                  f"{', '.join(PYTORCH_FID_SUFFIXES)} only) are included here, so N and "
                  "the scores differ from pytorch-fid's", UserWarning, stacklevel=3)


def folder_source(path: str | pathlib.Path, max_images: int | None = None) -> ImageSource:
  """The images directly in ``path`` (sorted by name, like pytorch-fid), read lazily.

  Decoded by ``read_image(f, rgb=True)`` (pytorch-fid's ``convert('RGB')``); an image that
  cannot be decoded raises ``SourceError`` naming it, when its batch is read.
  """
  root = pathlib.Path(path)
  files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
  if not files:
    raise SourceError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
  if max_images:
    files = files[:max_images]
  _warn_unlike_pytorch_fid(root, files)
  first = read_image(files[0], rgb=True).shape

  def read(a: int, b: int) -> np.ndarray:
    images = [read_image(f, rgb=True) for f in files[a:b]]
    for f, im in zip(files[a:b], images, strict=True):
      if im.shape != first:
        raise SourceError(f"{root}: images differ in size ({files[0].name} is {first}, "
                          f"{f.name} is {im.shape}); resize them to one size first")
    return np.stack(images)

  return ImageSource(str(root), len(files), read, tuple(first[:2]))


def open_source(path: str | pathlib.Path,
                max_images: int | None = None) -> ImageSource | Statistics:
  """A folder or .npz of images -> ImageSource; an .npz with mu/sigma -> Statistics (checked
  by ``read_statistics``: a sigma that is not a covariance raises StatisticsError).

  In an .npz, images are ``x_train`` or the first array; labels, when present, are the
  ``y...`` array named like the images' ``x...`` (``y_train``, ``y``)."""
  path = pathlib.Path(path)
  if path.is_dir():
    return folder_source(path, max_images)
  if not path.is_file():
    raise SourceError(f"{path}: no such file or folder")
  if path.suffix != ".npz":
    raise SourceError(f"{path}: expected a folder of images or an .npz file")
  with np.load(path) as f:
    if "mu" in f and "sigma" in f:
      return read_statistics(path)
    if not f.files:
      raise SourceError(f"{path}: empty .npz")
    key = "x_train" if "x_train" in f else f.files[0]
    images = f[key]
    label_key = "y" + key[1:] if key.startswith("x") else None
    labels = f[label_key] if label_key in f.files else None
  return array_source(images, f"{path}[{key}]", max_images, labels)


def source_features(source: ImageSource, extractor: FeatureExtractor, progress: bool = True,
                    keep_pool3: bool = False, keep_logits: bool = False) -> Features:
  """Features of every image of ``source`` (with its labels, if it has them)."""
  features = extract(source.batches(extractor.batch_size), extractor, source.count,
                     keep_pool3=keep_pool3, keep_logits=keep_logits, progress=progress,
                     desc=source.name)
  features.labels = source.labels
  return features


def source_statistics(source: ImageSource | Statistics,
                      get_extractor: Callable[[], FeatureExtractor],
                      progress: bool = True) -> Statistics:
  """Statistics (mu, sigma, n, provenance) of what ``open_source`` returned: saved
  statistics as they are, images through the Inception (``get_extractor`` is only called
  then, so statistics files never need the weights)."""
  if isinstance(source, Statistics):
    return source
  if not isinstance(source, ImageSource):  # A (mu, sigma) pair.
    mu, sigma = source
    return Statistics(np.asarray(mu, np.float64), np.asarray(sigma, np.float64))
  return source_features(source, get_extractor(), progress).statistics(source.name)
