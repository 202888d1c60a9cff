#!/usr/bin/env bash
# The three time-to-accuracy targets measured on the machine at hand, in one command: about
# two hours on 2 cores (more where the step is slow), written to
# benchmarks/results/targets-KIND/ (KIND: amx, avx512-bf16, avx512 or avx2, from the CPU flags):
#   1. the default run, three seeds: byolbench run --seeds 0,1,2 (kNN and linear gain);
#   2. the ten-minute race, four seeds, each in its own folder: race.py --seed N with
#      byolbench and Lightly's documented loop (the lead in kNN gain);
#   3. targets.py over those folders, printed and saved as targets.md.
# Every step saves what it finishes, so the same command after an interruption resumes: the
# finished cells and race runs are kept and only the missing ones train.
#
#   bash benchmarks/targets_check.sh             # measures
#   bash benchmarks/targets_check.sh --dry-run   # prints the commands and where they write
set -euo pipefail
cd "$(dirname "$0")/.."
CPUINFO="${BYOLBENCH_CPUINFO:-/proc/cpuinfo}"
MODE="${1:-}"
case "$MODE" in
  "" | --dry-run) ;;
  *)
    echo "error: unknown option '$MODE'; valid: --dry-run (or none)" >&2
    exit 2
    ;;
esac
FLAGS="$(grep -m1 '^flags' "$CPUINFO" 2>/dev/null || true)"
KIND=cpu
for flag in avx2 avx512f avx512_bf16 amx_bf16; do
  if grep -qw "$flag" <<<"$FLAGS"; then
    case "$flag" in
      avx2) KIND=avx2 ;;
      avx512f) KIND=avx512 ;;
      avx512_bf16) KIND=avx512-bf16 ;;
      amx_bf16) KIND=amx ;;
    esac
  fi
done
OUT="benchmarks/results/targets-$KIND"
SEEDS=(0 1 2 3)
COMMANDS=("byolbench run --seeds 0,1,2 --results-dir $OUT/default")
TARGETS="python benchmarks/targets.py --results $OUT/default"
for seed in "${SEEDS[@]}"; do
  COMMANDS+=("python benchmarks/race.py --budgets 10m --contenders byolbench,lightly-docs --seed $seed --out $OUT/seed$seed")
  TARGETS+=" --race $OUT/seed$seed"
done
if [ "$MODE" = "--dry-run" ]; then
  printf '%s\n' "${COMMANDS[@]}"
  echo "$TARGETS > $OUT/targets.md"
  exit 0
fi
mkdir -p "$OUT"
for command in "${COMMANDS[@]}"; do
  echo "== $command"
  $command
done
echo "== $TARGETS"
$TARGETS | tee "$OUT/targets.md"
echo "wrote $OUT/: copy targets.md into benchmarks/README.md under this machine kind"
