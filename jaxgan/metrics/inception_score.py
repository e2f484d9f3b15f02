"""The Inception Score (Salimans et al. 2016, "Improved techniques for training GANs",
arXiv:1606.03498, sec. 4):

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

with p(y|x) = softmax of the FID Inception's 1008 logits *without* the final bias
(``jaxgan.nets.inception``). Following the original code (openai/improved-gan,
``inception_score/model.py``; also torch-fidelity's ``isc``), the samples are cut into
``splits`` consecutive parts (part i is rows [i N / splits, (i + 1) N / splits)), the
score is computed in each part with that part's own marginal p(y), and the mean and the
(population, ddof=0) standard deviation over the parts are reported; the usual setting
is 50,000 samples and 10 splits. The original code does not shuffle; torch-fidelity
shuffles with seed 2020 (pass ``shuffle_seed=2020`` to match it).

Computed in float64 in log space (log-softmax, log-mean-exp for log p(y)), so classes
with vanishing probability contribute 0, not 0 * inf.
"""

from __future__ import annotations

import numpy as np


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
  top = a.max(axis=axis, keepdims=True)
  return top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))


def inception_score(logits, splits: int = 10,
                    shuffle_seed: int | None = None) -> tuple[float, float]:
  """(mean, std) of exp(E KL(p(y|x) || p(y))) over ``splits`` parts of the (N, C) logits."""
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2:
    raise ValueError(f"logits must be (N, classes), got shape {logits.shape}")
  if not np.isfinite(logits).all():
    raise ValueError(f"logits have {int(np.sum(~np.isfinite(logits)))} NaN or inf entries "
                     "(NaN images?); the Inception Score is undefined")
  n = logits.shape[0]
  if splits < 1 or n < splits:
    raise ValueError(f"need at least one sample per split: {n} samples, {splits} splits")
  if shuffle_seed is not None:
    logits = logits[np.random.RandomState(shuffle_seed).permutation(n)]
  log_p = logits - _logsumexp(logits, axis=1)
  scores = []
  for i in range(splits):
    part = log_p[i * n // splits:(i + 1) * n // splits]
    log_marginal = _logsumexp(part, axis=0) - np.log(len(part))  # log mean_x p(y|x)
    kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))
