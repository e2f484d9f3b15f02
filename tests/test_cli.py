"""The jaxgan command: sample from a run's checkpoint; errors in one line."""

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
  assert message in str(exit_info.value)


def test_not_a_run_and_unknown_command(tmp_path):
  with pytest.raises(SystemExit, match="is missing: is .* a jaxgan run"):
    cli.main(["sample", "--workdir", str(tmp_path), "--out", str(tmp_path / "x.png")])
  with pytest.raises(SystemExit, match="must be one of: train, sample"):
    cli.main(["trian"])


def test_conditional_image_samples_are_uint8_with_labels(tmp_path):
  rng = np.random.default_rng(0)
  np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
           y_train=np.arange(16) % 4)
  c = mnist_cdcgan.get_config()
  c.data.name, c.data.path, c.data.batch_size = "npz", str(tmp_path / "d.npz"), 8
  c.model.features, c.model.latent_dim, c.train.steps, c.train.plot_every = 4, 8, 1, 1
  train_and_evaluate(c, str(tmp_path / "run"))
  cli.main(["sample", "--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "s.npz"),
            "-n", "8"])
  out = np.load(tmp_path / "s.npz")
  assert out["x"].shape == (8, 28, 28, 1) and out["x"].dtype == np.uint8
  np.testing.assert_array_equal(out["y"], np.arange(8) % 4)
  cli.main(["sample", "--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "s.png")])
  assert (tmp_path / "s.png").exists()
