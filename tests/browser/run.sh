#!/usr/bin/env bash
# The page in Debian's headless Chromium (tests/browser/dashboard.test.mjs) against a real
# `dmonctl serve` over a store of a made-up fleet. Screenshots go to SHOTS (overview.png,
# host.png): the README's is one of them.
#   tests/browser/run.sh BUILD_DIR [SHOTS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [SHOTS]}" && pwd)
shots=${2:-$build/browser-shots}
state=$(mktemp -d)
agents=""
cleanup() {
  # serve() runs in a command substitution (a subshell): its pids come back through a file.
  for pid in $agents $(cat "$state/servers" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "[browser] /usr/bin/chromium is missing: scripts/setup.sh --tests installs it" >&2
  exit 1
fi
# puppeteer-core from the lock file, installed once into the build tree (it fetches no browser).
modules=$build/browser-test
if [ ! -f "$modules/node_modules/.package-lock.json" ] ||
   [ "$here/package-lock.json" -nt "$modules/node_modules/.package-lock.json" ]; then
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  npm ci --prefix "$modules" --no-audit --no-fund --loglevel=error
fi
cp "$here/dashboard.test.mjs" "$modules/"

"$build/bin/dmon_fleet_store" --db "$state/metrics.db" --hosts 1 --prefix old- --duration 15m \
  --interval 5s --end-ago 10m >/dev/null
# web-1..3: 7 hours of history, then live, a round a second, while the page is tested.
"$build/bin/dmon_fleet_store" --db "$state/metrics.db" --hosts 3 --duration 7h --interval 1s \
  --follow yes >"$state/fleet.out" 2>/dev/null &
agents=$!
for _ in $(seq 600); do grep -q "rounds" "$state/fleet.out" 2>/dev/null && break; sleep 0.1; done
sleep 1.5  # a live round or two after the history
# serve NAME ARGS...: dmonctl serve on a free port; prints its URL
serve() {
  local name=$1
  shift
  "$build/bin/dmonctl" serve --db "$state/metrics.db" --listen 127.0.0.1:0 "$@" \
    >"$state/$name.out" 2>"$state/$name.err" &
  echo "$!" >>"$state/servers"
  for _ in $(seq 50); do grep -q http "$state/$name.out" 2>/dev/null && break; sleep 0.1; done
  local url
  url=$(grep -o 'http://[^ ]*' "$state/$name.out" || true)
  if [ -z "$url" ]; then echo "[browser] dmonctl serve did not start:" >&2; cat "$state/$name.err" >&2; exit 1; fi
  echo "$url"
}
url=$(serve open)
# The same store behind a token: the page sends people to the login form.
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077 && echo "$token" >"$state/token")
token_url=$(serve token --token-file "$state/token")
echo "[browser] $url and, with a token, $token_url"
DMON_TEST_TOKEN=$token node "$modules/dashboard.test.mjs" "$url" "$shots" "$token_url"
