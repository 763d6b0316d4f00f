#!/usr/bin/env bash
# Proof that the codec works in Embedded Swift, not only that it compiles: links the wasm32
# objects of scripts/build-embedded.sh with Embedded/FixtureRoundTrip and the WASI platform layer
# of Embedded/Runtime into one WebAssembly program, and runs it under Wasmtime (the PyPI package,
# in .venv-wasm from scripts/install-test-deps.sh) over every codec fixture and the Event Hubs
# message (scripts/embedded-fixtures.py): each must decode and encode back byte for byte. Fails
# when Wasmtime is missing.
#
#   scripts/test-embedded.sh [--no-build]     (--no-build: the objects are already built)
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-none-wasm
out=".build/embedded/$target"
[ "${1:-}" = "--no-build" ] || scripts/build-embedded.sh "$target" >/dev/null

python=.venv-wasm/bin/python
"$python" -c 'import wasmtime' 2>/dev/null || {
  echo "test-embedded: Wasmtime is missing from .venv-wasm (run scripts/install-test-deps.sh)" >&2
  exit 1
}

swiftc -enable-experimental-feature Embedded -wmo -parse-as-library -Osize -target "$target" \
  -module-name FixtureRoundTrip -I "$out" -import-objc-header Embedded/Runtime/wasi-runtime.h \
  -c Embedded/FixtureRoundTrip/FixtureRoundTrip.swift -o "$out/FixtureRoundTrip.o" 2>"$out/FixtureRoundTrip.log" || {
  cat "$out/FixtureRoundTrip.log" >&2; exit 1; }
if grep -q 'warning:' "$out/FixtureRoundTrip.log"; then cat "$out/FixtureRoundTrip.log" >&2; exit 1; fi
clang --target=wasm32-unknown-unknown -ffreestanding -nostdlib -Os -Wall -Werror \
  -c Embedded/Runtime/wasi-runtime.c -o "$out/wasi-runtime.o"
wasm-ld "$out/FixtureRoundTrip.o" "$out/AMQPCodec.o" "$out/AMQPTypes.o" "$out/AMQPMessage.o" "$out/wasi-runtime.o" \
  "$(dirname "$(command -v swiftc)")/../lib/swift/embedded/$target/libswiftUnicodeDataTables.a" \
  -o "$out/fixture-round-trip.wasm"
echo "test-embedded: $(wc -c <"$out/fixture-round-trip.wasm") bytes of WebAssembly" >&2

python3 scripts/embedded-fixtures.py >"$out/fixtures.records"
"$python" scripts/run-wasm.py "$out/fixture-round-trip.wasm" <"$out/fixtures.records"
