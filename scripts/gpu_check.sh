#!/usr/bin/env bash
# The GPU check, run on the device machine from the project root (see README, Performance):
#   source .whl/gpu-env.sh is done here; results go to $OUT (or ./gpu-out when OUT is unset).
# Each step has its own time limit so that the whole stays inside one device call (~9 min).
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
if [ -f .whl/gpu-env.sh ]; then source .whl/gpu-env.sh || echo "wheel install failed"; fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 SEQGAP_DEVICE=${SEQGAP_DEVICE:-cuda}
dev=$SEQGAP_DEVICE
step() {  # step NAME LIMIT_S CMD...: run, log to $OUT/NAME.txt, print its wall time
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s%N)
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.err"; local rc=$?
  echo "$name rc=$rc $(( ($(date +%s%N) - t0) / 1000000 )) ms" | tee -a "$OUT/steps.txt"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'; } >"$OUT/env.txt" 2>&1
[ "${SKIP_HF:-}" ] || step bench_hf 120 python3 -m seqgap_lab.bench.hf --device "$dev" --repeats 7
step profile 120 python3 scripts/gpu_profile.py --device "$dev" --repeats 5
[ "${SKIP_BENCH:-}" ] || step bench_peer 120 python3 -m seqgap_lab bench --json --size peer --device "$dev" --repeats 5
[ "${SKIP_BENCH:-}" ] || step bench_small 60 python3 -m seqgap_lab bench --json --size small --device "$dev" --repeats 5
# A notebook end to end on the GPU in the full profile (one seed), only when asked: it outlasts one lease.
if [ -n "${NB_LIMIT:-}" ]; then
  step nb01_full "$NB_LIMIT" papermill "$(ls notebooks/01_*.ipynb)" "$OUT/01_full.ipynb" -p profile full -p num_seeds 1 --cwd notebooks --log-output
fi
# At most 8 files come back from a device call: bundle the logs into one.
for f in "$OUT"/*.txt "$OUT"/*.err; do echo "===== $(basename "$f")"; cat "$f"; done >"$OUT/all.log" 2>/dev/null
rm -f "$OUT"/*.err; cat "$OUT/steps.txt"
