#!/usr/bin/env bash
# The README's language-model yardstick: tapegrad-lm on tinyshakespeare (the standard char-rnn
# corpus, last 10% held out) with issue 4's settings -- hidden 256, embedding 256, B = 32,
# T = 64, Adam lr 2e-3, gradient-norm clip 5, one core -- one row per model, printed as the
# README's markdown table.
#
#   scripts/lm_yardstick.sh                      every row at its full length (LSTM 300 s,
#                                                GRU 300 s, RNN 150 s of training: ~13 min)
#   scripts/lm_yardstick.sh --time 10            every row for 10 s (to check the script)
#   scripts/lm_yardstick.sh --models lstm,rnn    only these rows
#   scripts/lm_yardstick.sh --data FILE          another corpus (default ../shared/data/...)
#   scripts/lm_yardstick.sh --torch              after each row, the same run in PyTorch
#                                                (bench/lm_yardstick_torch.py: the same data
#                                                pipeline, one thread; installs python3-torch)
#
# Runs are pinned to core 0 with one OpenBLAS thread; each writes build/yardstick/<model>/
# (removed first: the rows are fresh runs, never resumed). "wall" is the whole process;
# "--time" counts training steps only (validation and checkpoints excluded), and chars/s is
# characters trained on per second of training steps.
set -euo pipefail
cd "$(dirname "$0")/.."

data=../shared/data/tinyshakespeare.txt
time_override=""
models=lstm,gru,rnn
torch=0
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch=1; shift ;;
    --time) time_override="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "lm_yardstick: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -f "$data" ]; then
  echo "lm_yardstick: no corpus at '$data' (give --data FILE)" >&2
  exit 1
fi

program=build/examples/tapegrad-lm
if [ ! -x "$program" ]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  [ -f build/CMakeCache.txt ] || cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$(nproc)" --target tapegrad-lm
fi

pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
if [ "$torch" = 1 ] && ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch
fi

rows=()
IFS=, read -r -a chosen <<<"$models"
for model in "${chosen[@]}"; do
  case "$model" in
    lstm|gru) seconds=300 ;;
    rnn) seconds=150 ;;
    *) echo "lm_yardstick: unknown model '$model' (rnn, lstm or gru)" >&2; exit 2 ;;
  esac
  [ -n "$time_override" ] && seconds="$time_override"
  out="build/yardstick/$model"
  rm -rf "$out"
  args=(train --data "$data" --level char --model "$model" --hidden 256 --layers 1 --embed 256
        --batch 32 --seq-len 64 --optimizer adam --lr 2e-3 --clip 5 --val-fraction 0.1
        --seed 1 --time "$seconds" --val-every 500 --checkpoint-every 1000 --print-every 50
        --out "$out")
  command_line="OPENBLAS_NUM_THREADS=1 ${pin[*]} $program ${args[*]}"
  echo "lm_yardstick: $command_line" >&2
  start=$(date +%s.%N)
  "${pin[@]}" "$program" "${args[@]}" >&2
  end=$(date +%s.%N)
  rows+=("$(python3 - "$out/summary.json" "$start" "$end" "$command_line" <<'EOF'
import json, math, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
nats = s["validation_loss"]
print("| {} | {:,} | {:.0f} s ({:.0f} s training, {} steps) | {:,.0f} | {:.4f} | {:.4f} | `{}` |".format(
    s["model"], s["parameters"], wall, s["train_seconds"], s["steps"], s["tokens_per_second"],
    nats, nats / math.log(2), sys.argv[4]))
EOF
)")
  if [ "$torch" = 1 ]; then
    torch_args=(--data "$data" --model "$model" --hidden 256 --embed 256 --batch 32 --seq-len 64
                --lr 2e-3 --clip 5 --val-fraction 0.1 --seed 1 --time "$seconds" --val-every 500)
    torch_line="OMP_NUM_THREADS=1 ${pin[*]} bench/lm_yardstick_torch.py ${torch_args[*]}"
    echo "lm_yardstick: $torch_line" >&2
    start=$(date +%s.%N)
    "${pin[@]}" /usr/bin/python3 bench/lm_yardstick_torch.py "${torch_args[@]}" >"$out/pytorch.json.tmp"
    mv "$out/pytorch.json.tmp" "$out/pytorch.json"  # a failed run leaves no half-written result
    end=$(date +%s.%N)
    rows+=("$(python3 - "$out/pytorch.json" "$start" "$end" "$torch_line" <<'EOF'
import json, math, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
wall = float(sys.argv[3]) - float(sys.argv[2])
nats = s["validation_loss"]
print("| {} (PyTorch {}) | {:,} | {:.0f} s ({:.0f} s training, {} steps) | {:,.0f} | {:.4f} | {:.4f} | `{}` |".format(
    s["model"], s["version"], s["parameters"], wall, s["train_seconds"], s["steps"],
    s["chars_per_second"], nats, nats / math.log(2), sys.argv[4]))
EOF
)")
  fi
done

echo
echo "| model | parameters | wall time | chars/s | validation nats/char | bits/char | command |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
