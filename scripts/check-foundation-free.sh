#!/usr/bin/env bash
# Fails if the AMQPCodec module (built in debug) imports or links Foundation, even unused.
set -euo pipefail
cd "$(dirname "$0")/.."
build=.build/debug/AMQPCodec.build
deps=()
for source in Sources/AMQPCodec/*.swift; do
  d="$build/$(basename "$source" .swift).d"
  [ -e "$d" ] || { echo "check-foundation-free: $d missing; build AMQPCodec first (swift build)" >&2; exit 1; }
  deps+=("$d")
done
if grep -l Foundation "${deps[@]}" >&2; then
  echo "AMQPCodec depends on Foundation (files above)" >&2
  exit 1
fi
objects=()
for source in Sources/AMQPCodec/*.swift; do
  o="$build/$(basename "$source").o"
  [ -e "$o" ] || { echo "check-foundation-free: $o missing" >&2; exit 1; }
  objects+=("$o")
done
if nm -u "${objects[@]}" | grep -E '[0-9]+Foundation' >&2; then
  echo "AMQPCodec object files reference Foundation symbols" >&2
  exit 1
fi
echo "AMQPCodec is Foundation-free (${#deps[@]} sources checked)"
