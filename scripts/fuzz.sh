#!/usr/bin/env bash
# Builds the libFuzzer targets of issue 7 and runs one or all of them for SECONDS each.
#
#   scripts/fuzz.sh [--campaign] TARGET|all SECONDS [libFuzzer flags...]
#
# SECONDS 0 means no time limit (pass -runs=N then).
#
# TARGET is value, message, frames, performative, listener, client, spec-xml, json or emulator (or
# fuzz-<name>). emulator drives an Event Hubs emulator connection with a client's bytes (CBS,
# $management, filters, producers); it builds NIO and BoringSSL, so its first build is slow.
# Each target keeps a growing corpus in .build-fuzz/corpus/<target> (outside git) and is seeded
# afresh on every run from the seeds the target generates, the committed regression inputs
# (Tests/FuzzRegressions/<target>), the captures and Qpid Proton corpora in ../shared/corpora
# (read from there, never copied into the repository) and, for spec-xml, the OASIS XML.
#
# Exits non-zero when any target found a crash, an oracle violation, a leak, a timeout (10 s for
# one input) or an out-of-memory (2.5 GB resident, or one allocation of 64 MB: no input of at most
# 16 KB may ask for that much); the failing input is printed (hex and base64) and left in
# .build-fuzz/findings/<target>/. Reproduce it with a plain build:
#   swift run fuzz-<target> .build-fuzz/findings/<target>/crash-…
#
# --campaign is for long offline runs (millions of executions per target). It fuzzes a build
# without AddressSanitizer (scratch .build-fuzz-campaign), which runs the same oracles 3–4 times
# as fast, then replays the whole grown corpus once through the strict build above. What it
# gives up, and only between two replays: ASan's checks on each mutated input — out-of-bounds and
# use-after-free in the codec's unsafe-pointer code (Swift's own bounds, overflow, unwrap and
# exclusivity traps stay on), leaks, and the 64 MB single-allocation limit (libFuzzer needs a
# sanitizer's allocator hooks for it; the RSS limit stays). Every input that reached new coverage
# is in the corpus and gets all of those checks in the replay; CI's short runs stay strict.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(value message frames performative listener client spec-xml json emulator)
usage() {
  echo "usage: scripts/fuzz.sh [--campaign] TARGET|all SECONDS [libFuzzer flags...]" >&2
  echo "targets: ${all_targets[*]}" >&2
  exit 2
}
campaign=false
if [ "${1:-}" = --campaign ]; then
  campaign=true
  shift
fi
[ $# -ge 2 ] || usage
selected="${1#fuzz-}"
seconds="$2"
shift 2
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
if [ "$selected" = all ]; then
  targets=("${all_targets[@]}")
else
  [[ " ${all_targets[*]} " == *" $selected "* ]] || usage
  targets=("$selected")
fi

scratch=.build-fuzz
shared=../shared/corpora
[ -d "$shared" ] || { echo "fuzz.sh needs ../shared/corpora beside the checkout (seeds)" >&2; exit 1; }

# The recipe of ../shared/TOOLCHAIN.md, plus -DFUZZING (the executables' replay mains are left
# out) and lld, which links the sanitizer runtime without gold's spurious warning.
build_flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld
  --scratch-path "$scratch")
# The campaign build: coverage and comparison tracing without ASan (`--sanitize=fuzzer` alone
# reaches the compiler as `-sanitize=fuzzer`).
campaign_flags=(-c release --sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld --scratch-path "$scratch-campaign")
# One build per product; after the first, the shared modules are up to date and only the small
# executable is compiled and linked.
for target in "${targets[@]}"; do
  echo "== building fuzz-$target" >&2
  swift build "${build_flags[@]}" --product "fuzz-$target" >&2
  if $campaign; then swift build "${campaign_flags[@]}" --product "fuzz-$target" >&2; fi
done
bin="$(swift build "${build_flags[@]}" --show-bin-path)"
campaign_bin="$bin"
if $campaign; then campaign_bin="$(swift build "${campaign_flags[@]}" --show-bin-path)"; fi

# What each target is seeded with from ../shared and elsewhere, besides its generated seeds and
# regression inputs; how long one input may be; which dictionary it uses.
shared_seeds() {
  case "$1" in
    value) echo "$shared/proton-interop-vectors $shared/proton-fuzz-message-decode/corpus $shared/proton-fuzz-message-decode/crash" ;;
    message) echo "$shared/proton-fuzz-message-decode/corpus $shared/proton-fuzz-message-decode/crash" ;;
    frames) echo "$shared/captures $shared/proton-fuzz-connection-driver/corpus $shared/proton-fuzz-connection-driver/crash" ;;
    performative) echo "" ;;
    listener) echo "$shared/captures/rabbitmq310.c2s.bin $shared/proton-fuzz-connection-driver/corpus" ;;
    client) echo "$shared/captures/rabbitmq310.s2c.bin $shared/proton-fuzz-connection-driver/corpus $shared/proton-fuzz-connection-driver/crash" ;;
    spec-xml) echo "spec /usr/share/amqp/specs/1-0 Generated/AMQPTypes.index.xml Examples/VendorTypes/Sources/VendorTypes Examples/CustomTypes/Sources/CustomTypes" ;;
    json) echo "" ;;
    emulator) echo "" ;;
  esac
}
# Short inputs run fast and still hold everything a decoder checks (the depth limit trips within
# a kilobyte); streams need room for a conversation; spec files are up to 11 KB.
max_len() {
  case "$1" in
    spec-xml) echo 16384 ;;
    frames | listener | client) echo 4096 ;;
    emulator) echo 8192 ;;
    *) echo 1024 ;;
  esac
}
dictionary() {
  case "$1" in
    spec-xml) echo Fuzz/spec-xml.dict ;;
    json) echo Fuzz/json.dict ;;
    *) echo Fuzz/amqp.dict ;;
  esac
}

# The strict run's flags: ASan reports leaks (also at the end of each input whose mallocs and
# frees differ) and allocations over 64 MB; out of memory otherwise at 2.5 GB.
strict_env=(SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1")
strict_flags=(-timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=64 -detect_leaks=1)

failed=()
for target in "${targets[@]}"; do
  exe="$bin/fuzz-$target"
  corpus="$scratch/corpus/$target"
  seeds="$scratch/seeds/$target"
  # Not $scratch/artifacts: SwiftPM owns that folder (binary artifacts) and empties it on a build,
  # so a build beside a running campaign would take its findings away.
  artifacts="$scratch/findings/$target"
  log="$scratch/logs/$target.log"
  rm -rf "$seeds" "$artifacts"
  mkdir -p "$corpus" "$seeds" "$artifacts" "$(dirname "$log")"

  AMQP_FUZZ_WRITE_SEEDS="$seeds" "$exe"
  if [ -d "Tests/FuzzRegressions/fuzz-$target" ]; then
    cp Tests/FuzzRegressions/"fuzz-$target"/* "$seeds"/ 2>/dev/null || true
  fi
  for source in $(shared_seeds "$target"); do
    if [ -d "$source" ]; then
      for file in "$source"/*; do
        case "$file" in *.xml | *.bin | *.amqp | */corpus/* | */crash/*) cp "$file" "$seeds/$(basename "$(dirname "$file")")-$(basename "$file")" ;; esac
      done
    elif [ -f "$source" ]; then
      cp "$source" "$seeds/"
    else
      echo "note: seed source $source is missing" >&2
    fi
  done

  echo "== fuzz-$target $($campaign && echo "campaign (no ASan) ")for ${seconds}s ($(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) corpus inputs)" >&2
  status=0
  if $campaign; then
    SWIFT_BACKTRACE=enable=no \
      "$campaign_bin/fuzz-$target" "$corpus" "$seeds" \
      -dict="$(dictionary "$target")" -max_len="$(max_len "$target")" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?
    # The strict build on every input the campaign kept (and the seeds).
    if [ "$status" -eq 0 ]; then
      echo "== fuzz-$target: replaying $(ls "$corpus" | wc -l) corpus inputs with ASan" >&2
      env "${strict_env[@]}" "$exe" "$corpus" "$seeds" "${strict_flags[@]}" -runs=0 \
        -artifact_prefix="$artifacts/" >"$scratch/logs/$target.replay.log" 2>&1 || status=$?
      if [ "$status" -ne 0 ]; then cat "$scratch/logs/$target.replay.log" >>"$log"; fi
    fi
  else
    env "${strict_env[@]}" \
      "$exe" "$corpus" "$seeds" \
      -dict="$(dictionary "$target")" -max_len="$(max_len "$target")" \
      -max_total_time="$seconds" "${strict_flags[@]}" \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?
  fi

  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | head -1)"
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    failed+=("$target")
    echo "!! fuzz-$target FAILED (exit $status) after ${runs:-?} executions; log: $log" >&2
    grep -v "^#[0-9]" "$log" | tail -60 >&2 || true
    for artifact in "$artifacts"/*; do
      [ -e "$artifact" ] || continue
      echo "-- $artifact ($(stat -c %s "$artifact") bytes)" >&2
      od -A x -t x1z -v "$artifact" | head -64 >&2 || true
      echo "base64: $(base64 -w0 "$artifact")" >&2
      echo "replay: swift run fuzz-$target $artifact" >&2
    done
  else
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | head -1)"
    coverage="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)"
    echo "fuzz-$target: ${runs:-?} executions ($rate/s, $coverage) without a finding (corpus: $(ls "$corpus" | wc -l) inputs)" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
