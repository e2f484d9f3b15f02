"""Writes tests/golden/fid_golden.npz: pytorch-fid's outputs for jaxgan's parity test.

Run once, in an environment with PyTorch and pytorch-fid (neither is a jaxgan
dependency; the CI test needs only numpy and JAX):

    pip install torch          # a CPU build is enough
    pip install --no-deps pytorch-fid torchvision
    python tools/make_fid_golden.py

What it does:
1. builds the deterministic random state dict ``jaxgan.inception_weights.
   random_state_dict(SEED)`` (numpy; pytorch-fid's names, shapes and dtypes) and hands it
   to pytorch-fid's own ``fid_inception_v3()`` in place of the downloaded weights (the
   only thing replaced in pytorch-fid: ``pytorch_fid.inception.load_state_dict_from_url``,
   so ``InceptionV3([3])`` builds its FIDInceptionA/C/E_1/E_2 blocks and loads the
   dict with ``load_state_dict``'s strict name and shape checks);
2. runs ``InceptionV3`` (resize_input, normalize_input: the defaults) in float32 on
   NUM_IMAGES deterministic 32x32 uint8 images, converted like pytorch-fid's
   ``ToTensor`` (float32 / 255, NCHW);
3. stores the images, the pool3 features, the 1008 logits without bias (``pool3 @
   fc.weight.T``), and the FID between the first and second half of the images from
   pytorch-fid's ``calculate_frechet_distance`` on ``np.mean`` / ``np.cov`` of the
   features, both as-is (``fid_plain``) and with eps = 1e-6 added to both covariances
   (``fid_eps``; the branch pytorch-fid takes when sqrtm fails). 8 images in 2048
   dimensions are singular; pytorch-fid's sqrtm still succeeds on them, so ``fid_plain``
   is its answer, and jaxgan's (which follows the same steps on singular covariances).

torchvision: pytorch-fid imports it for ``torchvision.models.inception`` (the base
classes InceptionA/C/E of its FID blocks, BasicConv2d, and ``inception_v3`` which builds
Inception3) and reads ``torchvision.__version__``. When ``import torchvision`` fails
(e.g. a CUDA-only wheel next to a CPU torch: its compiled ops do not load), this script
replaces exactly two package modules, ``torchvision`` and ``torchvision.models``, by
empty stand-ins whose ``__path__`` points at the installed torchvision directory, so the
*real* ``torchvision/models/inception.py`` (and the pure-Python modules it imports:
``torchvision.transforms``, ``torchvision.utils``, ``torchvision.models._api`` ...) is
imported without running ``torchvision/__init__.py`` (which loads the compiled
extension). The stand-ins carry ``__version__`` (the installed version) and
``torchvision.models.inception_v3`` (the real function). Nothing of the network is
re-implemented here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import pathlib
import sys
import types

import numpy as np

SEED = 0
NUM_IMAGES = 16  # Two sets of 8.
IMAGE_SIZE = 32
EPS = 1e-6
OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "golden" / "fid_golden.npz"


def golden_images(seed: int = SEED) -> np.ndarray:
  """16 deterministic 32x32 RGB uint8 images: smooth random 8x8 patterns upsampled plus
  noise, at low contrast around mid-grey; the second half is 2% brighter. (Low contrast
  keeps the FID of the random-weight features small, about 24, so float32 rounding,
  about 1e-6 relative, stays far below the test's 1e-3 absolute tolerance.)"""
  rng = np.random.default_rng(seed)
  coarse = rng.random((NUM_IMAGES, 8, 8, 3)) - 0.5
  x = np.kron(coarse, np.ones((1, 4, 4, 1))) + 0.3 * rng.standard_normal(
      (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE, 3))
  x = 0.5 + 0.1 * x
  x[NUM_IMAGES // 2:] += 0.02
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def _import_torchvision() -> bool:
  """Imports torchvision, or the stand-ins described above; returns True if stubbed."""
  try:
    import torchvision  # noqa: F401
    import torchvision.models.inception  # noqa: F401
    return False
  except Exception as e:  # noqa: BLE001 - any failure of the compiled part.
    print(f"import torchvision failed ({type(e).__name__}: {e}); using the stand-ins",
          file=sys.stderr)
  for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
    del sys.modules[name]
  spec = importlib.util.find_spec("torchvision")
  if spec is None or not spec.submodule_search_locations:
    raise SystemExit("torchvision is not installed: pip install --no-deps torchvision")
  root = pathlib.Path(list(spec.submodule_search_locations)[0])
  tv = types.ModuleType("torchvision")
  tv.__path__ = [str(root)]
  tv.__version__ = importlib.metadata.version("torchvision")
  models = types.ModuleType("torchvision.models")
  models.__path__ = [str(root / "models")]
  sys.modules["torchvision"], sys.modules["torchvision.models"] = tv, models
  tv.models = models
  import torchvision.models.inception as inception  # The real file.
  models.inception = inception
  models.inception_v3 = inception.inception_v3
  return True


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", type=pathlib.Path, default=OUT)
  args = parser.parse_args()

  import torch
  stubbed = _import_torchvision()
  import pytorch_fid.inception as pfi
  from pytorch_fid.fid_score import calculate_frechet_distance
  from jaxgan.inception_weights import random_state_dict

  torch.set_num_threads(2)
  state_dict = {k: torch.from_numpy(v) for k, v in random_state_dict(SEED).items()}
  pfi.load_state_dict_from_url = lambda *a, **k: state_dict  # The download, replaced.
  model = pfi.InceptionV3([pfi.InceptionV3.DEFAULT_BLOCK_INDEX]).eval()

  images = golden_images()
  x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)  # As ToTensor.
  with torch.no_grad():
    pool3 = model(x)[0].squeeze(3).squeeze(2)
    logits = torch.nn.functional.linear(pool3, state_dict["fc.weight"])
  pool3, logits = pool3.numpy(), logits.numpy()

  act = pool3.astype(np.float64)  # pytorch-fid's get_activations stores float64.
  half = NUM_IMAGES // 2
  mu1, s1 = np.mean(act[:half], axis=0), np.cov(act[:half], rowvar=False)
  mu2, s2 = np.mean(act[half:], axis=0), np.cov(act[half:], rowvar=False)
  fid_plain = float(calculate_frechet_distance(mu1, s1, mu2, s2, eps=EPS))
  offset = EPS * np.eye(s1.shape[0])
  fid_eps = float(calculate_frechet_distance(mu1, s1 + offset, mu2, s2 + offset, eps=EPS))

  import scipy
  import torchvision
  versions = (f"torch {torch.__version__}, torchvision {torchvision.__version__}"
              f"{' (Python modules only, stubbed package __init__)' if stubbed else ''}, "
              f"pytorch-fid {importlib.metadata.version('pytorch-fid')}, "
              f"numpy {np.__version__}, scipy {scipy.__version__}")
  args.out.parent.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(args.out, seed=np.int64(SEED), eps=np.float64(EPS), images=images,
                      pool3=pool3, logits=logits, fid_plain=np.float64(fid_plain),
                      fid_eps=np.float64(fid_eps), versions=np.array(versions))
  print(f"wrote {args.out}: pool3 {pool3.shape} (mean {pool3.mean():.4f}), logits "
        f"{logits.shape}, fid_plain {fid_plain:.6f}, fid_eps {fid_eps:.6f}\n{versions}")


if __name__ == "__main__":
  main()
