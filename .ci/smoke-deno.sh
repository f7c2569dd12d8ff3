#!/usr/bin/env bash
# nestbox under Deno: starts, answers health and a database-backed request.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
# Own session: the npm launcher runs the real deno as a child, and both must stop at the end.
setsid node_modules/.bin/deno run -A main.ts serve --data-dir "$dir" --port "$port" --host 127.0.0.1 >"$dir/out.log" 2>&1 &
pid=$!
trap 'kill -TERM -- -$pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/liveliness" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/health/liveliness" | grep -q "alive" || { cat "$dir/out.log"; exit 1; }
key=$(grep '^api_key=' "$dir/bootstrap.txt" | cut -d= -f2)
curl -sf "http://127.0.0.1:$port/v1/me" -H "X-API-Key: $key" | grep -q '"email":"admin@nestbox.local"' || { cat "$dir/out.log"; exit 1; }
kill -TERM -- -$pid; wait $pid || true
for _ in $(seq 1 50); do pgrep -g "$pid" >/dev/null || break; sleep 0.1; done
if pgrep -g "$pid" >/dev/null; then echo "deno smoke: server did not stop on SIGTERM"; exit 1; fi
echo "deno smoke: ok ($(node_modules/.bin/deno --version | head -1))"
