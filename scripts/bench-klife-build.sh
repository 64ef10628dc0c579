#!/usr/bin/env bash
# bench-klife-build.sh: builds the klife that scripts/bench.sh measures and prints its path on stdout.
#
# usage: scripts/bench-klife-build.sh [ORDER]
#   ORDER  a linker symbol-ordering file (one function name per line) to lay the code out in; default: the
#          committed Benchmarks/symbol-order/klife.order.gz. scripts/symbol-order.sh passes shuffled ones.
#
# Release, Swift runtime linked statically, lld without exported symbols, packed relocations where glibc has
# them (Package.swift, KLIFE_BENCH_LINK): ~6 MB less resident than a default release build. Functions in their
# own sections, laid out in ORDER (the code the bench runs touch, together; docs/benchmarks/memory.md). Its own
# scratch path ($BENCH_DIR/klife-static), so neither this nor the debug build invalidates the other; a new
# order only relinks. Env: BENCH_DIR (.build/bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH_DIR="${BENCH_DIR:-$ROOT/.build/bench}"
mkdir -p "$BENCH_DIR"
SCRATCH="$BENCH_DIR/klife-static"
LINK=lld
if printf '%s\n' 2.36 "$(getconf GNU_LIBC_VERSION | awk '{print $2}')" | sort -V -C; then LINK=lld-relr; fi
if [[ -n "${1:-}" ]]; then
  ORDER="$(readlink -f "$1")"
else
  ORDER_GZ="$ROOT/Benchmarks/symbol-order/klife.order.gz"
  # Named by content: a new order changes the link command, so the build relinks.
  ORDER="$BENCH_DIR/klife-$(sha256sum "$ORDER_GZ" | cut -c1-12).order"
  [[ -f "$ORDER" ]] || gzip -dc "$ORDER_GZ" >"$ORDER"
fi
BUILD=(-c release --static-swift-stdlib --scratch-path "$SCRATCH"
       -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections)
echo "bench-klife-build: klife (release, static Swift runtime, $LINK, order $(basename "$ORDER")) in $SCRATCH" >&2
KLIFE_BENCH_LINK=$LINK KLIFE_BENCH_SYMBOL_ORDER=$ORDER swift build "${BUILD[@]}" --product klife >&2
echo "$(KLIFE_BENCH_LINK=$LINK KLIFE_BENCH_SYMBOL_ORDER=$ORDER swift build "${BUILD[@]}" --show-bin-path)/klife"
