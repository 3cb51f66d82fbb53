#!/usr/bin/env bash
# The GPU check, run on the device machine from the project root (see README, Performance):
#   source .whl/gpu-env.sh is done here; results go to $OUT (or ./gpu-out when OUT is unset).
# Each step has its own time limit so that the whole stays inside one device call (~9 min).
source "$(dirname "$0")/gpu_common.sh"
[ "${SKIP_HF:-}" ] || step bench_hf 120 python3 -m seqgap_lab.bench.hf --device "$dev" --repeats 7
step profile 120 python3 scripts/gpu_profile.py --device "$dev" --repeats 5
[ "${SKIP_BENCH:-}" ] || step bench_peer 120 python3 -m seqgap_lab bench --json --size peer --device "$dev" --repeats 5
[ "${SKIP_BENCH:-}" ] || step bench_small 60 python3 -m seqgap_lab bench --json --size small --device "$dev" --repeats 5
# A notebook end to end on the GPU in the full profile (one seed), only when asked: it outlasts one lease.
if [ -n "${NB_LIMIT:-}" ]; then
  step nb01_full "$NB_LIMIT" papermill "$(ls notebooks/01_*.ipynb)" "$OUT/01_full.ipynb" -p profile full -p num_seeds 1 --cwd notebooks --log-output
fi
bundle_logs
