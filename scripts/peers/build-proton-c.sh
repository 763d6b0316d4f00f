#!/usr/bin/env bash
# Builds Qpid Proton's C examples (libqpid-proton11-dev-examples) into OUT (default
# .build/peers/proton-c): broker, send, receive, and send-sized — send.c with
# scripts/peers/send-sized.patch applied, which gives each message a string body of SIZE bytes
# when a fifth argument is given (Proton's send has no size option). Binaries that are newer
# than their source are kept. Used by the peer tests (AMQPTestSupport.ProtonC) and
# scripts/peer-rates.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/.build/peers/proton-c}"
examples=/usr/share/proton/examples/c

for file in broker.c send.c receive.c thread.h; do
  [ -f "$examples/$file" ] || { echo "Proton C examples missing ($examples/$file): install libqpid-proton11-dev-examples (scripts/install-test-deps.sh)" >&2; exit 1; }
done
for tool in gcc pkg-config patch; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-test-deps.sh)" >&2; exit 1; }
done
mkdir -p "$out"

# send-sized.c, rewritten only when the patched text changes (so its binary stays current).
patched="$(mktemp "$out/send-sized.c.XXXXXX")"
trap 'rm -f "$patched"' EXIT
cp "$examples/send.c" "$patched"
patch --quiet --no-backup-if-mismatch "$patched" "$root/scripts/peers/send-sized.patch" \
  || { echo "send-sized.patch no longer applies to $examples/send.c" >&2; exit 1; }
if cmp -s "$patched" "$out/send-sized.c"; then rm -f "$patched"; else mv "$patched" "$out/send-sized.c"; fi

read -r -a flags <<<"$(pkg-config --cflags --libs libqpid-proton)"
build() {
  local name="$1" source="$2"
  [ "$out/$name" -nt "$source" ] && return 0
  # Build beside the binary, then rename: a half-written binary is never run.
  gcc -O2 -I "$examples" -o "$out/$name.partial.$$" "$source" "${flags[@]}" -lpthread
  mv -f "$out/$name.partial.$$" "$out/$name"
}
build broker "$examples/broker.c"
build send "$examples/send.c"
build receive "$examples/receive.c"
build send-sized "$out/send-sized.c"
