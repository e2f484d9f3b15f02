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
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pathlib
import pickle
import struct
import zipfile
from typing import Any, Callable

import ml_dtypes
import numpy as np

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


class PthError(RuntimeError):
  """A file is missing, truncated, or not a PyTorch state dict."""


@dataclasses.dataclass
class _Storage:
  """A storage named by a persistent id; ``data`` (1-D) is filled in after unpickling."""

  key: str
  dtype: np.dtype
  numel: int
  view: tuple | None = None  # Legacy (root_key, offset, numel) views of another storage.
  data: np.ndarray | None = None


@dataclasses.dataclass
class _Tensor:
  storage: _Storage
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class _StorageType:
  name: str


def _rebuild_tensor(storage, storage_offset, size, stride, *unused) -> _Tensor:
  """Stands in for torch._utils._rebuild_tensor(_v2): records where the tensor lies."""
  if not isinstance(storage, _Storage):
    raise pickle.UnpicklingError(f"tensor storage is a {type(storage).__name__}, not a "
                                 "persistent storage reference")
  return _Tensor(storage, int(storage_offset), tuple(int(s) for s in size),
                 tuple(int(s) for s in stride))


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
  """Stands in for torch._utils._rebuild_parameter: a Parameter is its tensor."""
  return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
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
        f"refusing to load the global {module}.{name}: only tensors, storages and "
        "OrderedDict (a state dict) are allowed in a .pth read without PyTorch")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
      raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
    storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
    if not isinstance(storage_type, _StorageType):
      raise pickle.UnpicklingError(f"storage {key}: unknown storage type {storage_type!r}")
    view = pid[5] if len(pid) == 6 else None
    if key not in self.storages:
      self.storages[key] = _Storage(key, _STORAGE_DTYPES[storage_type.name], numel)
    storage = self.storages[key]
    if view is not None:  # Legacy view: (view_key, offset, numel) into storage ``key``.
      view_key, offset, view_numel = str(view[0]), int(view[1]), int(view[2])
      if view_key not in self.storages:
        self.storages[view_key] = _Storage(view_key, storage.dtype, view_numel,
                                           view=(key, offset, view_numel))
      return self.storages[view_key]
    return storage


def _to_array(t: _Tensor, source: str) -> np.ndarray:
  flat = t.storage.data
  if len(t.size) != len(t.stride):
    raise PthError(f"{source}: tensor with size {t.size} but stride {t.stride}")
  if any(s == 0 for s in t.size):
    return np.zeros(t.size, flat.dtype)
  last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
  if t.offset < 0 or min(t.stride, default=0) < 0 or last >= flat.size:
    raise PthError(f"{source}: tensor (offset {t.offset}, size {t.size}, stride "
                       f"{t.stride}) reads past its storage of {flat.size} elements")
  item = flat.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(flat[t.offset:], t.size,
                                         tuple(s * item for s in t.stride), writeable=False)
  return np.array(view)


def _resolve(obj, source: str):
  """Replaces every _Tensor in a nest of dicts/lists/tuples with a numpy array."""
  if isinstance(obj, _Tensor):
    return _to_array(obj, source)
  if isinstance(obj, dict):
    return collections.OrderedDict((k, _resolve(v, source)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_resolve(v, source) for v in obj)
  return obj


def _fill(storage: _Storage, raw: bytes, byteorder: str, source: str) -> None:
  need = storage.numel * storage.dtype.itemsize
  if len(raw) < need:
    raise PthError(f"{source}: storage {storage.key} has {len(raw)} bytes, expected "
                       f"{need} ({storage.numel} x {storage.dtype}); the file is truncated")
  dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
  storage.data = np.frombuffer(raw[:need], dtype).astype(storage.dtype)


def _fill_views(storages: dict[str, _Storage]) -> None:
  for s in storages.values():
    if s.view is not None:
      root, offset, numel = s.view
      s.data = storages[root].data[offset:offset + numel]


def _read_zip(path: pathlib.Path) -> Any:
  with zipfile.ZipFile(path) as z:
    pickles = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
      raise PthError(f"{path}: a PyTorch zip file has one 'data.pkl', found {pickles}")
    prefix = pickles[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in z.namelist():
      byteorder = z.read(prefix + "byteorder").decode().strip()
    storages: dict[str, _Storage] = {}
    obj = _StateDictUnpickler(io.BytesIO(z.read(pickles[0])), storages).load()
    for key, storage in storages.items():
      if storage.view is None:
        try:
          raw = z.read(f"{prefix}data/{key}")
        except KeyError as e:
          raise PthError(f"{path}: storage '{prefix}data/{key}' is missing") from e
        _fill(storage, raw, byteorder, str(path))
    _fill_views(storages)
  return _resolve(obj, str(path))


def _read_legacy(path: pathlib.Path) -> Any:
  with open(path, "rb") as f:
    storages: dict[str, _Storage] = {}
    restricted = lambda: _StateDictUnpickler(f, storages)  # noqa: E731
    if restricted().load() != _LEGACY_MAGIC:
      raise PthError(f"{path}: not a PyTorch file (neither a zip archive nor the "
                         "legacy format's magic number)")
    version = restricted().load()
    if version != _LEGACY_PROTOCOL:
      raise PthError(f"{path}: legacy PyTorch protocol {version}, expected "
                         f"{_LEGACY_PROTOCOL}")
    sys_info = restricted().load()
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    obj = restricted().load()
    keys = [str(k) for k in restricted().load()]
    fmt = "<q" if byteorder == "little" else ">q"
    for key in keys:
      header = f.read(8)
      if len(header) != 8:
        raise PthError(f"{path}: truncated before storage {key}")
      (numel,) = struct.unpack(fmt, header)
      storage = storages.get(key)
      if storage is None:
        raise PthError(f"{path}: storage {key} is listed but not used by any tensor")
      storage.numel = max(storage.numel, numel)
      _fill(storage, f.read(numel * storage.dtype.itemsize), byteorder, str(path))
  _fill_views(storages)
  return _resolve(obj, str(path))


def read_pth(path: str | os.PathLike) -> collections.OrderedDict:
  """Reads a PyTorch-saved state dict (zip or legacy format) as name -> numpy array."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise PthError(f"{path}: no such file")
  try:
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
  except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as e:
    raise PthError(f"{path}: cannot read it as a PyTorch state dict: {e}") from e
  if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
    obj = obj["state_dict"]
  if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
    raise PthError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
  return obj


__all__ = ["PthError", "read_pth"]
