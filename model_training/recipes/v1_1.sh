#!/usr/bin/env bash
# Reproduces the bundled model resources/models/lus-staged-1.1.0 (docs/model-card.md): recipe v1 on the
# generator with the lung haze. Usage (from the repository root): bash model_training/recipes/v1_1.sh [WORK_DIR]
# (default /tmp/lus_v1_1)
VERSION=1.1.0 GEN_COMMIT="${GEN_COMMIT:-e95ff4c209db14fb84c5d5bcc92b2df5fa194b4d}" \
RECIPE_CMD="bash model_training/recipes/v1_1.sh" exec bash "$(dirname "$0")/staged.sh" "${1:-/tmp/lus_v1_1}"
