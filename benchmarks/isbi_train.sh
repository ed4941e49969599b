#!/usr/bin/env bash
# ISBI 2012 membranes from the command line: import the shared data set as a project (outside the
# repository) and train a U-Net headless with `segstudio train`, timing the whole run.
#
#     bash benchmarks/isbi_train.sh [PROJECT_DIR] [extra `segstudio train` options]
#
# Run from the repository root with the virtual environment active. The figures it printed on
# 2026-11-25 are in docs/benchmarks.md ("ISBI 2012 from the command line").
set -euo pipefail
PROJECT=${1:-/tmp/isbi_proj}
shift || true
DATA=../shared/data/isbi2012_membrane
rm -rf "$PROJECT"
segstudio import "$DATA" "$PROJECT" --classes membrane,cell
start=$(date +%s)
segstudio train "$PROJECT" --model unet --model-options '{"base_width": 16, "levels": 4}' \
    --loss weighted_ce --patch 256 --batch 4 --epochs 40 --patience 0 --seed 0 --time-budget 15 "$@"
end=$(date +%s)
echo "wall time: $((end - start)) s"
