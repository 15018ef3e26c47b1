#!/usr/bin/env bash
# tapegrad-lm train under mpirun -np 2, as a user runs it:
#   1. the losses of 30 steps equal those of one process (to float rounding), printed once;
#   2. a --batch that does not divide among the processes: a usage error, once, nothing written;
#   3. SIGINT to mpirun: one checkpoint is saved and --resume continues it;
#   4. a process killed mid-run: mpirun ends within a bounded time and the last checkpoint is
#      intact (a one-process --resume continues it).
# Usage: mpirun_lm.sh TAPEGRAD_LM WORK_DIR [MPIRUN ARGS...]
set -euo pipefail
lm=$1
work=$2
shift 2
mpirun=("$@")
[ ${#mpirun[@]} -gt 0 ] || mpirun=(mpirun --allow-run-as-root --oversubscribe -np 2)
export OPENBLAS_NUM_THREADS=1
rm -rf "$work"
mkdir -p "$work"
cd "$work"
model=(--batch 8 --seq-len 16 --hidden 32 --val-every 10)
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
count() { grep -c -- "$1" "$2" || true; }

# Waits (at most $2 s) until file $1 exists.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# The process of rank $1 among the children of mpirun $2.
rank_pid() {
  local pid
  for pid in $(pgrep -P "$2"); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

echo "== 1. two processes train what one trains"
"$lm" train --out one --steps 30 "${model[@]}" --checkpoint-every 10 >one.out 2>one.err
"${mpirun[@]}" "$lm" train --out two --steps 30 "${model[@]}" --checkpoint-every 10 >two.out 2>two.err
# Relative differences of the train losses, step by step (column 2 of log.csv).
worst=$(paste -d, one/log.csv two/log.csv | awk -F, 'NR > 1 {
  d = ($2 - $7) / $2; if (d < 0) d = -d; if (d > w) w = d } END { printf "%.3g", w }')
echo "largest relative loss difference over 30 steps: $worst"
awk -v w="$worst" 'BEGIN { exit !(w < 2e-5) }' || fail "losses differ by $worst (relative)"
[ "$(wc -l <two/log.csv)" -eq 31 ] || fail "log.csv of the two-process run has $(wc -l <two/log.csv) lines"
[ "$(count "trained 30 steps" two.out)" -eq 1 ] || fail "the summary was not printed exactly once"
[ "$(count "data-parallel: 2 processes, 4 streams each" two.err)" -eq 1 ] ||
  fail "the start was not reported exactly once: $(cat two.err)"

echo "== 2. a batch that does not divide"
set +e
"${mpirun[@]}" "$lm" train --out odd --steps 30 --batch 7 >odd.out 2>odd.err
code=$?
set -e
[ "$code" -eq 2 ] || fail "exit code $code for --batch 7 over 2 processes, expected 2"
[ "$(count "does not divide among the 2 processes" odd.err)" -eq 1 ] ||
  fail "the usage error was not reported exactly once: $(cat odd.err)"
[ ! -e odd ] || fail "the refused run wrote odd/"

echo "== 3. SIGINT to mpirun saves one checkpoint"
"${mpirun[@]}" "$lm" train --out stop --steps 1000000 "${model[@]}" --checkpoint-every 100000 \
  --print-every 1 >stop.out 2>stop.err &
runner=$!
for ((i = 0; i < 600; i++)); do
  grep -q "^step 20/" stop.err 2>/dev/null && break
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.1
done
kill -INT "$runner" || fail "mpirun ended before it was interrupted: $(tail -3 stop.err)"
set +e
timeout 60 tail --pid="$runner" -f /dev/null
wait "$runner"
set -e
step=$(sed -n 's/^interrupted at step \([0-9]*\): checkpoint saved.*/\1/p' stop.out)
if [ -z "$step" ]; then
  fail "no checkpoint reported after SIGINT: $(cat stop.out stop.err | tail -5)"
else
  echo "interrupted at step $step"
  [ "$(count "interrupted at step" stop.out)" -eq 1 ] || fail "the interruption was reported twice"
  "${mpirun[@]}" "$lm" train --out stop --resume --steps $((step + 5)) >resume.out 2>resume.err ||
    fail "resume after SIGINT failed: $(cat resume.err | tail -3)"
  [ "$(wc -l <stop/log.csv)" -eq $((step + 6)) ] || fail "the resumed log.csv has $(wc -l <stop/log.csv) lines"
fi

echo "== 4. a process killed mid-run"
"${mpirun[@]}" "$lm" train --out killed --steps 1000000 "${model[@]}" --checkpoint-every 5 \
  >killed.out 2>killed.err &
runner=$!
wait_for killed/checkpoint.npz 60 || fail "no checkpoint within 60 s"
victim=$(rank_pid 1 "$runner") || fail "rank 1 not found among mpirun's children"
start=$(date +%s)
kill -KILL "$victim"
set +e
timeout 30 tail --pid="$runner" -f /dev/null
ended=$?
wait "$runner"
code=$?
set -e
took=$(($(date +%s) - start))
[ "$ended" -eq 0 ] || {
  fail "mpirun still running 30 s after a process was killed"
  kill -KILL "$runner" 2>/dev/null || true
}
[ "$code" -ne 0 ] || fail "mpirun exited 0 after a process was killed"
echo "mpirun ended ${took} s after rank 1 was killed (exit code $code)"
# The checkpoint is whole: one process continues it.
saved=$(($(wc -l <killed/log.csv) - 1))
"$lm" train --out killed --resume --steps $((saved + 3)) >again.out 2>again.err ||
  fail "the last checkpoint (step $saved) does not resume: $(tail -3 again.err)"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
