#!/usr/bin/env bash
# The GPU check of training speed (issue 21), run on the device machine from the project root:
#   bash scripts/gpu_train_check.sh   (sources .whl/gpu-env.sh itself; results go to $OUT, or ./gpu-out)
# Steps: our training step vs HF Marian at peer size (eager bf16, torch.compile, CUDA graphs), our fast step vs
# its eager baseline (Transformer, GRU), and real training runs through training/loop.py. ~5 min in all.
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
step train_runs 120 python3 scripts/gpu_train_runs.py --device "$dev"
step train_paths_small 60 python3 -m seqgap_lab.bench.train_paths --device "$dev" --size small --repeats 20
step train_paths_peer 60 python3 -m seqgap_lab.bench.train_paths --device "$dev" --size peer --repeats 20
step hf_train_peer 90 python3 -m seqgap_lab.bench.hf_train --device "$dev" --size peer --repeats 20 --no-compile
step hf_train_compiled 240 python3 -m seqgap_lab.bench.hf_train --device "$dev" --size peer --repeats 20 --compile
# At most 8 files come back from a device call: bundle the logs into one.
for f in "$OUT"/*.txt "$OUT"/*.err; do echo "===== $(basename "$f")"; cat "$f"; done >"$OUT/all.log" 2>/dev/null
rm -f "$OUT"/*.err; cat "$OUT/steps.txt"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
for name in ("train_paths_small", "train_paths_peer", "hf_train_peer", "hf_train_compiled"):
    try:
        rows = json.loads(pathlib.Path(sys.argv[1], name + ".txt").read_text())["rows"]
    except Exception as error:  # noqa: BLE001
        print(name, "no rows:", error); continue
    for r in rows:
        print(f"{name:18s} {r['model']:26s} {r['metric']:40s} {r['value']:>12} {r['unit']}")
PY
cat "$OUT/train_runs.txt"
