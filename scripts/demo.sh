#!/usr/bin/env bash
# `make demo`: installs what is missing, starts a local Tansu broker, builds the klife tool in release mode,
# runs `klife demo` against the broker, and stops the broker on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-prerequisites.sh
# Built before the broker starts: the first release build takes minutes, with nothing to run it against yet.
swift build -c release --product klife
# A broker name of its own, so that the exit trap never stops a broker someone else started as "demo".
trap 'bash scripts/tansu.sh stop --name make-demo' EXIT
trap 'exit 130' INT TERM
ADDR=$(bash scripts/tansu.sh start --name make-demo)
.build/release/klife demo --bootstrap "$ADDR" "$@"
