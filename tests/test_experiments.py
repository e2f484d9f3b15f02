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


def test_layer_gradient_norms_match_autodiff():
  import jax
  import jax.numpy as jnp

  from jaxgan.experiments import wgan_gp_vs_clipping as wg
  from jaxgan.nets import make_models
  params = make_models("mlp", (2,), width=8, depth=3)[1].init(
      jax.random.key(0), jnp.zeros((1, 2)))["params"]
  x = jax.random.normal(jax.random.key(1), (16, 2))
  zeros = [jnp.zeros((16, d)) for d in (2, 8, 8, 8)]
  grads = jax.grad(lambda ds: jnp.sum(wg.critic_forward(params, x, ds)))(zeros)
  expected = [float(jnp.sqrt(jnp.mean(jnp.sum(g * g, -1)))) for g in grads]
  np.testing.assert_allclose(wg.layer_gradient_norms(params, x), expected, rtol=1e-5)
  # Every kernel at +-c (the head too): the norms scale as c^(Dense layers from h_k on).
  a, b = (wg.piled_critic_norms(16, 4, c, np.asarray(x)) for c in (0.1, 0.01))
  np.testing.assert_allclose(a / b, [1e4, 1e3, 1e2, 1e1], rtol=1e-5)


def test_mode_coverage(tmp_path):
  r = get_experiment("mode_coverage").run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  # The metric on the data itself: every mode, ~ P(chi2_2 <= 9) = 98.9 % high quality.
  assert r["real_data"]["2D-grid"]["modes"] == 25 and r["real_data"]["2D-ring"]["modes"] == 8
  for v in r["real_data"].values():
    assert v["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
  assert len(r["summary"]) == 6
  for v in r["summary"].values():
    assert 0 <= v["modes_mean"] <= v["n_modes"] and 0.0 <= v["high_quality_mean"] <= 1.0


def test_stacked_mnist_statistics():
  every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), -1)
  assert stacked_mnist.mode_statistics(every) == {"modes": 1000, "kl": pytest.approx(0.0)}
  one = np.zeros((50, 3), int)
  assert stacked_mnist.mode_statistics(one) == {"modes": 1, "kl": pytest.approx(math.log(1000))}


def test_stacked_mnist_needs_data(tmp_path):
  with pytest.raises(ValueError, match="--mnist"):
    stacked_mnist.run(tmp_path)


@pytest.mark.slow
def test_stacked_mnist_quick(tmp_path):
  r = stacked_mnist.run(tmp_path, quick=True)
  _check_files(tmp_path, r)
  assert r["classifier_accuracy"] >= 0.99
  for stats in list(r["gans"].values()) + [r["real"]]:
    assert 1 <= stats["modes"] <= 1000 and stats["kl"] >= 0


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
