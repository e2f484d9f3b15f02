"""WGAN clipping vs WGAN-GP, the measurement: toy runs, deep critics' per-layer gradient
norms, and critics with every weight at +-c.

The per-layer gradients are those of the critic's output f with respect to the input h_k
of each of its Dense layers (h_0 = x), taken from the library's own ``MLPDiscriminator``:
a Flax method interceptor adds a zero perturbation to the input of every Dense call, and
``jax.grad`` with respect to the perturbations is the gradient with respect to the
layers' inputs (what Flax's ``Module.perturb`` does, without editing the module). They
are computed in float64 (``jax.enable_x64``), so that norms below float32's range (1e-38,
reached by deep clipped critics) are not flushed to 0.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import penalties
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


def layer_gradients(module: nn.Module, params, x) -> list[jax.Array]:
  """d sum_i f(x_i) / d h_k for the input h_k of every Dense layer of ``module``, in call
  order (k = 0: the input x; the last: the output layer's input), in float64.

  ``module`` is a Flax module with a ``dtype`` field (the library's MLP critics); its
  Dense calls are intercepted to add a perturbation, and the gradient is taken with
  respect to the perturbations at 0.
  """
  with jax.enable_x64(True):
    wide = module.clone(dtype=jnp.float64)
    p64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params)
    x64 = jnp.asarray(np.asarray(x, np.float64))
    shapes: list = []

    def f(deltas):
      calls = iter(deltas or ())
      def intercept(next_fun, args, kwargs, context):
        if not (isinstance(context.module, nn.Dense) and context.method_name == "__call__"):
          return next_fun(*args, **kwargs)
        if deltas is None:
          shapes.append(args[0].shape)
          return next_fun(*args, **kwargs)
        return next_fun(args[0] + next(calls), *args[1:], **kwargs)
      with nn.intercept_methods(intercept):
        return jnp.sum(wide.apply({"params": p64}, x64))

    f(None)  # Records the shape of every Dense layer's input.
    zeros = [jnp.zeros(s, jnp.float64) for s in shapes]
    return [np.asarray(g) for g in jax.grad(f)(zeros)]


def layer_gradient_norms(module: nn.Module, params, x) -> np.ndarray:
  """RMS over the examples of ||d f(x) / d h_k|| for every Dense layer's input h_k.

  Entry 0 is the input gradient ||grad_x f(x)|| (the quantity the penalty drives to 1).
  The gradient of the critic's loss E f(fake) - E f(real) with respect to h_k (the
  paper's fig. 1b) is the same per-example gradient times 1/B, so its norm follows the
  same curve across depth.
  """
  return np.array([math.sqrt(float(np.mean(np.sum(g * g, axis=-1))))
                   for g in layer_gradients(module, params, x)])


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
  return layer_gradient_norms(module, piled, x)


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
    state, hist = common.train_chunks(self._runners[method], state, pool,
                                      jax.random.key(1000 + seed), steps, self.chunk,
                                      desc=method.label)
    return state, hist

  def evaluate(self, state: GANState, pool: jax.Array, key: jax.Array) -> dict:
    """Samples, the critic's W estimate, input-gradient norms, per-layer gradient norms."""
    real, fake, w, norms = jax.device_get(_evaluate_arrays(state, pool, key))
    layer_norms = layer_gradient_norms(self.models[1], state.d.params,
                                       np.concatenate([real, fake]))
    return {"real": np.asarray(real), "fake": np.asarray(fake), "w_estimate": float(w),
            "input_grad_norm_mean": float(norms.mean()),
            "input_grad_norm_std": float(norms.std()), "layer_norms": layer_norms,
            "layer_spread_decades": float(np.log10(layer_norms.max() / layer_norms.min()))}


@jax.jit
def _evaluate_arrays(state: GANState, pool: jax.Array, key: jax.Array):
  n = 1024
  k_real, k_z, k_eps = jax.random.split(key, 3)
  real = common.pool_sampler(pool)(k_real, n)
  fake = state.sample(k_z, n)
  critic = lambda x: state.d(x)
  x_hat = penalties.interpolates(k_eps, real, fake)
  norms = jnp.sqrt(penalties.per_example_sq_norm(penalties.input_gradients(critic, x_hat)))
  return real, fake, jnp.mean(critic(real)) - jnp.mean(critic(fake)), norms


def pile_fraction(w: np.ndarray, c: float) -> float:
  return float(np.mean(np.abs(w) >= 0.99 * c))


def _entry(ev: dict, state: GANState, hist: dict, method: Method) -> tuple[dict, np.ndarray]:
  w = kernel_weights(state)
  entry = {k: v for k, v in ev.items() if k not in ("real", "fake", "layer_norms")}
  entry.update(layer_norms=ev["layer_norms"].tolist(),
               nonfinite_steps=int(hist["nonfinite"].sum()),
               pile_fraction=pile_fraction(w, method.clip) if method.clip else None,
               top_fraction=pile_fraction(w, np.abs(w).max()))
  return entry, w


def measure(quick: bool = False, width: int | None = None, steps: int | None = None,
            depth_width: int | None = None) -> dict:
  """Toy runs (gan_toy.py's nets), the deep critics (fig. 1b/1c) and the piled critics."""
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
  results: dict = {"toy": {}, "depth": {}, "clipped_init": {}, "toy_arrays": {},
                   "depth_arrays": {}, "datasets": datasets, "pools": pools,
                   "toy_methods": toy_methods, "depth_methods": depth_methods,
                   "settings": {"width": width, "steps": steps, "deep_layers": deep_layers,
                                "depth_width": depth_width, "depth_steps": depth_steps}}
  trainer = Trainer(width, 3, chunk)
  for d_idx, name in enumerate(datasets):
    for m_idx, method in enumerate(toy_methods):
      state, hist = trainer.train(method, pools[name], steps, seed=10 * d_idx + m_idx)
      ev = trainer.evaluate(state, pools[name], jax.random.key(99))
      entry, w = _entry(ev, state, hist, method)
      if name in ("8gaussians", "25gaussians"):
        cov = mode_coverage(ev["fake"], toy.mode_centers(name), toy.mode_std(name))
        entry["modes"], entry["high_quality"] = cov["modes"], cov["high_quality"]
      results["toy"][f"{name}/{method.label}"] = entry
      results["toy_arrays"][(name, method.label)] = (state, ev, w)
  deep = Trainer(depth_width, deep_layers - 1, chunk)  # depth hidden + 1 output.
  for m_idx, method in enumerate(depth_methods):
    state, hist = deep.train(method, pools["swissroll"], depth_steps, seed=100 + m_idx)
    ev = deep.evaluate(state, pools["swissroll"], jax.random.key(98))
    entry, w = _entry(ev, state, hist, method)
    results["depth"][method.label] = entry
    results["depth_arrays"][method.label] = w
  if not quick:  # The constraint alone: untrained critics with every weight at +-c.
    probe = np.asarray(pools["swissroll"][:512])
    for w_ in sorted({depth_width, 512}):
      for c in (0.1, 0.01, 0.001):
        norms = piled_critic_norms(w_, deep_layers, c, probe)
        results["clipped_init"][f"width {w_}, c={c}"] = {
            "layer_norms": norms.tolist(), "width": w_, "clip": c,
            "layer_spread_decades": float(np.log10(norms.max() / norms.min())),
            "c_sqrt_width_over_sqrt2": c * math.sqrt(w_ / 2)}
  return results
