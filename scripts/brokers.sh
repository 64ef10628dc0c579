#!/usr/bin/env bash
# Starts and stops every broker the integration tests use, and records their addresses.
#
#   brokers.sh up        start: a plain Tansu, a killable Tansu (kill/restart tests), the TLS and mTLS
#                        Tansu+stunnel pairs, and the librdkafka mock-cluster harness; then write the env file
#   brokers.sh down      stop all of it (idempotent)
#   brokers.sh env       print the env file (export lines) written by `up`
#   brokers.sh env-file  print the env file's path
#
# Variables written: KLIFE_TANSU_BOOTSTRAP, KLIFE_TANSU_KILLABLE_BOOTSTRAP, KLIFE_TANSU_KILLABLE_NAME,
# KLIFE_TLS_BOOTSTRAP, KLIFE_MTLS_BOOTSTRAP, KLIFE_TLS_CA_FILE, KLIFE_TLS_WRONG_CA_FILE,
# KLIFE_TLS_CLIENT_CERT_FILE, KLIFE_TLS_CLIENT_KEY_FILE, KLIFE_TLS_WRONG_CLIENT_CERT_FILE,
# KLIFE_TLS_WRONG_CLIENT_KEY_FILE, KLIFE_MOCK_BOOTSTRAP, KLIFE_MOCK_CONTROL, KLIFE_PYTHON, KLIFE_SCRIPTS,
# KLIFE_BROKER_STATE.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ENV_FILE="$KLIFE_BROKER_STATE/env"
MOCK_STATE="$KLIFE_BROKER_STATE/mock"
KILLABLE=tansu-killable

start_mock() {
  stop_pidfile "$MOCK_STATE/mock.pid" "mock_cluster.py" 10
  mkdir -p "$MOCK_STATE"
  rm -f "$MOCK_STATE/ready"
  run_detached "$MOCK_STATE/mock.log" \
    "$KLIFE_PYTHON" "$KLIFE_SCRIPTS/mock_cluster.py" serve --brokers 3 --ready-file "$MOCK_STATE/ready"
  local pid=$DETACHED_PID
  echo "$pid" >"$MOCK_STATE/mock.pid"
  local deadline=$(( SECONDS + 30 ))
  until [[ -s "$MOCK_STATE/ready" ]]; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$MOCK_STATE/mock.log" >&2; die "mock cluster harness exited"; }
    (( SECONDS < deadline )) || die "mock cluster harness not ready within 30 s"
    sleep 0.05
  done
  "$KLIFE_PYTHON" "$KLIFE_SCRIPTS/mock_cluster.py" ctl "$(awk '/^control/{print $2}' "$MOCK_STATE/ready")" ping \
    >/dev/null || die "mock cluster control port does not answer"
}

do_up() {
  do_down 2>/dev/null
  ensure_venv
  mkdir -p "$KLIFE_BROKER_STATE"
  local plain killable tls
  plain=$("$KLIFE_SCRIPTS/tansu.sh" start --name tansu)
  killable=$("$KLIFE_SCRIPTS/tansu.sh" start --name "$KILLABLE")
  tls=$("$KLIFE_SCRIPTS/tls-proxy.sh" start --name tls)
  start_mock
  {
    echo "# written by scripts/brokers.sh up at $(date -u +%FT%TZ)"
    printf "export %s='%s'\n" \
      KLIFE_TANSU_BOOTSTRAP "$plain" \
      KLIFE_TANSU_KILLABLE_BOOTSTRAP "$killable" \
      KLIFE_TANSU_KILLABLE_NAME "$KILLABLE" \
      KLIFE_MOCK_CONTROL "$(awk '/^control/{print $2}' "$MOCK_STATE/ready")" \
      KLIFE_MOCK_BOOTSTRAP "$(awk '/^bootstrap/{print $3}' "$MOCK_STATE/ready")" \
      KLIFE_PYTHON "$KLIFE_PYTHON" \
      KLIFE_SCRIPTS "$KLIFE_SCRIPTS" \
      KLIFE_BROKER_STATE "$KLIFE_BROKER_STATE"
    while IFS='=' read -r key value; do
      [[ -n "$key" ]] && printf "export %s='%s'\n" "$key" "$value"
    done <<<"$tls"
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  say "all brokers up; env file: $ENV_FILE"
  cat "$ENV_FILE"
}

do_down() {
  rm -f "$ENV_FILE"
  stop_pidfile "$MOCK_STATE/mock.pid" "mock_cluster.py" 10
  "$KLIFE_SCRIPTS/tls-proxy.sh" stop --name tls
  # Every Tansu under the state dir: the named ones and any private ones tests started and left behind.
  local pidfile
  for pidfile in "$KLIFE_BROKER_STATE"/*/tansu.pid; do
    [[ -e "$pidfile" ]] || continue
    "$KLIFE_SCRIPTS/tansu.sh" stop --name "$(basename "$(dirname "$pidfile")")"
  done
  say "all brokers down"
}

case "${1:-}" in
  up)
    # Not `do_up || …`: that would switch off errexit inside do_up.
    trap 'status=$?; if ((status)); then say "start-up failed; stopping what was started"; do_down; fi' EXIT
    do_up ;;
  down) do_down ;;
  env) [[ -f "$ENV_FILE" ]] || die "no env file; run 'scripts/brokers.sh up' first"; cat "$ENV_FILE" ;;
  env-file) echo "$ENV_FILE" ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
