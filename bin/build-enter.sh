#!/usr/bin/env bash
# Compiles nestbox's static helpers into build/. Run by `npm ci` (postinstall):
#   nestbox-enter    runs programs inside capsules (lib/capsules/runtime/nestbox-enter.c, with relay.c)
#   nestbox-receive  splices large upload bodies into object files (lib/storage/bytes/nestbox-receive.c)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
build() { # out source [more sources it includes]
  local out=$1 src=$2 dep fresh=1
  [[ -x "$out" ]] || fresh=0
  for dep in "${@:2}"; do [[ "$out" -nt "$dep" ]] || fresh=0; done
  ((fresh)) && return 0
  cc -static -Os -s -Wall -Wextra -Werror -o "$out.tmp" "$src"
  mv -f "$out.tmp" "$out"
  echo "built $out"
}
build build/nestbox-enter lib/capsules/runtime/nestbox-enter.c lib/capsules/runtime/relay.c
build build/nestbox-receive lib/storage/bytes/nestbox-receive.c
