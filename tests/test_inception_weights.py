"""Tests for jaxgan.inception_weights: the pytorch-fid state-dict layout, conversion, files."""

from __future__ import annotations

import collections
import hashlib

import numpy as np
import pytest

from jaxgan import inception_weights as W
from pth_writers import Storage, Tensor, write_zip

# ----------------------------------------------------------------------------- conversion


def test_random_state_dict_layout():
  sd = W.random_state_dict(0)
  # torchvision's Inception3 without AuxLogits: 94 BasicConv2d (conv.weight and five bn
  # entries each) plus fc.weight and fc.bias.
  assert len(sd) == 94 * 6 + 2
  expected = {  # (out, in, kh, kw) from torchvision/models/inception.py and pytorch-fid.
      "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
      "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
      "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
      "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
      "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
      "Mixed_6c.branch7x7dbl_2.conv.weight": (160, 160, 7, 1),
      "Mixed_6e.branch7x7_2.conv.weight": (192, 192, 1, 7),
      "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
      "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
      "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
      "Mixed_7c.branch3x3_2b.bn.running_var": (384,),
      "fc.weight": (1008, 2048), "fc.bias": (1008,),
  }
  for k, shape in expected.items():
    assert sd[k].shape == shape, k
  assert sd["Mixed_6b.branch1x1.bn.num_batches_tracked"].dtype == np.int64
  assert sd["Mixed_6b.branch1x1.bn.num_batches_tracked"].shape == ()
  assert not any(k.startswith("AuxLogits") for k in sd)
  again, other = W.random_state_dict(0), W.random_state_dict(1)
  assert all(np.array_equal(sd[k], again[k]) for k in sd)
  assert not np.array_equal(sd["fc.weight"], other["fc.weight"])


def test_convert_transposes_layouts():
  sd = W.random_state_dict(3)
  v = W.convert_state_dict(sd)
  w = sd["Mixed_6b.branch7x7_2.conv.weight"]  # (O, I, kh, kw) = (128, 128, 1, 7)
  k = v["params"]["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
  assert k.shape == (1, 7, 128, 128)
  assert k[0, 5, 3, 9] == w[9, 3, 0, 5]
  np.testing.assert_array_equal(v["params"]["fc"]["kernel"], sd["fc.weight"].T)
  bn = "Mixed_7c.branch_pool.bn"
  np.testing.assert_array_equal(v["params"]["Mixed_7c"]["branch_pool"]["bn"]["scale"],
                                sd[bn + ".weight"])
  np.testing.assert_array_equal(v["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
                                sd[bn + ".running_var"])
  n_values = sum(x.size for c in v for _, x in W._walk(v[c]))
  assert n_values == sum(x.size for name, x in sd.items()
                         if not name.endswith("num_batches_tracked") and name != "fc.bias")


def test_convert_reports_wrong_dicts():
  sd = W.random_state_dict(0)
  del sd["Mixed_5b.branch1x1.conv.weight"]
  sd["AuxLogits.fc.weight"] = np.zeros((1008, 768), np.float32)
  sd["fc.weight"] = np.zeros((1000, 2048), np.float32)
  with pytest.raises(W.WeightsError) as e:
    W.convert_state_dict(sd)
  msg = str(e.value)
  assert "Mixed_5b.branch1x1.conv.weight" in msg and "AuxLogits.fc.weight" in msg
  assert "fc.weight: (1000, 2048), expected (1008, 2048)" in msg


def test_random_variables_warn_loudly():
  with pytest.warns(UserWarning, match="RANDOM INCEPTION WEIGHTS"):
    W.random_variables(0)


# ----------------------------------------------------------------------------- files


def test_sha256_prefix_check(tmp_path):
  f = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
  f.write_bytes(b"not the weights")
  digest = hashlib.sha256(b"not the weights").hexdigest()
  assert W.check_sha256(f, digest[:8]) == digest
  with pytest.raises(W.WeightsError, match="does not start with 6726825d"):
    W.check_sha256(f)
  with pytest.raises(W.WeightsError, match="SHA-256"):
    W.load_fid_inception(f, cache_dir=tmp_path / "cache")


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  with pytest.raises(W.WeightsError) as e:
    W.load_fid_inception(cache_dir=tmp_path / "cache")
  msg = str(e.value)
  assert W.FID_WEIGHTS_URL in msg and str(tmp_path / "cache") in msg
  assert "--allow-download" in msg and "--weights" in msg
  with pytest.raises(W.WeightsError, match="no such file"):
    W.load_fid_inception(tmp_path / "nope.pth")


def test_download_checks_the_hash(tmp_path):
  src = tmp_path / "src.bin"
  src.write_bytes(b"payload")
  digest = hashlib.sha256(b"payload").hexdigest()
  dest = tmp_path / "dl" / "w.pth"
  W.download(src.as_uri(), dest, prefix=digest[:8])
  assert dest.read_bytes() == b"payload"
  bad = tmp_path / "dl" / "bad.pth"
  with pytest.raises(W.WeightsError, match="SHA-256"):
    W.download(src.as_uri(), bad)
  assert not bad.exists() and sorted(p.name for p in bad.parent.iterdir()) == ["w.pth"]


def test_load_converts_and_caches(tmp_path):
  sd = W.random_state_dict(5)
  storages, obj = {}, collections.OrderedDict()
  for i, (k, v) in enumerate(sd.items()):
    name = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}[v.dtype]
    storages[k] = Storage(str(i), name, v)
    obj[k] = Tensor(storages[k], 0, v.shape, tuple(
        int(np.prod(v.shape[j + 1:])) for j in range(v.ndim)))
  path = tmp_path / "mine.pth"
  write_zip(path, obj)
  cache = tmp_path / "cache"
  v1 = W.load_fid_inception(path, cache_dir=cache, check_hash=False)
  cached = list(cache.glob("*" + W.CONVERTED_SUFFIX))
  assert len(cached) == 1 and cached[0].name.startswith(W.sha256(path)[:16])
  v2 = W.load_fid_inception(path, cache_dir=cache, check_hash=False)  # From the cache.
  expected = W.convert_state_dict(sd)
  for c in ("params", "batch_stats"):
    want, got1, got2 = (dict(W._walk(v[c])) for v in (expected, v1, v2))
    assert want.keys() == got1.keys() == got2.keys()
    for p, a in want.items():
      np.testing.assert_array_equal(got1[p], a)
      np.testing.assert_array_equal(got2[p], a)


def test_official_cache_is_used_and_stale_caches_ignored(tmp_path, monkeypatch):
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  cache = tmp_path / "cache"
  official = cache / ("pt_inception-2015-12-05-6726825d" + W.CONVERTED_SUFFIX)
  variables = W.convert_state_dict(W.random_state_dict(2))
  W._save_converted(variables, official, "6726825d" + "0" * 56)
  got = W.load_fid_inception(cache_dir=cache)  # No .pth needed.
  np.testing.assert_array_equal(got["params"]["fc"]["kernel"], variables["params"]["fc"]["kernel"])
  del variables["params"]["Mixed_7c"]
  W._save_converted(variables, official, "6726825d" + "0" * 56)  # Stale: not the network.
  with pytest.raises(W.WeightsError, match="not found"):
    W.load_fid_inception(cache_dir=cache)


def test_failed_download_is_a_clear_error(tmp_path):
  with pytest.raises(W.WeightsError, match="download it by hand"):
    W.download((tmp_path / "absent.pth").as_uri(), tmp_path / "w.pth")
  assert not (tmp_path / "w.pth").exists()
