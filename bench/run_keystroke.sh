#!/usr/bin/env bash
# Per-keystroke latency of an incremental next-token predictor: tapegrad's train::Predictor
# (bench_keystroke) against PyTorch eager doing the same step (keystroke_torch.py), in the same
# run, each pinned to one core with one thread, interleaved, the median of the repeats:
#   (a) the character-level LSTM of tapegrad-lm (V 65, embedding 64, hidden 256);
#   (b) a word-level LSTM of a phone keyboard's size (V 10000, embedding 64, hidden 64: 1.3M
#       parameters).
# One keystroke = one recurrent step of the token typed, the head, and the top 3 next tokens with
# their probabilities.
#   bench/run_keystroke.sh [--repeats N] [--keys N]
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/run_keystroke.sh [--repeats N] [--keys N]" >&2
  exit 2
}
repeats=3 keys=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) [ $# -ge 2 ] || usage; repeats=$2; shift 2 ;;
    --keys) [ $# -ge 2 ] || usage; keys=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench/run_keystroke.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_keystroke.sh: bad --repeats '$repeats'" >&2; usage; }
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_keystroke.sh: bad --keys '$keys'" >&2; usage; }

scripts/setup.sh python3-torch
build=build-bench
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -f $build/CMakeCache.txt ] || cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF >/dev/null
cmake --build $build -j "$(nproc)" --target bench_keystroke
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

/usr/bin/python3 - "$build/bench/bench_keystroke" bench/keystroke_torch.py "$repeats" "$keys" <<'PY'
import json, statistics, subprocess, sys

program, torch_script, repeats, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
CASES = [("(a) character LSTM", (65, 64, 256, 1)), ("(b) word LSTM, keyboard size", (10000, 64, 64, 1))]
IMPLS = {
    "tapegrad": lambda s: [program, *map(str, s), "--keys", keys],
    "pytorch": lambda s: ["/usr/bin/python3", torch_script, *map(str, s), "--keys", keys],
}
results = {}
for r in range(repeats):
    for name, sizes in CASES:
        for impl, cmd in IMPLS.items():  # interleaved: the machine's noise falls on both
            out = subprocess.run(["taskset", "-c", "0", *cmd(sizes)], check=True,
                                 capture_output=True, text=True).stdout
            rec = json.loads(out.strip().splitlines()[-1])
            results.setdefault((name, impl), []).append(rec)
            print(f"  repeat {r + 1}/{repeats}: {name} {impl}: p50 {rec['p50_us']} us, "
                  f"p95 {rec['p95_us']} us", file=sys.stderr)

def med(name, impl, key):
    return statistics.median(rec[key] for rec in results[(name, impl)])

print("| model | V, E, H, layers | parameters | size | impl | p50 | p95 | p99 | p95 vs PyTorch |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|")
for name, sizes in CASES:
    t95 = med(name, "pytorch", "p95_us")
    for impl in IMPLS:
        rec = results[(name, impl)][0]
        p95 = med(name, impl, "p95_us")
        print(f"| {name} | {', '.join(map(str, sizes))} | {rec['parameters']:,} | "
              f"{rec['size_mb']:.2f} MB | {impl} | {med(name, impl, 'p50_us'):.1f} us | "
              f"{p95:.1f} us | {med(name, impl, 'p99_us'):.1f} us | {t95 / p95:.1f}x |")
PY
