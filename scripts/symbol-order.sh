#!/usr/bin/env bash
# symbol-order.sh: regenerates Benchmarks/symbol-order/klife.order.gz, the function order scripts/bench.sh links
# the benchmark's klife with (docs/benchmarks/memory.md). Traces which code pages a few `klife bench` runs touch
# (Benchmarks/symbol-order/page_trace.c, an LD_PRELOAD library) against a memory-only Tansu of its own, and
# writes every function on a touched page, the most-shared first (Benchmarks/symbol-order/order.py).
#
# usage: scripts/symbol-order.sh [KLIFE]
#   KLIFE  the klife to trace (default: the one scripts/bench.sh builds, .build/bench/klife-static). Tracing a
#          binary already linked with the order makes the next order tighter (fewer cold neighbours).
# Needs the librdkafka harness scripts/bench.sh builds (.build/bench/klife_rdkafka_bench) to create topics and
# produce the consume workloads' data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BENCH_DIR="${BENCH_DIR:-$ROOT/.build/bench}"
KLIFE="${1:-$(swift build -c release --static-swift-stdlib --scratch-path "$BENCH_DIR/klife-static" --show-bin-path)/klife}"
KLIFE="$(readlink -f "$KLIFE")"
HARNESS="$BENCH_DIR/klife_rdkafka_bench"
[[ -x "$KLIFE" ]] || { echo "symbol-order.sh: no klife at $KLIFE (run scripts/bench.sh's build first)" >&2; exit 1; }
[[ -x "$HARNESS" ]] || { echo "symbol-order.sh: no $HARNESS (run scripts/bench.sh once)" >&2; exit 1; }
export LD_LIBRARY_PATH="$BENCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

WORK="$BENCH_DIR/symbol-order"
rm -rf "$WORK"; mkdir -p "$WORK"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$WORK/page_trace.so" "$ROOT/Benchmarks/symbol-order/page_trace.c"

cleanup() { bash "$ROOT/scripts/tansu.sh" stop --name symbol-order >&2 || true; }
trap cleanup EXIT
BOOTSTRAP=$(bash "$ROOT/scripts/tansu.sh" start --name symbol-order)
harness() { "$HARNESS" "$1" --bootstrap "$BOOTSTRAP" "${@:2}" >/dev/null; }
traced() {   # traced NAME klife-arguments...
  echo "symbol-order: tracing $1" >&2
  PAGE_TRACE_OUT="$WORK/$1.trace" PAGE_TRACE_IMAGE="$KLIFE" LD_PRELOAD="$WORK/page_trace.so" \
    "$KLIFE" "${@:2}" --bootstrap "$BOOTSTRAP" --json >/dev/null 2>>"$WORK/stderr.log"
}
TUNING=(--acks all --linger-ms 5 --batch-size 1000000 --max-in-flight 5 --max-buffered-mb 64)

# The workloads of scripts/bench.sh, smaller: the same code runs.
harness create --topic latency --partitions 1
traced latency bench produce --sync --topic latency --records 2000 --record-size 100 --partitions 1 --concurrency 1 \
  --acks all --linger-ms 0 --max-in-flight 5 --max-buffered-mb 64
for codec in none lz4 zstd; do
  for partitions in 1 8; do
    topic="produce-$codec-p$partitions"
    harness create --topic "$topic" --partitions "$partitions"
    traced "$topic" bench produce --topic "$topic" --records 100000 --record-size 100 --partitions "$partitions" \
      --compression "$codec" "${TUNING[@]}"
    topic="consume-$codec-p$partitions"
    harness create --topic "$topic" --partitions "$partitions"
    harness produce --topic "$topic" --records 10000 --record-size 10240 --partitions "$partitions" --compression "$codec" \
      "${TUNING[@]}"
    traced "$topic" bench consume --topic "$topic" --records 10000 --partitions "$partitions"
  done
done

python3 "$ROOT/Benchmarks/symbol-order/order.py" "$KLIFE" "$WORK"/*.trace >"$WORK/klife.order"
gzip -9 -n -c "$WORK/klife.order" >"$ROOT/Benchmarks/symbol-order/klife.order.gz"
echo "symbol-order: wrote Benchmarks/symbol-order/klife.order.gz" >&2
