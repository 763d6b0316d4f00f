#!/usr/bin/env bash
# Builds and tests Examples/CustomTypes and Examples/VendorTypes, packages that use the AMQPTypeGenerator build-tool
# plugin on its own XML. Slow the first time (it builds amqp-gen and its dependencies in the
# example's own .build): run it in CI, not on every edit.
set -euo pipefail
cd "$(dirname "$0")/../Examples/CustomTypes"
swift build --build-tests
swift test --skip-build

# A vendor's package generated against AMQPTypes (issue 20): its XML uses the core's error, fields,
# role and delivery-state, resolved from Generated/AMQPTypes.index.xml.
cd ../VendorTypes
swift build --build-tests
swift test --skip-build
