#!/usr/bin/env bash
# GPU check, under 5 minutes on one CUDA GPU:
#   1. the throughput table on CUDA (bf16, data held on the GPU) for the three models;
#   2. a 1-epoch CIFAR-10-sized BYOL run (50,000 images from the in-memory tensor) of
#      resnet18 at 32 px, batch 512, printing images/s and utilisation against the GPU's bf16
#      dense peak.
#
#   bash benchmarks/gpu_check.sh               # on a CUDA machine
#   bash benchmarks/gpu_check.sh --device cpu  # a short CPU run that proves the script works
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
if [ "${1:-}" = "--device" ]; then DEVICE="${2:-cuda}"; fi

if [ "$DEVICE" = "cuda" ]; then
  python benchmarks/throughput.py --device cuda --batch-size 512 --warmup 5 --window 10 \
    --windows 3 --workers 8
  python benchmarks/epoch_run.py --device cuda --batch-size 512 --images 50000
else
  python benchmarks/throughput.py --device cpu --models resnet18 --batch-size 32 --warmup 1 \
    --window 1 --windows 2 --no-peer --out "${TMPDIR:-/tmp}/byolbench-gpu-check"
  python benchmarks/epoch_run.py --device cpu --batch-size 64 --images 640
fi
