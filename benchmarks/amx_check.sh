#!/usr/bin/env bash
# The BYOL step against the bf16 matmul peak on a CPU with AMX-BF16 (Intel Xeon, Sapphire
# Rapids or later), about 15 minutes on 2 cores: every measurement of it, written to
# benchmarks/results/section3-amx-DATE/ (section3-no-amx-DATE/ with --force elsewhere):
#   1. throughput.py: resnet18 and resnet10t at 32 px, the whole step's MFU against the bf16
#      matmul peak measured in the same process, the CPU model and AMX in the header, and what
#      each lever gives (--levers);
#   2. profile_step.py for both models: the step's time by op (torch.profiler) and every oneDNN
#      convolution kernel (ONEDNN_VERBOSE), which shows whether they run on AMX
#      (avx512_core_amx / avx10_1_512_amx);
#   3. preset_step.py: the default run's own step (quick preset), as it is and with
#      torch.compile, three times in turn.
#
#   bash benchmarks/amx_check.sh             # refuses (exit 2) on a CPU without amx_bf16
#   bash benchmarks/amx_check.sh --dry-run   # prints the commands and where they write
#   bash benchmarks/amx_check.sh --force     # measures on any CPU (another machine kind's table)
set -euo pipefail
cd "$(dirname "$0")/.."
CPUINFO="${BYOLBENCH_CPUINFO:-/proc/cpuinfo}"
MODE="${1:-}"
case "$MODE" in
  "" | --dry-run | --force) ;;
  *)
    echo "error: unknown option '$MODE'; valid: --dry-run, --force (or none)" >&2
    exit 2
    ;;
esac
KIND=amx
grep -qw amx_bf16 "$CPUINFO" 2>/dev/null || KIND=no-amx
if [ "$MODE" != "--force" ] && [ "$KIND" = "no-amx" ]; then
  echo "error: this CPU has no AMX-BF16 (no amx_bf16 flag in $CPUINFO), the kind this check" \
    "is for; run it on an Intel Xeon with AMX, or pass --force to measure this CPU anyway" >&2
  exit 2
fi
OUT="benchmarks/results/section3-$KIND-$(date -u +%Y%m%d)"
COMMANDS=(
  "python benchmarks/throughput.py --models resnet18,resnet10t --no-peer --levers --windows 4 --out $OUT"
  "python benchmarks/profile_step.py --model resnet18"
  "python benchmarks/profile_step.py --model resnet10t"
  "python benchmarks/preset_step.py --steps 60 --set train.compile=true --repeat 3"
)
LOGS=(throughput.txt profile-resnet18.txt profile-resnet10t.txt preset-step.txt)
if [ "$MODE" = "--dry-run" ]; then
  for i in "${!COMMANDS[@]}"; do echo "${COMMANDS[$i]} > $OUT/${LOGS[$i]}"; done
  exit 0
fi
mkdir -p "$OUT"
for i in "${!COMMANDS[@]}"; do
  echo "== ${COMMANDS[$i]}"
  ${COMMANDS[$i]} 2>&1 | tee "$OUT/${LOGS[$i]}"
done
echo "wrote $OUT/: copy its tables into benchmarks/README.md (one table per machine kind)"
