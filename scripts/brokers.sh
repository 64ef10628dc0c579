#!/usr/bin/env bash
# Starts and stops every broker the integration tests use, and records their addresses.
#
#   brokers.sh up        start: a plain Tansu, a killable Tansu (kill/restart tests), the TLS and mTLS
#                        Tansu+stunnel pairs, and the librdkafka mock-cluster harness; then write the env file
#   brokers.sh down      stop what `up` started, and the private Tansus tests started and left behind
#                        (only those marked with up's KLIFE_BROKERS_SESSION, see tansu.sh); idempotent. A
#                        Tansu started by hand (tansu.sh start --name X, without that variable) keeps running
#   brokers.sh env       print the env file (export lines) written by `up`
#   brokers.sh env-file  print the env file's path
#
# Variables written: KLIFE_TANSU_BOOTSTRAP, KLIFE_TANSU_KILLABLE_BOOTSTRAP, KLIFE_TANSU_KILLABLE_NAME,
# KLIFE_TLS_BOOTSTRAP, KLIFE_MTLS_BOOTSTRAP, KLIFE_TLS_CA_FILE, KLIFE_TLS_WRONG_CA_FILE,
# KLIFE_TLS_CLIENT_CERT_FILE, KLIFE_TLS_CLIENT_KEY_FILE, KLIFE_TLS_WRONG_CLIENT_CERT_FILE,
# KLIFE_TLS_WRONG_CLIENT_KEY_FILE, KLIFE_MOCK_BOOTSTRAP, KLIFE_MOCK_CONTROL, KLIFE_PYTHON, KLIFE_SCRIPTS,
# KLIFE_BROKER_STATE, KLIFE_BROKERS_SESSION.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ENV_FILE="$KLIFE_BROKER_STATE/env"
# The id of the running `up`; every Tansu started with it in KLIFE_BROKERS_SESSION belongs to it.
SESSION_FILE="$KLIFE_BROKER_STATE/session"
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
  # Recorded before anything starts, so that a failed start-up's `down` finds what did start.
  export KLIFE_BROKERS_SESSION="up-$(date -u +%Y%m%dT%H%M%SZ)-$$"
  echo "$KLIFE_BROKERS_SESSION" >"$SESSION_FILE"
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
      KLIFE_BROKER_STATE "$KLIFE_BROKER_STATE" \
      KLIFE_BROKERS_SESSION "$KLIFE_BROKERS_SESSION"
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
  "$KLIFE_SCRIPTS/tansu.sh" stop --name tansu
  "$KLIFE_SCRIPTS/tansu.sh" stop --name "$KILLABLE"
  # The private Tansus tests started (tansu.sh inherits the session from the env file) and left behind;
  # not one started by hand from the same checkout, e.g. a benchmark broker.
  local session pidfile dir
  session=$(cat "$SESSION_FILE" 2>/dev/null || true)
  if [[ -n "$session" ]]; then
    for pidfile in "$KLIFE_BROKER_STATE"/*/tansu.pid; do
      [[ -e "$pidfile" ]] || continue
      dir=$(dirname "$pidfile")
      [[ "$(cat "$dir/session" 2>/dev/null || true)" == "$session" ]] || continue
      "$KLIFE_SCRIPTS/tansu.sh" stop --name "$(basename "$dir")"
    done
  fi
  rm -f "$SESSION_FILE"
  say "brokers of 'up' down"
}

case "${1:-}" in
  up)
    # Not `do_up || …`: that would switch off errexit inside do_up.
    trap 'status=$?; if ((status)); then say "start-up failed; stopping what was started"; do_down; fi' EXIT
    do_up ;;
  down) do_down ;;
  env) [[ -f "$ENV_FILE" ]] || die "no env file; run 'scripts/brokers.sh up' first"; cat "$ENV_FILE" ;;
  env-file) echo "$ENV_FILE" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
