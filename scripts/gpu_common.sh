# Shared by the GPU checks (scripts/gpu_check.sh, scripts/gpu_train_check.sh); sourced from the project root on the
# device machine. Sets OUT (default ./gpu-out), installs the wheel bundle (.whl/gpu-env.sh) when present, puts the
# project on PYTHONPATH, sets dev (SEQGAP_DEVICE, default cuda), defines `step` and writes $OUT/env.txt.
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
bundle_logs() {  # at most 8 files come back from a device call: the logs become one, $OUT/all.log
  for f in "$OUT"/*.txt "$OUT"/*.err; do echo "===== $(basename "$f")"; cat "$f"; done >"$OUT/all.log" 2>/dev/null
  rm -f "$OUT"/*.err; cat "$OUT/steps.txt"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'; } >"$OUT/env.txt" 2>&1
