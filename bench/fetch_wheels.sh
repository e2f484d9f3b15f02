#!/usr/bin/env bash
# Downloads into .whl/ the wheels that the bare GPU machine of bench/device_check.sh lacks
# (CPython 3.12, manylinux x86_64, no internet there), so that they travel with the work
# tree (`carry: [".whl"]`). Run from anywhere; needs PyPI. .whl/ is git-ignored.
#
#   bash bench/fetch_wheels.sh          # PYTHON=... selects the interpreter whose pip is used
#
# That machine has python3 3.12, torch (CUDA), torchvision, jax + CUDA plugin, flax, optax,
# chex, orbax-checkpoint, absl-py, PyYAML, protobuf, numpy, packaging, scipy, pillow,
# matplotlib, tqdm, pytest. It lacks:
#   ml-collections  (jaxgan's configs)       needs absl-py, PyYAML           -> present
#   tensorboardX    (jaxgan's metric writer) needs numpy, packaging, protobuf -> present
#   pytorch-fid     (the FID baseline)       needs torch, torchvision, numpy, pillow, scipy
#                                                                            -> present
# One pinned version of each; the script checks every downloaded wheel's Requires-Dist
# (extras aside) against the list above and fails when something would be missing.
# A fallback torchvision (built for the torch 2.11 there) goes into .whl/fallback/: the
# plain `.whl/*.whl` install never touches it; device_check.sh installs it only when
# `import torchvision` fails there (pytorch-fid cannot be imported without it).
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -m pip --version >/dev/null 2>&1; then
  PY=.venv/bin/python  # The project's virtualenv has pip.
fi

WHEELS=(
  "ml-collections==1.1.0"
  "tensorboardX==2.6.5"
  "pytorch-fid==0.3.0"
)
FALLBACK=("torchvision==0.26.0")  # The release paired with torch 2.11.
PRESENT="absl-py pyyaml protobuf numpy packaging torch torchvision pillow scipy"

PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

rm -rf .whl
mkdir -p .whl/fallback
quiet() {  # pip download, without the warnings about local index folders that lack a name.
  "$PY" -m pip download -q --no-deps "${PLATFORM[@]}" "$@" 2> >(grep -v "is ignored: it is neither" >&2 || true)
}
quiet -d .whl "${WHEELS[@]}"
if ! quiet -d .whl/fallback "${FALLBACK[@]}"; then
  echo "note: no fallback torchvision wheel (device_check.sh then relies on the machine's)" >&2
fi

"$PY" - "$PRESENT" <<'EOF'
"""Each wheel's Requires-Dist (no extras) must be shipped or present on the device."""
import pathlib
import re
import sys
import zipfile

present = set(sys.argv[1].split())
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()  # noqa: E731
wheels = sorted(pathlib.Path(".whl").rglob("*.whl"))
shipped = {norm(w.name.split("-")[0]) for w in wheels}
missing = []
for w in wheels:
  with zipfile.ZipFile(w) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    lines = z.read(meta).decode().splitlines()
  needs = [l.split(":", 1)[1].strip() for l in lines if l.startswith("Requires-Dist:")]
  needs = [n for n in needs if "extra ==" not in n.replace("extra==", "extra ==")]
  names = [norm(re.split(r"[ ;<>=!~(\[]", n, maxsplit=1)[0]) for n in needs]
  print(f"{w.name}: requires {', '.join(names) or 'nothing'}")
  missing += [(w.name, n) for n in names if n not in shipped and n not in present]
if missing:
  sys.exit("missing on the device machine: " + ", ".join(f"{n} (for {w})" for w, n in missing))
EOF

echo
ls -l .whl .whl/fallback | grep -v '^total'
echo "total: $(du -sh .whl | cut -f1) ($(du -sb .whl | cut -f1) bytes)"
