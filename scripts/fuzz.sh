#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# in build-fuzz/, then fuzzes each for a while, starting from its committed seed corpus.
#
#   scripts/fuzz.sh                      every target for 60 s, one after another
#   scripts/fuzz.sh --time 600 npy text  the named targets for 10 minutes each
#   scripts/fuzz.sh --runs 1000000       stop each after a million inputs instead of a time
#   scripts/fuzz.sh --runs 10000000 --time 3600   whichever comes first (the README's long run)
#   scripts/fuzz.sh --jobs 2             two targets at once (one core each)
#
# Targets: checkpoint npy npz model_dir metadata text csv (see fuzz/README.md). The fuzzer works on a
# copy of fuzz/corpus/<target>/ in build-fuzz/corpus/<target>/ (fuzz/corpus is never written);
# what it finds goes to build-fuzz/artifacts/<target>/<time>/. Exits non-zero if any target
# found a crash, a sanitizer report, a leak, a timeout or an out-of-memory.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

all_targets=(checkpoint npy npz model_dir metadata text csv)
seconds=60 time_given=0 runs="" jobs=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds="${2:?--time needs SECONDS}"; time_given=1; shift 2 ;;
    --runs) runs="${2:?--runs needs N}"; shift 2 ;;
    --jobs) jobs="${2:?--jobs needs N}"; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *)
      t="${1#fuzz_}"
      if [[ " ${all_targets[*]} " != *" $t "* ]]; then
        echo "fuzz.sh: unknown target '$1' (targets: ${all_targets[*]})" >&2
        exit 2
      fi
      targets+=("$t")
      shift
      ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# --- packages: the project's, then clang and its libFuzzer/sanitizer runtimes ----------------
bash scripts/setup.sh clang libclang-rt-14-dev

# --- build -----------------------------------------------------------------------------------
build=build-fuzz
flags=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_FUZZ=ON
       -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_BUILD_EXAMPLES=ON)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" "${generator[@]}" "${flags[@]}"
else
  cmake -S . -B "$build" "${flags[@]}"
fi
cmake --build "$build" -j "$(nproc)" --target fuzz_all

# --- fuzz ------------------------------------------------------------------------------------
export OPENBLAS_NUM_THREADS=1
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
stamp="$(date -u +%Y%m%d-%H%M%S)"
results="$build/results"
rm -rf "$results"
mkdir -p "$results" "$build/logs"
# Where the harness puts its per-process scratch directory (fuzz/support.cpp): a run that ends
# in a crash exits without removing it.
if [ -w /dev/shm ]; then scratch_base=/dev/shm; else scratch_base="${TMPDIR:-/tmp}"; fi

max_len() {
  case "$1" in
    checkpoint | npz | model_dir) echo 65536 ;;
    *) echo 16384 ;;
  esac
}
dictionary() {
  case "$1" in
    model_dir | npz) echo fuzz/dict/checkpoint.dict ;;  # the same ZIP and NPY tokens
    *) echo "fuzz/dict/$1.dict" ;;
  esac
}

# Runs one target; leaves "executions exec/s cov ft corpus findings status" in $results/<target>.
fuzz_target() {
  local t="$1"
  local corpus="$build/corpus/$t" artifacts="$build/artifacts/$t/$stamp" log="$build/logs/$t.log"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/"$t"/* "$corpus"/
  # Inputs of a known, not yet fixed defect would stop the run at once: leave them out.
  local known
  while read -r known _; do
    if [[ "$known" == "$t/"* ]]; then
      rm -f "$corpus/${known#*/}"
      echo "fuzz.sh: $t: left out the known finding fuzz/corpus/$known (fuzz/known-findings.txt)"
    fi
  done < <(grep -E '^[a-z_]+/' fuzz/known-findings.txt || true)

  # --runs alone: that many inputs; with --time too, whichever comes first.
  local limit=()
  [ -n "$runs" ] && limit+=(-runs="$runs")
  [ -z "$runs" ] || [ "$time_given" = 1 ] && limit+=(-max_total_time="$seconds")
  local dict=()
  [ -f "$(dictionary "$t")" ] && dict=(-dict="$(dictionary "$t")")
  local command=("$build/fuzz/fuzz_$t" "${limit[@]}" -max_len="$(max_len "$t")" -timeout=10
                 -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$artifacts/"
                 -print_final_stats=1 "${dict[@]}" "$corpus")
  echo "fuzz.sh: $t: ${command[*]}"
  local status=0 pid
  "${command[@]}" >"$log" 2>&1 &
  pid=$!
  wait "$pid" || status=$?
  rm -rf "$scratch_base/tapegrad-fuzz-$pid-"*

  local execs speed cov ft size findings
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  cov="$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)"
  ft="$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)"
  size="$(find "$corpus" -type f | wc -l)"
  findings="$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
              -o -name 'oom-*' \) | wc -l)"
  echo "${execs:--} ${speed:--} ${cov:--} ${ft:--} $size $findings $status" >"$results/$t"
  echo "fuzz.sh: $t: done (exit status $status, $findings findings; log $log)"
}

for t in "${targets[@]}"; do
  if [ "$jobs" -gt 1 ]; then
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    fuzz_target "$t" &
  else
    fuzz_target "$t"
  fi
done
wait

# --- report ----------------------------------------------------------------------------------
failed=0
echo
printf '%-11s %12s %8s %7s %7s %7s %9s\n' target executions exec/s cov ft corpus findings
for t in "${targets[@]}"; do
  read -r execs speed cov ft size findings status <"$results/$t"
  printf '%-11s %12s %8s %7s %7s %7s %9s\n' "$t" "$execs" "$speed" "$cov" "$ft" "$size" "$findings"
  if [ "$findings" -gt 0 ] || [ "$status" -ne 0 ]; then failed=1; fi
done
echo

if [ "$failed" -eq 0 ]; then
  echo "fuzz.sh: no findings"
  exit 0
fi
for t in "${targets[@]}"; do
  read -r _ _ _ _ _ findings status <"$results/$t"
  [ "$findings" -gt 0 ] || [ "$status" -ne 0 ] || continue
  echo "== $t: the end of $build/logs/$t.log"
  tail -n 60 "$build/logs/$t.log"
  echo
  if [ "$findings" -eq 0 ]; then
    echo "fuzz.sh: $t: fuzzer exited with status $status without an artifact; see the log above"
    continue
  fi
  while read -r artifact; do
    echo "FINDING $t: $artifact"
    echo "  reproduce: $build/fuzz/fuzz_$t $artifact"
  done < <(find "$build/artifacts/$t/$stamp" -type f | sort)
  echo "  add it as a regression case: cp ARTIFACT fuzz/corpus/$t/regression-<what-it-breaks>"
  echo "  (commit it with the fix; see fuzz/README.md)"
done
exit 1
