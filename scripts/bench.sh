#!/usr/bin/env bash
# The whole comparison with Qpid Proton C 0.37, in one command: builds our benchmarks (release)
# and Proton's (gcc, from Benchmarks/proton), runs them on this machine and prints tables with
# ratios. Not part of CI (timings are not gated; scripts/check-allocations.sh gates allocations).
#
#   scripts/bench.sh [--quick] [--codec-only]
#
# Sections, in order:
#   codec     amqp-bench codec vs Benchmarks/proton/codec-bench.c, same fixtures, same process kind
#   e2e       100,000 x 1 KiB messages over loopback through the Proton C broker, our in-memory
#             broker and the Event Hubs emulator, our client vs Proton's C client (run_e2e, run_emulator_e2e)
#   eventhubs our Event Hubs producer (batched, enqueue, send) and consumers against the emulator
#   memory    peak RSS of a consumer at prefetch 300, of the emulator publishing and holding 1 GiB
# A run that fails prints "failed" in its cell; the script then exits 1 after the last table.
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
# One line per failed run, from any subshell; read at the end.
failures="$work/failures.txt"
: >"$failures"

# --- prerequisites -------------------------------------------------------------------------------
# libqpid-proton11-dev: the C library and headers; -examples: broker.c for the end-to-end runs;
# libsasl2-modules: Cyrus SASL's PLAIN, which Proton's client needs for the emulator; time: the
# peak RSS of the memory section.
scripts/install-test-deps.sh libqpid-proton11-dev libqpid-proton11-dev-examples gcc libsasl2-modules time

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
        rows[++n] = sprintf("%-16s %-7s %12s %12s %8s %12s %12s", name, op, s, p, ratio, field($0, op "_allocs"), field(proton[name], op "_allocs"))
      }
    }
    END {
      printf "%-16s %-7s %12s %12s %8s %12s %12s\n", "fixture", "op", "swift ns", "proton ns", "ratio", "swift allocs", "proton allocs"
      for (i = 1; i <= n; i++) print rows[i]
    }' "$work/codec-proton.txt" "$work/codec-swift.txt"
  echo "ratio = swift / proton (below 1: we are faster). Targets (issue 13): 1.00 or less; 0.50 for eh-transfer and"
  echo "eh-message decode; eh-message-lazy decode 0.25 of Proton's full eh-message decode (its row: Proton decodes all, then looks up)."
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
  # Emptied here, not by the redirection below: that runs in the child, and until it does the
  # loop would read the port of the previous run.
  : >"$work/swift-broker.out"
  broker_port=""
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
    echo "$client $op $queue (port $broker_port)" >>"$failures"
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

# --- the Event Hubs emulator ---------------------------------------------------------------------
# `amqp-bench-e2e emulator` runs the EventHubsEmulator in a process of its own, under
# /usr/bin/time so that its peak RSS is known once it stops; SIGTERM stops it cleanly (exit 0).
# Both clients authenticate with SASL PLAIN and the emulator's default SAS key name and key.
sas=(--user RootManageSharedAccessKey --password SAS_KEY_VALUE)
partition0='/ConsumerGroups/$Default/Partitions/0'
emulator_wrapper="" # the /usr/bin/time process
emulator_pid=""     # the emulator itself, which /usr/bin/time waits for
emulator_port=""

start_emulator() { # name [emulator options...]; the peak RSS goes to $work/<name>.rss
  local name=$1; shift
  emulator_pid=""; emulator_port=""
  # Emptied by this shell first, so that the loop below never reads a previous run's port.
  : >"$work/$name.out"
  rm -f "$work/$name.rss"
  /usr/bin/time -f %M -o "$work/$name.rss" .build/release/amqp-bench-e2e emulator --port 0 "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  emulator_wrapper=$!
  # Minutes, not seconds: a restart reads back every partition file first.
  local started=$SECONDS
  while [ $((SECONDS - started)) -lt 900 ] && kill -0 "$emulator_wrapper" 2>/dev/null; do
    emulator_port=$(sed -n 's/^port=//p' "$work/$name.out")
    emulator_pid=$(sed -n 's/^pid=//p' "$work/$name.out")
    [ -n "$emulator_port" ] && [ -n "$emulator_pid" ] && return 0
    sleep 0.05
  done
  echo "bench: the emulator ($name) did not start; see $work/$name.log" >&2
  echo "emulator $name did not start" >>"$failures"
  stop_emulator
  return 1
}

stop_emulator() {
  if [ -n "$emulator_pid" ]; then
    kill -TERM "$emulator_pid" 2>/dev/null || true
  elif [ -n "$emulator_wrapper" ]; then
    kill "$emulator_wrapper" 2>/dev/null || true
  fi
  if [ -n "$emulator_wrapper" ]; then wait "$emulator_wrapper" 2>/dev/null || true; fi
  emulator_pid=""; emulator_wrapper=""; emulator_port=""
}
trap 'stop_broker; stop_emulator' EXIT

peak_mib() { # file written by /usr/bin/time -f %M -o; "failed" unless the program exited 0
  local kib
  kib=$(tail -1 "$1" 2>/dev/null || true)
  if [[ "$kib" =~ ^[0-9]+$ ]] && ! grep -qE "non-zero status|terminated by signal" "$1"; then
    awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }'
  else
    echo "peak RSS of $1" >>"$failures"
    echo failed
  fi
}

vmrss_mib() { # pid
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024; found = 1 } END { if (!found) print "failed" }' "/proc/$1/status" 2>/dev/null || echo failed
}

ratio() { # a b: a / b with two decimals, "-" unless both are numbers
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}

# One measured run of amqp-bench-e2e eventhubs or of the Proton C client, optionally under
# /usr/bin/time: prints "<count> <rate>" ("<count> failed" when it fails).
measure() { # label rss-file|- count program args...
  local label=$1 rss=$2 count=$3; shift 3
  local out
  local timer=()
  [ "$rss" = - ] || timer=(/usr/bin/time -f %M -o "$rss")
  if out=$(timeout 1800 "${timer[@]}" "$@" 2>>"$work/eventhubs-errors.log"); then
    printf '%s\n' "$out" >>"$work/eventhubs-runs.txt"
    printf '%s\n' "$out" | sed -n 's/.* count=\([0-9]*\) .*msgs_per_s=\([0-9]*\).*/\1 \2/p'
  else
    echo "$label" >>"$failures"
    echo "$count failed"
  fi
}

run_emulator_e2e() {
  emu_swift_send=failed; emu_proton_send=failed; emu_swift_receive=failed; emu_proton_receive=failed
  if start_emulator emulator --hub e2e-swift:1 --hub e2e-proton:1 --hub eh:4; then
    broker_port=$emulator_port
    emu_swift_send=$(run_client swift send e2e-swift "${sas[@]}")
    emu_swift_receive=$(run_client swift receive "e2e-swift$partition0" "${sas[@]}")
    emu_proton_send=$(run_client proton send e2e-proton "${sas[@]}")
    emu_proton_receive=$(run_client proton receive "e2e-proton$partition0" "${sas[@]}")
  fi
  echo "End to end through the Event Hubs emulator (memory only): $e2e_count messages of 1 KiB, messages per second"
  printf "%-52s %12s %12s %8s\n" run "swift client" "proton C" ratio
  printf "%-52s %12s %12s %8s\n" "send to <hub> (unsettled, SASL PLAIN)" "$emu_swift_send" "$emu_proton_send" \
    "$(ratio "$emu_swift_send" "$emu_proton_send")"
  printf "%-52s %12s %12s %8s\n" "receive <hub>/ConsumerGroups/\$Default/Partitions/0" "$emu_swift_receive" "$emu_proton_receive" \
    "$(ratio "$emu_swift_receive" "$emu_proton_receive")"
  echo "Each client has a hub of one partition; the emulator settles what it sends (pre-settled),"
  echo "both receivers grant all the credit up front. ratio = swift / Proton C (above 1: we are faster)."
  echo
}

# --- Event Hubs ----------------------------------------------------------------------------------
# Our Event Hubs client (AMQPEventHubs) against the emulator still running from run_emulator_e2e,
# with Proton C doing the same through plain AMQP where there is a counterpart. The consumers of
# one partition read the e2e hubs (exactly $e2e_count events each) under /usr/bin/time: the
# memory section reports their peak RSS.
run_eventhubs() {
  local single_count=$((e2e_count / 10))
  local bench=.build/release/amqp-bench-e2e
  : >"$work/eventhubs-runs.txt"
  eh_batched="$e2e_count failed"; eh_enqueue="$e2e_count failed"; eh_single="$single_count failed"
  eh_buffered="$e2e_count failed"
  eh_all="$e2e_count failed"; eh_partition="$e2e_count failed"; eh_proton_partition="$e2e_count failed"
  if [ -n "$emulator_port" ]; then
    local port=$emulator_port
    eh_batched=$(measure "eventhubs send-batched" - "$e2e_count" $bench eventhubs send-batched 127.0.0.1 "$port" eh "$e2e_count")
    eh_enqueue=$(measure "eventhubs enqueue" - "$e2e_count" $bench eventhubs enqueue 127.0.0.1 "$port" eh "$e2e_count")
    eh_single=$(measure "eventhubs send-single" - "$single_count" $bench eventhubs send-single 127.0.0.1 "$port" eh "$single_count")
    eh_buffered=$(measure "eventhubs buffered" - "$e2e_count" $bench eventhubs buffered 127.0.0.1 "$port" eh "$e2e_count")
    eh_all=$(measure "eventhubs consume-all" "$work/consumer-all.rss" "$e2e_count" \
      $bench eventhubs consume-all 127.0.0.1 "$port" eh "$e2e_count" --prefetch 300)
    eh_partition=$(measure "eventhubs consume-partition" "$work/consumer-swift.rss" "$e2e_count" \
      $bench eventhubs consume-partition 127.0.0.1 "$port" e2e-swift "$e2e_count" --prefetch 300)
    eh_proton_partition=$(measure "proton receive --credit 300" "$work/consumer-proton.rss" "$e2e_count" \
      "$work/e2e-client" receive 127.0.0.1 "$port" "e2e-proton$partition0" "$e2e_count" --credit 300 "${sas[@]}")
  else
    echo "eventhubs: no emulator" >>"$failures"
  fi
  stop_emulator
  echo "Event Hubs client against the emulator (memory only, SASL PLAIN): events of 1 KiB, events per second"
  printf "%-62s %8s %10s %10s %8s\n" run events swift "proton C" ratio
  eh_row() { # label "count rate" proton-rate
    local count=${2% *} rate=${2#* }
    printf "%-62s %8s %10s %10s %8s\n" "$1" "$count" "$rate" "$3" "$(ratio "$rate" "$3")"
  }
  eh_row "producer: EventDataBatch (1 MiB), send(batch), to <hub>" "$eh_batched" -
  eh_row "producer: enqueue all, then accepted(), to <hub>" "$eh_enqueue" "$emu_proton_send"
  eh_row "producer: send one event at a time, to <hub>" "$eh_single" -
  eh_row "buffered producer: enqueue all (round robin), close()" "$eh_buffered" -
  eh_row "consumer: receiveFromAllPartitions (4), receive(upTo: 300)" "$eh_all" -
  eh_row "consumer: PartitionReceiver, prefetch 300, receive(upTo: 300)" "$eh_partition" "${eh_proton_partition#* }"
  echo "proton C: its client through plain AMQP on the same emulator — enqueue vs its pipelined send to"
  echo "<hub> (end-to-end table above); PartitionReceiver vs its receiver of one partition keeping a window of"
  echo "300 credits. send one at a time: $single_count events (each waits for its answer). ratio = swift / proton C."
  echo
}

# --- Memory --------------------------------------------------------------------------------------
# Peak RSS (/usr/bin/time -f %M) of the consumers above, and of an emulator persisting to
# --data-dir (fsync always, the default) while our producer publishes 1 GiB of 1 KiB events in
# 1 MiB batches; then of a fresh emulator recovering that data directory. The emulator keeps
# only an index in memory with --data-dir, so what it holds should barely show in its RSS.
run_memory() {
  local events=$((1 << 20)) size_label="1 GiB"
  local note=""
  if [ -n "$quick" ]; then events=$((1 << 18)); size_label="256 MiB"; note=" (--quick: 256 MiB, the full run publishes 1 GiB)"; fi
  local data="$work/emulator-data"
  rm -rf "$data"; mkdir -p "$data"
  local publish="$events failed" publish_seconds="-" holding=failed publishing=failed
  local restarted=failed restarted_peak=failed recovery_seconds="-" on_disk="-"
  if start_emulator emulator-big --hub big:4 --data-dir "$data"; then
    local started
    started=$(date +%s.%N)
    publish=$(measure "publish $size_label" - "$events" \
      .build/release/amqp-bench-e2e eventhubs send-batched 127.0.0.1 "$emulator_port" big "$events")
    publish_seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    holding=$(vmrss_mib "$emulator_pid")
    stop_emulator
    publishing=$(peak_mib "$work/emulator-big.rss")
    on_disk=$(du -sm "$data" | cut -f1)
    started=$(date +%s.%N)
    if start_emulator emulator-restart --hub big:4 --data-dir "$data"; then
      recovery_seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
      restarted=$(vmrss_mib "$emulator_pid")
      stop_emulator
      restarted_peak=$(peak_mib "$work/emulator-restart.rss")
    fi
  fi
  local swift_consumer proton_consumer all_consumer
  swift_consumer=$(peak_mib "$work/consumer-swift.rss")
  proton_consumer=$(peak_mib "$work/consumer-proton.rss")
  all_consumer=$(peak_mib "$work/consumer-all.rss")
  echo "Memory: RSS in MiB (peak: /usr/bin/time -f %M; now: VmRSS)"
  printf "%-64s %10s %10s %8s\n" run swift "proton C" ratio
  printf "%-64s %10s %10s %8s\n" "consumer, one partition, prefetch 300, $e2e_count x 1 KiB: peak" \
    "$swift_consumer" "$proton_consumer" "$(ratio "$swift_consumer" "$proton_consumer")"
  printf "%-64s %10s %10s %8s\n" "consumer, all 4 partitions, prefetch 300 each: peak" "$all_consumer" - -
  printf "%-64s %10s %10s %8s\n" "emulator --data-dir, publishing $size_label: peak" "$publishing" - -
  printf "%-64s %10s %10s %8s\n" "emulator --data-dir, holding it after publishing: now" "$holding" - -
  printf "%-64s %10s %10s %8s\n" "emulator restarted on that data directory: now" "$restarted" - -
  printf "%-64s %10s %10s %8s\n" "emulator restarted on that data directory: peak" "$restarted_peak" - -
  echo "Published $size_label$note: ${publish% *} events of 1 KiB in 1 MiB batches, 4 partitions, fsync always,"
  echo "in $publish_seconds s (${publish#* } events/s); $on_disk MiB on disk; the restart listened after $recovery_seconds s."
  echo "proton C: Benchmarks/proton/e2e-client.c receiving with a window of 300 credits. ratio = swift / proton C."
  echo
}

run_emulator_e2e
run_eventhubs
run_memory

if [ -s "$failures" ]; then
  echo "FAILED runs (errors in $work/*-errors.log and $work/emulator*.log):"
  sed 's/^/  /' "$failures"
  exit 1
fi
