#!/usr/bin/env bash
# What a new user does on a fresh clone, after `npm ci`: `npm start`, wait for /healthz,
# create a list with the CLI, subscribe through the page, find the confirmation email (with
# its link) in /dev/outbox, stop. Any step that fails, or does not happen in time, fails.
# .ci/run runs it after the tests. PORT (default 3000) if that one is taken.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PORT:-3000}"
base="http://127.0.0.1:${port}"
log="$(mktemp)"
stamp="$(date +%s)-$$"
list="smoke-${stamp}"
email="new-user-${stamp}@example.org"

fail() {
  echo "smoke: FAILED: $*" >&2
  echo "--- npm start output ---" >&2
  cat "$log" >&2 || true
  exit 1
}

# Its own process group, so that stopping it stops npm and the node process under it.
setsid env PORT="$port" npm start >"$log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
}
trap stop EXIT

echo "smoke: npm start (port ${port}), waiting for /healthz"
up=""
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || fail "npm start exited"
  if curl -sf --max-time 2 "${base}/healthz" >/dev/null; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || fail "/healthz did not answer 200 within 60 s"

curl -sf --max-time 5 "${base}/" | grep -q "<h1>" || fail "the home page / did not answer"

echo "smoke: a list with the CLI"
npx --no-install broadsheet lists create "$list" --name "Smoke Test News" --from "Smoke Test <news@example.org>" \
  --contact "Example Press · 1 Main Street · Springfield" >/dev/null || fail "lists create"

echo "smoke: subscribe through the page as ${email}"
status="$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Accept: text/html' \
  --data-urlencode "email=${email}" --data-urlencode "name=New User" --data-urlencode "cadence=weekly" \
  "${base}/lists/${list}/subscribe")"
[ "$status" = "200" ] || fail "POST /lists/${list}/subscribe answered ${status}"

echo "smoke: the confirmation email in /dev/outbox"
id=""
for _ in $(seq 1 30); do
  id="$(curl -sf --max-time 5 "${base}/dev/outbox" | grep -F "${email}" | grep -o '/dev/outbox/[A-Za-z0-9_-]*' | head -n 1 || true)"
  [ -n "$id" ] && break
  sleep 1
done
[ -n "$id" ] || fail "no email to ${email} in /dev/outbox within 30 s"
curl -sf --max-time 5 "${base}${id}/raw" | grep -q "/confirm/" || fail "the email to ${email} has no confirmation link"

echo "smoke: ok (confirmation for ${email} at ${base}${id}); stopping"
stop
trap - EXIT
