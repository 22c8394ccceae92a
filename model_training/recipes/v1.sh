#!/usr/bin/env bash
# Reproduces lus-staged 1.0.0 (bundled until 1.1.0; docs/model-card.md): recipe v1 on the generator before the
# lung haze. Usage (from the repository root): bash model_training/recipes/v1.sh [WORK_DIR]   (default /tmp/lus_v1)
VERSION=1.0.0 GEN_COMMIT="${GEN_COMMIT:-add41524be37560ce82c8641bdeef86a8851f376}" \
RECIPE_CMD="bash model_training/recipes/v1.sh" exec bash "$(dirname "$0")/staged.sh" "${1:-/tmp/lus_v1}"
