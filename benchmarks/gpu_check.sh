#!/usr/bin/env bash
# The prepared GPU check (issue 16): one H100/H200, under 8 minutes, every figure the CPU
# machine cannot measure. Run it from the repository root on a machine with the GPU and a
# CUDA build of torch already installed (the device machine has no internet):
#
#   bash benchmarks/gpu_check.sh                  # figures into $OUT (default /tmp/gpu_check)
#   SEGSTUDIO_DATA=/path/to/data bash benchmarks/gpu_check.sh   # where camvid11/ is
#
# Steps (each with its own time limit; a failed step is reported and the next one runs):
#   trainer   train_speed.py --quick --device cuda --parts trainer,prefetch: trainer vs bare
#             throughput with AMP, pipelined vs plain loop                     (~1.5 min)
#   oom       the real out-of-memory test: a batch far beyond the GPU's memory is halved
#             until it fits (tests/reliability/test_training_faults.py)         (~0.5 min)
#   ddp       benchmarks/ddp.py --quick on the GPUs present (NCCL), if the script exists
#                                                                               (~1 min)
#   camvid    CamVid-11 at full resolution (360 x 480): import, 5 minutes of
#             `segstudio train --time-budget 5`, `segstudio evaluate --split val --json`
#                                                                               (~6 min)
# Each step's output is $OUT/<step>.log and its last line (JSON) $OUT/<step>.json;
# $OUT/summary.txt collects them with the GPU's name and the date.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
PY=${PYTHON:-python3}
DATA=${SEGSTUDIO_DATA:-../shared/data}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi finds none)" >&2
  exit 2
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: $PY's torch has no CUDA (install a CUDA build of torch)" >&2
  exit 2
fi
mkdir -p "$OUT"
summary="$OUT/summary.txt"
{ date -u "+%Y-%m-%d %H:%M UTC"; nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader; "$PY" -c "import torch; print('torch', torch.__version__)"; } \
  > "$summary"
t0=$(date +%s)

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local s=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 1 "$OUT/$name.log" > "$OUT/$name.json"
  printf '%-7s rc=%-3s %4ss  %s\n' "$name" "$rc" "$(( $(date +%s) - s ))" \
    "$(tail -c 400 "$OUT/$name.json")" | tee -a "$summary"
}

step trainer 150 "$PY" benchmarks/train_speed.py --quick --device cuda --parts trainer,prefetch
step oom 90 "$PY" -m pytest -q -p no:cacheprovider tests/reliability/test_training_faults.py \
  -k real_gpu_out_of_memory
if [ -f benchmarks/ddp.py ]; then
  step ddp 120 "$PY" benchmarks/ddp.py --quick
fi
if [ -d "$DATA/camvid11/train" ]; then
  work=$(mktemp -d)
  # (timeout runs programs, not shell functions: the three commands as one bash -c)
  step camvid 480 env PY="$PY" DATA="$DATA" WORK="$work" bash -c '
    set -e
    "$PY" -m segstudio import "$DATA/camvid11" "$WORK/camvid" >/dev/null
    "$PY" -m segstudio train "$WORK/camvid" --time-budget 5 --device cuda
    run=$(ls -d "$WORK"/camvid/runs/*/ | tail -n 1)
    "$PY" -m segstudio evaluate "$WORK/camvid" "${run}best.safetensors" --split val --json'
  rm -rf "$work"
else
  echo "camvid  skipped: no $DATA/camvid11 (set SEGSTUDIO_DATA)" | tee -a "$summary"
fi
echo "gpu_check: $(( $(date +%s) - t0 )) s in all; figures in $OUT" | tee -a "$summary"
