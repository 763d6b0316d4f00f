#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every test, and checks that
# the codec stays free of Foundation. Run it from anywhere; CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

swift build --build-tests
swift test --skip-build --parallel --skip BufferedProducerThroughputTests
# The million-event buffered-producer test on its own: beside the others it holds both cores for
# minutes and starves their timeouts.
swift test --skip-build --filter BufferedProducerThroughputTests

# AMQPCodec must not depend on Foundation: other projects embed it.
scripts/check-foundation-free.sh

# The package declares macOS: every use of Glibc needs a Darwin branch beside it.
scripts/check-portability.sh

# The codec, the generated types and the message in Embedded Swift (armv7em, riscv32, wasm32), and
# the wasm32 build run under Wasmtime over the codec fixtures and the Event Hubs message.
scripts/build-embedded.sh
scripts/test-embedded.sh --no-build

# Heap allocations per codec operation must not rise (release build; Benchmarks/allocation-thresholds.txt).
scripts/check-allocations.sh

# Committed Generated/ must match the generator's output (the drift test checks it too; this
# prints a readable diff summary when it fails).
swift run --skip-build amqp-gen --extensions spec --output Generated/AMQPTypes \
  --module-name AMQPTypes --index-output Generated/AMQPTypes.index.xml --check

# A user's package that generates its own types with the build-tool plugin.
scripts/test-example-package.sh

# The fault cases end to end against the release emulator (kill -9, damage, full disk, hostile clients).
scripts/chaos.sh
