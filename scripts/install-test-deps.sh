#!/usr/bin/env bash
# Installs what the test suite needs on Debian/Ubuntu, and nothing when it is already there.
#   amqp-specs           the OASIS AMQP 1.0 XML the generator reads (never copied into the repo)
#   libxml2-dev          the generator's XML parser (CLibXML2)
#   python3-qpid-proton  Qpid Proton's Python binding: the independent codec oracle
# With arguments, installs those packages instead (scripts/bench.sh uses it for Proton C).
set -euo pipefail

packages=(amqp-specs libxml2-dev python3-qpid-proton)
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
