#!/usr/bin/env bash
# Builds the DocC documentation of every public library target with swift-docc-plugin, failing on
# any warning (an unresolved ``Symbol`` link, a parameter documented that does not exist, …).
# The archives land in .build/plugins/Swift-DocC/outputs/<Target>.doccarchive.
#
#   scripts/build-docs.sh                  every target below
#   scripts/build-docs.sh AMQPCodec …      only these
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(
    AMQPCodec
    AMQPTypes
    AMQPMessage
    AMQPProtocol
    AMQPTransport
    AMQPEventHubs
    AMQPEventHubsEmulator
    AMQPEventHubsProtocol
    AMQPEventHubsIdentity
    AMQPEventHubsBlobCheckpointStore
    AMQPMessageJSON
    AMQPSpecModel
    AMQPGenerator
)
if [ $# -gt 0 ]; then targets=("$@"); fi

arguments=()
for target in "${targets[@]}"; do
    test -d "Sources/$target/Documentation.docc" -o -d "Generated/$target/Documentation.docc" \
        || { echo "build-docs: $target has no Documentation.docc catalog" >&2; exit 1; }
    arguments+=(--target "$target")
done

# One invocation for all targets: the symbol graphs come from one build of their dependencies.
# --warnings-as-errors is docc's own flag (the plugin passes it on to `docc convert`).
swift package generate-documentation "${arguments[@]}" --warnings-as-errors
