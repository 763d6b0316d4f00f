#!/usr/bin/env bash
# The allocation gate: builds amqp-bench in release, counts heap allocations per operation for
# every codec fixture, and fails naming each benchmark whose count rose above its committed
# threshold in Benchmarks/allocation-thresholds.txt. Counts are exact (a malloc interposer), so
# the gate is deterministic; wall-clock numbers are never gated.
#
#   scripts/check-allocations.sh [THRESHOLDS]   (default Benchmarks/allocation-thresholds.txt)
#
# When a change lowers a count, the script says so: lower the threshold in the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."
thresholds=${1:-Benchmarks/allocation-thresholds.txt}

swift build -c release --product amqp-bench >&2
measured=$(.build/release/amqp-bench codec --allocations-only)

compare() { # thresholds-file measured-lines → prints verdicts, exit status 1 on a rise
  awk '
    function field(line, key,   n, parts, i, kv) {
      n = split(line, parts, " ")
      for (i = 2; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == key) return kv[2] }
      return ""
    }
    FNR == NR {
      if ($0 ~ /^[[:space:]]*(#|$)/) next
      limit[$1 " encode"] = $2; limit[$1 " decode"] = $3; names[$1] = 1; next
    }
    {
      seen[$1] = 1
      if (!($1 in names)) { printf "allocation gate: %s has no threshold; add it to the thresholds file\n", $1; bad = 1; next }
      for (k = 0; k < 2; k++) {
        op = k == 0 ? "encode" : "decode"
        got = field($0, op "_allocs") + 0; max = limit[$1 " " op] + 0
        if (got > max) { printf "allocation gate: %s %s allocates %d per operation, threshold %d\n", $1, op, got, max; bad = 1 }
        else if (got < max) printf "allocation gate: %s %s allocates %d, below its threshold %d: lower the threshold\n", $1, op, got, max
      }
    }
    END {
      for (name in names) if (!(name in seen)) { printf "allocation gate: %s is in the thresholds file but was not measured\n", name; bad = 1 }
      exit bad
    }' "$1" <(printf '%s\n' "$2")
}

# The gate must be able to fail: a copy of the thresholds with one count lowered below what is
# measured has to be refused, naming that benchmark.
first=$(printf '%s\n' "$measured" | awk '{ split($4, kv, "="); if (kv[2] > 0) { print $1; exit } }')
if [ -n "$first" ]; then
  tightened=$(mktemp)
  trap 'rm -f "$tightened"' EXIT
  awk -v name="$first" '$1 == name { $2 = 0 } { print }' "$thresholds" >"$tightened"
  verdict=$(compare "$tightened" "$measured" || true)
  if ! grep -q "allocation gate: $first encode allocates" <<<"$verdict"; then
    echo "allocation gate: self-check failed: a lowered threshold for $first was not refused" >&2
    exit 1
  fi
fi

if compare "$thresholds" "$measured"; then
  echo "allocation gate: $(printf '%s\n' "$measured" | wc -l) benchmarks within their thresholds"
else
  echo "allocation gate: FAILED (thresholds: $thresholds)" >&2
  exit 1
fi
