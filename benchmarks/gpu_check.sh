#!/usr/bin/env bash
# Mixed precision and XLA on one GPU: train the default match model for 3 epochs in
# each setting and record samples/s (median of epochs 2-3) and the final val metrics.
#
#   PYTHON=/path/to/python benchmarks/gpu_check.sh [OUT_DIR]     # about 4 minutes on one GPU
#
# PYTHON must have this project's dependencies (TensorFlow with GPU support); the
# script puts the checkout on PYTHONPATH, so no install is needed. It writes
# OUT_DIR/gpu_check.md (default: benchmarks/gpu_check.md), a section to paste into
# benchmarks/RESULTS.md. On a machine without a GPU it says so and stops;
# SMOKE=1 runs it anyway on a small dataset, to check the script on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${1:-benchmarks}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} TF_CPP_MIN_LOG_LEVEL=2

data=(--set "data.processed=$WORK/processed")
if [[ "${SMOKE:-0}" == 1 ]]; then
  data+=(--set data.shapes.num_images=600)
else
  "$PYTHON" -c 'import sys, tensorflow as tf; gpus = tf.config.list_physical_devices("GPU"); print("GPUs:", gpus); sys.exit(0 if gpus else 3)' \
    || { echo "gpu_check: no GPU visible to TensorFlow; nothing measured"; exit 3; }
fi

common=(--quiet --overwrite --set "output.dir=$WORK/runs" "${data[@]}"
        --set train.epochs=3 --set train.early_stopping.patience=0 --set train.batch_size=512)
"$PYTHON" -m crossmodal_tf.cli.main preprocess configs/shapes_match.yaml --quiet "${data[@]}"

settings=("float32 false" "float32 true" "mixed_float16 false" "mixed_float16 true" "mixed_bfloat16 false" "mixed_bfloat16 true")
for setting in "${settings[@]}"; do
  read -r precision jit <<<"$setting"
  name="gpu-$precision-jit-$jit"
  "$PYTHON" -m crossmodal_tf.cli.main train configs/shapes_match.yaml "${common[@]}" --set "name=$name" \
    --set "train.precision=$precision" --set "train.jit_compile=$jit"
done

"$PYTHON" - "$WORK/runs" "$OUT/gpu_check.md" <<'EOF'
import json, statistics, sys
from pathlib import Path

runs, out = Path(sys.argv[1]), Path(sys.argv[2])
lines = ["## GPU check (benchmarks/gpu_check.sh): default match model, batch 512, 3 epochs", "",
         "| precision | XLA | samples/s (median of epochs 2-3) | × float32 without XLA | val_loss | val_auc |",
         "|---|---|---|---|---|---|"]
rates = {}
for run in sorted(runs.iterdir()):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = json.loads((run / "stats.json").read_text())["counts"]["train"]
    rates[run.name] = (statistics.median(train / r["epoch_time_s"] for r in rows[1:]), rows[-1])
base = rates["gpu-float32-jit-false"][0]
for name, (rate, last) in rates.items():
    _, precision, _, jit = name.split("-")
    lines.append(f"| {precision} | {jit} | {rate:,.0f} | {rate / base:.2f} | {last['val_loss']:.4f} | "
                 f"{last.get('val_auc', float('nan')):.4f} |")
devices = json.loads((runs / "gpu-float32-jit-false" / "env.json").read_text())["devices"]
lines += ["", f"Devices: {', '.join(devices)}.", ""]
out.write_text("\n".join(lines))
print("\n".join(lines))
EOF
