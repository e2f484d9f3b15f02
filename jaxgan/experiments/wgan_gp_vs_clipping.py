"""Weight clipping vs gradient penalty (Gulrajani et al. 2017, "Improved Training of
Wasserstein GANs", sec. 3 and fig. 1), with the settings of their ``gan_toy.py``.

Claims checked:
- fig. 1(a)/(toy figures): WGAN-GP critics model the data's structure; clipped critics
  are simpler functions;
- fig. 1(b): with weight clipping, the gradient of the critic with respect to
  successive layers' activations grows or decays exponentially with depth (a 12-layer
  ReLU critic without batch norm on Swiss Roll, c in {0.1, 0.01, 0.001}); with the
  gradient penalty it stays of the same order across depth;
- fig. 1(c): clipping pushes the weights to the two extremes +-c of the clipping range.
The mechanism is isolated without training too: a critic with every weight at +-c
scales the backpropagated gradient by about c sqrt(width / 2) per layer.

Training uses the library's step (``make_train_step``) on the library's toy sets:
WGAN: RMSProp 5e-5, clip c, 5 critic steps; WGAN-GP: Adam 1e-4, betas (0.5, 0.9), 5
critic steps, lambda 0.1 (gan_toy.py) or 10 (the paper); batch 256, 2-D noise, ReLU MLPs
(``nets.make_models('mlp')``). The per-layer gradients are those of the critic's
output f with respect to the input h_k of each Dense layer k (h_0 = x), computed by a
re-implementation of ``MLPDiscriminator``'s forward pass that is checked against it.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxgan import penalties, plotting
from jaxgan.data import toy
from jaxgan.experiments import common
from jaxgan.hparams import make_hparams
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import GANState, create_state
from jaxgan.train_step import StepConfig, make_train_step

BATCH, N_CRITIC, LATENT = 256, 5, 2


@dataclasses.dataclass(frozen=True)
class Method:
  label: str
  clip: float = 0.0          # > 0: WGAN with weight clipping (RMSProp 5e-5).
  gp_weight: float = 0.0     # > 0: WGAN-GP with this lambda (Adam 1e-4, betas 0.5, 0.9).

  def step_config(self) -> StepConfig:
    return StepConfig(game="wasserstein", penalty="gradient_penalty" if self.gp_weight else None,
                      d_constraint=penalties.weight_clipping if self.clip else None,
                      n_critic=N_CRITIC, mode="alternating")

  def hparams(self):
    return make_hparams(penalty_weight=self.gp_weight, weight_clip=self.clip)

  def optimizer(self):
    if self.clip:
      return make_optimizer("rmsprop", 5e-5)
    return make_optimizer("adam", 1e-4, b1=0.5, b2=0.9)


TOY_METHODS = (Method("WGAN clip c=0.01", clip=0.01), Method("WGAN-GP lambda=0.1", gp_weight=0.1),
               Method("WGAN-GP lambda=10", gp_weight=10.0))
DEPTH_METHODS = (Method("clip c=0.1", clip=0.1), Method("clip c=0.01", clip=0.01),
                 Method("clip c=0.001", clip=0.001), Method("GP lambda=10", gp_weight=10.0))


def critic_forward(params, x: jax.Array, deltas=None) -> jax.Array:
  """``MLPDiscriminator``'s forward pass (no labels, no minibatch features), written out.

  ``deltas[k]`` is added to the input of Dense layer k (h_0 = x), so that the gradient
  with respect to ``deltas`` at 0 is the gradient with respect to each layer's input.
  """
  depth = sum(1 for k in params if k.startswith("Dense_"))
  head = params["DiscriminatorHead_0"]["Dense_0"]
  h = x
  for k in range(depth):
    if deltas is not None:
      h = h + deltas[k]
    layer = params[f"Dense_{k}"]
    h = jax.nn.relu(h @ layer["kernel"] + layer["bias"])
  if deltas is not None:
    h = h + deltas[depth]
  return (h @ head["kernel"] + head["bias"])[:, 0]


def layer_gradient_norms(params, x) -> np.ndarray:
  """RMS over the examples of ||d f(x) / d h_k||, for the input h_k of every Dense layer.

  Entry 0 is the input gradient ||grad_x f(x)|| (the quantity the penalty drives to 1),
  the last entry the gradient at the output layer's input. Backpropagation written out
  in float64 numpy, g_k = (g_{k+1} * 1[pre_k > 0]) W_k^T with g at the output layer's
  input = its kernel, so that norms below float32's range (1e-38, reached by deep
  clipped critics) are not flushed to 0. The gradient of the critic's loss
  E f(fake) - E f(real) with respect to h_k (the paper's fig. 1b) is the same
  per-example gradient times 1/B, so its norm follows the same curve across depth.
  """
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  depth = sum(1 for k in p if k.startswith("Dense_"))
  h, masks = np.asarray(x, np.float64), []
  for k in range(depth):
    pre = h @ p[f"Dense_{k}"]["kernel"] + p[f"Dense_{k}"]["bias"]
    masks.append(pre > 0)
    h = np.maximum(pre, 0.0)
  rms = lambda g: float(np.sqrt(np.mean(np.sum(g * g, axis=-1))))
  g = np.broadcast_to(p["DiscriminatorHead_0"]["Dense_0"]["kernel"][:, 0], h.shape)
  norms = [rms(g)]
  for k in reversed(range(depth)):
    g = (g * masks[k]) @ p[f"Dense_{k}"]["kernel"].T
    norms.append(rms(g))
  return np.array(norms[::-1])


def piled_critic_norms(width: int, layers: int, clip: float, x: np.ndarray,
                       seed: int = 0) -> np.ndarray:
  """Per-layer norms of an untrained critic whose kernel entries all sit at +-c.

  The state clipping drives the weights to (fig. 1c): every kernel entry c times the
  sign of a He initialisation, biases 0 (their initial value). Each layer then scales
  the backpropagated gradient by about c sqrt(width / 2) (entries +-c, about half the
  ReLUs open), so the norms grow exponentially towards the input when that factor
  exceeds 1 and vanish when it is below; no c makes it exactly 1 at every width.
  """
  module = make_models("mlp", (2,), width=width, depth=layers - 1)[1]
  params = module.init(jax.random.key(seed), jnp.zeros((1, 2)))["params"]
  piled = jax.tree_util.tree_map_with_path(
      lambda path, a: clip * jnp.sign(a) if path[-1].key == "kernel" else a, params)
  return layer_gradient_norms(piled, x)


def kernel_weights(state: GANState) -> np.ndarray:
  """All of the critic's kernel (not bias) entries, flattened."""
  flat = jax.tree_util.tree_flatten_with_path(state.d.params)[0]
  return np.concatenate([np.asarray(v).ravel() for path, v in flat
                         if getattr(path[-1], "key", None) == "kernel"])


class Trainer:
  """Trains one (method, width, depth) on any pool; one compilation per method and size."""

  def __init__(self, width: int, depth: int, chunk: int):
    self.width, self.depth, self.chunk = width, depth, chunk
    # The same module and optimizer objects for every run: the state's static fields are
    # then equal and a method's compiled chunk is reused across data sets and seeds.
    self.models = make_models("mlp", (2,), width=width, depth=depth)
    self._runners: dict = {}
    self._tx: dict = {}

  def train(self, method: Method, pool: jax.Array, steps: int, seed: int):
    if method not in self._runners:
      self._tx[method] = method.optimizer()
      self._runners[method] = common.make_chunk_runner(
          make_train_step(method.step_config()), N_CRITIC, BATCH, self.chunk)
    tx = self._tx[method]
    state = create_state(jax.random.key(seed), *self.models, tx, tx, LATENT, (2,),
                         hparams=method.hparams())
    return common.train_chunks(self._runners[method], state, pool,
                               jax.random.key(1000 + seed), steps, self.chunk,
                               desc=method.label)


@jax.jit
def _evaluate_arrays(state: GANState, pool: jax.Array, key: jax.Array):
  n = 1024
  k_real, k_z, k_eps = jax.random.split(key, 3)
  real = common.pool_sampler(pool)(k_real, n)
  fake = state.sample(k_z, n)
  critic = lambda x: state.d(x)
  x_hat = penalties.interpolates(k_eps, real, fake)
  norms = jnp.sqrt(penalties.per_example_sq_norm(penalties.input_gradients(critic, x_hat)))
  both = jnp.concatenate([real, fake])
  mismatch = jnp.max(jnp.abs(critic_forward(state.d.params, both) - critic(both)))
  scale = jnp.max(jnp.abs(critic(both)))
  return real, fake, jnp.mean(critic(real)) - jnp.mean(critic(fake)), norms, mismatch, scale


def _evaluate(state: GANState, pool: jax.Array, key: jax.Array) -> dict:
  """Samples, the critic's W estimate, input-gradient norms, per-layer gradient norms.

  Raises if the re-implemented forward pass disagrees with the module (that is, the
  architecture of ``MLPDiscriminator`` changed and ``critic_forward`` must follow).
  """
  real, fake, w, norms, mismatch, scale = jax.device_get(_evaluate_arrays(state, pool, key))
  if mismatch > 1e-4 * max(float(scale), 1e-6) + 1e-7:
    raise RuntimeError(f"critic_forward differs from MLPDiscriminator by {mismatch:.3g}; "
                       "update it and layer_gradient_norms to the module's architecture")
  layer_norms = layer_gradient_norms(state.d.params, np.concatenate([real, fake]))
  return {"real": np.asarray(real), "fake": np.asarray(fake), "w_estimate": float(w),
          "input_grad_norm_mean": float(norms.mean()), "input_grad_norm_std": float(norms.std()),
          "layer_norms": layer_norms,
          "layer_spread_decades": float(np.log10(layer_norms.max() / layer_norms.min()))}


def _pile_fraction(w: np.ndarray, c: float) -> float:
  return float(np.mean(np.abs(w) >= 0.99 * c))


def run(out_dir, quick: bool = False, width: int | None = None, steps: int | None = None,
        depth_width: int | None = None) -> dict:
  """Toy runs (critic contours, weights) and the depth analysis; writes report.md + PNGs.

  ``width``/``steps``: the toy nets' hidden width (gan_toy.py: 512) and generator steps
  (gan_toy.py: 100,000); ``depth_width``: the width of the 12-layer nets.
  """
  timer = common.Timer()
  out = common.out_path(out_dir)
  if quick:
    datasets, toy_methods = ("swissroll",), ()
    width, steps, chunk = width or 32, steps or 40, 20
    deep_layers, depth_width, depth_steps = 5, depth_width or 32, 40
    depth_methods = (DEPTH_METHODS[1], DEPTH_METHODS[3])
  else:
    datasets, toy_methods = toy.TOY_2D, TOY_METHODS
    width, steps, chunk = width or 128, steps or 1500, 250
    deep_layers, depth_width, depth_steps = 12, depth_width or 64, 500
    depth_methods = DEPTH_METHODS
  pools = {name: toy.sample(name, jax.random.key(7), 100_000) for name in datasets}
  results: dict = {"toy": {}, "depth": {}, "settings": {
      "width": width, "steps": steps, "deep_layers": deep_layers, "depth_width": depth_width,
      "depth_steps": depth_steps}}

  # 1. Toy sets with gan_toy.py's 3-hidden-layer nets.
  toy_states = {}
  trainer = Trainer(width, 3, chunk)
  for d_idx, name in enumerate(datasets):
    for m_idx, method in enumerate(toy_methods):
      state, hist = trainer.train(method, pools[name], steps, seed=10 * d_idx + m_idx)
      ev = _evaluate(state, pools[name], jax.random.key(99))
      entry = {k: v for k, v in ev.items() if k not in ("real", "fake")}
      entry["layer_norms"] = ev["layer_norms"].tolist()
      entry["nonfinite_steps"] = int(hist["nonfinite"].sum())
      w = kernel_weights(state)
      entry["pile_fraction"] = _pile_fraction(w, method.clip) if method.clip else None
      entry["top_fraction"] = _pile_fraction(w, np.abs(w).max())
      if name in ("8gaussians", "25gaussians"):
        cov = mode_coverage(ev["fake"], toy.mode_centers(name), toy.mode_std(name))
        entry["modes"], entry["high_quality"] = cov["modes"], cov["high_quality"]
      results["toy"][(name, method.label)] = entry
      toy_states[(name, method.label)] = (state, ev, w)

  # 2. Depth analysis: deep critics and generators on Swiss Roll (fig. 1b and 1c).
  deep_states = {}
  deep_trainer = Trainer(depth_width, deep_layers - 1, chunk)  # depth hidden + 1 output.
  for m_idx, method in enumerate(depth_methods):
    state, hist = deep_trainer.train(method, pools["swissroll"], depth_steps, seed=100 + m_idx)
    ev = _evaluate(state, pools["swissroll"], jax.random.key(98))
    w = kernel_weights(state)
    results["depth"][method.label] = {
        "layer_norms": ev["layer_norms"].tolist(),
        "layer_spread_decades": ev["layer_spread_decades"],
        "input_grad_norm_mean": ev["input_grad_norm_mean"],
        "w_estimate": ev["w_estimate"],
        "pile_fraction": _pile_fraction(w, method.clip) if method.clip else None,
        "top_fraction": _pile_fraction(w, np.abs(w).max()),
        "nonfinite_steps": int(hist["nonfinite"].sum()),
    }
    deep_states[method.label] = (state, ev, w)

  # 3. The constraint alone: untrained critics with every weight at +-c.
  results["clipped_init"] = {}
  if not quick:
    probe = np.asarray(pools["swissroll"][:512])
    for w_ in sorted({depth_width, 512}):
      for c in (0.1, 0.01, 0.001):
        norms = piled_critic_norms(w_, deep_layers, c, probe)
        results["clipped_init"][f"width {w_}, c={c}"] = {
            "layer_norms": norms.tolist(), "width": w_, "clip": c,
            "layer_spread_decades": float(np.log10(norms.max() / norms.min())),
            "c_sqrt_width_over_sqrt2": c * math.sqrt(w_ / 2)}

  figures = []
  if toy_methods:
    fig, axes = plt.subplots(len(datasets), len(toy_methods),
                             figsize=(3.6 * len(toy_methods), 3.6 * len(datasets)), squeeze=False)
    for i, name in enumerate(datasets):
      lim = 1.3 * float(np.max(np.abs(np.asarray(pools[name][:5000]))))
      for j, method in enumerate(toy_methods):
        state, ev, _ = toy_states[(name, method.label)]
        r = results["toy"][(name, method.label)]
        extra = f", {r['modes']} modes" if "modes" in r else ""
        plotting.plot_critic_and_samples(
            axes[i, j], lambda x, s=state: s.d(jnp.asarray(x)), ev["real"][:500],
            ev["fake"][:500], lim, f"{name}: {method.label}\n|grad| {r['input_grad_norm_mean']:.2f}"
            f", W~{r['w_estimate']:.3f}{extra}")
    figures.append(common.save_figure(fig, out / "critics.png"))

  fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
  for label, r in results["depth"].items():
    axes[0].plot(np.arange(len(r["layer_norms"])), r["layer_norms"], marker="o", ms=3,
                 label=f"{label} (spread {r['layer_spread_decades']:.1f} decades)")
  axes[0].set_yscale("log")
  axes[0].set_xlabel("Dense layer k (0 = critic input x, larger = nearer the output)")
  axes[0].set_ylabel("RMS_x ||d f(x) / d h_k||")
  axes[0].set_title(f"{deep_layers}-layer ReLU critic, width {depth_width}, Swiss Roll, "
                    f"{depth_steps} G steps", fontsize=9)
  axes[0].legend(fontsize=7)
  for label, r in results["clipped_init"].items():
    axes[1].plot(np.arange(len(r["layer_norms"])), r["layer_norms"], marker="o", ms=3,
                 ls="-" if r["width"] == 512 else "--", label=label)
  axes[1].set_yscale("log")
  axes[1].set_xlabel("Dense layer k")
  axes[1].set_title(f"untrained {deep_layers}-layer critics, every weight at +-c", fontsize=9)
  if results["clipped_init"]:
    axes[1].legend(fontsize=7)
  for (label, (_, _, w)), method in zip(deep_states.items(), depth_methods):
    scale = method.clip if method.clip else np.abs(w).max()
    axes[2].hist(w / scale, bins=101, range=(-1.05, 1.05), histtype="step", density=True,
                 label=f"{label} (w / {'c' if method.clip else 'max|w|'})")
  axes[2].set_yscale("log")
  axes[2].set_xlabel("critic kernel weight, scaled")
  axes[2].set_title("weight histograms of the trained deep critics", fontsize=9)
  axes[2].legend(fontsize=7)
  figures.append(common.save_figure(fig, out / "depth_gradients_and_weights.png"))

  if toy_methods:
    fig, axes = plt.subplots(1, len(toy_methods), figsize=(4.2 * len(toy_methods), 3.4))
    for ax, method in zip(axes, toy_methods):
      _, _, w = toy_states[("swissroll", method.label)]
      ax.hist(w, bins=101, color="tab:blue" if method.clip else "tab:green")
      ax.set_yscale("log")
      ax.set_title(f"swissroll, {method.label}: critic kernels", fontsize=9)
      ax.set_xlabel("weight")
    figures.append(common.save_figure(fig, out / "toy_weights.png"))

  _report(out, results, figures, datasets, toy_methods, depth_methods, quick, timer())
  results["toy"] = {f"{d}/{m}": v for (d, m), v in results["toy"].items()}
  return results


def _report(out, results, figures, datasets, toy_methods, depth_methods, quick,
            seconds) -> None:
  s = results["settings"]
  toy_rows = []
  for (name, label), r in results["toy"].items():
    toy_rows.append((name, label, r["w_estimate"], r["input_grad_norm_mean"],
                     r["input_grad_norm_std"],
                     " / ".join(f"{v:.3g}" for v in r["layer_norms"]),
                     r.get("modes", "-"), r.get("high_quality", "-"),
                     "-" if r["pile_fraction"] is None else r["pile_fraction"],
                     r["top_fraction"], r["nonfinite_steps"]))
  def per_layer(norms):  # 10^(slope of log10 norm vs layer index).
    return float(10 ** np.polyfit(np.arange(len(norms)), np.log10(norms), 1)[0])

  depth_rows = []
  for label, r in results["depth"].items():
    norms = np.asarray(r["layer_norms"])
    depth_rows.append((label, norms[0], norms[len(norms) // 2], norms[-1],
                       r["layer_spread_decades"], per_layer(norms),
                       "-" if r["pile_fraction"] is None else r["pile_fraction"],
                       r["top_fraction"], r["nonfinite_steps"]))
  toy_setup = (
      f"- Toy sets: {', '.join(datasets)} (the library's `toy.sample`, gan_toy.py's scaling), "
      "drawn from a fixed pool of 100,000 points as gan_toy.py does.\n"
      f"- Toy nets: 3 hidden ReLU layers of width {s['width']} (gan_toy.py: 512; narrowed for "
      f"a 2-core CPU), {s['steps']} generator steps (gan_toy.py: 100,000), batch {BATCH}, "
      f"{N_CRITIC} critic steps per generator step, 2-D noise.\n"
      if toy_methods else "- Quick run: the toy-set part is skipped.\n")
  sections = [
      "Claims (Gulrajani et al. 2017, sec. 3, fig. 1): weight clipping biases the critic "
      "towards simple functions; with clipping, gradients explode or vanish across the "
      "critic's depth, while with the gradient penalty they do not; clipping pushes the "
      "weights to +-c.",
      "## Setup\n" + toy_setup +
      "- WGAN: RMSProp lr 5e-5, clipping every critic parameter to [-c, c] after each critic "
      "update. WGAN-GP: Adam lr 1e-4, betas (0.5, 0.9), lambda 0.1 (gan_toy.py) and 10 (the "
      "paper). Initialisation: He-uniform (as gan_toy.py), so most weights exceed c=0.01 at "
      "initialisation and sit at +-c after the first clip.\n"
      f"- Depth analysis (fig. 1b/1c): {s['deep_layers']} Dense layers ({s['deep_layers'] - 1} "
      f"hidden ReLU layers of width {s['depth_width']} + output) for both critic and "
      f"generator (the paper: 12-layer ReLU MLPs, width not stated), no batch norm, Swiss "
      f"Roll, {s['depth_steps']} generator steps.\n"
      "- Per-layer norm: RMS over 1024 real + 1024 generated points of ||d f(x)/d h_k|| "
      "with h_k the input of Dense layer k (k = 0: the data x). The paper plots the "
      "gradient of the critic loss w.r.t. the activations, which is the same per-example "
      "gradient scaled by 1/B. 'spread' = log10(max/min) over layers; 'factor per layer' = "
      "10^(slope of a line fitted to log10 norm vs k), > 1 meaning the gradient shrinks "
      "towards the input (vanishes backwards), < 1 that it grows.\n"
      "- Input gradient: ||grad_x f|| at interpolates eps x + (1-eps) G(z) (the penalty's "
      "points). 'at +-c': fraction of kernel weights with |w| >= 0.99c; 'at max': fraction "
      "with |w| >= 0.99 max|w| (comparable for every method).",
  ]
  if toy_methods:
    sections.append(
        "## Toy sets\n" + common.md_table(
            ["data", "method", "W estimate E f(x) - E f(G(z))", "|grad_x f| mean", "std",
             "per-layer norms (input -> last hidden)", "modes", "high quality",
             "at +-c", "at max", "non-finite steps"], toy_rows)
        + "\n\nModes/high quality: `metrics.mode_coverage` on 1,024 samples (3 std, >= 1 "
        "sample).\n\n![critics](critics.png)\n\nCritic value (colour) with 500 real (orange) "
        "and 500 generated (blue) points, one row per data set, one column per method.\n\n"
        "![weights](toy_weights.png)")
  sections.append(
      "## Depth analysis\n" + common.md_table(
          ["method", "norm at input", "middle layer", "last hidden", "spread (decades)",
           "factor per layer", "at +-c", "at max", "non-finite steps"], depth_rows)
      + ("\n\nThe constraint alone (no training): critics of the same depth whose kernel "
         "entries all sit at +-c (signs of a He initialisation, biases 0), the state "
         "clipping drives the weights to, on 512 Swiss Roll points. Each layer scales the "
         "backpropagated gradient by about c sqrt(width/2): above 1 the norms explode "
         "towards the input, below 1 they vanish.\n\n" + common.md_table(
             ["critic", "c sqrt(width/2)", "norm at input", "last hidden", "spread (decades)",
              "factor per layer"],
             [(label, r["c_sqrt_width_over_sqrt2"], r["layer_norms"][0], r["layer_norms"][-1],
               r["layer_spread_decades"], per_layer(np.asarray(r["layer_norms"])))
              for label, r in results["clipped_init"].items()])
         if results["clipped_init"] else "")
      + "\n\n![depth](depth_gradients_and_weights.png)\n\nLeft: per-layer gradient norm "
      "of the trained deep critics vs depth (log scale). Middle: the same for untrained "
      "critics with every weight at +-c (dashed: the depth analysis width, solid: 512). "
      "Right: histograms of the trained deep critics' kernel weights (divided by c, or by "
      "the largest |w| for GP).")
  common.write_report(out, "WGAN weight clipping vs gradient penalty", sections, results,
                      figures, seconds, quick)
