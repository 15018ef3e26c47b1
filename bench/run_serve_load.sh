#!/usr/bin/env bash
# Load on tapegrad-lm serve: 32 concurrent clients (hey, from Debian) for 20 s against loopback,
# sending realistic keyboard prompts (4 prompts of 3-40 words, 8 clients each), with a model
# trained on the built-in corpus. Prints requests/s, p50/p90/p99 latency, every status that was
# not 200 (the goal: none), and the server's resident size before and after (it should stay
# flat). The clients share the machine with the server: on 2 cores, the numbers are for both.
#   bench/run_serve_load.sh [--seconds S] [--clients N] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: bench/run_serve_load.sh [--seconds S] [--clients N] [--threads N]" >&2
  exit 2
}
seconds=20 clients=32 threads=4
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --clients) [ $# -ge 2 ] || usage; clients=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] || usage; threads=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "bench/run_serve_load.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for v in "$seconds" "$clients" "$threads"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run_serve_load.sh: bad number '$v'" >&2; usage; }
done
[ $((clients % 4)) -eq 0 ] || { echo "bench/run_serve_load.sh: --clients must be a multiple of 4 (4 prompts)" >&2; exit 2; }

scripts/setup.sh hey
build=build
generator=(); command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
[ -f $build/CMakeCache.txt ] || cmake -S . -B $build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $build -j "$(nproc)" --target tapegrad-lm
export OPENBLAS_NUM_THREADS=1
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
$build/examples/tapegrad-lm train --out "$work/model" >/dev/null 2>&1
$build/examples/tapegrad-lm serve --model "$work/model" --port 0 --threads "$threads" \
  >"$work/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q "http://" "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/serve.out")
[ -n "$port" ] || { echo "bench/run_serve_load.sh: the server did not start" >&2; exit 1; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
rss_before=$(rss)

prompts=("the king sits on" "the queen sits on the throne and the king"
         "a dog"
         "the king and the queen sit on the throne . the dog sits on the floor near the king and the queen , and the man sits near the dog on the floor by the throne")
per=$((clients / 4))
for i in 0 1 2 3; do
  printf '{"text": "%s", "top": 3}' "${prompts[$i]}" >"$work/body$i.json"
  hey -z "${seconds}s" -c "$per" -m POST -T application/json -D "$work/body$i.json" -o csv \
    "http://127.0.0.1:$port/complete" >"$work/load$i.csv" &
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
sleep 0.5
rss_after=$(rss)
/usr/bin/python3 - "$work" "$seconds" "$clients" "$threads" "$rss_before" "$rss_after" <<'PY'
import collections, csv, glob, statistics, sys
work, seconds, clients, threads, before, after = sys.argv[1:7]
times, statuses = [], collections.Counter()
for name in glob.glob(f"{work}/load*.csv"):
    with open(name) as f:
        for row in csv.DictReader(f):
            times.append(float(row["response-time"]) * 1000)
            statuses[row["status-code"]] += 1
times.sort()
pct = lambda q: times[min(len(times) - 1, int(q * (len(times) - 1) + 0.5))]
errors = sum(n for s, n in statuses.items() if s != "200")
print(f"| clients | server threads | requests | requests/s | p50 | p90 | p99 | not 200 | server RSS before / after |")
print(f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {clients} | {threads} | {len(times):,} | {len(times) / float(seconds):,.0f} | {pct(0.5):.2f} ms | "
      f"{pct(0.9):.2f} ms | {pct(0.99):.2f} ms | {errors} | {int(before) / 1024:.1f} / {int(after) / 1024:.1f} MiB |")
if errors:
    print("statuses:", dict(statuses))
    sys.exit(1)
PY
