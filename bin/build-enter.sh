#!/usr/bin/env bash
# Compiles nestbox-enter, the static helper that runs programs inside capsules
# (lib/capsules/runtime/nestbox-enter.c), into build/. Run by `npm ci` (postinstall).
set -euo pipefail
cd "$(dirname "$0")/.."
src=lib/capsules/runtime/nestbox-enter.c
out=build/nestbox-enter
mkdir -p build
[[ -x "$out" && "$out" -nt "$src" && "$out" -nt "${src%/*}/relay.c" ]] && exit 0
cc -static -Os -s -Wall -Wextra -Werror -o "$out.tmp" "$src"  # includes relay.c beside it
mv -f "$out.tmp" "$out"
echo "built $out"
