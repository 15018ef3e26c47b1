#!/usr/bin/env bash
# One training step of a character-level RNN language model (bench/workload.hpp), side by side:
# tapegrad (nn::RNN + nn::Linear), libtorch as an explicit loop of ops, libtorch's
# torch::nn::RNN module, and a hand-written cblas forward + backward (the ceiling); plus the LSTM
# variant (tapegrad nn::LSTM against torch::nn::LSTM and the hand-written LSTM ceiling); plus the
# machine's single-thread sgemm peak (bench_sgemm_peak), against which every row's nominal
# GFLOP/s is put. Builds everything, runs every program at every size interleaved, each pinned to
# one core with one BLAS/OpenMP thread, takes the median of the repeats, checks that all programs
# agree on the loss before and after one SGD update, and prints a markdown table; then a second,
# smaller table with two threads (taskset -c 0,1; OPENBLAS_NUM_THREADS = 2, and for libtorch
# OMP_NUM_THREADS = 1, see env_for) at the GEMM-bound sizes, with the spread (min-max) of the runs.
#   bench/run.sh [--repeats N] [--sizes all|small] [--seconds S] [--json FILE]
#     --repeats N   runs of each program at each size (default 5); the tables show the median
#     --sizes small only the first two sizes (a quick check; the LSTM and the two-thread table
#                   run at those too)
#     --seconds S   time each run for at least S seconds of steps (default 2)
#     --json FILE   also write the median records (with peak_rss_kb, threads, gflops and
#                   percent_of_sgemm_peak) and the sgemm peak of each thread count to FILE
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
  bench_rnn_torch_loop bench_rnn_torch_module bench_lstm_ceiling bench_lstm_tapegrad \
  bench_lstm_torch_module bench_sgemm_peak
# The thread counts are set per run below (1, or 2 for the two-thread table).

python3 - "$build/bench" "$repeats" "$sizes" "$seconds" "$json" <<'PY'
import json, os, statistics, subprocess, sys, tempfile

bindir, repeats, which, seconds, json_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
SIZES = [(5, 1, 4, 5), (100, 1, 25, 65), (128, 32, 64, 65), (512, 32, 64, 65), (1024, 64, 64, 65)]
LSTM_SIZES = [(512, 32, 64, 65)]
TWO_SIZES = [(512, 32, 64, 65), (1024, 64, 64, 65)]  # the GEMM-bound sizes, where threads can help
if which == "small":
    SIZES = SIZES[:2]
    LSTM_SIZES = TWO_SIZES = SIZES
RNN = ["bench_rnn_ceiling", "bench_rnn_tapegrad", "bench_rnn_torch_loop", "bench_rnn_torch_module"]
LSTM = ["bench_lstm_ceiling", "bench_lstm_tapegrad", "bench_lstm_torch_module"]
CEILING = {"rnn": "bench_rnn_ceiling", "lstm": "bench_lstm_ceiling"}
TOL = 1e-5
# One core (or two), one BLAS/OpenMP thread per core: libtorch reads OMP_NUM_THREADS
# (bench::threads_from_env), OpenBLAS OPENBLAS_NUM_THREADS.
CORES = {1: "0", 2: "0,1"}


def flops_per_step(family, size):
    """Nominal FLOPs of one training step, counting every product as a dense GEMM (2 per
    multiply-add) and nothing else. Per row (one stream at one step), RNN: forward input
    projection 2VH (one-hot x W_ih^T, counted as a GEMM although the programs gather), recurrence
    2H^2, head 2VH; backward head dW_hy 2VH and dh 2VH, dW_ih 2VH (no input gradient), recurrence
    dh 2H^2 and dW_hh 2H^2: 10VH + 6H^2 (issue 16's formula). The LSTM has four gate blocks in
    W_ih and W_hh: forward input 8VH, recurrence 8H^2, head 2VH; backward head 4VH, dW_ih 8VH,
    dh 8H^2, dW_hh 8H^2: 22VH + 24H^2. The element-wise work (activations, softmax, SGD) is not
    counted. Because the one-hot projection and its gradient are counted as GEMMs but run as a
    gather and a scatter (4VH of the RNN's 10VH, 16VH of the LSTM's 22VH), the nominal rate is
    above the arithmetic actually done: by 4% at (1024, 64, 64, 65), 7% at (512, 32, 64, 65),
    22% at (128, 32, 64, 65) for the RNN."""
    H, B, T, V = size
    per_row = 10 * V * H + 6 * H * H if family == "rnn" else 22 * V * H + 24 * H * H
    return T * B * per_row


def env_for(threads, prog=""):
    n = str(threads)
    if threads == 2 and "torch" in prog:
        # libtorch's best two-thread setting here: its GEMMs on two OpenBLAS threads and one
        # OpenMP thread. With OMP_NUM_THREADS=2 as well, its OpenMP threads each call a
        # two-thread OpenBLAS (4 threads on 2 cores) and GOMP's spin-waiting starves them: the
        # loop at (512, 32, 64, 65) ran 4.4-5.1 steps/s against 15.0-15.8 on one thread, and
        # 1.3 with the other core busy (2026-12-03; OMP=2 with OMP_WAIT_POLICY=PASSIVE: 15.6-18.7,
        # OMP=2 with one OpenBLAS thread: 13.8-15.5, this setting: 18.7-19.1).
        return dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS="1", MKL_NUM_THREADS=n)
    return dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)


def run_one(prog, size, threads):
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, "taskset", "-c", CORES[threads],
               os.path.join(bindir, prog), *map(str, size), "--seconds", seconds]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env_for(threads, prog))
        if p.returncode != 0:
            raise SystemExit(f"FAIL: {' '.join(cmd)} exited with {p.returncode}:\n{p.stderr}")
        rec = json.loads(p.stdout.strip().splitlines()[-1])
        rec["peak_rss_kb"] = int(rss.read().strip().splitlines()[-1])
        rec["threads"] = threads
        return rec


def sgemm_peak(threads):
    """The best GFLOP/s of square cblas_sgemm at n = 1024 and 2048 (bench_sgemm_peak)."""
    cmd = ["taskset", "-c", CORES[threads], os.path.join(bindir, "bench_sgemm_peak"), "1024",
           "2048", "--seconds", "1"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env_for(threads))
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited with {p.returncode}:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])["gflops"]


# (family, size, programs, threads), in table order
groups = ([("rnn", s, RNN, 1) for s in SIZES] + [("lstm", s, LSTM, 1) for s in LSTM_SIZES] +
          [("rnn", s, RNN, 2) for s in TWO_SIZES] + [("lstm", s, LSTM, 2) for s in LSTM_SIZES])
runs = {}  # (family, size, program, threads) -> list of records
peaks = {1: [], 2: []}
failures = []

for r in range(repeats):
    for threads in (1, 2):
        peaks[threads].append(sgemm_peak(threads))
        print(f"[{r + 1}/{repeats}] sgemm peak, {threads} thread(s): {peaks[threads][-1]:.1f} "
              "GFLOP/s", file=sys.stderr, flush=True)
    for family, size, progs, threads in groups:
        for prog in progs:
            rec = run_one(prog, size, threads)
            runs.setdefault((family, size, prog, threads), []).append(rec)
            print(f"[{r + 1}/{repeats}] {prog} {size} x{threads}: {rec['steps_per_s']:.4g} "
                  f"steps/s, loss {rec['loss0']:.7f} -> {rec['loss1']:.7f}, "
                  f"{rec['peak_rss_kb'] / 1024:.0f} MB", file=sys.stderr, flush=True)

# Every run of every program at one size, with either thread count, must give the same losses
# as the first program's (the ceiling's) first single-thread run to TOL.
worst = 0.0
for family, size, progs, threads in groups:
    ref_key = (family, size, progs[0], 1)
    ref = runs[ref_key if ref_key in runs else (family, size, progs[0], threads)][0]
    for prog in progs:
        for rec in runs[(family, size, prog, threads)]:
            for key in ("loss0", "loss1"):
                d = abs(rec[key] - ref[key])
                worst = max(worst, d)
                if not d <= TOL:
                    failures.append(f"{family} {size} x{threads}: {rec['impl']} {key} = "
                                    f"{rec[key]:.9g}, {ref['impl']} has {ref[key]:.9g} "
                                    f"(|diff| {d:.3g} > {TOL:g})")

peak = {t: statistics.median(v) for t, v in peaks.items()}
med = {}
for key, recs in runs.items():
    m = dict(recs[0])
    m["steps_per_s"] = statistics.median(x["steps_per_s"] for x in recs)
    m["peak_rss_kb"] = int(statistics.median(x["peak_rss_kb"] for x in recs))
    m["repeats"] = len(recs)
    m["steps_per_s_runs"] = [x["steps_per_s"] for x in recs]
    m["gflops"] = flops_per_step(key[0], key[1]) * m["steps_per_s"] * 1e-9
    m["percent_of_sgemm_peak"] = 100 * m["gflops"] / peak[key[3]]
    med[key] = m


def ratio(a, b):
    return f"{a / b:.2f}x" if b else "-"


def table(threads):
    """The markdown rows of one thread count: ratios to the libtorch loop, the torch::nn module
    and the ceiling; nominal GFLOP/s and its share of the sgemm peak; with two threads also the
    spread of the runs."""
    two = threads == 2
    print("| size (H, B, T, V) | impl | steps/s | " + ("min-max steps/s | " if two else "") +
          "chars/s | vs libtorch loop | vs torch::nn module | % of ceiling | GFLOP/s | "
          "% of peak | peak RSS MB |")
    print("|---|---|---:|" + ("---:|" if two else "") + "---:|---:|---:|---:|---:|---:|---:|")
    for family, size, progs, t in groups:
        if t != threads:
            continue
        H, B, T, V = size
        loop = med.get((family, size, "bench_rnn_torch_loop", t))
        module = med[(family, size, progs[-1], t)]
        ceiling = med[(family, size, CEILING[family], t)]
        for prog in progs:
            m = med[(family, size, prog, t)]
            s = m["steps_per_s"]
            spread = f"{min(m['steps_per_s_runs']):,.1f}-{max(m['steps_per_s_runs']):,.1f} | "
            print(f"| {family} ({H}, {B}, {T}, {V}) | {m['impl']} | {s:,.1f} | "
                  f"{spread if two else ''}{s * B * T:,.0f} | "
                  f"{ratio(s, loop['steps_per_s']) if loop else '-'} | "
                  f"{ratio(s, module['steps_per_s'])} | "
                  f"{100 * s / ceiling['steps_per_s']:.0f}% | {m['gflops']:.1f} | "
                  f"{m['percent_of_sgemm_peak']:.0f}% | {m['peak_rss_kb'] / 1024:.1f} |")


def spread(v):
    return f"{min(v):.1f}-{max(v):.1f}"


print(f"\nmedian of {repeats} runs, one training step (forward + full BPTT + SGD), float32, one "
      f"core (taskset -c 0), 1 BLAS/OpenMP thread; chars/s = steps/s * B * T; GFLOP/s = "
      f"nominal FLOPs per step (RNN T*B*(10VH + 6H^2), LSTM T*B*(22VH + 24H^2)) * steps/s; "
      f"% of peak: of the single-thread sgemm peak, {peak[1]:.1f} GFLOP/s (median; runs "
      f"{spread(peaks[1])}; square cblas_sgemm, best of n = 1024, 2048)\n")
table(1)
print(f"\ntwo threads: taskset -c 0,1, OPENBLAS_NUM_THREADS = 2 (tapegrad, the ceilings; "
      f"libtorch with OMP_NUM_THREADS = 1, its fastest setting here: see env_for in "
      f"bench/run.sh); median of {repeats} runs with their min-max; % of peak: of "
      f"the two-thread sgemm peak, {peak[2]:.1f} GFLOP/s (runs {spread(peaks[2])}). The second "
      f"core is shared with whatever else runs on the machine.\n")
table(2)

print()
if failures:
    for f in failures:
        print(f"FAIL: LOSSES DISAGREE: {f}")
        print(f"FAIL: LOSSES DISAGREE: {f}", file=sys.stderr)
else:
    print(f"losses agree: every program, every run, every size, both thread counts within "
          f"{TOL:g} of the ceiling (worst |diff| {worst:.2g})")
if json_out:
    with open(json_out, "w") as f:
        json.dump([{"impl": "sgemm_peak", "threads": t, "gflops": peak[t], "gflops_runs": peaks[t]}
                   for t in peaks] +
                  [med[(fam, s, p, t)] for fam, s, ps, t in groups for p in ps], f, indent=1)
    print(f"wrote {json_out}")
sys.exit(1 if failures else 0)
PY
