"""Tests for jaxgan.metrics.statistics: streaming mean/covariance, .npz files, provenance.

Expected values come from ``np.mean`` / ``np.cov`` on all features at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxgan.metrics.statistics import (FeatureStats, Provenance, Statistics, StatisticsError,
                                       check_comparable, check_statistics, load_statistics,
                                       merge_across_processes, read_statistics,
                                       save_statistics)


def _features(n=103, d=7, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0).astype(np.float32)


def test_streaming_matches_numpy():
  x = _features()
  stats = FeatureStats.zeros(7)
  for start in range(0, len(x), 10):  # Uneven last batch.
    stats.update(x[start:start + 10])
  assert stats.n == len(x)
  np.testing.assert_allclose(stats.mean(), np.mean(x.astype(np.float64), axis=0), rtol=1e-12)
  np.testing.assert_allclose(stats.covariance(), np.cov(x.astype(np.float64), rowvar=False),
                             rtol=1e-10, atol=1e-12)
  assert np.array_equal(stats.covariance(), stats.covariance().T)


def test_merge_is_the_union():
  x = _features()
  a, b = FeatureStats.from_features(x[:40]), FeatureStats.from_features(x[40:])
  merged = a.merge(b)
  full = FeatureStats.from_features(x)
  assert merged.n == full.n
  np.testing.assert_allclose(merged.total, full.total, rtol=1e-12)
  np.testing.assert_allclose(merged.outer, full.outer, rtol=1e-12)
  assert merge_across_processes(merged) is merged  # One process: unchanged.


def test_errors():
  with pytest.raises(ValueError, match=r"\(B, 7\)"):
    FeatureStats.zeros(7).update(np.zeros((2, 6)))
  with pytest.raises(ValueError, match="at least 2"):
    FeatureStats.from_features(np.zeros((1, 3))).covariance()
  with pytest.raises(ValueError, match="merge"):
    FeatureStats.zeros(3).merge(FeatureStats.zeros(4))


def test_npz_round_trip_in_pytorch_fid_format(tmp_path):
  x = _features().astype(np.float64)
  mu, sigma = np.mean(x, axis=0), np.cov(x, rowvar=False)
  save_statistics(tmp_path / "s.npz", mu, sigma, n=len(x))
  with np.load(tmp_path / "s.npz") as f:  # What pytorch-fid reads: f['mu'][:], f['sigma'][:].
    np.testing.assert_array_equal(f["mu"][:], mu)
    np.testing.assert_array_equal(f["sigma"][:], sigma)
    assert int(f["n"]) == len(x)
  np.savez(tmp_path / "theirs.npz", mu=mu.astype(np.float32), sigma=sigma)  # Written elsewhere.
  m2, s2 = load_statistics(tmp_path / "theirs.npz")
  assert m2.dtype == np.float64
  np.testing.assert_allclose(m2, mu, rtol=1e-6)
  np.testing.assert_array_equal(s2, sigma)


def test_bad_statistics_files(tmp_path):
  np.savez(tmp_path / "imgs.npz", x_train=np.zeros((2, 4, 4), np.uint8))
  with pytest.raises(ValueError, match="'mu' and 'sigma'"):
    load_statistics(tmp_path / "imgs.npz")
  with pytest.raises(FileNotFoundError):
    load_statistics(tmp_path / "none.npz")
  with pytest.raises(ValueError, match=r"\(d, d\)"):
    save_statistics(tmp_path / "bad.npz", np.zeros(3), np.zeros((3, 2)))
  with pytest.raises(ValueError, match=".npz"):
    save_statistics(tmp_path / "bad.stats", np.zeros(3), np.eye(3))


def test_read_statistics_has_n_when_the_file_does(tmp_path):
  x = _features().astype(np.float64)
  save_statistics(tmp_path / "ours.npz", x.mean(axis=0), np.cov(x, rowvar=False), n=len(x))
  assert read_statistics(tmp_path / "ours.npz").n == len(x)
  np.savez(tmp_path / "theirs.npz", mu=x.mean(axis=0), sigma=np.cov(x, rowvar=False))
  stats = read_statistics(tmp_path / "theirs.npz")  # pytorch-fid's files carry no n.
  assert stats.n is None and stats.name == str(tmp_path / "theirs.npz")


def _not_covariances():
  """(what is wrong, mu, sigma): each case the checks must refuse, with the words used."""
  x = _features().astype(np.float64)
  mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
  nonsym = sigma.copy()
  nonsym[0, 1] += 0.5 * abs(sigma).max()
  nan = sigma.copy()
  nan[3, 3] = np.nan
  return [("not symmetric", mu, nonsym),
          ("not positive semi-definite", mu, -sigma),  # Negative definite.
          ("not positive semi-definite", mu, sigma - 2 * np.linalg.eigvalsh(sigma)[1] * np.eye(7)),
          ("1 non-finite", mu, nan),
          ("7 non-finite", np.full(7, np.nan), sigma),
          (r"must be \(7, 7\)", mu, sigma[:6, :6]),
          ("must be a vector", mu[None], sigma)]


@pytest.mark.parametrize("index", range(7))
def test_checks_refuse_what_is_not_a_covariance(tmp_path, index):
  words, mu, sigma = _not_covariances()[index]
  with pytest.raises(StatisticsError, match=words):
    check_statistics(mu, sigma)
  path = tmp_path / "bad_stats.npz"
  np.savez(path, mu=mu, sigma=sigma)  # As another tool might have written it.
  with pytest.raises(StatisticsError, match=f"{path}: (mu|sigma)"):
    load_statistics(path)
  with pytest.raises(StatisticsError, match="not written"):
    save_statistics(tmp_path / "out.npz", mu, sigma)
  assert not (tmp_path / "out.npz").exists()


def test_checks_accept_singular_and_float32_rounded_covariances():
  rng = np.random.default_rng(3)
  x = rng.standard_normal((10, 50)) @ rng.standard_normal((50, 50)) + 5.0  # N < d: singular.
  sigma = np.cov(x, rowvar=False).astype(np.float32).astype(np.float64)
  assert np.linalg.eigvalsh(sigma)[0] < 0  # Rounding makes it slightly indefinite.
  mu, checked = check_statistics(x.mean(axis=0), sigma)
  assert checked.dtype == np.float64 and np.array_equal(checked, sigma)
  check_statistics(np.zeros(4), np.zeros((4, 4)))  # One image repeated: all zero.
  check_statistics(2.0, 3.0)  # Scalars: d = 1.


SHA_A, SHA_B = "a" * 64, "ab" + "c" * 62
OURS = Provenance("pytorch", SHA_A, (32, 32))


def test_provenance_round_trip_and_pytorch_fid_reads_the_file(tmp_path):
  x = _features().astype(np.float64)
  mu, sigma = x.mean(axis=0), np.cov(x, rowvar=False)
  made = Provenance("tf1", SHA_B, (28, 40))
  save_statistics(tmp_path / "s.npz", mu, sigma, n=len(x), provenance=made)
  stats = read_statistics(tmp_path / "s.npz")
  assert stats.provenance == made and stats.n == len(x)
  with np.load(tmp_path / "s.npz") as f:  # pytorch-fid: f['mu'][:], f['sigma'][:]; rest ignored.
    np.testing.assert_array_equal(f["mu"][:], mu)
    np.testing.assert_array_equal(f["sigma"][:], sigma)
    assert str(f["mode"]) == "tf1" and str(f["weights_sha256"]) == SHA_B
    assert f["image_size"].tolist() == [28, 40] and int(f["n"]) == len(x)
    assert all(f[k].dtype != object for k in f.files)  # Loads without allow_pickle.
  save_statistics(tmp_path / "plain.npz", mu, sigma)  # Nothing recorded: nothing written.
  with np.load(tmp_path / "plain.npz") as f:
    assert sorted(f.files) == ["mu", "sigma"]
  assert read_statistics(tmp_path / "plain.npz").provenance == Provenance()


@pytest.mark.parametrize("other,words", [
    (Provenance("tf1", SHA_A, (32, 32)), "--mode 'pytorch' vs 'tf1'"),
    (Provenance("pytorch", SHA_B, (32, 32)),
     r"Inception weights SHA-256 aaaaaaaaaaaa\.\.\. vs abcccccccccc\.\.\."),
    (Provenance("pytorch", SHA_A, (64, 32)), "image size 32x32 vs 64x32"),
    (Provenance("clean", SHA_A, (28, 28)), "--mode 'pytorch' vs 'clean'; image size 32x32 vs"),
    (Provenance("tf1", None, None), "--mode 'pytorch' vs 'tf1'"),  # Partly recorded.
])
def test_statistics_made_differently_are_refused(other, words):
  a = Statistics(np.zeros(2), np.eye(2), 10, "a.npz", OURS)
  b = Statistics(np.zeros(2), np.eye(2), 10, "b.npz", other)
  with pytest.raises(StatisticsError, match=f"a.npz and b.npz were made differently \\({words}"):
    check_comparable(a, b)


def test_plain_pytorch_fid_statistics_are_accepted_with_a_warning():
  ours = Statistics(np.zeros(2), np.eye(2), 10, "ours.npz", OURS)
  plain = Statistics(np.zeros(2), np.eye(2), None, "theirs.npz")
  lines = check_comparable(plain, ours)
  assert len(lines) == 1 and lines[0].startswith("warning: theirs.npz records no provenance")
  assert "--mode 'pytorch'" in lines[0] and "image size 32x32" in lines[0]
  assert check_comparable(ours, plain) == [lines[0]]  # Either side.
  assert check_comparable(plain, plain) == []  # pytorch-fid's own use: no warning.
  assert check_comparable(ours, ours) == []
  partial = Statistics(np.zeros(2), np.eye(2), None, "partial.npz", Provenance("pytorch"))
  assert check_comparable(partial, ours) == [
      "warning: partial.npz does not record its Inception weights SHA-256, image size; "
      "assuming it matches ours.npz"]


@pytest.mark.parametrize("key,value,words", [
    ("image_size", np.array([32, 32, 3]), "image_size must be 2 positive integers"),
    ("image_size", np.array([32.0, 32.0]), "image_size must be 2 positive integers"),
    ("mode", np.array(["a", "b"]), "mode must be a string"),
    ("weights_sha256", np.array(3), "weights_sha256 must be a string"),
])
def test_malformed_provenance_is_named(tmp_path, key, value, words):
  np.savez(tmp_path / "s.npz", mu=np.zeros(2), sigma=np.eye(2), **{key: value})
  with pytest.raises(StatisticsError, match=f"{tmp_path / 's.npz'}: {words}"):
    read_statistics(tmp_path / "s.npz")


MERGE_SCRIPT = textwrap.dedent('''
    import json, sys, jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(sys.argv[1], 2, int(sys.argv[2]))
    import numpy as np
    from jaxgan.metrics.statistics import FeatureStats, merge_across_processes
    x = np.asarray(json.loads(sys.argv[3]))
    part = x[:23] if jax.process_index() == 0 else x[23:]  # Unequal shares.
    merged = merge_across_processes(FeatureStats.from_features(part))
    print(json.dumps({"processes": jax.process_count(), "n": merged.n,
                      "mean": merged.mean().tolist(), "cov": merged.covariance().tolist()}))
''')


def test_merge_across_two_processes():
  """Two CPU processes joined by jax.distributed (gloo), each with part of the features;
  both must hold the statistics of all of them, in float64."""
  x = _features(n=61, d=5, seed=4).astype(np.float64) * 1e3  # Large mean: float32 would show.
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    port = sock.getsockname()[1]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}
  procs = [subprocess.Popen([sys.executable, "-c", MERGE_SCRIPT, f"localhost:{port}", str(i),
                             json.dumps(x.tolist())], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  for out, _ in outs:
    got = json.loads(out.strip().splitlines()[-1])
    assert got["processes"] == 2 and got["n"] == len(x)
    np.testing.assert_allclose(got["mean"], x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(got["cov"], np.cov(x, rowvar=False), rtol=1e-10)
