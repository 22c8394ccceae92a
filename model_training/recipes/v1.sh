#!/usr/bin/env bash
# Reproduces the bundled model resources/models/lus-staged-1.0.0 (docs/model-card.md).
# Usage: bash model_training/recipes/v1.sh [WORK_DIR]   (default /tmp/lus_v1; ~35 min on 2 CPU cores)
set -euo pipefail
W="${1:-/tmp/lus_v1}"
PY="${PYTHON:-.venv/bin/python}"
mkdir -p "$W"
# synth skips patients already in the store, so an interrupted run can be restarted
"$PY" -m model_training synth --patients 200 --out "$W/train_store" --seed 101 \
    --frames-min 10 --frames-max 24 --size 240x320
"$PY" -m model_training synth --patients 60 --out "$W/test_store" --seed 202 \
    --frames-min 10 --frames-max 24 --size 240x320
"$PY" -m model_training train --stage all --recipe v1 --seed 0 --store "$W/train_store" --out "$W/lus-staged-1.0.0" \
    --cache-dir "$W/cache" --eval-store "$W/test_store" --resume
"$PY" -m model_training evaluate --store "$W/test_store" --model "$W/lus-staged-1.0.0" --out "$W/eval" --cvat \
    --cache-dir "$W/cache"
