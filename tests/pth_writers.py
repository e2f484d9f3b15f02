"""Writers of PyTorch ``.pth`` files without PyTorch, for tests of the torch-free reader.

They follow PyTorch's documented formats: a zip with ``<prefix>/data.pkl`` (pickle
protocol 2 whose tensors are ``torch._utils._rebuild_tensor_v2`` calls on persistent
storage ids) and raw storages ``<prefix>/data/<key>``; and the legacy sequence of pickles
followed by raw storages. The opcode helpers at the end build malformed pickles by hand.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np


class Global:
  """Pickled as the global ``module.name`` (torch need not be importable)."""

  def __init__(self, module: str, name: str):
    self.module, self.name = module, name

  def __call__(self, *args):
    raise AssertionError("never called")


class Storage:
  """A storage; ``numel`` (default: the data's size) is what its persistent id declares."""

  def __init__(self, key: str, type_name: str, data: np.ndarray, numel: int | None = None):
    self.key, self.type_name, self.data = key, type_name, data.reshape(-1)
    self.numel = self.data.size if numel is None else numel


class Tensor:
  def __init__(self, storage: Storage, offset: int, size: tuple, stride: tuple):
    self.args = (storage, offset, size, stride, False, collections.OrderedDict())

  def __reduce__(self):
    return Global("torch._utils", "_rebuild_tensor_v2"), self.args


class _TorchPickler(pickle._Pickler):
  """Protocol-2 pickler that writes storages as persistent ids, like torch.save."""

  dispatch = dict(pickle._Pickler.dispatch)

  def __init__(self, f, legacy: bool = False):
    super().__init__(f, protocol=2)
    self.legacy = legacy

  def _save_global(self, obj):
    self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
    self.memoize(obj)

  dispatch[Global] = _save_global

  def persistent_id(self, obj):
    if isinstance(obj, Storage):
      pid = ("storage", Global("torch", obj.type_name), obj.key, "cpu", obj.numel)
      return pid + (None,) if self.legacy else pid
    return None


def dumps(obj, legacy=False) -> bytes:
  buf = io.BytesIO()
  _TorchPickler(buf, legacy).dump(obj)
  return buf.getvalue()


def storages_of(obj) -> dict[str, Storage]:
  out = {}
  for t in (obj.values() if isinstance(obj, dict) else obj):
    out[t.args[0].key] = t.args[0]
  return out


def write_zip(path, obj, prefix="archive", byteorder="little", storages=None):
  """Writes ``obj`` like torch.save; ``storages`` (default: those of obj's values) are stored."""
  order = "<" if byteorder == "little" else ">"
  storages = storages_of(obj) if storages is None else storages
  with zipfile.ZipFile(path, "w") as z:
    z.writestr(f"{prefix}/data.pkl", dumps(obj))
    z.writestr(f"{prefix}/byteorder", byteorder)
    for key, s in storages.items():
      z.writestr(f"{prefix}/data/{key}", s.data.astype(s.data.dtype.newbyteorder(order)).tobytes())
    z.writestr(f"{prefix}/version", "3\n")


def write_zip_pickle(path, data_pkl: bytes, storages: dict[str, bytes] | None = None):
  """Writes a zip .pth whose data.pkl is ``data_pkl`` as given (e.g. built from opcodes)."""
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", data_pkl)
    for key, raw in (storages or {}).items():
      z.writestr(f"archive/data/{key}", raw)


def write_legacy(path, obj, numels=None):
  """Writes ``obj`` in the legacy format; ``numels`` overrides storages' element-count headers."""
  with open(path, "wb") as f:
    for header in (0x1950a86a20f9469cfc6c, 1001,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
      pickle.dump(header, f, protocol=2)
    f.write(dumps(obj, legacy=True))
    by_key = storages_of(obj)
    keys = sorted(by_key)
    pickle.dump(keys, f, protocol=2)
    for key in keys:
      numel = (numels or {}).get(key, by_key[key].data.size)
      f.write(struct.pack("<q", numel) + by_key[key].data.tobytes())


# ----------------------------------------------------------------------------- opcodes


def op_str(s: str) -> bytes:
  """BINUNICODE: pushes the string ``s``."""
  raw = s.encode()
  return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def op_put(i: int) -> bytes:
  """LONG_BINPUT: stores the top of the stack as memo entry ``i``."""
  return pickle.LONG_BINPUT + struct.pack("<I", i)


def op_get(i: int) -> bytes:
  """LONG_BINGET: pushes memo entry ``i``."""
  return pickle.LONG_BINGET + struct.pack("<I", i)


def dict_pickle(value_ops: bytes, key: str = "x") -> bytes:
  """A protocol-2 pickle of ``{key: value}`` where ``value_ops`` push the value."""
  return (pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + op_str(key) + value_ops
          + pickle.SETITEM + pickle.STOP)
