#!/usr/bin/env bash
# Instructions per operation for every codec fixture, ours (amqp-bench, release) beside Qpid
# Proton C's (Benchmarks/proton/codec-bench.c), counted by callgrind. Unlike wall-clock times,
# the counts repeat to a few instructions on a busy machine, so they are what a codec change is
# judged by (quote them before and after); scripts/bench.sh gives the time ratios.
#
#   scripts/callgrind-codec.sh [--no-build] [--swift-only] [--fixture NAME]... [--op encode|decode]
#
# Each program runs the operation once (first-use costs), then N times inside a function of its
# own (`measuredLoop` in amqp-bench, `measured_loop` in codec-bench) that callgrind alone counts
# (--toggle-collect); the count divided by N is printed. Debian 12's valgrind 3.19 cannot read
# the DWARF 5 Swift 6.3 writes, so amqp-bench runs from a copy without debug information.
#
# To see where one fixture's instructions go:
#   valgrind --tool=callgrind --toggle-collect='*measuredLoop*' --callgrind-out-file=cg.out \
#     .build/callgrind/amqp-bench codec --loop 200 decode --fixture eh-message
#   callgrind_annotate cg.out | swift demangle --simplified | head -40
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
proton=1
fixtures=()
ops=(encode decode)
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build="" ;;
    --swift-only) proton="" ;;
    --fixture) fixtures+=("$2"); shift ;;
    --op) ops=("$2"); shift ;;
    *) echo "usage: scripts/callgrind-codec.sh [--no-build] [--swift-only] [--fixture NAME]... [--op encode|decode]" >&2; exit 2 ;;
  esac
  shift
done
[ ${#fixtures[@]} -gt 0 ] || fixtures=(eh-transfer map100 symbols1000 eh-message eh-message-lazy data1m open attach flow)

command -v valgrind >/dev/null || { echo "callgrind-codec: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
work=.build/callgrind
mkdir -p "$work"
if [ -n "$build" ]; then
  swift build -c release --product amqp-bench >&2
  if [ -n "$proton" ]; then
    scripts/install-test-deps.sh libqpid-proton11-dev gcc pkg-config >&2
    gcc -O2 -Wall -o "$work/codec-bench" Benchmarks/proton/codec-bench.c Sources/CMallocCounter/malloc_counter.c \
      -ISources/CMallocCounter/include $(pkg-config --cflags --libs libqpid-proton) -lpthread
  fi
fi
objcopy --strip-debug .build/release/amqp-bench "$work/amqp-bench"

# Loop counts: enough operations that the fixed costs left in the loop vanish, few enough that
# the slowest fixtures stay at a few seconds under callgrind.
loops() {
  case "$1" in
    data1m) echo 10 ;;
    symbols1000 | map100) echo 100 ;;
    *) echo 1000 ;;
  esac
}

# Prints the instructions per operation of one run: program toggle-function args...
count() {
  local toggle=$1 n=$2; shift 2
  local out="$work/cg.$$.out"
  local collected
  collected=$(valgrind --tool=callgrind --toggle-collect="$toggle" --callgrind-out-file="$out" "$@" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  rm -f "$out"
  [ -n "$collected" ] || { echo "callgrind-codec: no count from $*" >&2; return 1; }
  echo $(((collected + n / 2) / n))
}

declare -A counted
printf '%-16s %-7s %14s %14s %8s\n' fixture op "swift instr" "proton instr" ratio
for fixture in "${fixtures[@]}"; do
  n=$(loops "$fixture")
  for op in "${ops[@]}"; do
    swift=$(count '*measuredLoop*' "$n" "$work/amqp-bench" codec --loop "$n" "$op" --fixture "$fixture")
    if [ -n "$proton" ]; then
      theirs=$(count measured_loop "$n" "$work/codec-bench" --loop "$n" "$op" --fixture "$fixture")
      ratio=$(awk -v s="$swift" -v p="$theirs" 'BEGIN { printf "%.2f", s / p }')
    else
      theirs="-"; ratio="-"
    fi
    printf '%-16s %-7s %14s %14s %8s\n' "$fixture" "$op" "$swift" "$theirs" "$ratio"
    counted["$fixture $op swift"]=$swift
    counted["$fixture $op proton"]=$theirs
  done
done
# Issue 13's lazy target compares the lazy read with Proton's full decode of the same message.
lazy=${counted["eh-message-lazy decode swift"]:-}
full=${counted["eh-message decode proton"]:-}
if [ -n "$lazy" ] && [ -n "$full" ] && [ "$full" != "-" ]; then
  echo "eh-message-lazy decode / proton eh-message decode: $(awk -v s="$lazy" -v p="$full" 'BEGIN { printf "%.3f", s / p }')"
fi
echo "instructions per operation under callgrind (valgrind $(valgrind --version | sed 's/valgrind-//')); ratio = swift / proton."
