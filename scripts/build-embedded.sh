#!/usr/bin/env bash
# Compiles AMQPCodec, AMQPTypes (Generated/AMQPTypes) and AMQPMessage in Embedded Swift, one
# whole-module object per module and target, for a microcontroller of each of the two common
# architectures and for WebAssembly, and prints the object sizes. Fails on any error and on any
# warning: an Embedded Swift restriction (untyped throws, existentials, key paths) is reported as
# a warning, and a warning here is a feature that would not work on those targets.
#
#   scripts/build-embedded.sh [TARGET]...     (default: the three below)
#
# Objects and module files go to .build/embedded/TARGET/; scripts/test-embedded.sh links the
# wasm32 ones into a program and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(armv7em-none-none-eabi riscv32-none-none-eabi wasm32-unknown-none-wasm)
swiftc="${SWIFTC:-swiftc}"

# module name, then its sources, in dependency order.
modules=(AMQPCodec AMQPTypes AMQPMessage)
sources_of() {
  case "$1" in
    AMQPCodec) echo Sources/AMQPCodec/*.swift ;;
    AMQPTypes) echo Generated/AMQPTypes/*.swift ;;
    AMQPMessage) echo Sources/AMQPMessage/*.swift ;;
  esac
}

failed=""
for target in "${targets[@]}"; do
  out=".build/embedded/$target"
  mkdir -p "$out"
  for module in "${modules[@]}"; do
    log="$out/$module.log"
    # shellcheck disable=SC2046
    if ! "$swiftc" -enable-experimental-feature Embedded -wmo -parse-as-library -Osize \
        -target "$target" -module-name "$module" -I "$out" \
        -emit-module -emit-module-path "$out/$module.swiftmodule" \
        -c $(sources_of "$module") -o "$out/$module.o" >"$log" 2>&1; then
      echo "build-embedded: $module failed for $target:" >&2
      grep -E 'error:' "$log" | sort -u >&2 || cat "$log" >&2
      failed=1
      continue
    fi
    if grep -qE 'warning:' "$log"; then
      echo "build-embedded: $module has warnings for $target:" >&2
      grep -E 'warning:' "$log" | grep -v '^ *|' | sort -u >&2
      failed=1
    fi
  done
done
[ -z "$failed" ] || exit 1

# Sizes of the code and data each module adds (text = code and constants, data, bss), as the
# object files have them before linking; a program that uses less of a module links less.
printf '%-26s %-12s %10s %8s %8s\n' target module text data bss
for target in "${targets[@]}"; do
  for module in "${modules[@]}"; do
    llvm-size -A ".build/embedded/$target/$module.o" | awk -v t="$target" -v m="$module" '
      $1 ~ /^\.(text|rodata|init_array|fini_array)/ || $1 ~ /^CODE$/ || $1 ~ /^\.rodata/ { text += $2 }
      $1 ~ /^\.data/ || $1 ~ /^DATA$/ { data += $2 }
      $1 ~ /^\.bss/ { bss += $2 }
      END { printf "%-26s %-12s %10d %8d %8d\n", t, m, text, data, bss }'
  done
done
