#!/usr/bin/env bash
# Installs nestbox as a systemd service: the executable, the unit, and an example
# settings file (only when none exists), then reloads systemd and starts it.
#
#   bin/install.sh                  install into / and enable --now (as root)
#   bin/install.sh --dry-run        print what would be done, change nothing
#   bin/install.sh --root DIR       install into DIR (a staging or image root);
#                                   the service is enabled there but not started
#   options: --prefix DIR (default /usr/local), --binary FILE (default bin/nestbox),
#            --no-start (install and enable, do not start)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
root=/
prefix=/usr/local
binary=$here/nestbox
dry=0
start=1

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --binary) binary=${2:?--binary needs a file}; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --dry-run | -n) dry=1; shift ;;
    --no-start) start=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n ${DESTDIR:-} && $root == / ]] && root=$DESTDIR
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be absolute" >&2; exit 2; }
# $root is prefixed to every path written; empty means the real system.
if [[ $root == / ]]; then
  root=
else
  [[ -d $root ]] || { echo "install.sh: --root $root is not a directory" >&2; exit 2; }
  root=$(cd "$root" && pwd)
fi

[[ -f $binary && -x $binary ]] || { echo "install.sh: $binary missing or not executable (build it: npm run build)" >&2; exit 1; }
if [[ -z $root && $dry == 0 && $(id -u) != 0 ]]; then
  echo "install.sh: installing into / needs root (try sudo, or --root DIR / --dry-run)" >&2
  exit 1
fi

bin_path=$prefix/bin/nestbox
unit_path=/etc/systemd/system/nestbox.service
env_path=/etc/nestbox/nestbox.env

run() {
  if [[ $dry == 1 ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

# The binary goes in under a temporary name and is renamed: a running service
# keeps its old file, and nothing ever sees a half-copied executable.
run install -d -m 0755 "$root$prefix/bin"
run install -m 0755 "$binary" "$root$bin_path.new"
run mv -f "$root$bin_path.new" "$root$bin_path"

unit=$(sed "s|^ExecStart=/usr/local/bin/nestbox |ExecStart=$bin_path |" "$repo/systemd/nestbox.service")
run install -d -m 0755 "$root/etc/systemd/system"
if [[ $dry == 1 ]]; then
  echo "+ write $root$unit_path (ExecStart=$bin_path serve)"
else
  printf '%s\n' "$unit" >"$root$unit_path.new"
  chmod 0644 "$root$unit_path.new"
  mv -f "$root$unit_path.new" "$root$unit_path"
fi

run install -d -m 0755 "$root/etc/nestbox"
run install -m 0644 "$repo/systemd/nestbox.env.example" "$root/etc/nestbox/nestbox.env.example"
if [[ -e $root$env_path ]]; then
  echo "keeping existing $root$env_path"
else
  run install -m 0600 "$repo/systemd/nestbox.env.example" "$root$env_path"
fi

if ! command -v systemctl >/dev/null; then
  echo "systemctl not found: enable the service yourself"
elif [[ -n $root ]]; then
  # Offline enable inside the alternate root (creates the WantedBy symlink); nothing to start there.
  run systemctl --root="$root" enable nestbox.service
elif [[ ! -d /run/systemd/system ]]; then
  echo "systemd is not running on this machine: not enabling the service; start it with: $bin_path serve"
else
  run systemctl daemon-reload
  if [[ $start == 1 ]]; then run systemctl enable --now nestbox.service; else run systemctl enable nestbox.service; fi
fi

if [[ $dry == 1 ]]; then
  echo "dry run: nothing was changed"
else
  echo "installed $root$bin_path, $root$unit_path, $root$env_path"
  [[ -z $root && $start == 1 && -d /run/systemd/system ]] && echo "status: systemctl status nestbox; logs: journalctl -u nestbox; admin credentials: /var/lib/nestbox/bootstrap.txt"
fi
exit 0
