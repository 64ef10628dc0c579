#!/usr/bin/env bash
# Long seeded fuzz run of the response decoders and the record batch reader (Tests/KafkaProtocolTests/
# FuzzTests.swift, RobustnessTests.swift). No brokers needed.
#
#   scripts/fuzz.sh [SCALE] [SEED...]
#
# SCALE multiplies every iteration count of the fuzz tests (default 50; `swift test` alone runs scale 1).
# Each SEED (default: one random seed) is a separate run; a failure names the seed, the round and the
# input, and `KLIFE_FUZZ_SEED=SEED KLIFE_FUZZ_SCALE=SCALE swift test --filter FuzzTests` reproduces it.
# Release mode (`-c release`) makes a run ~10x faster: set KLIFE_FUZZ_RELEASE=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scale="${1:-50}"
shift || true
seeds=("$@")
if [[ ${#seeds[@]} -eq 0 ]]; then seeds=("$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')"); fi
config=()
if [[ "${KLIFE_FUZZ_RELEASE:-0}" == 1 ]]; then config=(-c release -Xswiftc -enable-testing); fi

swift build --build-tests "${config[@]}"
status=0
for seed in "${seeds[@]}"; do
  echo "==> fuzz run: KLIFE_FUZZ_SCALE=$scale KLIFE_FUZZ_SEED=$seed" >&2
  KLIFE_FUZZ_SCALE="$scale" KLIFE_FUZZ_SEED="$seed" \
    swift test --skip-build "${config[@]}" --filter 'FuzzTests|RobustnessTests' || { status=$?; echo "==> seed $seed FAILED" >&2; }
done
exit "$status"
