"""Train-step time: jaxgan vs the same models written in PyTorch, on one device, one run.

    python bench/train_step.py                 # DCGAN-64 and WGAN-GP-64 at full size (GPU)
    python bench/train_step.py --small         # small sizes, for a CPU
    python bench/train_step.py --dtype bfloat16
    python bench/train_step.py --dtypes float32,bfloat16 --json out.json --budget-s 60

Workloads (issue 5): DCGAN-64 (nz 100, 64 filters, batch 128, non-saturating, Adam
2e-4) and WGAN-GP-64 (same G, norm-free critic, batch 64, 5 critic steps + 1 G step
per iteration, lambda 10, Adam 1e-4 betas (0, 0.9)). The PyTorch models follow the same
layer layout (DCGAN rules; D's last layer a 4x4 valid convolution, which equals jaxgan's
dense layer on the flattened map) and the usual PyTorch training loop; both sides draw
their real batch once, before timing. A third version, "plain JAX", writes the same
models and steps directly in Flax/optax (no jaxgan), to show what the library's
abstractions cost. Reported: the median over ``--steps`` steps after
``--warmup`` steps, images/s (real images consumed per second) and the ratio
other / jaxgan (> 1: jaxgan is faster).

bfloat16: jaxgan computes in bfloat16 with float32 parameters (``make_models(dtype=)``);
the PyTorch side runs the same float32 models under ``torch.autocast(dtype=bfloat16)``
(its usual mixed precision; no loss scaling is needed for bfloat16). Plain JAX is
float32 only. GPU work is timed per step to completion (``jax.block_until_ready``,
``torch.cuda.synchronize``). Both libraries' TF32 settings are left at their defaults and
recorded in the ``--json`` output.

``--json PATH`` writes every measurement (status ok / failed / timeout / not installed /
skipped, ms, images/s, the warmup's seconds including compilation) after each one, so a
run that is killed keeps what it had measured. ``--budget-s`` bounds each measurement
(a soft limit, checked whenever Python runs); a measurement that fails or runs over is
recorded as such and the next one starts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np

from common import LAST_WARMUP_S, median_ms as _median_ms  # noqa: I001 (bench/ on the path)
from jaxgan import xla_cpu
from jaxgan.hparams import make_hparams
from jaxgan.nets import make_models
from jaxgan.optimizers import make_optimizer
from jaxgan.train_state import create_state
from jaxgan.train_step import StepConfig, make_train_step

WORKLOADS = {  # name: (batch, n_critic, critic norm, game, penalty weight, (lr, b1, b2))
    "DCGAN-64": (128, 1, "batch", "non_saturating", 0.0, (2e-4, 0.5, 0.999)),
    "WGAN-GP-64": (64, 5, "none", "wasserstein", 10.0, (1e-4, 0.0, 0.9)),
}


def bench_jaxgan(name, size, features, latent, batch_scale, dtype, warmup, steps):
  batch, n_critic, d_norm, game, weight, (lr, b1, b2) = WORKLOADS[name]
  batch = max(2, int(batch * batch_scale))
  G, D = make_models("dcgan", (size, size, 3), features=features, d_norm=d_norm, dtype=dtype)
  tx = make_optimizer("adam", lr, b1=b1, b2=b2)
  state = create_state(jax.random.key(0), G, D, tx, tx, latent, (size, size, 3),
                       hparams=make_hparams(penalty_weight=weight))
  cfg = StepConfig(game=game, n_critic=n_critic, mode="alternating",
                   penalty="gradient_penalty" if weight else None)
  step = jax.jit(make_train_step(cfg), donate_argnums=0, compiler_options=xla_cpu.options())
  real = jnp.tanh(jax.random.normal(jax.random.key(1), (n_critic, batch, size, size, 3)))
  holder = [state]

  def run():
    holder[0], metrics = step(holder[0], real)
    jax.block_until_ready(metrics)

  return _median_ms(run, warmup, steps), batch * n_critic


def bench_plain_jax(name, size, features, latent, batch_scale, warmup, steps):
  """The same two workloads written directly in Flax/optax, without jaxgan's abstractions."""
  import flax.linen as nn
  import optax

  batch, n_critic, d_norm, game, weight, (lr, b1, b2) = WORKLOADS[name]
  batch = max(2, int(batch * batch_scale))
  n = int(np.log2(size // 4))
  same = ((1, 1), (1, 1))  # k4 s2 p1, as in PyTorch.

  class G(nn.Module):
    @nn.compact
    def __call__(self, z, train=True):
      f = features * 2 ** (n - 1)
      x = nn.ConvTranspose(f, (4, 4), padding="VALID", use_bias=False)(z[:, None, None, :])
      x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
      for _ in range(n - 1):
        f //= 2
        x = nn.ConvTranspose(f, (4, 4), (2, 2), padding="SAME", use_bias=False)(x)
        x = nn.relu(nn.BatchNorm(use_running_average=not train)(x))
      return jnp.tanh(nn.ConvTranspose(3, (4, 4), (2, 2), padding="SAME")(x))

  class D(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
      f = features
      x = nn.leaky_relu(nn.Conv(f, (4, 4), (2, 2), padding=same)(x), 0.2)
      for _ in range(n - 1):
        f *= 2
        x = nn.Conv(f, (4, 4), (2, 2), padding=same, use_bias=d_norm != "batch")(x)
        if d_norm == "batch":
          x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.leaky_relu(x, 0.2)
      return nn.Conv(1, (4, 4), padding="VALID")(x).reshape(-1)

  g, d = G(), D()
  kg, kd = jax.random.split(jax.random.key(0))
  gv = g.init(kg, jnp.zeros((2, latent)), train=False)
  dv = d.init(kd, jnp.zeros((2, size, size, 3)), train=False)
  tx = optax.adam(lr, b1, b2)
  state = (gv["params"], gv.get("batch_stats", {}), tx.init(gv["params"]),
           dv["params"], dv.get("batch_stats", {}), tx.init(dv["params"]), jax.random.key(2))

  def apply_d(params, stats, x):
    out, upd = d.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
    return out, upd.get("batch_stats", stats)

  def apply_g(params, stats, z):
    out, upd = g.apply({"params": params, "batch_stats": stats}, z, mutable=["batch_stats"])
    return out, upd["batch_stats"]

  def dcgan(state, real):
    gp, gs, go, dp, ds, do, key = state
    key, kz = jax.random.split(key)
    fake, gs_new = apply_g(gp, gs, jax.random.normal(kz, (batch, latent)))

    def d_loss(dp):
      out_r, s = apply_d(dp, ds, real[0])
      out_f, s = apply_d(dp, s, jax.lax.stop_gradient(fake))
      return jnp.mean(jax.nn.softplus(-out_r) + jax.nn.softplus(out_f)), s

    (ld, ds), gd = jax.value_and_grad(d_loss, has_aux=True)(dp)
    upd, do = tx.update(gd, do, dp)
    dp = optax.apply_updates(dp, upd)

    def g_loss(gp):
      f, s = apply_g(gp, gs, jax.random.normal(kz, (batch, latent)))
      return jnp.mean(jax.nn.softplus(-apply_d(dp, ds, f)[0])), s

    (lg, gs), gg = jax.value_and_grad(g_loss, has_aux=True)(gp)
    upd, go = tx.update(gg, go, gp)
    return (optax.apply_updates(gp, upd), gs, go, dp, ds, do, key), (ld, lg)

  def wgan_gp(state, real):
    gp, gs, go, dp, ds, do, key = state

    def critic_step(carry, x):
      dp, do, key = carry
      key, kz, ke = jax.random.split(key, 3)
      fake, _ = apply_g(gp, gs, jax.random.normal(kz, (batch, latent)))
      fake = jax.lax.stop_gradient(fake)

      def loss(dp):
        eps = jax.random.uniform(ke, (batch, 1, 1, 1))
        x_hat = eps * x + (1 - eps) * fake
        grad = jax.grad(lambda xh: jnp.sum(apply_d(dp, ds, xh)[0]))(x_hat)
        norm = jnp.sqrt(jnp.sum(grad.reshape(batch, -1) ** 2, -1))
        return (jnp.mean(apply_d(dp, ds, fake)[0]) - jnp.mean(apply_d(dp, ds, x)[0])
                + weight * jnp.mean((norm - 1) ** 2))

      ld, gd = jax.value_and_grad(loss)(dp)
      upd, do = tx.update(gd, do, dp)
      return (optax.apply_updates(dp, upd), do, key), ld

    carry = (dp, do, key)
    for i in range(n_critic):  # Unrolled, as jaxgan's critic scan is by default.
      carry, ld = critic_step(carry, real[i])
    dp, do, key = carry
    key, kz = jax.random.split(key)

    def g_loss(gp):
      f, s = apply_g(gp, gs, jax.random.normal(kz, (batch, latent)))
      return -jnp.mean(apply_d(dp, ds, f)[0]), s

    (lg, gs), gg = jax.value_and_grad(g_loss, has_aux=True)(gp)
    upd, go = tx.update(gg, go, gp)
    return (optax.apply_updates(gp, upd), gs, go, dp, ds, do, key), (ld, lg)

  # The library's XLA:CPU options here too, so the difference is the abstractions' alone.
  step = jax.jit(dcgan if name == "DCGAN-64" else wgan_gp, donate_argnums=0,
                 compiler_options=xla_cpu.options())
  real = jnp.tanh(jax.random.normal(jax.random.key(1), (n_critic, batch, size, size, 3)))
  holder = [state]

  def run():
    holder[0], losses = step(holder[0], real)
    jax.block_until_ready(losses)

  return _median_ms(run, warmup, steps)


def bench_torch(name, size, features, latent, batch_scale, compiled, warmup, steps,
                dtype="float32"):
  """PyTorch's usual loop; ``dtype='bfloat16'``: the same float32 models under autocast."""
  import torch
  from torch import nn

  batch, n_critic, d_norm, game, weight, (lr, b1, b2) = WORKLOADS[name]
  batch = max(2, int(batch * batch_scale))
  device = "cuda" if torch.cuda.is_available() else "cpu"
  torch.backends.cudnn.benchmark = True
  from torch_models import dcgan_discriminator, dcgan_generator
  g = dcgan_generator(size, latent, features).to(device)
  d = dcgan_discriminator(size, features, d_norm).to(device)
  opt_g = torch.optim.Adam(g.parameters(), lr, betas=(b1, b2))
  opt_d = torch.optim.Adam(d.parameters(), lr, betas=(b1, b2))
  real = torch.tanh(torch.randn(n_critic, batch, 3, size, size, device=device))
  bce = nn.functional.binary_cross_entropy_with_logits

  def dcgan_step():
    z = torch.randn(batch, latent, 1, 1, device=device)
    fake = g(z)
    opt_d.zero_grad(set_to_none=True)
    out_r, out_f = d(real[0]), d(fake.detach())
    loss_d = bce(out_r, torch.ones_like(out_r)) + bce(out_f, torch.zeros_like(out_f))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    out = d(fake)
    bce(out, torch.ones_like(out)).backward()
    opt_g.step()

  def wgan_gp_step():
    for i in range(n_critic):
      with torch.no_grad():
        fake = g(torch.randn(batch, latent, 1, 1, device=device))
      opt_d.zero_grad(set_to_none=True)
      eps = torch.rand(batch, 1, 1, 1, device=device)
      x_hat = (eps * real[i] + (1 - eps) * fake).requires_grad_(True)
      grad, = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
      penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
      loss_d = d(fake).mean() - d(real[i]).mean() + weight * penalty
      loss_d.backward()
      opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    (-d(g(torch.randn(batch, latent, 1, 1, device=device))).mean()).backward()
    opt_g.step()

  step = dcgan_step if name == "DCGAN-64" else wgan_gp_step
  if dtype == "bfloat16":
    plain_step = step

    def step():
      with torch.autocast(device, dtype=torch.bfloat16):
        plain_step()

  if compiled:
    step = torch.compile(step)

  def run():
    step()
    if device == "cuda":
      torch.cuda.synchronize()

  return _median_ms(run, warmup, steps), batch * n_critic, torch.__version__


class _OverBudget(Exception):
  pass


@contextlib.contextmanager
def _time_limit(seconds: float):
  """Raises _OverBudget in the main thread after ``seconds`` (0: no limit)."""
  if not seconds or not hasattr(signal, "SIGALRM"):
    yield
    return

  def on_alarm(signum, frame):
    raise _OverBudget()

  previous = signal.signal(signal.SIGALRM, on_alarm)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _measure(fn, budget_s: float) -> dict:
  """Runs ``fn() -> ms``; {'status', 'ms', 'warmup_s', 'note'} whatever happens."""
  LAST_WARMUP_S[0] = float("nan")
  t0 = time.perf_counter()
  try:
    with _time_limit(budget_s):
      ms = fn()
    return {"status": "ok", "ms": ms, "warmup_s": round(LAST_WARMUP_S[0], 3)}
  except _OverBudget:
    return {"status": "timeout", "note": f"over the budget of {budget_s:g} s"}
  except Exception as e:  # noqa: BLE001 - recorded, and the next measurement runs.
    return {"status": "failed", "note": f"{type(e).__name__}: {e}"[:600],
            "seconds": round(time.perf_counter() - t0, 1)}


class _Recorder:
  """Collects measurements and rewrites the JSON file after each one."""

  def __init__(self, path: str | None, meta: dict):
    self.path = pathlib.Path(path) if path else None
    self.doc = {"script": "bench/train_step.py", "meta": meta, "measurements": []}
    self._write()

  def add(self, **entry) -> dict:
    self.doc["measurements"].append(entry)
    self._write()
    return entry

  def finish(self):
    self.doc["complete"] = True
    self._write()

  def _write(self):
    if self.path is None:
      return
    self.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = self.path.with_name(self.path.name + ".tmp")
    tmp.write_text(json.dumps(self.doc, indent=1, default=str))
    os.replace(tmp, self.path)


def _torch_info(torch) -> dict:
  if torch is None:
    return {"installed": False}
  cuda = torch.cuda.is_available()
  return {"installed": True, "version": torch.__version__, "cuda": torch.version.cuda,
          "device": torch.cuda.get_device_name() if cuda else "cpu",
          "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
          "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
          "float32_matmul_precision": torch.get_float32_matmul_precision()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--small", action="store_true", help="32 px, 16 filters, 1/8 batch")
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
  parser.add_argument("--dtypes", default=None,
                      help="comma-separated, e.g. float32,bfloat16 (default: --dtype)")
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--warmup", type=int, default=10)
  parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
  parser.add_argument("--no-plain", action="store_true", help="skip the plain JAX version")
  parser.add_argument("--no-torch", action="store_true", help="skip PyTorch altogether")
  parser.add_argument("--workloads", default=",".join(WORKLOADS))
  parser.add_argument("--json", default=None, help="write the measurements to this file")
  parser.add_argument("--budget-s", type=float, default=0.0,
                      help="soft time limit of each measurement, seconds (0: none)")
  args = parser.parse_args()
  dtypes = (args.dtypes or args.dtype).split(",")
  for d in dtypes:
    if d not in ("float32", "bfloat16"):
      parser.error(f"--dtypes: {d!r} is not float32 or bfloat16")
  workloads = args.workloads.split(",")
  for w in workloads:
    if w not in WORKLOADS:
      parser.error(f"--workloads: {w!r} is not one of {', '.join(WORKLOADS)}")
  size, features, scale = (32, 16, 1 / 8) if args.small else (64, 64, 1.0)
  latent = 100
  torch = None
  if not args.no_torch:
    try:
      import torch
    except ImportError:
      pass
  device = jax.devices()[0]
  meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "jax_device": device.device_kind, "jax_platform": device.platform,
          "jax": jax.__version__, "jax_default_matmul_precision":
          str(jax.config.jax_default_matmul_precision), "torch": _torch_info(torch),
          "small": args.small, "size": size, "features": features, "batch_scale": scale,
          "latent": latent, "steps": args.steps, "warmup": args.warmup, "dtypes": dtypes,
          "workloads": {w: dict(zip(("batch", "n_critic"),
                                    (max(2, int(WORKLOADS[w][0] * scale)), WORKLOADS[w][1])))
                        for w in workloads},
          "torch_bfloat16": "torch.autocast(dtype=torch.bfloat16) over float32 models"}
  rec = _Recorder(args.json, meta)
  print(f"device: {device.device_kind} ({device.platform}), {platform.processor() or ''}; "
        f"jax {jax.__version__}; torch {torch.__version__ if torch else 'not installed'}; "
        f"{size} px, {features} filters, batch x{scale:g}, jaxgan dtypes {','.join(dtypes)}; "
        f"median of {args.steps} steps after {args.warmup}\n")
  print("| workload | dtype | jaxgan ms | images/s | plain JAX ms | ratio | torch eager ms "
        "| ratio | torch.compile ms | ratio |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  common = (size, features, latent, scale)
  for name in workloads:
    images = max(2, int(WORKLOADS[name][0] * scale)) * WORKLOADS[name][1]
    got = {}

    def record(impl, dtype, result):
      if result.get("ms"):
        result["images_per_s"] = images / result["ms"] * 1e3
      got[impl, dtype] = rec.add(workload=name, dtype=dtype, impl=impl, images=images,
                                 **result)

    def torch_entry(compiled, dtype):
      if torch is None:
        return {"status": "not installed"}
      if compiled and args.no_compile:
        return {"status": "skipped"}
      return _measure(lambda: bench_torch(name, *common, compiled, args.warmup, args.steps,
                                          dtype)[0], args.budget_s)

    # The figures the goals need first (jaxgan and eager PyTorch in every dtype), then
    # plain JAX, then torch.compile (the slowest to compile).
    for dtype in dtypes:
      record("jaxgan", dtype, _measure(
          lambda: bench_jaxgan(name, *common, dtype, args.warmup, args.steps)[0],
          args.budget_s))
      record("torch_eager", dtype, torch_entry(False, dtype))
    for dtype in dtypes:
      if dtype == "float32" and not args.no_plain:
        record("plain_jax", dtype, _measure(
            lambda: bench_plain_jax(name, *common, args.warmup, args.steps), args.budget_s))
      else:
        record("plain_jax", dtype, {"status": "skipped"})
    for dtype in dtypes:
      record("torch_compile", dtype, torch_entry(True, dtype))

    def cell(impl, dtype, base):
      r = got[impl, dtype]
      if r["status"] != "ok":
        return [r["status"] if r["status"] != "skipped" else "-", "-"]
      ratio = f"{r['ms'] / base:.2f}" if base else "-"
      return [f"{r['ms']:.2f}", ratio]

    for dtype in dtypes:
      ours = got["jaxgan", dtype]
      base = ours["ms"] if ours["status"] == "ok" else None
      row = [name, dtype] + ([f"{base:.2f}", f"{images / base * 1e3:.0f}"] if base
                             else [ours["status"], "-"])
      for impl in ("plain_jax", "torch_eager", "torch_compile"):
        row += cell(impl, dtype, base)
      print("| " + " | ".join(row) + " |", flush=True)
  rec.finish()
  for m in rec.doc["measurements"]:
    if m["status"] in ("failed", "timeout"):
      print(f"{m['workload']} {m['dtype']} {m['impl']}: {m['status']}: {m.get('note', '')}")


if __name__ == "__main__":
  main()
