#!/usr/bin/env bash
# lus-staged 1.2.0: the segmentation and zone networks of 1.1.0 (recipe v1_1.sh) + the findings head trained on
# the development part of the real POCUS clips (../shared/data, split model_training/splits/real_split_v1.csv)
# and 106 synthetic zone clips + a severity network (stage 3) trained on the findings-composed zone-score
# distributions of 120 synthetic patients; then the locked real test part (realbench) and the synthetic zone and
# severity check against 1.1.0; the int8 frame graphs (export-onnx --int8: calibrated on the demo patient + half
# the development part's groups, never the test part) are added before realbench, so it measures what the app
# runs. ~40 min on 2 cores (most of it reading the 120 synthetic patients' clips).
# Usage (repository root): bash model_training/recipes/v1_2.sh WORK_DIR
set -euo pipefail
W="${1:?give a work folder}"
PY="${PYTHON:-$(pwd)/.venv/bin/python}"
BASE=resources/models/lus-staged-1.1.0
mkdir -p "$W"
[ -d "$W/synth_train" ] || "$PY" -m model_training synth --patients 12 --out "$W/synth_train" --seed 404 \
    --frames-min 10 --frames-max 24 --size 240x320
[ -d "$W/synth_sev" ] || "$PY" -m model_training synth --patients 120 --out "$W/synth_sev" --seed 505 \
    --frames-min 10 --frames-max 24 --size 240x320
[ -d "$W/synth_test" ] || "$PY" -m model_training synth --patients 15 --out "$W/synth_test" --seed 202 \
    --frames-min 10 --frames-max 24 --size 240x320
"$PY" -m model_training findings --base "$BASE" --out "$W/lus-staged-1.2.0" --version 1.2.0 \
    --synthetic "$W/synth_train" --reference resources/demo --report "$W/findings_report.json"
"$PY" -m model_training severity --model "$W/lus-staged-1.2.0" --store "$W/synth_sev" --test-store "$W/synth_test" --epochs 60 \
    --report "$W/severity_report.json"
"$PY" -m model_training export-onnx "$W/lus-staged-1.2.0" --int8
"$PY" -m model_training realbench --model "$W/lus-staged-1.2.0" --part test --out "$W/realbench"
"$PY" -m model_training zonecheck --store "$W/synth_test" --model "$BASE" --model "$W/lus-staged-1.2.0" --json \
    > "$W/zonecheck.json"
"$PY" model_training/recipes/add_metrics.py "$W/lus-staged-1.2.0" --realbench "$W/realbench/realbench.json" \
    --zonecheck "$W/zonecheck.json" --recipe "bash model_training/recipes/v1_2.sh WORK"
echo "bundle to ship: $W/lus-staged-1.2.0"
