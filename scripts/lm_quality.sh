#!/usr/bin/env bash
# The README's quality table: tapegrad-lm recipes on tinyshakespeare (last 10% held out), each
# trained for the same time by tapegrad and, with --torch, by its PyTorch twin
# (bench/lm_yardstick_torch.py given the identical recipe: model, dropout placement, optimiser,
# weight decay, schedule, init). One core each, one BLAS/OpenMP thread.
#
#   scripts/lm_quality.sh --list                       the recipes (the search, written down)
#   scripts/lm_quality.sh --recipes r1,r2 --time 300   tapegrad rows for these recipes
#   scripts/lm_quality.sh --recipes r1 --time 300 --torch [--parallel]
#                                                      ... and the twin's rows; --parallel runs
#                                                      the twin on core 1 while tapegrad runs on
#                                                      core 0 (half the wall time; the two runs
#                                                      then share the memory bus)
#   scripts/lm_quality.sh ... --core N                 tapegrad on core N (default 0; the
#                                                      twin takes the other core with --parallel)
#   scripts/lm_quality.sh ... --plot FILE.svg          validation loss against training time of
#                                                      the last recipe, both engines, on one plot
#
# Each run writes build/quality/<recipe>-<time>s/ (removed first: fresh runs, never resumed);
# the twin's JSON goes to pytorch.json there. A row reports the best validation loss (the
# checkpoint best.npz keeps; the twin reports the same minimum) and the last one, nats/char.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | flags given to both programs. The search: every configuration tried is listed here,
# so that the table's rows can be rerun; the README says which won at which training time.
base="--model lstm --layers 1 --batch 32 --seq-len 64"
adamw_cosine="--optimizer adamw --weight-decay 0.1 --lr-schedule cosine --warmup 100"
recipes=(
  "baseline|$base --hidden 256 --embed 256 --optimizer adam --lr 2e-3"
  "cosine|$base --hidden 256 --embed 256 --optimizer adam --lr 2e-3 --lr-schedule cosine --lr-min 2e-4 --warmup 100"
  "d0.1-h256|$base --hidden 256 --embed 128 $adamw_cosine --lr 3e-3 --lr-min 3e-4 --dropout 0.1"
  "d0.2-h384|$base --hidden 384 --embed 128 $adamw_cosine --lr 3e-3 --lr-min 3e-4 --dropout 0.2"
  "d0.25-h512|$base --hidden 512 --embed 128 $adamw_cosine --lr 2e-3 --lr-min 2e-4 --dropout 0.25"
  "d0.2-2x256|--model lstm --layers 2 --batch 32 --seq-len 64 --hidden 256 --embed 128 $adamw_cosine --lr 3e-3 --lr-min 3e-4 --dropout 0.2"
)

data=../shared/data/tinyshakespeare.txt
seconds=300
chosen=""
torch=0
parallel=0
plot=""
list=0
core=0
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    --recipes) chosen="$2"; shift 2 ;;
    --torch) torch=1; shift ;;
    --parallel) parallel=1; shift ;;
    --plot) plot="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --list) list=1; shift ;;
    --core) core="$2"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "lm_quality: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

flags_of() {  # the flags of recipe $1, or nothing
  local r
  for r in "${recipes[@]}"; do
    [ "${r%%|*}" = "$1" ] && { echo "${r#*|}"; return 0; }
  done
  return 1
}

if [ "$list" = 1 ]; then
  for r in "${recipes[@]}"; do printf '%-12s %s\n' "${r%%|*}" "${r#*|}"; done
  exit 0
fi
[ -n "$chosen" ] || { echo "lm_quality: give --recipes NAME,... (--list shows them)" >&2; exit 2; }
IFS=, read -r -a names <<<"$chosen"
for name in "${names[@]}"; do
  flags_of "$name" >/dev/null || { echo "lm_quality: unknown recipe '$name' (--list shows them)" >&2; exit 2; }
done
[ -f "$data" ] || { echo "lm_quality: no corpus at '$data' (give --data FILE)" >&2; exit 1; }

program=build/examples/tapegrad-lm
curves=build/tools/tapegrad-lm-curves
if [ ! -x "$program" ] || [ ! -x "$curves" ]; then
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j "$(nproc)" --target tapegrad-lm tapegrad-lm-curves
fi
if [ "$torch" = 1 ] && ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-torch
fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
pin() {  # taskset -c CORE where there is taskset
  if command -v taskset >/dev/null 2>&1; then echo "taskset -c $1"; fi
}

row() {  # engine, directory or json, command
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
engine, path, name, command = sys.argv[1:5]
if engine == "tapegrad":
    s = json.load(open(path + "/summary.json"))
    curve = []
    for line in open(path + "/log.csv").read().splitlines()[1:]:
        cells = line.split(",")
        if cells[-1]:
            curve.append((int(cells[0]), float(cells[-1])))
    steps, seconds, rate, params = s["steps"], s["train_seconds"], s["tokens_per_second"], s["parameters"]
    label = "tapegrad"
else:
    s = json.loads([l for l in open(path).read().splitlines() if l.strip()][-1])
    curve = [tuple(p) for p in s["validation_curve"]]
    steps, seconds, rate, params = s["steps"], s["train_seconds"], s["chars_per_second"], s["parameters"]
    label = "PyTorch " + s["version"]
best = min(curve, key=lambda p: p[1])
print("| {} | {} | {:,} | {:.0f} s, {:,} steps | {:,.0f} | **{:.4f}** (step {:,}) | {:.4f} | `{}` |".format(
    name, label, params, seconds, steps, rate, best[1], best[0], curve[-1][1], command))
PY
}

mkdir -p build/quality
table=()
for name in "${names[@]}"; do
  read -r -a flags <<<"$(flags_of "$name")"
  out="build/quality/$name-${seconds}s"
  rm -rf "$out"
  mkdir -p "$out.tmp"
  common=("${flags[@]}" --clip 5 --val-fraction 0.1 --seed 1 --time "$seconds" --val-every 250)
  lm_args=(train --data "$data" --level char "${common[@]}" --checkpoint-every 1000
           --print-every 250 --out "$out")
  torch_args=(--data "$data" "${common[@]}")
  lm_line="OPENBLAS_NUM_THREADS=1 $(pin "$core") $program ${lm_args[*]}"
  torch_core=$core; [ "$parallel" = 1 ] && torch_core=$((1 - core))
  torch_line="OMP_NUM_THREADS=1 $(pin "$torch_core") bench/lm_yardstick_torch.py ${torch_args[*]}"
  echo "lm_quality: $lm_line" >&2
  torch_pid=""
  if [ "$torch" = 1 ] && [ "$parallel" = 1 ]; then
    echo "lm_quality: $torch_line (in parallel)" >&2
    $(pin "$torch_core") /usr/bin/python3 bench/lm_yardstick_torch.py "${torch_args[@]}" >"$out.tmp/pytorch.json" &
    torch_pid=$!
  fi
  $(pin "$core") "$program" "${lm_args[@]}" >&2
  table+=("$(row tapegrad "$out" "$name" "$lm_line")")
  if [ "$torch" = 1 ]; then
    if [ -n "$torch_pid" ]; then
      wait "$torch_pid"
    else
      echo "lm_quality: $torch_line" >&2
      $(pin "$torch_core") /usr/bin/python3 bench/lm_yardstick_torch.py "${torch_args[@]}" >"$out.tmp/pytorch.json"
    fi
    mv "$out.tmp/pytorch.json" "$out/pytorch.json"  # a failed run leaves no half-written result
    table+=("$(row torch "$out/pytorch.json" "$name" "$torch_line")")
  fi
  rmdir "$out.tmp" 2>/dev/null || true
done

echo
echo "| recipe | engine | parameters | training | chars/s | best validation (nats/char) | last | command |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"

if [ -n "$plot" ]; then
  last="build/quality/${names[-1]}-${seconds}s"
  runs=("tapegrad=$last")
  [ -f "$last/pytorch.json" ] && runs+=("PyTorch=$last/pytorch.json")
  "$curves" --out "$plot" --y-max 2.2 \
    --title "tinyshakespeare: validation loss of recipe ${names[-1]}, ${seconds} s of training" "${runs[@]}"
fi
