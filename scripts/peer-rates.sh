#!/usr/bin/env bash
# Messages per second for COUNT (100,000) messages of SIZE (1 KiB) bytes through Qpid Proton's C
# broker, measured in one run: our client (`amqp send`, release build) unsettled with every
# accepted outcome awaited, and pre-settled; Proton's C send (send-sized, each message
# acknowledged); and receiving the queues back with `amqp receive` and Proton's C receive.
# Each figure is COUNT divided by the wall-clock time of the whole process (connect included).
# Prints a table; timing is not asserted anywhere. Usage: scripts/peer-rates.sh [COUNT] [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-100000}"
size="${2:-1024}"

scripts/peers/build-proton-c.sh
proton=.build/peers/proton-c
echo "building amqp (release)…" >&2
swift build -c release --product amqp >&2
amqp="$(swift build -c release --show-bin-path)/amqp"

port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$proton/broker" 127.0.0.1 "$port" >/dev/null 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# measure LABEL COMMAND…: runs the command, prints LABEL and COUNT / seconds.
measure() {
  local label="$1"; shift
  local start end
  start="$(date +%s.%N)"
  "$@" >/dev/null 2>"$tmp/stderr" || { echo "$label failed:" >&2; cat "$tmp/stderr" >&2; exit 1; }
  end="$(date +%s.%N)"
  awk -v l="$label" -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "%-52s %8.2f s %9.0f msgs/s\n", l, e - s, n / (e - s) }'
}
tmp="$(mktemp -d)"
trap 'kill "$broker" 2>/dev/null || true; rm -rf "$tmp"' EXIT
url="amqp://127.0.0.1:$port"

echo "$count messages of $size bytes through Proton's C broker (Proton $(dpkg-query -W -f='${Version}' libqpid-proton11), $(nproc) cores)"
measure "Proton C send (unsettled, each acknowledged)" "$proton/send-sized" 127.0.0.1 "$port" rates-proton "$count" "$size"
measure "amqp send (unsettled, every accepted awaited)" "$amqp" send "$url/rates-unsettled" --count "$count" --size "$size"
measure "amqp send --settled (pre-settled)" "$amqp" send "$url/rates-settled" --count "$count" --size "$size" --settled
measure "Proton C receive (accepting each)" "$proton/receive" 127.0.0.1 "$port" rates-proton "$count"
measure "amqp receive (accepting each)" "$amqp" receive "$url/rates-unsettled" --count "$count" --timeout 600
measure "amqp receive of the pre-settled ones (accepting each)" "$amqp" receive "$url/rates-settled" --count "$count" --timeout 600
