"""The training loop: ``train_and_evaluate(config, workdir)``.

Writes into ``workdir``: ``config.json``; ``metrics.jsonl`` (one JSON object per logged
step); ``samples_<step>.png`` and ``samples_final.png``; ``checkpoints/`` (orbax, the
whole train state); ``summary.json``. A run restarted on the same workdir resumes from
its latest checkpoint; the data of step s is drawn from ``fold_in(data_key, s)``, so a
resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxgan import checkpoint, losses, parallel, plotting
from jaxgan.data import toy
from jaxgan.metrics.mode_coverage import mode_coverage
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import GANState, create_state
from jaxgan.train_step import StepConfig, make_train_step
from jaxgan.validation import validate_config


def _optimizer(o: ml_collections.ConfigDict):
  return make_optimizer(o.name, o.learning_rate, b1=o.b1, b2=o.b2, eps=o.eps, decay=o.decay,
                        momentum=o.momentum, decay_steps=o.decay_steps)


def step_config(config: ml_collections.ConfigDict) -> StepConfig:
  """The compiled step's settings, taken from the config."""
  return StepConfig(
      game=config.loss.game, latent_dim=config.model.latent_dim, alpha=config.loss.alpha,
      beta=config.loss.beta, penalty=config.penalty.name,
      penalty_weight=config.penalty.weight, one_sided=config.penalty.one_sided,
      clip=config.penalty.clip, n_critic=config.train.n_critic, mode=config.train.mode)


def initial_state(config: ml_collections.ConfigDict) -> GANState:
  """Builds the nets and optimizers the config names and initialises both players."""
  shape = toy.data_shape(config.data.name)
  m = config.model
  generator, discriminator = make_models(m.name, shape, width=m.width, depth=m.depth,
                                         features=m.features, g_norm=m.g_norm,
                                         d_norm=m.d_norm)
  return create_state(jax.random.PRNGKey(config.seed), generator, discriminator,
                      _optimizer(config.g_optimizer), _optimizer(config.d_optimizer),
                      m.latent_dim, shape)


def sample_generator(state: GANState, key: jax.Array, n: int, latent_dim: int) -> jax.Array:
  """n samples of G in evaluation mode."""
  return state.g(jax.random.normal(key, (n, latent_dim), jnp.float32))


def evaluate(config: ml_collections.ConfigDict, state: GANState, key: jax.Array,
             png: pathlib.Path | None = None) -> dict[str, Any]:
  """Mode coverage on data with discrete modes, and a picture of samples over the data."""
  n, name = config.train.eval_samples, config.data.name
  k_fake, k_real = jax.random.split(key)
  fake = np.asarray(sample_generator(state, k_fake, n, config.model.latent_dim))
  result: dict[str, Any] = {}
  if name in ("8gaussians", "25gaussians"):
    cov = mode_coverage(fake, toy.mode_centers(name), toy.mode_std(name))
    result = {"modes": cov["modes"], "n_modes": len(cov["counts"]),
              "high_quality": cov["high_quality"]}
  if png is not None:
    real = np.asarray(toy.sample(name, k_real, n))
    to_prob = losses.GAMES[config.loss.game].smoothable  # Show D(x) = sigmoid(logit).
    critic = lambda x: jax.nn.sigmoid(state.d(x)) if to_prob else state.d(x)
    density = ((lambda x: jnp.exp(toy.mog1d_log_density(x))) if name == "mog1d" else None)
    title = f"{config.loss.game} on {name}, step {int(state.step)}"
    if "modes" in result:
      title += f": {result['modes']}/{result['n_modes']} modes"
    plotting.plot_toy(png, real, fake, critic, density, title)
  return result


def _to_host(metrics: dict[str, jax.Array]) -> dict[str, float]:
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       schema: ml_collections.ConfigDict | None = None) -> GANState:
  """Trains the configured GAN in ``workdir`` (resuming if it holds a checkpoint)."""
  validate_config(config, jax.device_count(), schema)
  workdir_path = pathlib.Path(workdir)
  workdir_path.mkdir(parents=True, exist_ok=True)
  (workdir_path / "config.json").write_text(config.to_json_best_effort(indent=2))
  t = config.train

  mesh = parallel.make_mesh()
  state = parallel.replicate(initial_state(config), mesh)
  manager = checkpoint.make_manager(workdir_path / "checkpoints", t.keep_checkpoints)
  state = checkpoint.restore_latest(manager, state)
  start = int(state.step)
  if start:
    print(f"Resuming from the checkpoint of step {start} in {workdir_path}")

  train_step = jax.jit(make_train_step(step_config(config)), donate_argnums=0)
  shape = (t.n_critic, config.data.batch_size, *toy.data_shape(config.data.name))
  draw = jax.jit(lambda key: toy.sample(config.data.name, key, math.prod(shape[:2])).reshape(shape),
                 out_shardings=parallel.batch_sharding(mesh))
  base_key = jax.random.PRNGKey(config.seed)
  data_key, eval_key = jax.random.fold_in(base_key, 1), jax.random.fold_in(base_key, 2)

  summary: dict[str, Any] = {}
  t0 = time.time()
  with open(workdir_path / "metrics.jsonl", "a") as log, \
       tqdm(total=t.steps, initial=start, desc="train", unit="step", mininterval=1.0) as bar:
    for step in range(start, t.steps):
      state, metrics = train_step(state, draw(jax.random.fold_in(data_key, step)))
      done = step + 1
      last = done == t.steps
      plot = done % t.plot_every == 0 or last
      if done % t.log_every == 0 or plot:
        row = {"step": done, **_to_host(metrics)}
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
          raise FloatingPointError(f"non-finite {', '.join(bad)} at step {done}: {row}")
        if plot:
          png = workdir_path / ("samples_final.png" if last else f"samples_{done:06d}.png")
          row.update(evaluate(config, state, eval_key, png))
        row["elapsed_s"] = round(time.time() - t0, 3)
        log.write(json.dumps(row) + "\n")
        log.flush()
        summary = {**summary, **row}  # Keeps the latest evaluation between plots.
        bar.set_postfix({k: f"{summary[k]:.3g}" for k in ("d_loss", "g_loss", "modes")
                         if k in summary}, refresh=False)
      if done % t.checkpoint_every == 0 or last:
        checkpoint.save(manager, done, state)
      bar.update(1)
  manager.wait_until_finished()
  manager.close()
  if start >= t.steps:  # Nothing to train; still describe what is there.
    summary = {"step": start, **evaluate(config, state, eval_key,
                                         workdir_path / "samples_final.png")}
  summary["train_seconds"] = round(time.time() - t0, 3)
  (workdir_path / "summary.json").write_text(json.dumps(summary, indent=2))
  print("summary: " + json.dumps(summary))
  return state
