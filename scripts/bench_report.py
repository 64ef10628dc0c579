#!/usr/bin/env python3
"""bench_report.py: turns scripts/bench.sh's results (one JSON line per run) into medians, klife/librdkafka
ratios, a summary on stdout and, with --output, a regenerated BENCHMARKS.md. Standard library only."""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

OURS, THEIRS = "klife", "librdkafka"
KINDS = [
    ("produce", "Produce (acks=all, idempotent, as fast as possible)"),
    ("consume", "Consume from the beginning (the data librdkafka produced in the same workload)"),
    ("latency", "Synchronous produce latency (each caller waits for its record's acknowledgement)"),
]
# Targets from issue 7: (metric, bound, higher-is-better)
TARGETS = [
    ("records_per_s", 1.0, True, "throughput ≥ 1.0× librdkafka"),
    ("cpu_s_per_million", 0.8, False, "client CPU per record ≤ 0.8× librdkafka"),
    ("peak_rss_mb", 1.5, False, "peak RSS ≤ 1.5× librdkafka"),
]
CPU_TARGET = next(bound for metric, bound, _, _ in TARGETS if metric == "cpu_s_per_million")
# Workloads whose CPU ratio is bounded by work both clients share, measured and written up in docs/benchmarks
# (issue 7): (kind, record size, partitions or None for any, codecs, why). A CPU miss on one of these is listed
# with its floor; a miss anywhere else is reported as unexplained, so a regression cannot hide behind a floor.
SHARED_WORK_FLOORS = [
    ("produce", 10240, None, ("lz4",),
     "liblz4 is ~68% of librdkafka's CPU and ~79% of Klife's on 10 KB records (the same release, 1.9.4, on both "
     "sides, measured at the same speed on the bench's batches), and Klife's kernel send path (the socket copy "
     "and loopback TCP, which librdkafka pays too) is another ~12%: with the codec at parity, 0.8× would need "
     "the rest of Klife's code to cost nothing (docs/benchmarks/codec.md, Session 11)"),
    ("produce", 10240, None, ("zstd",),
     "with the same zstd release on both sides (1.5.7), libzstd alone costs each client about the same, ~44 s "
     "per million 10 KB records (perf, one pair: 92% of Klife's CPU, 83% of librdkafka's), which is already more "
     "than 0.8× librdkafka's whole CPU; Klife's own part is ~40% of librdkafka's (3.7 vs 8.9 s) "
     "(docs/benchmarks/codec.md, Sessions 5, 8 and 12)"),
    ("consume", 10240, 8, ("none",),
     "system time is two thirds of both clients' CPU (14 paired rounds: 0.22 s for Klife, 0.25 s for "
     "librdkafka per 100,000 records): the kernel's copy into the reader's memory and, on loopback, TCP work "
     "that runs in whichever side's context set it off. 0.8× would need Klife's user time, already below "
     "librdkafka's, a quarter lower, with CRC-32C alone a third of it "
     "(docs/benchmarks/consumer.md, Sessions 8–11)"),
]


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def kind_of(workload):
    return workload.split(" ", 1)[0]


def label_of(workload):
    return workload.split(" ", 1)[1] if " " in workload else workload


def medians(runs):
    """{workload: {side: {metric: median, 'n': ok runs, 'failed': failed runs, 'all': [records/s…]}}}"""
    out = {}
    for r in runs:
        side = out.setdefault(r["workload"], {}).setdefault(r["side"], {"ok": [], "failed": 0})
        if r.get("failed"):
            side["failed"] += 1
        else:
            side["ok"].append(r)
    for sides in out.values():
        for s in sides.values():
            ok = s.pop("ok")
            s["n"] = len(ok)
            s["all"] = [r["records_per_s"] for r in ok]
            s["by_run"] = {r["run"]: r for r in ok if r.get("run") is not None}
            for key in ("records_per_s", "mb_per_s", "cpu_s", "cpu_s_per_million", "peak_rss_mb", "elapsed_s",
                        "p50_us", "p99_us", "p999_us"):
                values = [r[key] for r in ok if r.get(key) is not None]
                s[key] = statistics.median(values) if values else None
    return out


def ratio(ours, theirs):
    if ours is None or theirs in (None, 0):
        return None
    return ours / theirs


def fmt(v, digits=0, unit=""):
    if v is None:
        return "—"
    if digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def fmt_ratio(r, not_run):
    if r is None:
        return "not run" if not_run else "—"
    return f"{r:.2f}×"


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    distro = platform.system()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "model": model,
        "memory": mem,
        "os": f"{distro}, kernel {platform.release()}",
        "swift": sh(["swift", "--version"]).splitlines()[0] if sh(["swift", "--version"]) else "unknown",
    }


def table(kind, data, not_run):
    rows = []
    if kind == "latency":
        head = ["workload", "p50 µs librdkafka", "p50 µs klife", "p99 µs librdkafka", "p99 µs klife",
                "p999 µs librdkafka", "p999 µs klife", "p99 klife÷librdkafka", "rec/s librdkafka", "rec/s klife",
                "CPU s/1M librdkafka", "CPU s/1M klife", "RSS MB librdkafka", "RSS MB klife"]
    else:
        head = ["workload", "rec/s librdkafka", "rec/s klife", "rec/s klife÷librdkafka", "MB/s librdkafka",
                "MB/s klife", "CPU s/1M librdkafka", "CPU s/1M klife", "CPU klife÷librdkafka", "RSS MB librdkafka",
                "RSS MB klife", "RSS klife÷librdkafka"]
    for workload, sides in data.items():
        if kind_of(workload) != kind:
            continue
        t = sides.get(THEIRS, {})
        o = sides.get(OURS, {})
        g = lambda s, k: s.get(k) if s else None  # noqa: E731
        ours_note = "not run" if not_run else ("failed" if o.get("failed") and not o.get("n") else "—")
        ov = lambda k, d=0: fmt(g(o, k), d) if g(o, k) is not None else ours_note  # noqa: E731
        if kind == "latency":
            rows.append([label_of(workload), fmt(g(t, "p50_us")), ov("p50_us"), fmt(g(t, "p99_us")), ov("p99_us"),
                         fmt(g(t, "p999_us")), ov("p999_us"),
                         fmt_ratio(ratio(g(o, "p99_us"), g(t, "p99_us")), not_run),
                         fmt(g(t, "records_per_s")), ov("records_per_s"), fmt(g(t, "cpu_s_per_million"), 2),
                         ov("cpu_s_per_million", 2), fmt(g(t, "peak_rss_mb"), 1), ov("peak_rss_mb", 1)])
        else:
            rows.append([label_of(workload), fmt(g(t, "records_per_s")), ov("records_per_s"),
                         fmt_ratio(ratio(g(o, "records_per_s"), g(t, "records_per_s")), not_run),
                         fmt(g(t, "mb_per_s"), 1), ov("mb_per_s", 1), fmt(g(t, "cpu_s_per_million"), 2),
                         ov("cpu_s_per_million", 2),
                         fmt_ratio(ratio(g(o, "cpu_s_per_million"), g(t, "cpu_s_per_million")), not_run),
                         fmt(g(t, "peak_rss_mb"), 1), ov("peak_rss_mb", 1),
                         fmt_ratio(ratio(g(o, "peak_rss_mb"), g(t, "peak_rss_mb")), not_run)])
    return head, rows


def markdown_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(head, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(head)] + [line(r) for r in rows])


def workload_shape(workload):
    """(kind, record size, partitions, codec) of a produce/consume workload id, or None."""
    m = re.fullmatch(r"(produce|consume) \d+x(\d+)B-p(\d+)-(\w+)", workload)
    return (m[1], int(m[2]), int(m[3]), m[4]) if m else None


def shared_work_floor(workload):
    shape = workload_shape(workload)
    if shape is None:
        return None
    kind, size, partitions, codec = shape
    for f_kind, f_size, f_partitions, f_codecs, why in SHARED_WORK_FLOORS:
        if (kind, size) == (f_kind, f_size) and f_partitions in (None, partitions) and codec in f_codecs:
            return why
    return None


def target_lines(data, not_run):
    out = []
    for metric, bound, higher, text in TARGETS:
        if not_run:
            out.append(f"- {text}: not checked (klife was not run)")
            continue
        met, missed, floored = 0, [], []
        for workload, sides in data.items():
            if kind_of(workload) == "latency":
                continue
            r = ratio(sides.get(OURS, {}).get(metric), sides.get(THEIRS, {}).get(metric))
            if r is None:
                continue
            ok = r >= bound if higher else r <= bound
            met += ok
            if not ok:
                at_floor = metric == "cpu_s_per_million" and shared_work_floor(workload)
                (floored if at_floor else missed).append(f"{workload} ({r:.2f}×{run_spread(sides, metric, bound, higher)})")
        total = met + len(missed) + len(floored)
        status = f"met in {met} of {total} workloads"
        if floored:
            status += "; at a shared-work floor (below): " + ", ".join(floored)
        if missed:
            status += "; missed: " + ", ".join(missed)
        out.append(f"- {text}: {status}")
    if any(kind_of(w) == "latency" for w in data):
        out.append("- The latency rows are outside these targets: each caller waits for one acknowledgement at a time, "
                   "so their rate is set by the round trip and their RSS is the process's resting size (its code "
                   "and runtime; almost nothing is buffered). Their figures are in their table.")
    return out


METRIC_UNITS = {"records_per_s": ("rec/s", 0), "cpu_s_per_million": ("CPU s/1M", 2), "peak_rss_mb": ("MB", 1)}


def run_spread(sides, metric, bound, higher):
    """How a missed median looks run by run: in how many of the paired runs (same run number, so the same
    moment on the machine) the target was met, and the range of librdkafka's own runs."""
    ours, theirs = sides.get(OURS, {}).get("by_run", {}), sides.get(THEIRS, {}).get("by_run", {})
    pairs = [(ours[n][metric], theirs[n][metric]) for n in sorted(ours.keys() & theirs.keys())
             if ours[n].get(metric) is not None and theirs[n].get(metric)]
    if not pairs:
        return ""
    met = sum((o / t >= bound) if higher else (o / t <= bound) for o, t in pairs)
    values = [t for _, t in pairs]
    unit, digits = METRIC_UNITS.get(metric, ("", 2))
    return (f"; met in {met} of {len(pairs)} paired runs; librdkafka's runs "
            f"{fmt(min(values), digits)}–{fmt(max(values), digits)} {unit}")


def floor_lines(data, not_run):
    """The floors of the workloads that missed the CPU target at one, once each."""
    if not_run:
        return []
    reasons = {}
    for workload, sides in data.items():
        why = shared_work_floor(workload)
        r = ratio(sides.get(OURS, {}).get("cpu_s_per_million"), sides.get(THEIRS, {}).get("cpu_s_per_million"))
        if why and r is not None and r > CPU_TARGET:
            reasons.setdefault(why, []).append(workload)
    out = []
    for why, workloads in reasons.items():
        out.append(f"- {', '.join(workloads)}: {why}.")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--output")
    ap.add_argument("--command", default="scripts/bench.sh")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--librdkafka-version", default="?")
    ap.add_argument("--broker", default="Tansu")
    ap.add_argument("--load", default="?")
    ap.add_argument("--klife-commit", default="?")
    ap.add_argument("--klife-codecs", default="", help='the codec libraries klife loaded, e.g. "zstd 1.5.7, lz4 1.9.4"')
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--klife-not-run", action="store_true", help="bench.sh --theirs-only")
    ap.add_argument("--produce-settings", default="librdkafka's defaults (linger 5 ms, batch.size 1,000,000 B, "
                    "5 requests in flight, queue.buffering.max.kbytes 1 GiB)")
    ap.add_argument("--latency-settings", default="linger 0, librdkafka's other defaults")
    a = ap.parse_args()

    data = medians(load(a.results))
    not_run = a.klife_not_run

    for kind, title in KINDS:
        head, rows = table(kind, data, not_run)
        if rows:
            print(f"\n{title}\n" + text_table(head, rows))
    print()
    for line in target_lines(data, not_run) + floor_lines(data, not_run):
        print(line)

    if not a.output:
        return
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# Benchmarks: Klife vs librdkafka",
        "",
        "<!-- Generated by scripts/bench.sh (scripts/bench_report.py). Do not edit by hand: rerun the command. -->",
        "",
        f"Generated {now} by `{a.command}` in {a.elapsed // 60} min {a.elapsed % 60} s"
        + (" (**--quick**: 1 run, smaller workloads; not for comparison)" if a.quick else "") + ".",
        "",
        "## Setup",
        "",
        f"- **Machine:** {m['cpus']} CPUs ({m['model']}), {m['memory']} memory, {m['os']}. Load average before / "
        f"after the run: {a.load}. The broker and the client share the cores; other work on the machine shows "
        "up as noise, so compare medians and ratios, not single runs.",
        f"- **Broker:** {a.broker}, on loopback.",
        f"- **librdkafka:** {a.librdkafka_version} (the confluent-kafka wheel's library) driven by "
        "`Benchmarks/rdkafka/klife_rdkafka_bench.c`; zstd 1.5.7 and lz4 1.9.4 are built into that library.",
        f"- **Klife:** `klife bench`, commit {a.klife_commit}, release build (Swift runtime linked statically, "
        f"lld; as `scripts/bench.sh` builds it), {m['swift']}"
        + (f"; codec libraries: {a.klife_codecs}" if a.klife_codecs else "") + "."
        + (" **Not run** (`--theirs-only`)." if not_run else ""),
        f"- **Runs:** {a.runs} per client and workload, alternating which client goes first; a fresh topic per "
        "produce run; the tables show medians.",
        "",
        "## Method",
        "",
        "- Record values: no key, no headers; values are slices of one 1 MiB pool of the letters a–p "
        "(xorshift64, the same bytes on both sides), so compression has something to do. Produce sends "
        "record *i* to partition *i* mod *P*. MB/s counts value bytes (10⁶ B).",
        f"- Produce: acks=all, idempotence on, {a.produce_settings}, the same for both clients; the "
        "clock runs from the first produce call to the last acknowledgement (connecting and metadata happen "
        "before it).",
        "- Consume: both clients read the same topic (written by librdkafka in the same workload) from offset 0 "
        "of every partition until they have the N records; no consumer group. Both fetch ahead while they read: "
        "librdkafka's consumer prefetches in the background, and klife's loop sends its next fetch as soon as a "
        "response is in, then reads that response. Both check every batch's CRC "
        "(Klife always does; librdkafka runs with check.crcs=true, its default being false).",
        "- Latency: C threads/tasks each produce one record and wait for its acknowledgement before the next "
        f"(acks=all, idempotent, {a.latency_settings}, one partition, one warm-up record outside the clock); "
        "percentiles over all records of the run. Rows marked \"on event loop\": klife's caller tasks prefer "
        "the producer's event loop (`KafkaClient.producerTaskExecutor`, `klife bench --on-event-loop`), so a "
        "call costs no thread hop; librdkafka runs as in the plain rows.",
        "- CPU: user + system seconds of the client process (getrusage), per million records. Peak RSS: "
        "ru_maxrss of the client process.",
        "",
        "## Targets (issue 7)",
        "",
        "Each target is judged on the medians. A miss also says in how many paired runs (klife's and librdkafka's "
        "run of the same number, one right after the other) it was met, and how far librdkafka's own runs spread.",
        "",
        *target_lines(data, not_run),
        "",
    ]
    floors = floor_lines(data, not_run)
    if floors:
        md += [
            "### Shared-work floors",
            "",
            "CPU misses where most of both clients' CPU is work they share (the same C library, the kernel): "
            f"the {CPU_TARGET}× target is out of a client's reach there, and the measurements behind each floor are in "
            "docs/benchmarks.",
            "",
            *floors,
            "",
        ]
    for kind, title in KINDS:
        head, rows = table(kind, data, not_run)
        if rows:
            md += [f"## {title}", "", markdown_table(head, rows), ""]
    md += ["## Every run (records/s)", "", "| workload | client | runs |", "|---|---|---|"]
    for workload, sides in data.items():
        for side in (THEIRS, OURS):
            s = sides.get(side)
            if s:
                runs = ", ".join(f"{v:,.0f}" for v in s["all"]) or "—"
                if s["failed"]:
                    runs += f" ({s['failed']} failed)"
                md.append(f"| {workload} | {side} | {runs} |")
    md.append("")
    with open(a.output, "w") as f:
        f.write("\n".join(md))
    print(f"\nwrote {a.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
