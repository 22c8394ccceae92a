#!/usr/bin/env bash
# The bundled model's recipe, shared by the versioned wrappers (v1.sh, v1_1.sh): generate the synthetic train
# (200 patients, seed 101) and test (60, seed 202) stores with the generator *pinned* at GEN_COMMIT (git archive
# of that commit, so later generator changes do not change the data), train recipe v1, evaluate (held-out store
# + the real CVAT clip), check on the real POCUS clips, and write the bundled copy with its manifest.
# Usage (from the repository root): VERSION=1.1.0 GEN_COMMIT=<sha> bash model_training/recipes/staged.sh WORK_DIR
# About 10 min on 2 quiet CPU cores. Every step skips what an interrupted run already finished.
set -euo pipefail
: "${VERSION:?set VERSION}" "${GEN_COMMIT:?set GEN_COMMIT}" "${RECIPE_CMD:=bash model_training/recipes/staged.sh}"
W="${1:?give a work folder}"
PY="${PYTHON:-$(pwd)/.venv/bin/python}"
mkdir -p "$W"
W="$(cd "$W" && pwd)"  # absolute: the generator runs from its own folder
SRC="$W/generator-${GEN_COMMIT:0:12}"
if [ ! -d "$SRC" ]; then
    mkdir -p "$SRC.tmp" && git archive "$GEN_COMMIT" lusapp model_training resources | tar -x -C "$SRC.tmp" && mv "$SRC.tmp" "$SRC"
fi
for spec in "train_store 200 101" "test_store 60 202"; do
    set -- $spec
    (cd "$SRC" && PYTHONPATH="$SRC" "$PY" -m model_training synth --patients "$2" --out "$W/$1" --seed "$3" \
        --frames-min 10 --frames-max 24 --size 240x320)
done
M="$W/lus-staged-$VERSION"
"$PY" -m model_training train --stage all --recipe v1 --seed 0 --store "$W/train_store" --out "$M" --version "$VERSION" \
    --cache-dir "$W/cache" --eval-store "$W/test_store" --resume
"$PY" -m model_training evaluate --store "$W/test_store" --model "$M" --out "$W/eval" --cvat \
    --cache-dir "$W/cache" --update-manifest
"$PY" -m model_training pocus --model "$M" --out "$W/pocus"   # real clips, evaluation only (skips when absent)
"$PY" model_training/recipes/publish.py "$M" "$W/published/lus-staged-$VERSION" --generator-commit "$GEN_COMMIT" \
    --recipe "$RECIPE_CMD" $( [ -f "$W/pocus/pocus_check.json" ] && echo --pocus "$W/pocus/pocus_check.json" )
echo "bundle to ship: $W/published/lus-staged-$VERSION"
