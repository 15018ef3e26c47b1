#!/usr/bin/env bash
# One training step of a character-level RNN language model (bench/workload.hpp), side by side:
# tapegrad (nn::RNNCell + nn::Linear), libtorch as an explicit loop of ops, libtorch's
# torch::nn::RNN module, and a hand-written cblas forward + backward (the ceiling); plus the LSTM
# variant (tapegrad nn::LSTMCell against torch::nn::LSTM). Builds everything, runs every program
# at every size interleaved, each pinned to one core with one BLAS/OpenMP thread, takes the
# median of the repeats, checks that all programs agree on the loss before and after one SGD
# update, and prints a markdown table.
#   bench/run.sh [--repeats N] [--sizes all|small] [--seconds S] [--json FILE]
#     --repeats N   runs of each program at each size (default 5); the table shows the median
#     --sizes small only the first two sizes (a quick check; the LSTM runs at those too)
#     --seconds S   time each run for at least S seconds of steps (default 2)
#     --json FILE   also write the median records (with peak_rss_kb) to FILE
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/run.sh [--repeats N] [--sizes all|small] [--seconds S] [--json FILE]" >&2
  exit 2
}
repeats=5 sizes=all seconds=2 json=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) [ $# -ge 2 ] || usage; repeats=$2; shift 2 ;;
    --sizes) [ $# -ge 2 ] || usage; sizes=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --json) [ $# -ge 2 ] || usage; json=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: bad --repeats '$repeats'" >&2; usage; }
[[ "$sizes" == all || "$sizes" == small ]] || { echo "bench/run.sh: bad --sizes '$sizes'" >&2; usage; }
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench/run.sh: bad --seconds '$seconds'" >&2; usage; }

scripts/setup.sh
missing=()
dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed" ||
  missing+=(libtorch-dev)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
build=build-bench
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
# build-bench is shared with run_distributed.sh and run_keystroke.sh, which need no libtorch:
# configure it (again) when it was made without the libtorch programs.
grep -q "^TAPEGRAD_BENCH_TORCH:BOOL=ON" $build/CMakeCache.txt 2>/dev/null ||
  cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BENCH_TORCH=ON >/dev/null
cmake --build $build -j "$(nproc)" --target bench_rnn_ceiling bench_rnn_tapegrad \
  bench_rnn_torch_loop bench_rnn_torch_module bench_lstm_tapegrad bench_lstm_torch_module
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

python3 - "$build/bench" "$repeats" "$sizes" "$seconds" "$json" <<'PY'
import json, os, statistics, subprocess, sys, tempfile

bindir, repeats, which, seconds, json_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
SIZES = [(5, 1, 4, 5), (100, 1, 25, 65), (128, 32, 64, 65), (512, 32, 64, 65), (1024, 64, 64, 65)]
LSTM_SIZES = [(512, 32, 64, 65)]
if which == "small":
    SIZES = SIZES[:2]
    LSTM_SIZES = SIZES
RNN = ["bench_rnn_ceiling", "bench_rnn_tapegrad", "bench_rnn_torch_loop", "bench_rnn_torch_module"]
LSTM = ["bench_lstm_tapegrad", "bench_lstm_torch_module"]
TOL = 1e-5

# (family, size) -> programs, in table order
groups = [("rnn", s, RNN) for s in SIZES] + [("lstm", s, LSTM) for s in LSTM_SIZES]
runs = {}  # (family, size, program) -> list of records
failures = []

def run_one(prog, size):
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, "taskset", "-c", "0",
               os.path.join(bindir, prog), *map(str, size), "--seconds", seconds]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise SystemExit(f"FAIL: {' '.join(cmd)} exited with {p.returncode}:\n{p.stderr}")
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        rec["peak_rss_kb"] = int(rss.read().strip().splitlines()[-1])
        return rec

for r in range(repeats):
    for family, size, progs in groups:
        for prog in progs:
            rec = run_one(prog, size)
            runs.setdefault((family, size, prog), []).append(rec)
            print(f"[{r + 1}/{repeats}] {prog} {size}: {rec['steps_per_s']:.4g} steps/s, "
                  f"loss {rec['loss0']:.7f} -> {rec['loss1']:.7f}, {rec['peak_rss_kb'] / 1024:.0f} MB",
                  file=sys.stderr, flush=True)

# Every run of every program at one size must give the same losses as the first program's first
# run (the ceiling for the RNN) to TOL.
worst = 0.0
for family, size, progs in groups:
    ref = runs[(family, size, progs[0])][0]
    for prog in progs:
        for rec in runs[(family, size, prog)]:
            for key in ("loss0", "loss1"):
                d = abs(rec[key] - ref[key])
                worst = max(worst, d)
                if not d <= TOL:
                    failures.append(f"{family} {size}: {rec['impl']} {key} = {rec[key]:.9g}, "
                                    f"{ref['impl']} has {ref[key]:.9g} (|diff| {d:.3g} > {TOL:g})")

med = {}
for key, recs in runs.items():
    m = dict(recs[0])
    m["steps_per_s"] = statistics.median(x["steps_per_s"] for x in recs)
    m["peak_rss_kb"] = int(statistics.median(x["peak_rss_kb"] for x in recs))
    m["repeats"] = len(recs)
    m["steps_per_s_runs"] = [x["steps_per_s"] for x in recs]
    med[key] = m

def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"

print(f"\nmedian of {repeats} runs, one training step (forward + full BPTT + SGD), float32, one "
      f"core (taskset -c 0), 1 BLAS/OpenMP thread; chars/s = steps/s * B * T\n")
print("| size (H, B, T, V) | impl | steps/s | chars/s | vs libtorch loop | vs torch::nn module "
      "| % of ceiling | peak RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for family, size, progs in groups:
    H, B, T, V = size
    loop = med.get((family, size, "bench_rnn_torch_loop"))
    module = med[(family, size, progs[-1])]
    ceiling = med.get((family, size, "bench_rnn_ceiling"))
    for prog in progs:
        m = med[(family, size, prog)]
        s = m["steps_per_s"]
        vs_loop = ratio(s, loop["steps_per_s"]) if loop else "-"
        vs_module = ratio(s, module["steps_per_s"])
        of_ceiling = f"{100 * s / ceiling['steps_per_s']:.0f}%" if ceiling else "-"
        print(f"| {family} ({H}, {B}, {T}, {V}) | {m['impl']} | {s:,.1f} | {s * B * T:,.0f} | "
              f"{vs_loop} | {vs_module} | {of_ceiling} | {m['peak_rss_kb'] / 1024:.1f} |")

print()
if failures:
    for f in failures:
        print(f"FAIL: LOSSES DISAGREE: {f}")
        print(f"FAIL: LOSSES DISAGREE: {f}", file=sys.stderr)
else:
    print(f"losses agree: every program, every run, every size within {TOL:g} of the first "
          f"program (worst |diff| {worst:.2g})")
if json_out:
    with open(json_out, "w") as f:
        json.dump([med[(fam, s, p)] for fam, s, ps in groups for p in ps], f, indent=1)
    print(f"wrote {json_out}")
sys.exit(1 if failures else 0)
PY
