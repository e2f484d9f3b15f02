#!/usr/bin/env bash
# bench/device_check.sh OUTDIR [--small]: jaxgan's one prepared check on a GPU machine.
#
# On a bare machine (python3 with jax + CUDA plugin, flax, optax, torch, torchvision ...;
# no internet) it installs what is missing from the wheels in .whl/ (made by
# bench/fetch_wheels.sh), then runs, each step under its own time limit (`timeout`; a
# step that fails or runs over is recorded as such and the next one starts):
#   install            .whl/*.whl -> a private --target folder on PYTHONPATH (only the
#                      wheels whose packages do not import already); .whl/fallback/
#                      torchvision only if torch is there and torchvision is not
#   env                device (nvidia-smi, jax.devices()), driver, CUDA, versions, date
#   train_step_dcgan   bench/train_step.py DCGAN-64, batch 128: jaxgan float32 and
#   train_step_wgan_gp bfloat16, plain JAX, PyTorch eager and torch.compile (bfloat16:
#                      autocast); WGAN-GP-64, batch 64, 5 critic steps, the same
#   fid_throughput     bench/fid_throughput.py: Inception images/s at batch 500 vs
#                      pytorch-fid (random weights: speed only), Frechet distance 2048-d
#                      vs scipy sqrtm
#   sweep              bench/sweep.py --json PATH [--small], when that file exists
#   parity_tests       python -m pytest -q tests/test_inception.py tests/test_frechet.py
#   stacked_mnist      only when STEPS names it: python -m jaxgan.experiments stacked_mnist
#                      at full size (base features 64, 3 seeds, the CPU rows' steps:
#                      SM_STEPS=1500, so 9,000 for the R1 row; methods
#                      SM_ONLY=dcgan_r1_6x_steps,dcgan, the goal's row first) on
#                      MNIST=.data/mnist.npz, into OUTDIR/stacked_mnist (report.md, figures,
#                      runs/: each method kept as it finishes); BUDGET_STACKED=420 s, apart
#                      from the 470 s below
# and writes OUTDIR/device_check.json (everything), OUTDIR/device_check.md (one table:
# figures, ratios, the goals of issue 16) and OUTDIR/device_check.log (all output); the
# table is printed last. The budgets below add up to 470 s and BUDGET_TOTAL caps what is
# left for each step as they run, so the whole stays under 8 minutes; each can be set from
# the environment (e.g. BUDGET_FID=120). A full run usually takes much less.
#
# --small: CPU-sized workloads and few steps, no torch.compile, no plain JAX, WGAN-GP in
# float32 only, Frechet distance 128-d, only tests/test_frechet.py;
# well under two minutes on 2 CPU cores, with or without PyTorch / pytorch-fid. For CPU
# figures to commit: SMALL_STEPS=40 SMALL_WARMUP=5 BUDGET_DCGAN=150 BUDGET_WGAN=150
# BUDGET_SWEEP=200 BUDGET_TOTAL=700 bash bench/device_check.sh OUT --small
# PYTHON=/path/to/python selects the interpreter (default python3, or .venv/bin/python
# when python3 lacks jax). STEPS=name,name,... runs only those of the steps below install
# (the others are reported "not run"): e.g. STEPS=fid_throughput to redo one that failed
# with the device time left.
#
# ---- For a session with the device machine (15 minutes in all, one H100/H200) ----------
# 1. Here, with PyPI:   bash bench/fetch_wheels.sh         (fills .whl/, about 8 MB)
# 2. One call of the `run` tool:
#      command:   bash bench/device_check.sh "$OUT"
#      carry:     [".whl"]
#      timeout_s: 540
#    then `give_back` unless rerunning at once.
#    The output tail ends with the table; device_check.{json,md,log} come back in $OUT.
# 3. Keep the results (files_at is the folder the run tool names):
#      d=<device slug>-<YYYY-MM-DD>    # printed at the end, e.g. nvidia-h200-2026-12-05
#      cp <files_at>/device_check.json bench/results/$d.json
#      cp <files_at>/device_check.md   bench/results/$d.md
#      .venv/bin/python bench/update_readme.py      # README's performance section
#    and commit bench/results/$d.* with README.md.
# 4. With the device time left (issue 14's Stacked MNIST at full size; about 7 minutes):
#      here:      mkdir -p .data && cp ../shared/data/mnist.npz .data/
#      command:   STEPS=stacked_mnist bash bench/device_check.sh "$OUT"
#      carry:     [".whl", ".data"]
#    then copy <files_at>/stacked_mnist/ (report.md, PNGs; runs/ for a later rerun's cache)
#    beside experiments/stacked_mnist/ and update experiments/README.md's row.
# ------------------------------------------------------------------------------------------

set -uo pipefail

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: bash bench/device_check.sh OUTDIR [--small]" >&2
  exit 2
fi
OUTDIR=$1
shift
SMALL=0
for arg in "$@"; do
  case $arg in
    --small) SMALL=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
ALL_STEPS=" env train_step_dcgan train_step_wgan_gp fid_throughput sweep parity_tests stacked_mnist "
OPT_IN=" stacked_mnist "  # Run only when STEPS names them.
STEPS=${STEPS:-}
for name in ${STEPS//,/ }; do
  case $ALL_STEPS in
    *" $name "*) ;;
    *) echo "unknown step in STEPS: $name (one of:$ALL_STEPS)" >&2; exit 2 ;;
  esac
done
# wanted NAME: whether STEPS (default: all) names it.
wanted() {
  if [ -z "${STEPS:-}" ]; then
    case $OPT_IN in *" $1 "*) false ;; *) true ;; esac
  else
    case ",$STEPS," in *",$1,"*) true ;; *) false ;; esac
  fi
}

mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || exit 2  # Relative to the caller.
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 2
# The interpreter: $PYTHON; else python3 if it has jax; else the checkout's .venv.
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif ! python3 -c "import jax" 2>/dev/null && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
else
  PY=python3
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOG="$OUTDIR/device_check.log"
: > "$LOG"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# A JAX compilation cache private to this run: later steps reuse what earlier ones
# compiled op by op (the nets' initialisation, about 10 s on a CPU). The timed programs
# differ from step to step, so their warmup_s are still cold compilations.
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$WORK/jax_cache}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1

MNIST=${MNIST:-.data/mnist.npz}  # For stacked_mnist (not needed with --small).
if [ "$SMALL" = 1 ]; then
  SMALL_FLAG=(--small)
  # SMALL_STEPS / SMALL_WARMUP: more steps for CPU figures worth keeping (3 / 1: a dry run).
  TS_ARGS=(--small --steps "${SMALL_STEPS:-3}" --warmup "${SMALL_WARMUP:-1}" --no-plain
           --no-compile --budget-s 60)
  WGAN_DTYPES=float32  # Each compilation costs seconds on a CPU; DCGAN covers bfloat16.
  FID_ARGS=(--small --batch-size 4 --batches 2 --fid-dim 128)
  TEST_FILES=(tests/test_frechet.py)
  : "${BUDGET_INSTALL:=30}" "${BUDGET_ENV:=30}" "${BUDGET_DCGAN:=60}" "${BUDGET_WGAN:=75}"
  : "${BUDGET_FID:=45}" "${BUDGET_SWEEP:=30}" "${BUDGET_TESTS:=45}" "${BUDGET_REPORT:=30}"
  : "${BUDGET_TOTAL:=330}" "${BUDGET_STACKED:=120}"
  SM_ARGS=(--quick --only dcgan --steps 4)
else
  SMALL_FLAG=()
  TS_ARGS=(--steps 60 --warmup 10 --budget-s 45)
  WGAN_DTYPES=float32,bfloat16
  FID_ARGS=(--precision highest,default)
  TEST_FILES=(tests/test_inception.py tests/test_frechet.py)
  # Sum 470 s; BUDGET_TOTAL also caps the sum as it is spent (8 minutes = 480 s).
  : "${BUDGET_INSTALL:=20}" "${BUDGET_ENV:=30}" "${BUDGET_DCGAN:=95}" "${BUDGET_WGAN:=110}"
  : "${BUDGET_FID:=85}" "${BUDGET_SWEEP:=55}" "${BUDGET_TESTS:=60}" "${BUDGET_REPORT:=15}"
  : "${BUDGET_TOTAL:=470}"
  # stacked_mnist (opt-in, alone: STEPS=stacked_mnist): not in the 470 s above.
  : "${BUDGET_STACKED:=420}"
  SM_ARGS=(--mnist "$MNIST" --features "${SM_FEATURES:-64}" --steps "${SM_STEPS:-1500}"
           --seeds "${SM_SEEDS:-3}" --only "${SM_ONLY:-dcgan_r1_6x_steps,dcgan}")
fi

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)

# record NAME STATUS RC MILLISECONDS BUDGET [NOTE [EXTRA_JSON]]: a line of WORK/steps.jsonl.
record() {
  "$PY" - "$WORK/steps.jsonl" "$@" <<'EOF'
import json, sys
path, name, status, rc, ms, budget = sys.argv[1:7]
note = sys.argv[7] if len(sys.argv) > 7 else ""
entry = {"name": name, "status": status, "rc": int(rc) if rc else None,
         "seconds": round(int(ms) / 1e3, 1) if ms else None,
         "budget_s": int(budget) if budget else None}
if note:
  entry["note"] = note
entry.update(json.loads(sys.argv[8]) if len(sys.argv) > 8 else {})
with open(path, "a") as f:
  f.write(json.dumps(entry) + "\n")
EOF
}

# step NAME BUDGET COMMAND...: runs it under `timeout`, its output to the screen and to
# WORK/NAME.log, and records its status: ok, failed (exit code), or timeout.
# STEP_EXTRA (JSON) is added to the record.
STEP_EXTRA="{}"
step() {
  local name=$1 budget=$2
  shift 2
  local start rc status ms left
  if ! wanted "$name"; then
    echo "=== $name: not run (STEPS=$STEPS)"
    STEP_EXTRA="{}"
    return
  fi
  start=$(now_ms)
  # What is left of BUDGET_TOTAL, keeping the report's share, caps this step's budget.
  left=$(( BUDGET_TOTAL - BUDGET_REPORT - (start - T0) / 1000 ))
  if [ "$left" -lt 5 ]; then
    echo "=== $name: skipped (the total budget of $BUDGET_TOTAL s is spent)"
    record "$name" skipped "" "" "$budget" "total budget of $BUDGET_TOTAL s spent"
    STEP_EXTRA="{}"
    return
  fi
  [ "$left" -lt "$budget" ] && budget=$left
  echo
  echo "=== $name (budget ${budget} s): $*"
  timeout --kill-after=10 "$budget" "$@" 2>&1 | tee "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  ms=$(( $(now_ms) - start ))
  echo  # A killed command may have left its last line open.
  echo "=== $name: $status (exit $rc, $(( ms / 1000 )) s)"
  record "$name" "$status" "$rc" "$ms" "$budget" "" "$STEP_EXTRA"
  STEP_EXTRA="{}"
}

{
  echo "device_check: $(date -u +%FT%TZ), repo $REPO, python $PY, small=$SMALL, out $OUTDIR"

  # --- install ---------------------------------------------------------------------------
  start=$(now_ms)
  SITE="$WORK/site"
  shopt -s nullglob
  wheels=(.whl/*.whl)
  fallback=(.whl/fallback/*.whl)
  shopt -u nullglob
  # Which wheels' top-level packages do not import yet (read from each wheel's RECORD).
  need=$("$PY" - "${wheels[@]}" <<'EOF'
import importlib.util, sys, zipfile
for wheel in sys.argv[1:]:
  with zipfile.ZipFile(wheel) as z:
    record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    tops = {line.split(",")[0].split("/")[0] for line in z.read(record).decode().splitlines()}
  tops = {t[:-3] if t.endswith(".py") else t for t in tops
          if t and not t.endswith((".dist-info", ".data"))}
  if any(importlib.util.find_spec(t) is None for t in tops):
    print(wheel)
EOF
)
  status=ok
  note=""
  if [ ${#wheels[@]} -eq 0 ]; then
    # jaxgan needs ml_collections and tensorboardX; pytorch_fid only gives a column.
    missing=$("$PY" -c "
import importlib.util
print(' '.join(m for m in ('ml_collections', 'tensorboardX', 'pytorch_fid')
               if importlib.util.find_spec(m) is None))")
    note="no .whl/ wheels; not importable: ${missing:-none}"
    case " $missing " in
      *" ml_collections "* | *" tensorboardX "*) status=failed ;;
    esac
  elif [ -z "$need" ]; then
    note="every wheel's packages import already; nothing installed"
  else
    # shellcheck disable=SC2086
    if timeout "$BUDGET_INSTALL" "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$SITE" $need; then
      export PYTHONPATH="$SITE:$PYTHONPATH"
      note="installed: $(echo $need | xargs -n1 basename | tr '\n' ' ')"
    else
      status=failed
      note="pip install failed: $need"
    fi
  fi
  # Only when torchvision is not installed at all: an installed one whose compiled ops do
  # not load is handled by tools/make_fid_golden.py's stand-ins.
  if [ ${#fallback[@]} -gt 0 ] && "$PY" -c "import torch" 2>/dev/null \
      && ! "$PY" -c "import importlib.util as u; assert u.find_spec('torchvision')" 2>/dev/null
  then
    if timeout "$BUDGET_INSTALL" "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --target "$SITE" "${fallback[@]}"; then
      export PYTHONPATH="$SITE:$PYTHONPATH"
      note="$note; fallback torchvision installed"
    else
      note="$note; fallback torchvision failed to install"
    fi
  fi
  echo "=== install: $status: $note"
  record install "$status" "" "$(( $(now_ms) - start ))" "$BUDGET_INSTALL" "$note"

  # --- the steps ---------------------------------------------------------------------------
  step env "$BUDGET_ENV" "$PY" bench/device_report.py env --out "$WORK/env.json" \
    "${SMALL_FLAG[@]}"
  step train_step_dcgan "$BUDGET_DCGAN" "$PY" bench/train_step.py --workloads DCGAN-64 \
    --dtypes float32,bfloat16 --json "$WORK/train_step_dcgan.json" "${TS_ARGS[@]}"
  step train_step_wgan_gp "$BUDGET_WGAN" "$PY" bench/train_step.py --workloads WGAN-GP-64 \
    --dtypes "$WGAN_DTYPES" --json "$WORK/train_step_wgan_gp.json" "${TS_ARGS[@]}"
  step fid_throughput "$BUDGET_FID" "$PY" bench/fid_throughput.py \
    --json "$WORK/fid_throughput.json" "${FID_ARGS[@]}"
  if [ -f bench/sweep.py ]; then
    step sweep "$BUDGET_SWEEP" "$PY" bench/sweep.py --json "$WORK/sweep.json" "${SMALL_FLAG[@]}"
  else
    echo "=== sweep: absent (no bench/sweep.py)"
    record sweep absent "" "" "$BUDGET_SWEEP" "no bench/sweep.py"
  fi
  present=()
  for f in "${TEST_FILES[@]}"; do [ -f "$f" ] && present+=("$f"); done
  if [ ${#present[@]} -gt 0 ]; then
    STEP_EXTRA=$("$PY" -c 'import json, sys; print(json.dumps({"files": sys.argv[1:]}))' \
      "${present[@]}")
    step parity_tests "$BUDGET_TESTS" "$PY" -m pytest -q -p no:cacheprovider "${present[@]}"
  else
    record parity_tests absent "" "" "$BUDGET_TESTS" "none of ${TEST_FILES[*]}"
  fi
  if wanted stacked_mnist && [ "$SMALL" = 0 ] && [ ! -f "$MNIST" ]; then
    echo "=== stacked_mnist: absent (no $MNIST; copy MNIST's .npz there and carry .data)"
    record stacked_mnist absent "" "" "$BUDGET_STACKED" "no $MNIST"
  else
    step stacked_mnist "$BUDGET_STACKED" "$PY" -m jaxgan.experiments stacked_mnist \
      --out "$OUTDIR/stacked_mnist" "${SM_ARGS[@]}"
  fi
  echo
  echo "=== steps done after $(( ($(now_ms) - T0) / 1000 )) s"
} 2>&1 | tee -a "$LOG"

# --- the report: device_check.json and .md; the table is printed last -----------------------
timeout "$BUDGET_REPORT" "$PY" bench/device_report.py assemble --work "$WORK" --out "$OUTDIR" \
  "${SMALL_FLAG[@]}" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ] || [ ! -f "$OUTDIR/device_check.json" ]; then
  echo "device_check: the report failed (exit $rc); the steps' logs are in $LOG" | tee -a "$LOG"
  exit 1
fi
exit 0
