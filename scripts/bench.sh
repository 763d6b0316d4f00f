#!/usr/bin/env bash
# The whole comparison with Qpid Proton C 0.37, in one command: builds our benchmarks (release)
# and Proton's (gcc, from Benchmarks/proton), runs them on this machine and prints tables with
# ratios. Not part of CI (timings are not gated; scripts/check-allocations.sh gates allocations).
#
#   scripts/bench.sh [--quick] [--codec-only]
#
# Sections, in order; a section whose pieces do not exist yet says so instead of printing numbers:
#   codec     amqp-bench codec vs Benchmarks/proton/codec-bench.c, same fixtures, same process kind
#   e2e       100,000 x 1 KiB messages over loopback (see run_e2e)
#   eventhubs our Event Hubs producer/consumer against the emulator (needs issues 5 and 6)
#   memory    peak RSS of a consumer at prefetch 300, of the emulator holding 1 GiB (needs issues 5, 6)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=""
codec_only=""
for argument in "$@"; do
  case "$argument" in
    --quick) quick="--quick" ;;
    --codec-only) codec_only=1 ;;
    *) echo "usage: scripts/bench.sh [--quick] [--codec-only]" >&2; exit 2 ;;
  esac
done

work=.build/bench
mkdir -p "$work"

# --- prerequisites -------------------------------------------------------------------------------
need=()
pkg-config --exists libqpid-proton 2>/dev/null || need+=(libqpid-proton11-dev)
[ -e /usr/share/proton/examples/c/broker.c ] || need+=(libqpid-proton11-dev-examples)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- build ---------------------------------------------------------------------------------------
proton_cc() { # output, sources...
  local out=$1; shift
  gcc -O2 -Wall -o "$out" "$@" $(pkg-config --cflags --libs libqpid-proton) -lpthread
}
echo "Building amqp-bench (release) and the Proton C programs..." >&2
swift build -c release --product amqp-bench >&2
proton_cc "$work/codec-bench" Benchmarks/proton/codec-bench.c Sources/CMallocCounter/malloc_counter.c -ISources/CMallocCounter/include

# --- report header -------------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "swift-amqp vs Qpid Proton C $(pkg-config --modversion libqpid-proton) — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(swift --version 2>/dev/null | head -1)"
echo

# --- codec ---------------------------------------------------------------------------------------
run_codec() {
  .build/release/amqp-bench codec $quick >"$work/codec-swift.txt"
  "$work/codec-bench" $quick >"$work/codec-proton.txt"
  echo "Codec: ns per operation (fastest of several batches), allocations per operation"
  awk '
    function field(line, key,   n, parts, i, kv) {
      n = split(line, parts, " ")
      for (i = 2; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == key) return kv[2] }
      return ""
    }
    FNR == NR { proton[$1] = $0; next }
    {
      name = $1
      if (!(name in proton)) next
      for (k = 0; k < 2; k++) {
        op = k == 0 ? "encode" : "decode"
        s = field($0, op "_ns"); p = field(proton[name], op "_ns")
        ratio = p > 0 ? sprintf("%.2f", s / p) : "-"
        rows[++n] = sprintf("%-12s %-7s %12s %12s %8s %12s %12s", name, op, s, p, ratio, field($0, op "_allocs"), field(proton[name], op "_allocs"))
      }
    }
    END {
      printf "%-12s %-7s %12s %12s %8s %12s %12s\n", "fixture", "op", "swift ns", "proton ns", "ratio", "swift allocs", "proton allocs"
      for (i = 1; i <= n; i++) print rows[i]
    }' "$work/codec-proton.txt" "$work/codec-swift.txt"
  echo "ratio = swift / proton (below 1: we are faster; the goal is 0.50 or less)."
  echo
}
run_codec

if [ -n "$codec_only" ]; then exit 0; fi

# --- end to end ----------------------------------------------------------------------------------
run_e2e() {
  echo "End to end: not built yet."
  echo
}
run_e2e

# --- Event Hubs and memory -----------------------------------------------------------------------
# These need the Event Hubs client (issue 6) and the emulator (issue 5). When they land, add an
# `eventhubs` mode to amqp-bench-e2e (producer batched/single, consumer, events/s) and run the
# emulator with --data-dir here; measure peak RSS with /usr/bin/time -f %M.
echo "Event Hubs (producer batched/single, consumer) and memory (consumer at prefetch 300, emulator"
echo "holding 1 GiB): not measured — they need the emulator (issue 5) and the Event Hubs client (issue 6)."
