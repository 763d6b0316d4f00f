#!/usr/bin/env bash
# Builds and tests Examples/CustomTypes, a package that uses the AMQPTypeGenerator build-tool
# plugin on its own XML. Slow the first time (it builds amqp-gen and its dependencies in the
# example's own .build): run it in CI, not on every edit.
set -euo pipefail
cd "$(dirname "$0")/../Examples/CustomTypes"
swift build --build-tests
swift test --skip-build
