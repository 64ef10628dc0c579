#!/usr/bin/env bash
# The test command (`make test`, and CI through .ci/run): installs what is missing, checks the generated
# protocol code when the Kafka definitions are available, builds, starts every test broker, runs
# `swift test` with the brokers' addresses in the environment, and always stops the brokers.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter BrokerHarnessTests).
# Exits with swift test's status.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$SECONDS
step() { echo "==> [$(( SECONDS - started ))s] $*" >&2; }

step "prerequisites"
bash scripts/install-prerequisites.sh

# The check finds ../shared itself (also from a nested worktree) and skips when it is absent.
if [[ -f scripts/check-generated.sh ]]; then
  step "check generated protocol code"
  bash scripts/check-generated.sh
fi

step "swift build --build-tests"
swift build --build-tests

# The example app (a separate package depending on this one by path) must keep compiling; its first build
# takes several minutes (Hummingbird). KLIFE_SKIP_EXAMPLES=1 skips it.
if [[ "${KLIFE_SKIP_EXAMPLES:-0}" != 1 ]]; then
  step "build Examples/OrdersService"
  swift build --package-path Examples/OrdersService
fi

trap 'step "stopping brokers"; bash scripts/brokers.sh down' EXIT
trap 'exit 130' INT TERM
step "starting brokers"
bash scripts/brokers.sh up >/dev/null
set -a
# shellcheck disable=SC1090
source "$(bash scripts/brokers.sh env-file)"
set +a

status=0
# Every test's output also goes to a log, so that on failure the failed expectations are printed again at
# the very end, where a CI summary that keeps only the last lines still shows them.
log="$(mktemp -t klife-test-XXXXXX.log)"
run() { swift test --skip-build "$@" 2>&1 | tee -a "$log"; }
if (($#)); then
  step "swift test $*"
  run "$@" || status=$?
else
  # Separate processes: the CPU-heavy unit suites (fuzzing, codec robustness) run first on their own, so they
  # cannot starve the integration tests' timers and connections of the two cores' worth of threads.
  # The protocol suites (fuzzing, codec robustness) are CPU-bound for seconds on both cooperative threads;
  # a process of their own keeps them from starving the client unit tests' timers and scripted servers.
  step "swift test: protocol unit tests"
  run --filter '^KafkaProtocolTests\.' || status=$?
  step "swift test: client and CLI unit tests"
  run --skip '^(IntegrationTests|KafkaProtocolTests)\.' || status=$?
  step "swift test: integration tests"
  run --filter '^IntegrationTests\.' --skip '^IntegrationTests\.SoakRuns/' || status=$?
  # The soaks bound the growth of the process's RSS: a process of their own keeps other suites' memory
  # out of that figure.
  step "swift test: soak runs"
  run --filter '^IntegrationTests\.SoakRuns/' || status=$?
fi
if ((status != 0)); then
  step "failed expectations (again, from $log)"
  grep -E '✘|error: |fatal error|Fatal error' "$log" | tail -n 40 || true
fi
step "swift test exited with $status"
exit "$status"
