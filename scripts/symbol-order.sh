#!/usr/bin/env bash
# symbol-order.sh: regenerates Benchmarks/symbol-order/klife.order.gz, the function order scripts/bench.sh links
# the benchmark's klife with (docs/benchmarks/memory.md). Traces which code pages a few `klife bench` runs touch
# (Benchmarks/symbol-order/page_trace.c, an LD_PRELOAD library) against a memory-only Tansu of its own, and
# writes the functions those runs execute, the ones most runs share first (Benchmarks/symbol-order/order.py).
#
# A page is 4 KiB, so a touched page also names the untouched functions beside the executed ones. The runs are
# therefore traced in several layouts of the same code: the bench's klife as built, then relinked with all its
# functions in a random order (seeded, so the result is reproducible for the same binary); a function counts as
# executed by a workload only if its page was touched in every layout, where its neighbours differ each time.
#
# usage: scripts/symbol-order.sh [--layouts N]
#   --layouts N  layouts to trace (default 8: the built one and 7 shuffled; each costs a relink, ~10 s, and the
#                runs, ~10 s). Fewer keep more cold neighbours (docs/benchmarks/memory.md, Session 9).
# Builds the bench's klife (scripts/bench-klife-build.sh) and relinks it with the new order at the end. Needs
# the librdkafka harness scripts/bench.sh builds (.build/bench/klife_rdkafka_bench) to create topics and produce
# the consume workloads' data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LAYOUTS=8
while (($#)); do
  case "$1" in
    --layouts) LAYOUTS="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "symbol-order.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
((LAYOUTS >= 1)) || { echo "symbol-order.sh: --layouts must be at least 1" >&2; exit 2; }
export BENCH_DIR="${BENCH_DIR:-$ROOT/.build/bench}"
HARNESS="$BENCH_DIR/klife_rdkafka_bench"
[[ -x "$HARNESS" ]] || { echo "symbol-order.sh: no $HARNESS (run scripts/bench.sh once)" >&2; exit 1; }
export LD_LIBRARY_PATH="$BENCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

WORK="$BENCH_DIR/symbol-order"
rm -rf "$WORK"; mkdir -p "$WORK"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$WORK/page_trace.so" "$ROOT/Benchmarks/symbol-order/page_trace.c"

cleanup() { bash "$ROOT/scripts/tansu.sh" stop --name symbol-order >&2 || true; }
trap cleanup EXIT
BOOTSTRAP=$(bash "$ROOT/scripts/tansu.sh" start --name symbol-order)
harness() { "$HARNESS" "$1" --bootstrap "$BOOTSTRAP" "${@:2}" >/dev/null; }
TUNING=(--acks all --linger-ms 5 --batch-size 1000000 --max-in-flight 5 --max-buffered-mb 64)

# The consume workloads' data, once for every layout.
for codec in none lz4 zstd; do
  for partitions in 1 8; do
    topic="consume-$codec-p$partitions"
    harness create --topic "$topic" --partitions "$partitions"
    harness produce --topic "$topic" --records 10000 --record-size 10240 --partitions "$partitions" --compression "$codec" \
      "${TUNING[@]}"
  done
done

# trace_layout N KLIFE: the workloads of scripts/bench.sh, smaller (the same code runs), traced into $WORK/layout-N.
trace_layout() {
  local layout="$1" klife="$2" dir="$WORK/layout-$1"
  mkdir -p "$dir"
  traced() {   # traced NAME klife-arguments...
    PAGE_TRACE_OUT="$dir/$1.trace" PAGE_TRACE_IMAGE="$klife" LD_PRELOAD="$WORK/page_trace.so" \
      "$klife" "${@:2}" --bootstrap "$BOOTSTRAP" --json >/dev/null 2>>"$WORK/stderr.log"
  }
  echo "symbol-order: tracing layout $layout of $LAYOUTS" >&2
  harness create --topic "latency-$layout" --partitions 1
  traced latency bench produce --sync --topic "latency-$layout" --records 2000 --record-size 100 --partitions 1 \
    --concurrency 1 --acks all --linger-ms 0 --max-in-flight 5 --max-buffered-mb 64
  traced latency-loop bench produce --sync --on-event-loop --topic "latency-$layout" --records 2000 --record-size 100 \
    --partitions 1 --concurrency 4 --acks all --linger-ms 0 --max-in-flight 5 --max-buffered-mb 64
  for codec in none lz4 zstd; do
    for partitions in 1 8; do
      harness create --topic "produce-$codec-p$partitions-$layout" --partitions "$partitions"
      traced "produce-$codec-p$partitions" bench produce --topic "produce-$codec-p$partitions-$layout" --records 100000 \
        --record-size 100 --partitions "$partitions" --compression "$codec" "${TUNING[@]}"
      traced "consume-$codec-p$partitions" bench consume --topic "consume-$codec-p$partitions" --records 10000 \
        --partitions "$partitions"
    done
  done
}

# Layout 1 is the klife as built; each copy keeps its symbols (order.py reads them) but not its debug info.
ORDER_ARGS=()
KLIFE=$(bash "$ROOT/scripts/bench-klife-build.sh")
objcopy --strip-debug "$KLIFE" "$WORK/klife-1"
nm "$WORK/klife-1" | awk 'NF == 3 && $2 ~ /^[tTwW]$/ { print $3 }' | sort -u >"$WORK/functions"
for ((layout = 1; layout <= LAYOUTS; layout++)); do
  if ((layout > 1)); then
    python3 "$ROOT/Benchmarks/symbol-order/order.py" --shuffle "$layout" <"$WORK/functions" >"$WORK/shuffled-$layout.order"
    KLIFE=$(bash "$ROOT/scripts/bench-klife-build.sh" "$WORK/shuffled-$layout.order")
    objcopy --strip-debug "$KLIFE" "$WORK/klife-$layout"
  fi
  trace_layout "$layout" "$WORK/klife-$layout"
  ((layout > 1)) && ORDER_ARGS+=(--and)
  ORDER_ARGS+=("$WORK/klife-$layout" "$WORK/layout-$layout"/*.trace)
done

python3 "$ROOT/Benchmarks/symbol-order/order.py" "${ORDER_ARGS[@]}" >"$WORK/klife.order"
gzip -9 -n -c "$WORK/klife.order" >"$ROOT/Benchmarks/symbol-order/klife.order.gz"
echo "symbol-order: wrote Benchmarks/symbol-order/klife.order.gz" >&2
rm -f "$WORK"/klife-[0-9]*
bash "$ROOT/scripts/bench-klife-build.sh" >/dev/null   # the bench's klife in the new order again
