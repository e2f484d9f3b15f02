"""A generator's features against a reference: FID, and optionally PRDC and per-class FID.

``jaxgan evaluate`` draws images from a run's generator (``evaluate.generator_features``)
and hands the features here with the reference of ``--ref`` (``evaluate.open_source``):

- FID against the reference's statistics, after ``statistics.check_comparable`` (the
  same preprocessing mode, Inception weights and image size, where recorded);
- ``prdc``: precision and recall (k = 3) and density and coverage (k = 5) of the
  generated pool3 features against the reference's (``jaxgan.metrics.prdc``), so the
  reference must be images;
- ``per_class``: for a class-conditional generator, the FID of each class's generated
  images against the reference images of that class (the "intra-FID" of Miyato & Koyama
  2018, "cGANs with projection discriminator", arXiv:1802.05637, sec. 5), and their
  mean; the reference must be a labelled ``.npz`` (``x_train`` with ``y_train``, or ``x``
  with ``y``). Each class has about N / classes images, usually fewer than 2048, so each
  of its FIDs takes pytorch-fid's CPU route (a 2048 x 2048 ``sqrtm``, 10-60 s) and is
  biased upwards: compare per-class FIDs only at equal N.

``check_reference`` finds wrong combinations before any image is generated.
"""

from __future__ import annotations

import numpy as np

from jaxgan.metrics import evaluate
from jaxgan.metrics.__main__ import fid_of, planned_provenance, small_n_warning
from jaxgan.metrics.prdc import prdc as prdc_scores
from jaxgan.metrics.statistics import FeatureStats, Statistics, check_comparable

GENERATOR = "the generator"


def check_reference(reference, extractor: evaluate.FeatureExtractor, image_size, *,
                    prdc: bool = False, per_class: bool = False,
                    conditional: bool = False) -> None:
  """Raises ValueError (SourceError, StatisticsError) for options the reference cannot
  serve, or a reference made differently from what the generator's features will be."""
  if reference is None:
    if prdc or per_class:
      raise ValueError("--prdc and --per-class compare with reference images: give --ref")
    return
  wanted = [flag for flag, on in (("--prdc", prdc), ("--per-class", per_class)) if on]
  if wanted and isinstance(reference, Statistics):
    raise evaluate.SourceError(f"{reference.name}: holds statistics (mu, sigma); "
                               f"{' and '.join(wanted)} need reference images (a folder or .npz)")
  if per_class and not conditional:
    raise ValueError("--per-class needs a class-conditional generator; this run's is not")
  if per_class and reference.labels is None:
    raise evaluate.SourceError(f"{reference.name}: no labels; --per-class needs a labelled "
                               ".npz of images (x_train with y_train, or x with y)")
  check_comparable(extractor.provenance(image_size), planned_provenance(reference, extractor.mode),
                   (GENERATOR, reference.name))


def per_class_fid(fake, fake_labels, real, real_labels) -> dict:
  """{'fid_per_class': [FID or None per class], 'n_per_class': [[n_fake, n_real], ...],
  'fid_per_class_mean'}: class c's fake features against class c's real ones; None (and
  left out of the mean) where either side has fewer than 2 samples."""
  fake_labels, real_labels = np.asarray(fake_labels), np.asarray(real_labels)
  classes = int(max(fake_labels.max(), real_labels.max())) + 1
  fids, counts = [], []
  for c in range(classes):
    parts = [np.asarray(x)[y == c] for x, y in ((fake, fake_labels), (real, real_labels))]
    counts.append([len(p) for p in parts])
    if min(len(p) for p in parts) < 2:
      fids.append(None)
      continue
    stats = [FeatureStats.from_features(p) for p in parts]
    fids.append(fid_of([Statistics(s.mean(), s.covariance()) for s in stats],
                       [f"generated class {c}", f"reference class {c}"])[0])
  defined = [f for f in fids if f is not None]
  return {"fid_per_class": fids, "n_per_class": counts,
          "fid_per_class_mean": float(np.mean(defined)) if defined else None}


def against_reference(features: evaluate.Features, reference,
                      extractor: evaluate.FeatureExtractor, *, prdc: bool = False,
                      per_class: bool = False, progress: bool = True) -> tuple[dict, list[str]]:
  """(results, warning lines) of generated ``features`` against ``reference`` (what
  ``evaluate.open_source`` returned), checked first by ``check_reference``."""
  ref_features = None
  if isinstance(reference, Statistics):
    ref = reference
  else:
    ref_features = evaluate.source_features(reference, extractor, progress,
                                            keep_pool3=prdc or per_class)
    ref = ref_features.statistics(reference.name)
  fake = features.statistics(GENERATOR)
  lines = check_comparable(fake, ref)
  fid, singular = fid_of([fake, ref], [GENERATOR, ref.name])
  result = {"fid": fid, "n_ref": ref.n, "mode": extractor.mode}  # n_ref: None if unknown.
  lines.append(small_n_warning([features.count, ref.n], ref.mu.shape[0], singular))
  if prdc:
    result.update(prdc_scores(real=ref_features.pool3, fake=features.pool3))
  if per_class:
    scores = per_class_fid(features.pool3, features.labels, ref_features.pool3,
                           ref_features.labels)
    result.update(scores)
    low = min((min(n) for n in scores["n_per_class"] if min(n) >= 2), default=0)
    lines.append(f"warning: per-class FIDs rest on as few as {low} images of a class: biased "
                 "upwards; compare them only at equal N" if low < 2048 else None)
  return result, [line for line in lines if line]
