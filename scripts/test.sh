#!/usr/bin/env bash
# The test command: installs what the tests need, builds once, runs every test, and checks that
# the codec stays free of Foundation. Run it from anywhere; CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

swift build --build-tests
swift test --skip-build --parallel

# AMQPCodec must not depend on Foundation: other projects embed it.
scripts/check-foundation-free.sh
