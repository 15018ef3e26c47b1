#!/usr/bin/env bash
# tapegrad-forecast on real series against the forecasters it is judged by: Debian's
# python3-statsmodels ships the classic series as CSV; for each, tapegrad is trained with its
# defaults under several seeds (the held-out MASE of each, their median and range), and the same
# split is given to the naive baselines and to statsmodels' ARIMA and Holt-Winters
# (bench/forecast_statsmodels.py). Everything runs pinned to one core with one thread.
#   co2        weekly Mauna Loa CO2, 1958-2001 (2284 values, 59 missing): horizon 52, season 52
#   sunspots   yearly sunspot numbers, 1700-2008 (309 values): horizon 22, season 11
#   bench/run_forecast.sh [--seeds N] [--steps N]
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/run_forecast.sh [--seeds N] [--steps N]" >&2
  exit 2
}
seeds=5 steps=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) [ $# -ge 2 ] || usage; seeds=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; steps=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench/run_forecast.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_forecast.sh: bad --seeds '$seeds'" >&2; usage; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_forecast.sh: bad --steps '$steps'" >&2; usage; }

scripts/setup.sh python3-statsmodels
build=build
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -f $build/CMakeCache.txt ] || cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $build -j "$(nproc)" --target tapegrad-forecast
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
data=/usr/lib/python3/dist-packages/statsmodels/datasets
work=$build/bench-forecast
mkdir -p "$work"

/usr/bin/python3 - "$build/examples/tapegrad-forecast" "$data" "$work" "$seeds" "$steps" <<'PY'
import json, re, statistics, subprocess, sys, time

program, data, work, seeds, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
SERIES = [("co2", "co2/co2.csv", "co2", 52, 52), ("sunspots", "sunspots/sunspots.csv", "SUNACTIVITY", 22, 11)]
pinned = ["taskset", "-c", "0"]

rows = []
for name, path, column, horizon, season in SERIES:
    csv = f"{data}/{path}"
    mase, seconds = [], []
    for seed in range(1, seeds + 1):
        out = f"{work}/{name}-seed{seed}"
        subprocess.run(["rm", "-rf", out], check=True)
        start = time.perf_counter()
        subprocess.run(pinned + [program, "train", "--csv", csv, "--column", column,
                                 "--horizon", str(horizon), "--season", str(season),
                                 "--steps", steps, "--seed", str(seed), "--out", out,
                                 "--print-every", "1000000"],
                       check=True, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        table = subprocess.run(pinned + [program, "eval", "--model", out], check=True,
                               capture_output=True, text=True).stdout
        row = next(l for l in table.splitlines() if l.startswith("| tapegrad"))
        mase.append(float(row.strip("|").split("|")[-1]))
        print(f"  {name} seed {seed}: MASE {mase[-1]:.3f} ({seconds[-1]:.1f} s)", file=sys.stderr)
    rows.append((name, f"tapegrad lstm, defaults, {steps} steps: median of {seeds} seeds "
                       f"(range {min(mase):.3f}-{max(mase):.3f})",
                 statistics.median(mase), statistics.median(seconds)))
    sm = subprocess.run(pinned + ["/usr/bin/python3", "bench/forecast_statsmodels.py", "--csv", csv,
                                  "--column", column, "--horizon", str(horizon), "--season",
                                  str(season)], check=True, capture_output=True, text=True).stdout
    for line in sm.splitlines():
        rec = json.loads(line)
        label = {"last": "last value", "drift": "drift", "seasonal-naive": "seasonal naive",
                 "arima": "statsmodels ARIMA", "holt-winters": "statsmodels Holt-Winters"}[rec["model"]]
        if rec.get("detail") and rec["model"] in ("arima", "holt-winters"):
            label += " (" + re.sub(r";.*", "", rec["detail"]) + ")"
        rows.append((name, label, rec["mase"], rec["seconds"]))

print("| series | forecaster | held-out MASE | fit seconds |")
print("|---|---|---:|---:|")
for name, label, m, s in rows:
    print(f"| {name} | {label} | {m:.3f} | {s:.1f} |")
PY
