#!/usr/bin/env bash
# The GPU check of training speed (issue 21), run on the device machine from the project root:
#   bash scripts/gpu_train_check.sh   (sources .whl/gpu-env.sh itself; results go to $OUT, or ./gpu-out)
# Steps: our training step vs HF Marian at peer size (eager bf16, torch.compile, CUDA graphs), our fast step vs
# its eager baseline (Transformer, GRU), and real training runs through training/loop.py. ~5 min in all.
source "$(dirname "$0")/gpu_common.sh"
step train_runs 120 python3 scripts/gpu_train_runs.py --device "$dev"
step train_paths_small 60 python3 -m seqgap_lab.bench.train_paths --device "$dev" --size small --repeats 20
step train_paths_peer 60 python3 -m seqgap_lab.bench.train_paths --device "$dev" --size peer --repeats 20
step hf_train_peer 90 python3 -m seqgap_lab.bench.hf_train --device "$dev" --size peer --repeats 20 --no-compile
step hf_train_compiled 240 python3 -m seqgap_lab.bench.hf_train --device "$dev" --size peer --repeats 20 --compile
bundle_logs
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
