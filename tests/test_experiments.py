"""The experiments at CI size: each effect has the claimed direction, files are written.

Every test runs one experiment with ``quick=True`` (tiny nets, few steps) into a
temporary folder; the numbers are not measurements, only the sign of each effect is
checked. None needs a GPU, a download or /work/shared.
"""

import math

import numpy as np
import pytest

from jaxgan.experiments import EXPERIMENTS, get_experiment, stacked_mnist
from jaxgan.experiments import __main__ as cli


def _check_files(out, results):
  assert (out / "report.md").is_file()
  text = (out / "report.md").read_text()
  assert text.startswith("# ")
  assert results["figures"]
  for name in results["figures"]:
    assert (out / name).is_file() and (out / name).stat().st_size > 1000, name
    assert f"({name})" in text, f"report does not show {name}"


def test_optimal_discriminator(tmp_path):
  r = get_experiment("optimal_discriminator").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  cases = list(r["cases"].values())
  plain, smoothed, fake_target = cases
  for c in cases:  # Training brings D towards D*.
    assert c["mean_abs_err"] < 0.5 * c["initial_mean_abs_err"]
    assert c["mean_abs_err"] < 0.05
  # One-sided smoothing scales D on the data by ~ (1 - alpha).
  assert smoothed["d_on_data"] < plain["d_on_data"]
  assert smoothed["on_data_ratio_to_unsmoothed"] == pytest.approx(1 - smoothed["alpha"], abs=0.03)
  # beta > 0: D ~ beta where p_data ~ 0 but p_model is large; without it D ~ 0 there.
  assert plain["d_off_data"] < 0.05
  assert fake_target["d_off_data"] == pytest.approx(fake_target["beta"], abs=0.05)


def test_generator_costs(tmp_path):
  r = get_experiment("generator_costs").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  for row in r["variance"].values():
    ml, ns, mm = (row[k] for k in ("maximum_likelihood", "non_saturating", "minimax"))
    assert ml["relative_variance"] > max(ns["relative_variance"], mm["relative_variance"])
    assert ml["total_variance"] > max(ns["total_variance"], mm["total_variance"])
    # The ML cost's expected gradient is 1/2 grad KL(p_data || p_g) (within MC error).
    np.testing.assert_allclose(ml["mean_grad"], row["kl_half_grad"], rtol=0.15, atol=0.05)


def test_divergences(tmp_path):
  r = get_experiment("divergences").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  fwd, rev = r["forward_best"], r["reverse_best"]
  assert fwd["s"] > 2 * rev["s"]  # Moment matching is broad, mode seeking narrow.
  assert abs(fwd["m"]) < 0.3 and fwd["s"] == pytest.approx(math.sqrt(4.25), rel=0.05)
  assert abs(abs(rev["m"]) - 2.0) < 0.1 and rev["s"] == pytest.approx(0.5, rel=0.1)
  assert rev["kl_q_p"] == pytest.approx(math.log(2), abs=0.01)


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_wgan_gp_vs_clipping(tmp_path):
  r = get_experiment("wgan_gp_vs_clipping").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  clip, gp = r["depth"]["clip c=0.01"], r["depth"]["GP lambda=10"]
  # Clipping: the per-layer gradient norms span decades across depth; GP's stay close.
  assert clip["layer_spread_decades"] > 2.0
  assert gp["layer_spread_decades"] < 1.0
  assert clip["layer_spread_decades"] > 3 * gp["layer_spread_decades"]
  # Clipping piles the weights at +-c; nothing comparable under the penalty.
  assert clip["pile_fraction"] > 0.5
  assert gp["top_fraction"] < 0.05
  assert clip["nonfinite_steps"] == gp["nonfinite_steps"] == 0


def _numpy_layer_norms(params, x, depth):
  """Per-layer gradient norms of an MLP critic, backpropagated by hand in float64 numpy."""
  p = {k: {n: np.asarray(a, np.float64) for n, a in v.items()} for k, v in params.items()
       if k.startswith("Dense_")}
  head = np.asarray(params["DiscriminatorHead_0"]["Dense_0"]["kernel"], np.float64)
  h, masks = np.asarray(x, np.float64), []
  for k in range(depth):
    pre = h @ p[f"Dense_{k}"]["kernel"] + p[f"Dense_{k}"]["bias"]
    masks.append(pre > 0)
    h = np.maximum(pre, 0.0)
  g = np.broadcast_to(head[:, 0], h.shape)
  grads = [g]
  for k in reversed(range(depth)):
    g = (g * masks[k]) @ p[f"Dense_{k}"]["kernel"].T
    grads.append(g)
  return [float(np.sqrt(np.mean(np.sum(v * v, -1)))) for v in grads[::-1]]


def test_layer_gradient_norms_match_hand_backprop():
  import jax
  import jax.numpy as jnp

  from jaxgan.experiments import wgan_gp_vs_clipping as wg
  from jaxgan.nets import make_models
  critic = make_models("mlp", (2,), width=8, depth=3)[1]
  params = critic.init(jax.random.key(0), jnp.zeros((1, 2)))["params"]
  x = np.asarray(jax.random.normal(jax.random.key(1), (16, 2)))
  np.testing.assert_allclose(wg.layer_gradient_norms(critic, params, x),
                             _numpy_layer_norms(params, x, 3), rtol=1e-10)
  # Every kernel at +-c (the head too): the norms scale as c^(Dense layers from h_k on),
  # for c = 2^-40 far below float32's range (1.4e-45), hence computed in float64. (Powers
  # of two: every rounding, and so every ReLU's side, is the same at both scales.)
  a, b = (wg.piled_critic_norms(16, 4, c, x) for c in (2.0 ** -3, 2.0 ** -40))
  np.testing.assert_allclose(a / b, [2.0 ** (37 * k) for k in (4, 3, 2, 1)], rtol=1e-12)
  assert 0 < b[0] < 1e-45


@pytest.mark.slow  # Default-suite budget; a cheaper sibling test stays.
def test_mode_coverage(tmp_path):
  r = get_experiment("mode_coverage").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  # The metric on the data itself: every mode, ~ P(chi2_2 <= 9) = 98.9 % high quality.
  assert r["real_data"]["2D-grid"]["modes"] == 25 and r["real_data"]["2D-ring"]["modes"] == 8
  for v in r["real_data"].values():
    assert v["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
  cells = r["cells"]
  assert set(cells) == {("2D-grid", "GAN"), ("2D-grid", "PacGAN2")}
  # PacGAN's claim at CI size (8 seeds, width 32, 8,000 steps at the faster settings, lr
  # 2e-3 and betas (0.5, 0.999), same seeds and data for both): packing covers more of
  # the grid's modes and spreads its high-quality samples more evenly over them
  # (measured here: 14.6 vs 19.4 modes, reverse KL 0.96 vs 0.68).
  # A packing that did nothing would give the same runs and fail both.
  gan, pac = cells[("2D-grid", "GAN")], cells[("2D-grid", "PacGAN2")]
  assert pac["summary"]["modes"][0] > gan["summary"]["modes"][0] + 2
  assert pac["summary"]["reverse_kl"][0] < gan["summary"]["reverse_kl"][0] - 0.1
  # The seeds are different runs, and the table's mean and standard error are numpy's.
  for cell in cells.values():
    modes = np.array([run["modes"] for run in cell["runs"]], float)
    quality = np.array([run["high_quality"] for run in cell["runs"]], float)
    assert len(modes) == 8 and len(set(quality.tolist())) > 1
    mean, se = cell["summary"]["modes"]
    assert mean == pytest.approx(modes.mean()) and se == pytest.approx(
        modes.std(ddof=1) / np.sqrt(8))
  assert (tmp_path / "runs").is_dir()  # Each cell cached for a resumed measurement.


def test_mode_coverage_rows_train_their_steps_and_scale_with_the_gans():
  from jaxgan.experiments.mode_coverage import measure
  rows = measure.methods()
  # The full run trains each row's stated steps: WGAN-GP 6,000 (5 critic steps each), the
  # GAN 100,000 on the ring and 150,000 on the grid; a run with the GAN at 8,000 keeps the
  # shares, rounded to chunks of 500.
  full = {"GAN": 100_000, "PacGAN2": 100_000, "WGAN-GP": 6_000, "WGAN-GP + pack 2": 6_000,
          "WGAN-GP, 2x steps": 12_000, "GAN + R1": 48_000}
  for dataset, longer in (("2D-ring", 1), ("2D-grid", 1.5)):
    assert {k: measure.method_steps(m, measure.GAN_STEPS, dataset)
            for k, m in rows.items()} == {
        k: int(v * longer) if k in ("GAN", "PacGAN2") else v for k, v in full.items()}
  assert [measure.method_steps(rows[k], 8_000, "2D-grid")
          for k in ("GAN", "WGAN-GP", "GAN + R1")] == [12_000, 500, 4_000]  # 480, 3,840.
  assert measure.method_steps(rows["WGAN-GP"], 300, "2D-ring") == 300  # Under a chunk.
  # PacGAN2 differs from the GAN only by the packing, in the full run and the quick one,
  # which trains both 8,000 steps on the grid at other settings.
  for quick in (False, True):
    rows = measure.methods(quick)
    assert rows["PacGAN2"].overrides == {**rows["GAN"].overrides, "model.pack": 2}
  quick = measure.methods(True)
  assert quick["GAN"].overrides != measure.methods()["GAN"].overrides
  assert measure.method_steps(quick["PacGAN2"], 8_000, "2D-grid") == 8_000


def test_stacked_mnist_statistics():
  stats = stacked_mnist.mode_statistics
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), -1)
  assert stats(every) == {"modes": 1000, "kl": pytest.approx(0.0),
                          "channel_kl": pytest.approx(0.0), "digit_freq": [0.1] * 10}
  one = np.zeros((50, 3), int)
  assert stats(one) == {"modes": 1, "kl": pytest.approx(math.log(1000)),
                        "channel_kl": pytest.approx(3 * math.log(10)),
                        "digit_freq": [1.0] + [0.0] * 9}


def test_stacked_mnist_kl_splits_into_digit_frequencies_and_dependence():
  # Independent channels, digit d with weight d + 1 in each: the joint is the product of
  # the marginals, so the whole KL is the channels' (3 x KL(q || uniform over 10)).
  w = np.arange(1, 11)
  q = w / w.sum()
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), -1)
  product = np.repeat(every, w[every].prod(axis=1), axis=0)
  expected = 3 * float(np.sum(q * np.log(10 * q)))
  r = stacked_mnist.mode_statistics(product)
  assert r["modes"] == 1000 and r["kl"] == pytest.approx(expected, rel=1e-12)
  assert r["channel_kl"] == pytest.approx(expected, rel=1e-12)
  assert r["digit_freq"] == pytest.approx(q.tolist(), rel=1e-12)
  # Three equal digits: uniform marginals, all of the KL (log 100) is dependence.
  same = np.repeat(np.arange(10), 7)[:, None].repeat(3, axis=1)
  r = stacked_mnist.mode_statistics(same)
  assert r["modes"] == 10 and r["kl"] == pytest.approx(math.log(100))
  assert r["channel_kl"] == pytest.approx(0.0, abs=1e-12)


def test_stacked_mnist_needs_data(tmp_path):
  with pytest.raises(ValueError, match="--mnist"):
    stacked_mnist.run(tmp_path)


@pytest.mark.slow
def test_stacked_mnist_quick(tmp_path):
  r = stacked_mnist.run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  assert r["classifier"]["accuracy"] >= 0.99
  assert set(r["cells"]) == {"DCGAN", "PacDCGAN2", "WGAN-GP", "SN + hinge",
                            "DCGAN + R1, 2x steps", "DCGAN + R1, 6x steps"}
  for cell in r["cells"].values():
    assert len(cell["runs"]) == cell["setting"]["seeds"] == 2
    modes = np.array([run["modes"] for run in cell["runs"]], float)
    assert cell["summary"]["modes"][0] == pytest.approx(modes.mean())
    assert cell["summary"]["modes"][1] == pytest.approx(modes.std(ddof=1) / np.sqrt(2))
  for stats in [run for c in r["cells"].values() for run in c["runs"]] + [r["real"]]:
    assert 1 <= stats["modes"] <= 1000 and stats["kl"] >= 0
  # A rerun in the same folder reads the classifier and every method back.
  again = stacked_mnist.run(tmp_path, quick=True)
  assert again["classifier"] == r["classifier"] and again["real"] == r["real"]
  assert {k: c["runs"] for k, c in again["cells"].items()} == \
      {k: c["runs"] for k, c in r["cells"].items()}


@pytest.mark.slow
def test_stacked_mnist_training_spreads_the_samples_over_the_modes(tmp_path):
  """The direction the pipeline must show at any size: G at its first step puts every
  sample in one triple (KL = log 1000); 300 DCGAN steps on the generated digits spread
  them over several times as many (measured 21 and 28 modes, KL 4.97 and 4.70); the real
  stacked data, scored alike, cover more still. Fails if G does not learn, the channels
  are stacked or labelled wrongly, or the counts are off."""
  cells = {}
  for steps in (1, 300):
    r = stacked_mnist.measure.measure(quick=True, out=tmp_path, steps=steps, only="DCGAN")
    cells[steps] = r["cells"]["DCGAN"]["runs"]
  for first, trained in zip(cells[1], cells[300]):
    assert first["modes"] <= 2 and trained["modes"] >= 5 * first["modes"] + 5
    assert trained["kl"] < first["kl"] - 0.5
    assert r["real"]["modes"] > 5 * trained["modes"] and r["real"]["kl"] < trained["kl"] - 2


def test_stacked_mnist_methods_are_chosen_by_slug_even_when_labels_hold_commas():
  select = stacked_mnist.measure.select
  assert list(select("dcgan_r1_2x_steps, DCGAN")) == ["DCGAN + R1, 2x steps", "DCGAN"]
  assert list(select("sn_hinge")) == ["SN + hinge"]
  with pytest.raises(ValueError, match="dcgan_r1_2x_steps"):  # The slugs are listed.
    select("DCGAN + R1")


def test_cli(tmp_path, capsys):
  assert set(EXPERIMENTS) == {"optimal_discriminator", "generator_costs", "divergences",
                              "wgan_gp_vs_clipping", "mode_coverage", "stacked_mnist"}
  r = cli.main(["generator_costs", "--out", str(tmp_path / "gc"), "--quick"])
  assert (tmp_path / "gc" / "report.md").is_file() and "variance" in r
  assert '"experiment": "generator_costs"' in capsys.readouterr().out
  with pytest.raises(SystemExit):
    cli.main(["no_such_experiment", "--out", str(tmp_path)])
  with pytest.raises(SystemExit):  # An option the experiment does not take.
    cli.main(["divergences", "--out", str(tmp_path), "--mnist", "x.npz"])
  with pytest.raises(ValueError, match="unknown experiment"):
    get_experiment("nope")
