"""Reads PyTorch ``.pth`` state dicts into numpy arrays without importing PyTorch.

File formats read here (as ``torch.save`` writes them; no torch import):

- zip (PyTorch >= 1.6): ``<prefix>/data.pkl`` is a pickle (protocol 2) of the state dict,
  an ``OrderedDict`` name -> tensor. Each tensor is pickled as a call
  ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
  requires_grad, backward_hooks[, metadata])`` whose ``storage`` is a persistent id
  ``('storage', torch.<Type>Storage, key, location, numel)``; the storage's raw bytes
  are ``<prefix>/data/<key>`` in the byte order named by ``<prefix>/byteorder``
  (little endian when absent). ``<prefix>`` is 'archive' or the saved file's stem.
- legacy (PyTorch < 1.6): five pickles in sequence: the magic number
  0x1950a86a20f9469cfc6c, the protocol version 1001, a sys-info dict (byte order),
  the state dict (persistent ids ``('storage', type, key, location, numel,
  view_metadata)``), and the sorted list of storage keys; then, for each key, the
  storage's element count as an int64 followed by its raw bytes.

A tensor element ``(i_0, ..., i_k)`` is ``storage[offset + sum_j i_j * stride_j]``
(offsets and strides count elements). The unpickler is restricted: it resolves only
OrderedDict, the tensor and parameter rebuild functions and the storage types, and refuses
any other global, so a ``.pth`` cannot run code.

A hostile or corrupt file must not hang, crash or exhaust memory either, so every input
that is not a state dict ends as a one-line ``PthError``. Before unpickling, each pickle's
opcodes are walked (``jaxgan.pickle_scan.check_pickle``) to bound its length, its work and the nesting depth
of what it builds; declared lengths must fit in the bytes present. Sizes, strides, offsets
and element counts must be non-negative ints under ``_MAX_NUMEL`` and are checked against
the storage bytes actually present before anything is allocated. Converting the unpickled
structure memoises by object identity, so shared references (a "billion laughs" pickle)
cost once, and refuses cycles and depth over ``_MAX_DEPTH``.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import mmap
import os
import pathlib
import pickle
import reprlib
import struct
import zipfile
import zlib
from typing import Any, Callable

import ml_dtypes
import numpy as np

from jaxgan.pickle_scan import check_pickle

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16), "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
    "UntypedStorage": np.dtype(np.uint8),
}
# Limits far above any real state dict (whose pickles nest about 5 levels and hold some 30
# opcodes per tensor) that keep a hostile file from hanging, crashing or exhausting memory.
_MAX_DEPTH = 100  # Nesting levels of containers in a pickle.
_MAX_PICKLE_OPS = 10_000_000  # Opcodes in one pickle.
_MAX_PICKLE_BYTES = 1 << 28  # Size of a zip's data.pkl.
_MAX_NUMEL = 1 << 40  # Any element count, size, stride or offset (4 TiB of float32).
_MAX_NDIM = 64
# Tensors may read more elements than their storage holds only by overlapping (stride 0:
# an expanded tensor), and together may hold at most _MAX_REUSE times the elements stored.
_MAX_BROADCAST_NUMEL = 1 << 28
_MAX_REUSE = 16
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60


class PthError(RuntimeError):
  """A file is missing, truncated, or not a PyTorch state dict."""


def _show(value) -> str:
  """A short one-line rendering of a value read from the file, even a huge or deep one."""
  if isinstance(value, str):
    text = value[:200].encode("unicode_escape").decode("ascii")
  else:
    try:
      text = _REPR.repr(value)
    except Exception:  # E.g. an int too long to print; its type is enough.
      text = f"<{type(value).__name__}>"
  return text if len(text) <= 80 else text[:77] + "..."


def _count(value, what: str, limit: int = _MAX_NUMEL) -> int:
  """Checks that ``value`` (an element count, size, stride or offset) is an int in [0, limit]."""
  if isinstance(value, bool) or not isinstance(value, int):
    raise pickle.UnpicklingError(f"{what} is {_show(value)}, not an int")
  if value < 0:
    raise pickle.UnpicklingError(f"{what} is negative ({value})")
  if value > limit:
    raise pickle.UnpicklingError(f"{what} is {_show(value)}, over the limit of {limit}")
  return value


def _shape(value, what: str) -> tuple[int, ...]:
  """Checks a tensor's size or stride: a tuple (or list) of at most _MAX_NDIM counts."""
  if not isinstance(value, (tuple, list)):
    raise pickle.UnpicklingError(f"tensor {what} is {_show(value)}, not a tuple of ints")
  if len(value) > _MAX_NDIM:
    raise pickle.UnpicklingError(f"tensor {what} has {len(value)} dimensions, over the "
                                 f"limit of {_MAX_NDIM}")
  return tuple(_count(v, f"tensor {what} {_show(value)}: entry") for v in value)


def _storage_key(value) -> str:
  if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
    return str(value)
  raise pickle.UnpicklingError(f"storage key {_show(value)} is not a string")


class _Placeholder:
  """Base of what the unpickler hands out; refuses the BUILD opcode (setting state on it)."""

  def __setstate__(self, state):
    raise pickle.UnpicklingError(f"refusing to set state on a {type(self).__name__}: a state "
                                 "dict sets none on tensors, storages or rebuild functions")


@dataclasses.dataclass
class _Storage(_Placeholder):
  """A storage named by a persistent id; ``data`` (1-D) is filled in after unpickling."""

  key: str
  dtype: np.dtype
  numel: int
  view: tuple | None = None  # Legacy (root_key, offset, numel) views of another storage.
  data: np.ndarray | None = None


@dataclasses.dataclass
class _Tensor(_Placeholder):
  storage: _Storage
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class _StorageType(_Placeholder):
  name: str


@dataclasses.dataclass(frozen=True)
class _Rebuild(_Placeholder):
  """An allowed torch function; a wrapper so that BUILD cannot set attributes on ours."""

  fn: Callable

  def __call__(self, *args):
    return self.fn(*args)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused) -> _Tensor:
  """Stands in for torch._utils._rebuild_tensor(_v2): records where the tensor lies.

  Types and ranges are checked here, before any storage is read or array allocated.
  """
  if not isinstance(storage, _Storage):
    raise pickle.UnpicklingError(f"tensor storage is a {type(storage).__name__}, not a "
                                 "persistent storage reference")
  offset = _count(storage_offset, "tensor storage offset")
  size, stride = _shape(size, "size"), _shape(stride, "stride")
  if len(size) != len(stride):
    raise pickle.UnpicklingError(f"tensor with size {size} but stride {stride}")
  numel = math.prod(size)
  if numel > _MAX_NUMEL:
    raise pickle.UnpicklingError(f"tensor of size {size} has {numel} elements, over the "
                                 f"limit of {_MAX_NUMEL}")
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  """Stands in for torch._utils._rebuild_parameter: a Parameter is its tensor."""
  return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _Rebuild(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor"): _Rebuild(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _Rebuild(_rebuild_parameter),
}


class _StateDictUnpickler(pickle.Unpickler):
  """Unpickles a torch state dict into _Tensor placeholders; refuses any other global."""

  def __init__(self, file, storages: dict[str, _Storage]):
    super().__init__(file)
    self.storages = storages

  def find_class(self, module: str, name: str):
    if (module, name) in _ALLOWED_GLOBALS:
      return _ALLOWED_GLOBALS[(module, name)]
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(
        f"refusing to load the global {_show(module)}.{_show(name)}: only tensors, storages "
        "and OrderedDict (a state dict) are allowed in a .pth read without PyTorch")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
      raise pickle.UnpicklingError(f"unsupported persistent id {_show(pid)}")
    storage_type, key = pid[1], _storage_key(pid[2])
    if not isinstance(storage_type, _StorageType):
      raise pickle.UnpicklingError(f"storage {key}: unknown storage type {_show(storage_type)}")
    numel = _count(pid[4], f"storage {key}: element count")
    view = pid[5] if len(pid) == 6 else None
    if key not in self.storages:
      self.storages[key] = _Storage(key, _STORAGE_DTYPES[storage_type.name], numel)
    storage = self.storages[key]
    if view is not None:  # Legacy view: (view_key, offset, numel) into storage ``key``.
      if not (isinstance(view, (tuple, list)) and len(view) == 3):
        raise pickle.UnpicklingError(f"storage {key}: view {_show(view)} is not "
                                     "(key, offset, numel)")
      view_key = _storage_key(view[0])
      offset = _count(view[1], f"storage view {view_key}: offset")
      view_numel = _count(view[2], f"storage view {view_key}: element count")
      if view_key not in self.storages:
        self.storages[view_key] = _Storage(view_key, storage.dtype, view_numel,
                                           view=(key, offset, view_numel))
      return self.storages[view_key]
    return storage


# Opcodes that add to the container below their arguments and leave it on the stack.
def _load_pickle(stream, storages: dict[str, _Storage]) -> Any:
  """Checks, then unpickles, the pickle at ``stream``'s position; leaves it just past it."""
  start = stream.tell()
  try:
    check_pickle(stream, _MAX_DEPTH, _MAX_PICKLE_OPS)
    stream.seek(start)
    return _StateDictUnpickler(stream, storages).load()
  except pickle.UnpicklingError:
    raise
  except Exception as e:  # E.g. SETITEM on a list, unhashable keys, bad REDUCE arguments.
    raise pickle.UnpicklingError(f"malformed pickle ({type(e).__name__}: {e})") from e


def _check_bounds(t: _Tensor, source: str) -> int:
  """Checks that a tensor lies within its storage's data; returns its element count."""
  flat = t.storage.data
  numel = math.prod(t.size)
  if t.offset > flat.size or (numel and t.offset == flat.size):
    raise PthError(f"{source}: tensor storage offset {t.offset} lies beyond its storage of "
                   f"{flat.size} elements")
  if numel == 0:
    return 0
  last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
  if last >= flat.size:
    raise PthError(f"{source}: tensor (offset {t.offset}, size {t.size}, stride "
                   f"{t.stride}) reads past its storage of {flat.size} elements")
  if numel > max(flat.size, _MAX_BROADCAST_NUMEL):
    raise PthError(f"{source}: tensor of size {t.size} has {numel} elements, more than its "
                   f"storage's {flat.size} and the limit of {_MAX_BROADCAST_NUMEL} for "
                   "expanded tensors")
  return numel


def _to_array(t: _Tensor) -> np.ndarray:
  """Copies a tensor (checked by _check_bounds) out of its storage."""
  flat = t.storage.data
  if any(n == 0 for n in t.size):
    return np.zeros(t.size, flat.dtype)
  item = flat.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(flat[t.offset:], t.size,
                                         tuple(s * item for s in t.stride), writeable=False)
  return np.array(view)


class _Resolver:
  """Replaces every _Tensor in a nest of dicts/lists/tuples with a numpy array.

  Results are memoised by object identity, so an object the pickle shares (memo GETs) is
  converted once however often it is referenced: a "billion laughs" pickle, a few hundred
  bytes whose every level holds the previous one several times, costs time linear in its
  size, not exponential. The unpickled objects stay alive (the structure being resolved
  holds them), so their ids are not reused. Depth, cycles and the elements copied out of
  storages are bounded.
  """

  def __init__(self, source: str, max_elements: int):
    self.source, self.elements_left = source, max_elements
    self.done: dict[int, Any] = {}
    self.open: set[int] = set()  # Ids of the containers being resolved (a path from root).

  def __call__(self, obj, depth: int = 0):
    if not isinstance(obj, (_Tensor, dict, list, tuple)):
      return obj
    key = id(obj)
    if key in self.done:
      return self.done[key]
    if key in self.open:
      raise PthError(f"{self.source}: the pickle holds a {type(obj).__name__} that contains "
                     "itself; a state dict has no cycles")
    if depth >= _MAX_DEPTH:
      raise PthError(f"{self.source}: the pickle nests containers more than {_MAX_DEPTH} "
                     "levels deep")
    self.open.add(key)
    if isinstance(obj, _Tensor):
      out = self._array(obj)
    elif isinstance(obj, dict):
      out = collections.OrderedDict()
      for k, v in obj.items():
        out[k] = self(v, depth + 1)
    else:
      out = type(obj)([self(v, depth + 1) for v in obj])
    self.open.discard(key)
    self.done[key] = out
    return out

  def _array(self, t: _Tensor) -> np.ndarray:
    self.elements_left -= _check_bounds(t, self.source)
    if self.elements_left < 0:
      raise PthError(f"{self.source}: the tensors hold more than {_MAX_REUSE} times the "
                     f"elements of the storages in the file (plus {_MAX_BROADCAST_NUMEL})")
    return _to_array(t)


def _resolve(obj, storages: dict[str, _Storage], source: str):
  stored = sum(s.data.size for s in storages.values() if s.view is None)
  return _Resolver(source, _MAX_REUSE * stored + _MAX_BROADCAST_NUMEL)(obj)


def _fill(storage: _Storage, raw: bytes, byteorder: str, source: str) -> None:
  need = storage.numel * storage.dtype.itemsize
  if len(raw) < need:
    raise PthError(f"{source}: storage {storage.key} has {len(raw)} bytes, expected "
                       f"{need} ({storage.numel} x {storage.dtype}); the file is truncated")
  dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
  storage.data = np.frombuffer(raw[:need], dtype).astype(storage.dtype)


def _fill_views(storages: dict[str, _Storage]) -> None:
  """Points legacy storage views into their roots; every storage must then have data."""
  for s in storages.values():
    if s.view is not None:
      root_key, offset, numel = s.view
      root = storages[root_key]
      if root.view is not None or root.data is None:
        raise pickle.UnpicklingError(f"storage {s.key} is a view of storage {root_key}, "
                                     "which holds no data of its own")
      if offset + numel > root.data.size:
        raise pickle.UnpicklingError(
            f"storage {s.key} views elements {offset}..{offset + numel} of storage "
            f"{root_key}, which has {root.data.size}")
      s.data = root.data[offset:offset + numel]
  for s in storages.values():
    if s.data is None:
      raise pickle.UnpicklingError(f"storage {s.key} is used by a tensor but not stored "
                                   "in the file")


def _read_zip(path: pathlib.Path) -> Any:
  with zipfile.ZipFile(path) as z:
    names = set(z.namelist())
    pickles = sorted(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
    if len(pickles) != 1:
      raise PthError(f"{path}: a PyTorch zip file has one 'data.pkl', found {pickles[:5]}")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
      with z.open(prefix + "byteorder") as f:
        byteorder = f.read(16).decode("ascii", "replace").strip()
      if byteorder not in ("little", "big"):
        raise PthError(f"{path}: byteorder is {_show(byteorder)}, not 'little' or 'big'")
    size = z.getinfo(pickles[0]).file_size
    if size > _MAX_PICKLE_BYTES:
      raise PthError(f"{path}: '{pickles[0]}' is {size} bytes, over the limit of "
                     f"{_MAX_PICKLE_BYTES} for a state dict's pickle")
    storages: dict[str, _Storage] = {}
    obj = _load_pickle(io.BytesIO(z.read(pickles[0])), storages)
    for key, storage in storages.items():
      if storage.view is None:
        name = f"{prefix}data/{key}"
        if name not in names:
          raise PthError(f"{path}: storage '{name}' is missing")
        with z.open(name) as f:  # At most the bytes needed: a larger entry is not loaded.
          _fill(storage, f.read(storage.numel * storage.dtype.itemsize), byteorder, str(path))
    _fill_views(storages)
  return _resolve(obj, storages, str(path))


def _read_legacy(path: pathlib.Path) -> Any:
  """Reads the legacy format through an mmap, whose reads never exceed the bytes present."""
  with open(path, "rb") as f:
    if os.fstat(f.fileno()).st_size == 0:
      raise PthError(f"{path}: the file is empty")
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
      return _read_legacy_from(m, path)


def _read_legacy_from(m: mmap.mmap, path: pathlib.Path) -> Any:
  storages: dict[str, _Storage] = {}
  load = lambda: _load_pickle(m, storages)  # noqa: E731
  try:
    magic = load()
  except (pickle.UnpicklingError, EOFError) as e:
    raise PthError(f"{path}: not a PyTorch file (neither a zip archive nor a pickle of the "
                   f"legacy format's magic number: {e})") from e
  if magic != _LEGACY_MAGIC:
    raise PthError(f"{path}: not a PyTorch file (neither a zip archive nor the "
                       "legacy format's magic number)")
  version = load()
  if version != _LEGACY_PROTOCOL:
    raise PthError(f"{path}: legacy PyTorch protocol {_show(version)}, expected "
                       f"{_LEGACY_PROTOCOL}")
  sys_info = load()
  if not isinstance(sys_info, dict):
    raise PthError(f"{path}: the legacy sys info is {_show(sys_info)}, not a dict")
  byteorder = "little" if sys_info.get("little_endian", True) else "big"
  obj = load()
  keys = load()
  if not isinstance(keys, list):
    raise PthError(f"{path}: the legacy storage keys are {_show(keys)}, not a list")
  fmt = "<q" if byteorder == "little" else ">q"
  for key in map(_storage_key, keys):
    header = m.read(8)
    if len(header) != 8:
      raise PthError(f"{path}: truncated before storage {key}")
    numel = _count(struct.unpack(fmt, header)[0], f"storage {key}: element count")
    storage = storages.get(key)
    if storage is None:
      raise PthError(f"{path}: storage {key} is listed but not used by any tensor")
    storage.numel = max(storage.numel, numel)
    _fill(storage, m.read(numel * storage.dtype.itemsize), byteorder, str(path))
  _fill_views(storages)
  return _resolve(obj, storages, str(path))


def read_pth(path: str | os.PathLike) -> collections.OrderedDict:
  """Reads a PyTorch-saved state dict (zip or legacy format) as name -> numpy array.

  Raises PthError, with a one-line message, for any file that is not one.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise PthError(f"{path}: no such file")
  try:
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
  except PthError:
    raise
  except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, zlib.error, ValueError,
          NotImplementedError, RuntimeError) as e:  # RuntimeError: e.g. an encrypted zip.
    message = " ".join(str(e).split())
    raise PthError(f"{path}: cannot read it as a PyTorch state dict: {message}") from e
  if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
    obj = obj["state_dict"]
  if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
    raise PthError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
  return obj


__all__ = ["PthError", "read_pth"]
