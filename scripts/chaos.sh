#!/usr/bin/env bash
# Fault cases end to end against the release `amqp emulator`: kill -9 under load, segment damage
# and --repair, a full disk, an overflowing token, a stalled consumer, a churning client and a
# slow-loris client, memory-only retention, failed-login throttling and a bounded broker queue.
# Prints what held as a table and exits non-zero if anything did not.
# Needs root (it mounts a small tmpfs) and the venv scripts/install-test-deps.sh creates.
# AMQP_BIN overrides the binary (default: builds and uses .build/release/amqp).
set -uo pipefail
cd "$(dirname "$0")/.."

py=.venv-eventhubs/bin/python
client="$py scripts/chaos-client.py"
if [ -z "${AMQP_BIN:-}" ]; then
  swift build -c release --product amqp >&2 || exit 1
  AMQP_BIN=.build/release/amqp
fi
[ -x "$py" ] || { echo "chaos: $py missing; run scripts/install-test-deps.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/amqp-chaos.XXXXXX)
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill -9 "$emulator_pid" 2>/dev/null
  [ -n "${slow_pid:-}" ] && kill "$slow_pid" 2>/dev/null
  mountpoint -q "$work/tmpfs" 2>/dev/null && umount "$work/tmpfs"
  rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
health=$((port + 1))
cs="Endpoint=sb://localhost:$port/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;EntityPath=eh1;UseDevelopmentEmulator=true"
rows=()
failed=0

# case, expected, observed, verdict (0 = held)
record() {
  local verdict=PASS
  if [ "$4" != 0 ]; then verdict=FAIL; failed=1; fi
  rows+=("$1|$2|$3|$verdict")
  echo "chaos: $1: $3 ($verdict)" >&2
}

start_emulator() { # log name, then emulator options
  local log=$work/$1.log; shift
  "$AMQP_BIN" emulator --port "$port" --health-port "$health" "$@" >"$log" 2>&1 &
  emulator_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$emulator_pid" 2>/dev/null || { echo "chaos: the emulator exited:" >&2; tail -5 "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "chaos: the emulator did not listen on $port" >&2; return 1
}
stop_emulator() { kill "$emulator_pid" 2>/dev/null; wait "$emulator_pid" 2>/dev/null; emulator_pid=""; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$emulator_pid/status"; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# 1. kill -9 under load: every acknowledged event is there after the restart.
data=$work/data
start_emulator kill9 --data-dir "$data" || exit 1
$client load "$cs" --acked "$work/acked" >"$work/load.out" 2>&1 &
load_pid=$!
sleep 5
kill -9 "$emulator_pid"; wait "$emulator_pid" 2>/dev/null; emulator_pid=""
wait "$load_pid" 2>/dev/null
start_emulator restart --data-dir "$data" || exit 1
$client count "$cs" --partition 0 >"$work/count.json"
lost=$("$py" - "$work/acked" "$work/count.json" <<'EOF'
import json, sys
acked = open(sys.argv[1]).read().split()
got = json.load(open(sys.argv[2]))["events"]
print(len(acked), len(set(acked) - set(got)), len(got) - len(set(got)))
EOF
)
read -r acked_n lost_n dup_n <<<"$lost"
record "kill -9 under load" "acked>0, none lost, none twice" "$acked_n acked, $lost_n lost, $dup_n twice" \
  $([ "$acked_n" -gt 0 ] && [ "$lost_n" = 0 ] && [ "$dup_n" = 0 ]; echo $?)
stop_emulator

# 2. Segment damage: one byte flipped in the middle of partition 0's log refuses that partition
# (health says so, the others serve); --repair cuts it, reports it, and partition 0 serves again.
segment=$(ls "$data/eh1/0/"*.log | head -1)
size=$(stat -c %s "$segment")
"$py" -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^0xff]))" \
  "$segment" $((size / 2))
start_emulator damaged --data-dir "$data" || exit 1
health_code=$(curl -s -o "$work/health.json" -w '%{http_code}' "http://127.0.0.1:$health/health")
damaged=$(json "$work/health.json" "','.join(p['partition'] for p in d.get('damagedPartitions') or [])")
$client count "$cs" --partition 0 --idle 2 --timeout 20 >"$work/p0.json"
p0_refused=$(json "$work/p0.json" "int(len(d['errors']) > 0 and len(d['events']) == 0)")
$client fill "$cs" --size 100 --count 5 --partition 1 >"$work/p1.json"
p1_acked=$(json "$work/p1.json" "len(d['acked'])")
record "segment damage" "health 503 naming 0; p0 refused; p1 serves" "health $health_code [$damaged]; p0 refused=$p0_refused; p1 acked $p1_acked/5" \
  $([ "$health_code" = 503 ] && [ "$damaged" = 0 ] && [ "$p0_refused" = 1 ] && [ "$p1_acked" = 5 ]; echo $?)
stop_emulator
"$AMQP_BIN" emulator --data-dir "$data" --repair >"$work/repair.out" 2>&1
repair_rc=$?
start_emulator repaired --data-dir "$data" || exit 1
health_code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health/health")
$client count "$cs" --partition 0 --idle 2 >"$work/p0.json"
p0_events=$(json "$work/p0.json" "len(d['events']) if not d['errors'] else -1")
record "--repair" "exit 0, health 200, p0 serves what was before the flip" "exit $repair_rc, health $health_code, p0 has $p0_events of $acked_n" \
  $([ "$repair_rc" = 0 ] && [ "$health_code" = 200 ] && [ "$p0_events" -ge 0 ] && [ "$p0_events" -lt "$acked_n" ]; echo $?)
stop_emulator

# 3. Disk full on a 4 MiB tmpfs: publishes are rejected, never acknowledged and lost; publishing
# resumes when space returns; after a restart exactly the acknowledged events are there.
mkdir -p "$work/tmpfs"
if mount -t tmpfs -o size=4m tmpfs "$work/tmpfs"; then
  dd if=/dev/zero of="$work/tmpfs/filler" bs=1M count=2 status=none
  start_emulator full --data-dir "$work/tmpfs/data" || exit 1
  $client fill "$cs" --size 65536 --count 40 --prefix full >"$work/full1.json"
  rm "$work/tmpfs/filler"
  $client fill "$cs" --size 65536 --count 10 --prefix after >"$work/full2.json"
  kill -9 "$emulator_pid"; wait "$emulator_pid" 2>/dev/null; emulator_pid=""
  start_emulator full-restart --data-dir "$work/tmpfs/data" || exit 1
  $client count "$cs" --partition 0 --idle 2 >"$work/full-count.json"
  verdict=$("$py" - "$work/full1.json" "$work/full2.json" "$work/full-count.json" <<'EOF'
import json, sys
one, two, got = (json.load(open(p)) for p in sys.argv[1:])
acked = one["acked"] + two["acked"]
got = got["events"]
enospc = any("No space left" in e for e in one["errors"])
ok = one["rejected"] and one["acked"] and enospc and len(two["acked"]) == 10 and sorted(got) == sorted(acked)
print(f"{len(one['acked'])} acked, {len(one['rejected'])} rejected (ENOSPC text: {enospc}); after space returned "
      f"{len(two['acked'])}/10 acked; after restart {len(got)} stored of {len(acked)} acked|{0 if ok else 1}")
EOF
)
  record "disk full (4 MiB tmpfs)" "rejected with ENOSPC, none lost, resumes" "${verdict%|*}" "${verdict##*|}"
  stop_emulator
  umount "$work/tmpfs"
else
  record "disk full (4 MiB tmpfs)" "rejected, none lost, resumes" "could not mount a tmpfs (not root?)" 1
fi

# 4. A correctly signed token with se=2^63-1: the emulator answers it and keeps serving.
start_emulator memory || exit 1
$client overflow-token 127.0.0.1 "$port" >"$work/token.json"
alive=$(kill -0 "$emulator_pid" 2>/dev/null && echo yes || echo no)
$client fill "$cs" --size 100 --count 5 >"$work/after-token.json"
after=$(json "$work/after-token.json" "len(d['acked'])")
record "token se=2^63-1" "emulator alive and serving" "alive $alive, then $after/5 acked" \
  $([ "$alive" = yes ] && [ "$after" = 5 ]; echo $?)

# 5. A slow-loris client (one byte a second) is closed by the 30 s handshake deadline; it runs
# beside the next cases.
$client slowloris 127.0.0.1 "$port" --limit 60 >"$work/slow.json" &
slow_pid=$!

# 6. Stalled consumers: three take their prefetch and stop reading while 20 MiB are published;
# the emulator holds only what their credit allows, not the backlog.
$client fill "$cs" --size 1024 --count 2000 --per-batch 500 --prefix pre >/dev/null
before=$(rss_kib)
stallers=()
for _ in 1 2 3; do
  $client stall "$cs" --seconds 20 >"$work/stall.$_.out" 2>&1 &
  stallers+=($!)
done
sleep 8
$client fill "$cs" --size 1024 --count 20000 --per-batch 500 --prefix bulk >"$work/bulk.json"
sleep 2
during=$(rss_kib)
for p in "${stallers[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
bulk=$(json "$work/bulk.json" "len(d['acked'])")
# 20 MiB of events are held in memory (no --data-dir) by design; what must not appear is a copy per
# stalled consumer (3 × 20 MiB): the bound is the data plus 24 MiB.
growth=$(( (during - before) / 1024 ))
record "3 stalled consumers, 20 MiB published" "RSS grows <= 20+24 MiB; publishes acked" "RSS +$growth MiB ($((before/1024)) -> $((during/1024))), $bulk/20000 acked" \
  $([ "$growth" -le 44 ] && [ "$bulk" = 20000 ]; echo $?)

# 7. Connection churn: 3000 connections (SASL PLAIN, open, close) after 500 to warm up.
$client churn 127.0.0.1 "$port" --count 500 >/dev/null
before=$(rss_kib)
$client churn 127.0.0.1 "$port" --count 3000 >"$work/churn.json"
sleep 1
after=$(rss_kib)
churn_errors=$(json "$work/churn.json" "len(d['errors'])")
growth=$(( (after - before) / 1024 ))
record "churn: 3000 connections" "RSS grows <= 4 MiB, no errors" "RSS +$growth MiB ($((before/1024)) -> $((after/1024))), $churn_errors errors" \
  $([ "$growth" -le 4 ] && [ "$churn_errors" = 0 ]; echo $?)

wait "$slow_pid"; slow_pid=""
closed=$(json "$work/slow.json" "d['closed_after']")
record "slow-loris (1 byte/s)" "closed by the 30 s handshake deadline" "closed after ${closed} s" \
  $([ "$closed" != None ] && "$py" -c "import sys; sys.exit(not 29 <= float(sys.argv[1]) <= 40)" "$closed"; echo $?)
alive=$(kill -0 "$emulator_pid" 2>/dev/null && echo yes || echo no)
record "after all of it" "emulator still running" "running: $alive" $([ "$alive" = yes ]; echo $?)
stop_emulator

# 8. Memory-only retention: 100 MB published to one partition with --retention-mb 32; what the
# emulator holds resident for it stays within 1.5 x 32 MiB (RSS after, less RSS before).
start_emulator retention --retention-mb 32 || exit 1
$client fill "$cs" --size 1000 --count 2000 --per-batch 500 --prefix warm >/dev/null
before=$(rss_kib)
$client fill "$cs" --size 1000 --count 100000 --per-batch 500 --prefix ret >"$work/retention.json"
sleep 1
after=$(rss_kib)
retained=$(json "$work/retention.json" "len(d['acked'])")
growth=$(( (after - before) / 1024 ))
record "retention: 100 MB into --retention-mb 32" "RSS grows <= 48 MiB (1.5x); all acked" "RSS +$growth MiB ($((before/1024)) -> $((after/1024))), $retained/100000 acked" \
  $([ "$growth" -le 48 ] && [ "$retained" = 100000 ]; echo $?)
stop_emulator

# 9. Failed logins: after --login-failures 3 wrong keys, the address is refused even with the
# right key (before any SASL), and the emulator keeps running.
start_emulator logins --login-failures 3 || exit 1
$client logins 127.0.0.1 "$port" --wrong 3 >"$work/logins.json"
results=$(json "$work/logins.json" "','.join(d['results'])")
alive=$(kill -0 "$emulator_pid" 2>/dev/null && echo yes || echo no)
record "3 failed logins (--login-failures 3)" "3 auth-failed, then refused; alive" "$results; alive $alive" \
  $([ "$results" = "auth-failed,auth-failed,auth-failed,refused" ] && [ "$alive" = yes ]; echo $?)
stop_emulator

# 10. A broker queue with no consumer (--max-queue-messages 100 --max-queue-mb 8): of 1000 messages
# of 64 KiB (the one credit window the broker grants up front; past it a full queue withholds
# credit and the sender waits), what fits is stored and the rest refused
# (resource-limit-exceeded); RSS grows by the 8 MiB kept and what is in flight.
"$AMQP_BIN" broker --port "$port" --max-queue-messages 100 --max-queue-mb 8 >"$work/broker.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
before=$(rss_kib)
"$AMQP_BIN" send "amqp://127.0.0.1:$port/bounded" --count 1000 --size 65536 --json >"$work/bounded.json" 2>"$work/bounded.err"
after=$(rss_kib)
read -r accepted_n rejected_n <<<"$("$py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
o = d.get("outcomes", d)
print(o.get("accepted", -1), o.get("rejected", -1))' "$work/bounded.json" 2>/dev/null || echo "-1 -1")"
growth=$(( (after - before) / 1024 ))
record "broker: 1000 x 64 KiB, queue of 8 MiB" "<= 128 stored, rest rejected; RSS +<= 40 MiB" "$accepted_n accepted, $rejected_n rejected; RSS +$growth MiB" \
  $([ "$accepted_n" -ge 1 ] && [ "$accepted_n" -le 128 ] && [ $((accepted_n + rejected_n)) = 1000 ] && [ "$growth" -le 40 ]; echo $?)
stop_emulator

printf '\n%-40s %-55s %-70s %s\n' CASE EXPECTED OBSERVED RESULT
for row in "${rows[@]}"; do
  IFS='|' read -r c e o v <<<"$row"
  printf '%-40s %-55s %-70s %s\n' "$c" "$e" "$o" "$v"
done
exit $failed
