#!/usr/bin/env bash
# `make demo`: installs what is missing, starts a local Tansu broker, builds the klife tool in release mode,
# runs `klife demo` against the broker, and stops the broker on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-prerequisites.sh
trap 'bash scripts/tansu.sh stop --name demo' EXIT
trap 'exit 130' INT TERM
ADDR=$(bash scripts/tansu.sh start --name demo)
swift build -c release --product klife
.build/release/klife demo --bootstrap "$ADDR" "$@"
