#!/usr/bin/env bash
# The single executable, built fresh, copied ALONE into an empty directory and run
# with no Node and no node_modules in reach: version, doctor, migrate, serve (health
# and an authenticated database-backed request), SIGTERM exits 0. Also checks that
# the embedded addons refuse a planted cache directory and repair a tampered copy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
repo=$PWD

npm run -s build

dir=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "binary smoke: $*" >&2; [[ -f $dir/serve.log ]] && tail -n 20 "$dir/serve.log" >&2; exit 1; }

mkdir -p "$dir/app" "$dir/tools" "$dir/tmp" "$dir/home"
cp bin/nestbox "$dir/app/"
# Debian's /usr/bin has a node of its own; the executable gets a PATH with only what doctor runs.
for t in bwrap echo true; do ln -s "$(type -P "$t")" "$dir/tools/$t"; done
run() { (cd "$dir/app" && env -i PATH="$dir/tools" HOME="$dir/home" TMPDIR="$dir/tmp" ./nestbox "$@"); }
env -i PATH="$dir/tools" sh -c 'command -v node' >/dev/null 2>&1 && fail "node is reachable on the test PATH"

want=$(node -e "import('$repo/lib/core/version.ts').then((m) => console.log(m.VERSION))")
got=$(run version)
[[ $got == "$want" ]] || fail "version printed '$got', expected '$want'"

# Another user "pre-planted" the predictable cache directory: world-writable. It must not be used.
planted="$dir/tmp/nestbox-$(id -u)"
mkdir -m 777 "$planted"
out=$(run doctor --data-dir "$dir/app/data") || fail "doctor failed:"$'\n'"$out"
echo "$out"
[[ $(grep -c '^ok ' <<<"$out") -ge 5 ]] || fail "doctor reported fewer than 5 ok lines"
grep -q '^ok    sqlite .*embedded addon' <<<"$out" || fail "doctor: sqlite not from the embedded addon"
grep -q '^ok    pty .*embedded addon' <<<"$out" || fail "doctor: pty not from the embedded addon"
[[ -z $(ls -A "$planted") ]] || fail "addons were written into a world-writable directory"
cache="$dir/home/.cache/nestbox-$(id -u)"
[[ $(stat -c %a "$cache") == 700 ]] || fail "addon cache $cache is not mode 0700"

# A tampered copy in the cache is replaced by the embedded one, not loaded.
sqlite_copy=$(ls "$cache"/*-better_sqlite3.node)
chmod u+w "$sqlite_copy" && echo tampered >"$sqlite_copy"
run migrate --data-dir "$dir/app/data" >/dev/null || fail "migrate failed after the cached addon was tampered with"
cmp -s "$sqlite_copy" node_modules/better-sqlite3/prebuilds/linux-x64.node || fail "tampered addon copy was not restored"

port=$((20000 + RANDOM % 20000))
(cd "$dir/app" && exec env -i PATH="$dir/tools" HOME="$dir/home" TMPDIR="$dir/tmp" ./nestbox serve --port "$port" --host 127.0.0.1 >"$dir/serve.log" 2>&1) &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/liveliness" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/health/liveliness" | grep -q "alive" || fail "no answer on /health/liveliness"
key=$(grep '^api_key=' "$dir/app/data/bootstrap.txt" | cut -d= -f2)
[[ -n $key ]] || fail "no api key in data/bootstrap.txt"
curl -sf "http://127.0.0.1:$port/v1/me" -H "X-API-Key: $key" | grep -q '"email":"admin@nestbox.local"' || fail "GET /v1/me with the bootstrap key failed"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[[ $status == 0 ]] || fail "serve exited $status on SIGTERM"
echo "binary smoke: ok ($(du -m bin/nestbox | cut -f1) MB)"
