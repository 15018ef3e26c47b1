#!/usr/bin/env bash
# The README's memory table: tapegrad-lm's estimate of a training run's peak memory (the
# "memory: about ..." line of its header, train::estimate_training_memory) beside the peak
# resident size the run really reached (GNU time's %M), for a few shapes of each cell. Each
# run trains 3 steps on the first 300 KB of a text (validation and checkpoints included,
# since the peak is at a checkpoint), pinned to one core with one OpenBLAS thread.
#
#   scripts/memory_estimate.sh [--data FILE]   default: ../shared/data/tinyshakespeare.txt,
#                                              else 300 KB of the built-in corpus repeated
set -euo pipefail
cd "$(dirname "$0")/.."
data=../shared/data/tinyshakespeare.txt
[ "${1:-}" = "--data" ] && data="$2"
lm=build/examples/tapegrad-lm
[ -x "$lm" ] || { echo "memory_estimate: build tapegrad-lm first (scripts/test.sh)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "memory_estimate: needs GNU time (apt install time)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$data" ]; then
  head -c 300000 "$data" >"$work/text.txt"
else
  python3 -c "import sys; sys.stdout.write(('the king sits on the throne. the queen walks in the garden.\n' * 6000)[:300000])" >"$work/text.txt"
fi

echo "| cell | hidden | layers | batch | seq-len | embed | estimate | measured peak | estimate / peak |"
echo "|---|---|---|---|---|---|---|---|---|"
while read -r cell hidden layers batch seq embed; do
  rm -rf "$work/out"
  OPENBLAS_NUM_THREADS=1 /usr/bin/time -f "%M" -o "$work/peak" taskset -c 0 "$lm" train \
    --data "$work/text.txt" --out "$work/out" --model "$cell" --hidden "$hidden" \
    --layers "$layers" --batch "$batch" --seq-len "$seq" --embed "$embed" --steps 3 \
    --val-fraction 0.01 >/dev/null 2>"$work/err"
  estimate=$(sed -n 's/.*memory: about \(.*\) estimated.*/\1/p' "$work/err")
  peak_kib=$(tail -1 "$work/peak")
  python3 - "$cell" "$hidden" "$layers" "$batch" "$seq" "$embed" "$estimate" "$peak_kib" <<'PY'
import sys
cell, hidden, layers, batch, seq, embed, estimate, peak_kib = sys.argv[1:]
value, unit = estimate.split()
scale = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
peak = int(peak_kib) * 1024
print(f"| {cell} | {hidden} | {layers} | {batch} | {seq} | {embed} | {estimate} "
      f"| {peak / 2**20:.1f} MiB | {float(value) * scale / peak:.2f} |")
PY
done <<'RUNS'
lstm 512 1 64 64 64
lstm 256 2 128 100 64
lstm 1024 1 16 32 0
gru 512 2 64 64 64
gru 256 1 32 128 0
rnn 1024 1 32 128 0
rnn 512 3 64 64 64
RUNS
