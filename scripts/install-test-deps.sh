#!/usr/bin/env bash
# Installs what the test suite needs on Debian/Ubuntu, and nothing when it is already there.
#   amqp-specs           the OASIS AMQP 1.0 XML the generator reads (never copied into the repo)
#   libxml2-dev          the generator's XML parser (CLibXML2)
#   python3-qpid-proton  Qpid Proton's Python binding: the independent codec oracle, and the
#                        Python peers of scripts/peers/proton-peer.py
#   libqpid-proton11-dev, libqpid-proton11-dev-examples, gcc, pkg-config, patch
#                        Qpid Proton's C broker, send and receive, built by the peer tests
#   rabbitmq-server      RabbitMQ 3.10 with the AMQP 1.0 plugin; the tests run a private node
#   bsdutils             `script`, which runs `amqp send` on a pseudo-terminal for the progress-bar test
#   tinyproxy            a real HTTP proxy for the CONNECT tunnel tests
# and, in .venv-wasm, Wasmtime (PyPI `wasmtime`), the WebAssembly runtime scripts/test-embedded.sh
# runs the Embedded Swift fixture program under.
# A peer test fails (never skips) when its peer is missing.
set -euo pipefail

packages=(amqp-specs libxml2-dev python3-qpid-proton libqpid-proton11-dev libqpid-proton11-dev-examples gcc pkg-config patch
          rabbitmq-server bsdutils tinyproxy)
# With arguments, installs those packages instead (scripts/bench.sh uses it for Proton C).
[ $# -eq 0 ] || packages=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Microsoft's Event Hubs SDK (pure Python), its Blob checkpoint store and the Blob Storage client,
# and azure-core's OpenTelemetry tracing (the cross-language trace test), unpatched, in a venv of the system interpreter (the Blob tests drive them against the emulator).
venv="$(dirname "$0")/../.venv-eventhubs"
python_packages=(azure-eventhub==5.15.1 azure-eventhub-checkpointstoreblob==1.2.0 azure-storage-blob==12.31.1
  azure-core-tracing-opentelemetry==1.0.0b13 opentelemetry-sdk==1.45.2)
if ! "$venv/bin/python" -c '
import sys
from importlib.metadata import version
import azure.eventhub, azure.storage.blob, azure.eventhub.extensions.checkpointstoreblob
import azure.core.tracing.ext.opentelemetry_span, opentelemetry.sdk
sys.exit(0 if (version("azure-eventhub"), version("azure-eventhub-checkpointstoreblob"), version("azure-storage-blob")) == ("5.15.1", "1.2.0", "12.31.1") else 1)
' 2>/dev/null; then
  echo "Creating $venv with ${python_packages[*]}" >&2
  python3_system=/usr/bin/python3
  "$python3_system" -m venv "$venv" 2>/dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    "$python3_system" -m venv "$venv"
  }
  "$venv/bin/pip" install -q "${python_packages[@]}"
fi

# Wasmtime for the Embedded Swift program (scripts/test-embedded.sh), in a venv of its own.
wasm_venv="$(dirname "$0")/../.venv-wasm"
if ! "$wasm_venv/bin/python" -c '
import sys
from importlib.metadata import version
import wasmtime
sys.exit(0 if version("wasmtime") == "50.0.1" else 1)
' 2>/dev/null; then
  echo "Creating $wasm_venv with wasmtime==50.0.1" >&2
  /usr/bin/python3 -m venv "$wasm_venv"
  "$wasm_venv/bin/pip" install -q wasmtime==50.0.1
fi
