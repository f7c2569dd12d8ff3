#!/usr/bin/env bash
# Compiles nestbox's static helpers into build/. Run by `npm ci` (postinstall):
#   nestbox-enter    runs programs inside capsules (lib/capsules/runtime/nestbox-enter.c, with relay.c)
#   nestbox-receive  splices large upload bodies into object files (lib/storage/bytes/nestbox-receive.c)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
build() { # out "libraries" source [more sources it includes]
  local out=$1 libs=$2 src=$3 dep fresh=1
  [[ -x "$out" ]] || fresh=0
  for dep in "${@:3}"; do [[ "$out" -nt "$dep" ]] || fresh=0; done
  ((fresh)) && return 0
  # shellcheck disable=SC2086 # $libs is a list of linker flags
  cc -static -Os -s -Wall -Wextra -Werror -o "$out.tmp" "$src" $libs || return 1
  mv -f "$out.tmp" "$out"
  echo "built $out"
}
build build/nestbox-enter "" lib/capsules/runtime/nestbox-enter.c lib/capsules/runtime/relay.c
# libcrypto: OpenSSL's MD5 and SHA-256 (libssl-dev). Without it nestbox still works: large uploads stream through Node.
build build/nestbox-receive "-pthread -lcrypto" lib/storage/bytes/nestbox-receive.c ||
  echo "warning: build/nestbox-receive not built (bin/deps.sh installs libssl-dev); large uploads will stream through nestbox" >&2
