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
# libqpid-proton11-dev: the C library and headers; -examples: broker.c for the end-to-end runs.
scripts/install-test-deps.sh libqpid-proton11-dev libqpid-proton11-dev-examples gcc

# --- build ---------------------------------------------------------------------------------------
proton_cc() { # output, sources...
  local out=$1; shift
  gcc -O2 -Wall -o "$out" "$@" $(pkg-config --cflags --libs libqpid-proton) -lpthread
}
echo "Building amqp-bench, amqp-bench-e2e (release) and the Proton C programs..." >&2
swift build -c release --product amqp-bench >&2
[ -n "$codec_only" ] || swift build -c release --product amqp-bench-e2e >&2
proton_cc "$work/codec-bench" Benchmarks/proton/codec-bench.c Sources/CMallocCounter/malloc_counter.c -ISources/CMallocCounter/include
proton_cc "$work/e2e-client" Benchmarks/proton/e2e-client.c
proton_cc "$work/proton-broker" /usr/share/proton/examples/c/broker.c

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
# 100,000 messages of 1 KiB through a broker on 127.0.0.1: each client sends them to a queue of
# its own, then receives them back from it. Unsettled sends wait for every `accepted`; the Proton
# C broker (Proton's example) grants 5 credits per incoming link and always forwards pre-settled.
e2e_count=100000
[ -z "$quick" ] || e2e_count=20000
broker_pid=""
stop_broker() {
  if [ -n "$broker_pid" ]; then kill "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; broker_pid=""; fi
}
trap stop_broker EXIT

wait_for_port() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}

start_proton_broker() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$work/proton-broker" 127.0.0.1 "$port" >"$work/proton-broker.log" 2>&1 &
  broker_pid=$!
  wait_for_port "$port"
  broker_port=$port
}

start_swift_broker() {
  .build/release/amqp-bench-e2e broker --port 0 >"$work/swift-broker.out" 2>"$work/swift-broker.log" &
  broker_pid=$!
  for _ in $(seq 1 100); do
    broker_port=$(sed -n 's/^port=//p' "$work/swift-broker.out")
    [ -n "$broker_port" ] && break
    sleep 0.1
  done
  [ -n "$broker_port" ] || { echo "bench: the in-memory broker did not start" >&2; return 1; }
  wait_for_port "$broker_port"
}

rate() { sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p'; }

# Runs one client (swift or proton) through the broker that is up; prints msgs/s or "failed".
run_client() { # swift|proton send|receive queue [--presettled]
  local client=$1 op=$2 queue=$3; shift 3
  local program=.build/release/amqp-bench-e2e
  [ "$client" = proton ] && program="$work/e2e-client"
  local out
  if out=$(timeout 300 "$program" "$op" 127.0.0.1 "$broker_port" "$queue" "$e2e_count" "$@" 2>>"$work/e2e-errors.log"); then
    printf '%s\n' "$out" | rate
  else
    echo failed
  fi
}

e2e_rows=()
run_broker() { # proton|swift label
  local kind=$1 label=$2
  "start_${kind}_broker"
  for settle in unsettled presettled; do
    local flag=""
    [ "$settle" = presettled ] && flag=--presettled
    for client in swift proton; do
      local queue="q-$client-$settle"
      eval "${client}_send=\$(run_client $client send $queue $flag)"
      eval "${client}_receive=\$(run_client $client receive $queue $flag)"
    done
    e2e_rows+=("$label send-$settle $swift_send $proton_send")
    e2e_rows+=("$label receive-$settle $swift_receive $proton_receive")
  done
  stop_broker
}

run_e2e() {
  : >"$work/e2e-errors.log"
  run_broker proton proton-c-broker
  run_broker swift swift-in-memory
  echo "End to end: $e2e_count messages of 1 KiB over loopback, messages per second"
  printf '%s\n' "${e2e_rows[@]}" | awk '
    BEGIN { printf "%-16s %-20s %12s %12s %8s\n", "broker", "run", "swift client", "proton C", "ratio" }
    {
      ratio = ($3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/ && $4 > 0) ? sprintf("%.2f", $3 / $4) : "-"
      printf "%-16s %-20s %12s %12s %8s\n", $1, $2, $3, $4, ratio
      proton[$1 " " $2] = $4; runs[$2] = 1
    }
    END {
      print "ratio = swift client / Proton C client (above 1: we are faster)."
      print ""
      print "Proton C clients: our listener (in-memory broker) vs the Proton C broker, messages per second"
      printf "%-20s %16s %16s %8s\n", "run", "swift broker", "proton broker", "ratio"
      for (r in runs) {
        a = proton["swift-in-memory " r]; b = proton["proton-c-broker " r]
        ratio = (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) ? sprintf("%.2f", a / b) : "-"
        printf "%-20s %16s %16s %8s\n", r, a, b, ratio
      }
      print "ratio = through our broker / through Proton'"'"'s (above 1: our server side is faster)."
    }'
  if [ -s "$work/e2e-errors.log" ]; then
    echo "(errors: $work/e2e-errors.log)"
  fi
  echo
}
run_e2e

# --- Event Hubs and memory -----------------------------------------------------------------------
# These need the Event Hubs client (issue 6) and the emulator (issue 5). When they land, add an
# `eventhubs` mode to amqp-bench-e2e (producer batched/single, consumer, events/s) and run the
# emulator with --data-dir here; measure peak RSS with /usr/bin/time -f %M.
echo "Event Hubs (producer batched/single, consumer) and memory (consumer at prefetch 300, emulator"
echo "holding 1 GiB): not measured — they need the emulator (issue 5) and the Event Hubs client (issue 6)."
