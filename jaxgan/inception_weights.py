"""The FID Inception weights: pytorch-fid's ``.pth`` (read by ``jaxgan.pth``), converted, cached.

The reference weights are pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (the
2015-12-05 TensorFlow Inception graph ported to PyTorch; ``FID_WEIGHTS_URL``). The
``6726825d`` in the name is the first 8 hex digits of the file's SHA-256, PyTorch's hub
convention; it is checked before the file is used.

Conversion to the Flax tree of ``jaxgan.nets.inception.InceptionV3`` (names match
pytorch-fid's state dict): ``X.conv.weight`` (O, I, kh, kw) -> ``params/X/conv/kernel``
(kh, kw, I, O); ``X.bn.weight|bias`` -> ``params/X/bn/scale|bias``;
``X.bn.running_mean|running_var`` -> ``batch_stats/X/bn/mean|var``; ``fc.weight`` (1008,
2048) -> ``params/fc/kernel`` (2048, 1008). ``X.bn.num_batches_tracked`` (training
bookkeeping) and ``fc.bias`` (the Inception Score uses the logits without it) are
accepted and dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np
from absl import logging

from jaxgan import pth
from jaxgan.nets.inception import variable_shapes

FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   "pt_inception-2015-12-05-6726825d.pth")
FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
CONVERTED_SUFFIX = ".flax.npz"

Variables = dict[str, Any]


class WeightsError(RuntimeError):
  """Inception weights are missing, corrupt, or not the expected file."""


# ----------------------------------------------------------------------------- conversion


@dataclasses.dataclass(frozen=True)
class _Entry:
  torch_name: str
  collection: str             # 'params' or 'batch_stats'
  path: tuple[str, ...]       # Path inside the collection.
  shape: tuple[int, ...]      # Flax shape.
  torch_shape: tuple[int, ...]
  transpose: tuple[int, ...] | None  # Axes permutation torch -> flax, if any.


def _walk(tree: dict, prefix: tuple[str, ...] = ()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _walk(v, prefix + (k,))
    else:
      yield prefix + (k,), v


@functools.lru_cache(maxsize=1)
def layout() -> tuple[_Entry, ...]:
  """Every state-dict entry of pytorch-fid's FID Inception that the Flax net uses."""
  shapes = variable_shapes()
  renames = {("conv", "kernel"): "conv.weight", ("bn", "scale"): "bn.weight",
             ("bn", "bias"): "bn.bias", ("bn", "mean"): "bn.running_mean",
             ("bn", "var"): "bn.running_var", ("fc", "kernel"): "fc.weight"}
  entries = []
  for collection in ("params", "batch_stats"):
    for path, leaf in _walk(shapes[collection]):
      name = ".".join(path[:-2] + (renames[path[-2:]],))
      shape = tuple(leaf.shape)
      perm = {4: (2, 3, 1, 0), 2: (1, 0)}.get(len(shape)) if path[-1] == "kernel" else None
      torch_shape = tuple(shape[perm.index(i)] for i in range(len(shape))) if perm else shape
      entries.append(_Entry(name, collection, path, shape, torch_shape, perm))
  return tuple(entries)


def _ignored(name: str) -> bool:
  return name.endswith(".bn.num_batches_tracked") or name == "fc.bias"


def convert_state_dict(state_dict: dict[str, np.ndarray]) -> Variables:
  """pytorch-fid state dict (name -> array, torch layouts) -> Flax variables (float32)."""
  entries = layout()
  expected = {e.torch_name for e in entries}
  missing = sorted(expected - state_dict.keys())
  unexpected = sorted(k for k in state_dict.keys() - expected if not _ignored(k))
  wrong = [f"{e.torch_name}: {tuple(np.shape(state_dict[e.torch_name]))}, expected "
           f"{e.torch_shape}" for e in entries
           if e.torch_name in state_dict and np.shape(state_dict[e.torch_name]) != e.torch_shape]
  if missing or unexpected or wrong:
    lines = ([f"missing: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else "")]
             if missing else [])
    lines += ([f"unexpected: {', '.join(unexpected[:8])}" + (" ..." if len(unexpected) > 8
                                                              else "")] if unexpected else [])
    lines += [f"wrong shape: {w}" for w in wrong[:8]]
    raise WeightsError("the state dict is not pytorch-fid's FID Inception-v3 "
                       f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} "
                       "misshapen entries):\n  " + "\n  ".join(lines))
  variables: Variables = {"params": {}, "batch_stats": {}}
  for e in entries:
    value = np.asarray(state_dict[e.torch_name], np.float32)
    if e.transpose:
      value = np.ascontiguousarray(value.transpose(e.transpose))
    node = variables[e.collection]
    for k in e.path[:-1]:
      node = node.setdefault(k, {})
    node[e.path[-1]] = value
  return variables


def random_state_dict(seed: int) -> collections.OrderedDict:
  """A deterministic random state dict with pytorch-fid's names, shapes and dtypes.

  For tests and parity checks only. Each entry is drawn from its own generator,
  ``np.random.default_rng([seed, crc32(name)])``, so values do not depend on the order
  of the keys: conv weights N(0, 2/fan_in) (He et al. 2015), batch-norm weight and
  running_var U(0.5, 1.5), bias and running_mean N(0, 0.1^2), fc weight N(0, 1/2048),
  fc bias N(0, 0.1^2), num_batches_tracked 0 (int64 scalar). Values are float32.
  """
  out = collections.OrderedDict()
  for e in layout():
    rng = np.random.default_rng([seed, zlib.crc32(e.torch_name.encode())])
    kind = e.torch_name.rsplit(".", 1)[-1]
    if kind == "weight" and len(e.torch_shape) > 1:
      fan_in = int(np.prod(e.torch_shape[1:]))
      gain = 2.0 if len(e.torch_shape) == 4 else 1.0
      value = rng.standard_normal(e.torch_shape) * np.sqrt(gain / fan_in)
    elif kind in ("weight", "running_var"):
      value = rng.uniform(0.5, 1.5, e.torch_shape)
    else:  # bn bias, running_mean
      value = rng.normal(0.0, 0.1, e.torch_shape)
    out[e.torch_name] = value.astype(np.float32)
    if e.torch_name.endswith(".bn.running_var"):
      out[e.torch_name.replace("running_var", "num_batches_tracked")] = np.array(0, np.int64)
  rng = np.random.default_rng([seed, zlib.crc32(b"fc.bias")])
  out["fc.bias"] = rng.normal(0.0, 0.1, (out["fc.weight"].shape[0],)).astype(np.float32)
  return out


def random_variables(seed: int = 0) -> Variables:
  """Flax variables from ``random_state_dict(seed)``, with a loud warning.

  Metrics computed with random weights are not FID / IS / KID values: use them only
  for tests and smoke runs.
  """
  message = ("RANDOM INCEPTION WEIGHTS (seed %d): the numbers computed with them are NOT "
             "FID / Inception Score / KID values and cannot be compared with anything. "
             "Use them for tests only." % seed)
  warnings.warn(message, UserWarning, stacklevel=2)
  logging.warning(message)
  return _random_variables(seed)


@functools.lru_cache(maxsize=2)
def _random_variables(seed: int) -> Variables:
  return convert_state_dict(random_state_dict(seed))


# ----------------------------------------------------------------------------- files


def sha256(path: str | os.PathLike) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def check_sha256(path: str | os.PathLike, prefix: str = FID_WEIGHTS_SHA256_PREFIX) -> str:
  """Returns the file's SHA-256; raises WeightsError unless it starts with ``prefix``."""
  digest = sha256(path)
  if not digest.startswith(prefix):
    raise WeightsError(
        f"{path}: SHA-256 {digest[:16]}... does not start with {prefix}, so this is not "
        f"{FID_WEIGHTS_FILENAME} (a truncated download or another file?). Delete it and "
        f"fetch the file again from {FID_WEIGHTS_URL}")
  return digest


def default_cache_dir() -> pathlib.Path:
  """$JAXGAN_CACHE_DIR, else $XDG_CACHE_HOME/jaxgan, else ~/.cache/jaxgan."""
  if os.environ.get("JAXGAN_CACHE_DIR"):
    return pathlib.Path(os.environ["JAXGAN_CACHE_DIR"])
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return pathlib.Path(base) / "jaxgan"


def _torch_hub_file() -> pathlib.Path:
  """Where pytorch-fid's own download lands ($TORCH_HOME/hub/checkpoints)."""
  base = os.environ.get("TORCH_HOME") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
      "torch")
  return pathlib.Path(base) / "hub" / "checkpoints" / FID_WEIGHTS_FILENAME


def _save_converted(variables: Variables, path: pathlib.Path, digest: str) -> None:
  flat = {f"{c}/{'/'.join(p)}": v for c in variables for p, v in _walk(variables[c])}
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
  os.close(fd)
  try:
    np.savez(tmp, __source_sha256__=np.array(digest), **flat)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _matches_layout(variables: Variables) -> bool:
  """Whether a variable tree has exactly the network's entries and shapes."""
  want = {(e.collection,) + e.path: e.shape for e in layout()}
  try:
    got = {(c,) + p: np.shape(v) for c in variables for p, v in _walk(variables[c])}
  except (AttributeError, TypeError):
    return False
  return got == want


def _load_converted(path: pathlib.Path, prefix: str | None) -> Variables | None:
  """The cached conversion, or None when it is unreadable, stale or of another source."""
  try:
    with np.load(path) as z:
      digest = str(z["__source_sha256__"])
      if prefix and not digest.startswith(prefix):
        return None
      variables: Variables = {}
      for key in z.files:
        if key == "__source_sha256__":
          continue
        *parts, leaf = key.split("/")
        node = variables
        for k in parts:
          node = node.setdefault(k, {})
        node[leaf] = z[key]
    if not _matches_layout(variables):
      logging.warning("Ignoring the cached conversion %s: it does not match the network.", path)
      return None
    return variables
  except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
    logging.warning("Ignoring the unreadable cached conversion %s (%s).", path, e)
    return None


def download(url: str, dest: pathlib.Path, prefix: str = FID_WEIGHTS_SHA256_PREFIX) -> None:
  """Downloads ``url`` to ``dest`` (via a temporary file) and checks its SHA-256."""
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
  try:
    try:
      with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
        shutil.copyfileobj(response, out)
    except OSError as e:  # urllib's URLError is an OSError.
      raise WeightsError(f"downloading {url} failed ({e}); download it by hand to {dest}") from e
    check_sha256(tmp, prefix)
    os.replace(tmp, dest)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def load_fid_inception(weights: str | os.PathLike | None = None, *,
                       cache_dir: str | os.PathLike | None = None,
                       allow_download: bool = False, check_hash: bool = True) -> Variables:
  """The FID Inception-v3 variables for ``jaxgan.nets.inception.InceptionV3``.

  ``weights``: a ``.pth`` file (pytorch-fid's). Without it, looks for
  ``pt_inception-2015-12-05-6726825d.pth`` (or its cached conversion) in ``cache_dir``
  (default ``default_cache_dir()``) and in PyTorch's hub cache, and downloads it from
  ``FID_WEIGHTS_URL`` into ``cache_dir`` only if ``allow_download``. The file's SHA-256
  must start with 6726825d unless ``check_hash`` is False (a file of your own). The
  conversion is cached in ``cache_dir`` as ``pt_inception-2015-12-05-6726825d.flax.npz``
  (``<sha256[:16]>.flax.npz`` for other files) and used while it fits the network.
  """
  cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
  prefix = FID_WEIGHTS_SHA256_PREFIX if check_hash else None
  if weights is None:
    official = cache / (FID_WEIGHTS_FILENAME[:-len(".pth")] + CONVERTED_SUFFIX)
    if official.is_file():
      variables = _load_converted(official, FID_WEIGHTS_SHA256_PREFIX)
      if variables is not None:
        return variables
    candidates = [cache / FID_WEIGHTS_FILENAME, _torch_hub_file()]
    found = [p for p in candidates if p.is_file()]
    if found:
      weights = found[0]
    elif allow_download:
      logging.info("Downloading %s to %s", FID_WEIGHTS_URL, candidates[0])
      download(FID_WEIGHTS_URL, candidates[0])
      weights = candidates[0]
    else:
      raise WeightsError(
          "the FID Inception weights were not found; looked for "
          + " and ".join(str(p) for p in candidates)
          + f". Download {FID_WEIGHTS_URL} into {cache} (or set $JAXGAN_CACHE_DIR), pass "
          "its path (--weights PATH / weights=...), or allow the download "
          "(--allow-download / allow_download=True).")
  weights = pathlib.Path(weights)
  if not weights.is_file():
    raise WeightsError(f"{weights}: no such file. Download {FID_WEIGHTS_URL} there, or "
                       "pass --allow-download without --weights to fetch it into the cache.")
  digest = check_sha256(weights, prefix) if prefix else sha256(weights)
  if digest.startswith(FID_WEIGHTS_SHA256_PREFIX):
    converted = cache / (FID_WEIGHTS_FILENAME[:-len(".pth")] + CONVERTED_SUFFIX)
  else:
    converted = cache / (digest[:16] + CONVERTED_SUFFIX)
  if converted.is_file():
    variables = _load_converted(converted, digest)
    if variables is not None:
      return variables
  try:
    state_dict = pth.read_pth(weights)
  except pth.PthError as e:
    raise WeightsError(str(e)) from e
  variables = convert_state_dict(state_dict)
  try:
    _save_converted(variables, converted, digest)
  except OSError as e:  # A read-only cache is not fatal.
    logging.warning("Could not cache the converted weights in %s: %s", converted, e)
  return variables


__all__ = [
    "FID_WEIGHTS_URL", "FID_WEIGHTS_FILENAME", "FID_WEIGHTS_SHA256_PREFIX", "WeightsError",
    "layout", "convert_state_dict", "random_state_dict", "random_variables",
    "sha256", "check_sha256", "default_cache_dir", "download", "load_fid_inception",
]
