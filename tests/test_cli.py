"""The jaxgan command: sample from a run's checkpoint; errors in one line."""

import json
import re
import shutil

import numpy as np
import pytest

from configs import mnist_cdcgan, test as test_config
from jaxgan import cli
from jaxgan.train import train_and_evaluate


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("toy")
  train_and_evaluate(test_config.get_config(), str(workdir))
  return workdir


def test_sample_toy_to_npz_and_png(toy_run, tmp_path, capsys):
  cli.main(["sample", "--workdir", str(toy_run), "--out", str(tmp_path / "s.npz"), "-n", "50"])
  assert np.load(tmp_path / "s.npz")["x"].shape == (50, 2)
  assert "of step 6" in capsys.readouterr().out
  cli.main(["sample", "--workdir", str(toy_run), "--out", str(tmp_path / "s.png"), "--step", "3"])
  assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_samples_and_ema_flag(toy_run, tmp_path):
  for name in ("a", "b"):
    cli.main(["sample", "--workdir", str(toy_run), "--out", str(tmp_path / f"{name}.npz")])
  np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"])


@pytest.mark.parametrize("args,message", [
    (["--step", "5"], "no checkpoint of step 5"),
    (["--out", "x.jpg"], ".png or .npz"),
])
def test_sample_errors(toy_run, tmp_path, args, message, capsys):
  base = ["sample", "--workdir", str(toy_run), "--out", str(tmp_path / "x.png")]
  with pytest.raises(SystemExit) as exit_info:
    cli.main(base + args if args[0] != "--out" else base[:3] + args)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err


def test_not_a_run_and_unknown_command(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "x.png")])
  assert exit_info.value.code == 2
  assert re.search("is missing: is .* a jaxgan run", capsys.readouterr().err)
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["trian"])
  assert exit_info.value.code == 2
  assert "must be one of: train, sweep, sample" in capsys.readouterr().err


@pytest.mark.parametrize("name,text", [("config.json", '{"seed": 0, "data": '),
                                       ("data.json", "")])
def test_a_run_file_that_is_not_json_is_named(toy_run, tmp_path, capsys, name, text):
  """Issue 18.11: invalid JSON in a run's files names the file (exit 2, one line)."""
  run = tmp_path / "run"
  shutil.copytree(toy_run, run)
  (run / name).write_text(text)
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["sample", "--workdir", str(run), "--out", str(tmp_path / "x.png")])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert f"{run / name} is not valid JSON" in err and len(err.strip().splitlines()) == 1


def test_sample_reads_a_run_whose_config_predates_new_fields(toy_run, tmp_path):
  """config.json of an older version lacks new fields: their defaults fill in."""
  run = tmp_path / "run"
  shutil.copytree(toy_run, run)
  saved = json.loads((run / "config.json").read_text())
  del saved["train"]["critic_unroll"], saved["train"]["allow_config_change"]
  (run / "config.json").write_text(json.dumps(saved))
  cli.main(["sample", "--workdir", str(run), "--out", str(tmp_path / "s.npz"), "-n", "5"])
  assert np.load(tmp_path / "s.npz")["x"].shape == (5, 2)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
  """A one-step class-conditional DCGAN run on 16 random 28x28 images of 4 classes."""
  tmp_path = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
           y_train=np.arange(16) % 4)
  c = mnist_cdcgan.get_config()
  c.data.name, c.data.path, c.data.batch_size = "npz", str(tmp_path / "d.npz"), 8
  c.model.features, c.model.latent_dim, c.train.steps, c.train.plot_every = 4, 8, 1, 1
  train_and_evaluate(c, str(tmp_path / "run"))
  return tmp_path / "run"


def test_conditional_image_samples_are_uint8_with_labels(image_run, tmp_path):
  cli.main(["sample", "--workdir", str(image_run), "--out", str(tmp_path / "s.npz"),
            "-n", "8"])
  out = np.load(tmp_path / "s.npz")
  assert out["x"].shape == (8, 28, 28, 1) and out["x"].dtype == np.uint8
  np.testing.assert_array_equal(out["y"], np.arange(8) % 4)
  cli.main(["sample", "--workdir", str(image_run), "--out", str(tmp_path / "s.png")])
  assert (tmp_path / "s.png").exists()


def test_fid_subcommand_on_saved_statistics(tmp_path, capsys):
  # Diagonal covariances: FID = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  a, b = rng.uniform(0.5, 2.0, 6), rng.uniform(0.5, 2.0, 6)
  np.savez(tmp_path / "s1.npz", mu=mu1, sigma=np.diag(a))
  np.savez(tmp_path / "s2.npz", mu=mu2, sigma=np.diag(b))
  cli.main(["fid", str(tmp_path / "s1.npz"), str(tmp_path / "s2.npz"), "--no-progress"])
  printed = float(capsys.readouterr().out.split("FID:")[1])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  np.testing.assert_allclose(printed, expected, rtol=1e-5)


def test_metrics_errors_exit_nonzero(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["fid", str(tmp_path / "missing.npz"), str(tmp_path / "other.npz"),
              "--no-progress"])
  assert exit_info.value.code == 2
  assert "missing.npz" in capsys.readouterr().err


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_evaluate_matches_sampling_then_measuring_by_hand(image_run, tmp_path):
  import json
  import warnings

  import jax
  import jax.numpy as jnp

  from jaxgan import inception_weights
  from jaxgan.metrics.evaluate import inception_outputs
  from jaxgan.metrics.inception_score import inception_score

  rng, run = np.random.default_rng(0), image_run
  # Reference statistics with a full-rank covariance in 2048-d would need > 2048 images;
  # a diagonal one keeps FID's closed form simple and the covariance non-singular.
  mu_ref, var_ref = rng.normal(size=2048) * 0.1, rng.uniform(0.5, 1.5, 2048)
  np.savez(tmp_path / "ref.npz", mu=mu_ref, sigma=np.diag(var_ref))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Random-weight and singular-covariance warnings.
    cli.main(["evaluate", "--workdir", str(run), "--ref", str(tmp_path / "ref.npz"),
              "-n", "6", "--batch-size", "4", "--splits", "2", "--random-weights",
              "--no-progress", "--seed", "3", "--out", str(tmp_path / "r.json")])
    variables = inception_weights.random_variables(0)
  result = json.loads((tmp_path / "r.json").read_text())
  assert result["n"] == 6 and result["step"] == 1

  # By hand: batch i uses fold_in(key, i), split into z and label keys; G with EMA
  # parameters; images quantized to uint8 as if saved to PNG; the last batch truncated.
  from jaxgan.cli import _restore_run
  _, state, _, _ = _restore_run(str(run), None)
  g = state.generator(use_ema=True)
  images = []
  for i in range(2):
    k_z, k_y = jax.random.split(jax.random.fold_in(jax.random.key(3), i))
    z = jax.random.normal(k_z, (4, 8))
    labels = jax.random.randint(k_y, (4,), 0, 4)
    x = np.asarray(g(z, labels=labels), np.float64)
    images.append(np.clip(np.round((x + 1) / 2 * 255), 0, 255).astype(np.uint8))
  outs = [inception_outputs(variables, jnp.asarray(x)) for x in images]  # Same shape as
  pool3 = np.concatenate([o["pool3"] for o in outs])[:6].astype(np.float64)  # the CLI's:
  logits = np.concatenate([o["logits"] for o in outs])[:6]  # one compilation.
  np.testing.assert_allclose(result["is_mean"], inception_score(logits, 2)[0], rtol=1e-4)
  mu, sigma = pool3.mean(0), np.cov(pool3, rowvar=False)
  # tr sqrt(sigma D) = tr sqrt(D^1/2 sigma D^1/2), a symmetric PSD matrix (numpy's eigvalsh).
  root = np.sqrt(var_ref)
  w = np.linalg.eigvalsh(root[:, None] * sigma * root[None, :])
  fid = np.sum((mu - mu_ref) ** 2) + np.trace(sigma) + var_ref.sum() - 2 * np.sqrt(
      np.clip(w, 0, None)).sum()
  np.testing.assert_allclose(result["fid"], fid, rtol=1e-3)


def test_evaluate_refuses_toy_runs(toy_run, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["evaluate", "--workdir", str(toy_run), "-n", "4", "--random-weights"])
  assert exit_info.value.code == 2 and "need images" in capsys.readouterr().err
