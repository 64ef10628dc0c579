#!/usr/bin/env python3
"""Interoperability peer for the integration tests: librdkafka 2.16 (confluent-kafka 2.16.1).

  produce --bootstrap B --topic T [--partition P] [--key-from-line SEP] [--compression C] [--acks A]
          [--header K=V …] [--idempotent] [--transactional-id ID [--abort]] [--count N --size S] [--report]
          [--linger-ms MS]
      Produces one record per stdin line (without the newline), or with --count N records of S bytes each
      (no stdin). --key-from-line SEP splits each line at the first SEP into key and value. Prints one JSON
      summary line {"produced": N, "failed": M}; with --report also one {"topic","partition","offset"} line
      per delivered record, before the summary. Exits 1 if any record failed. With --transactional-id all
      records go in one transaction, committed (or aborted with --abort) after they are delivered.
  consume --bootstrap B --topic T [--group G] [--group-protocol classic|consumer]
          [--isolation read_committed|read_uncommitted] [--count N] [--timeout-ms N] [--from-beginning]
      Without --group the partitions are assigned directly (no group, no join delay). Prints one JSON object
      per record, then exits when N records arrived (exit 0) or the timeout passed (exit 0 without --count,
      else 2). Record JSON: topic, partition, offset, key, key_encoding, value, value_encoding, headers
      ([{"key", "value", "value_encoding"}]), timestamp (ms), timestamp_type (create|log_append|none).
      Bytes are given as UTF-8 text when they decode as UTF-8 (encoding "utf8"), else base64 ("base64");
      null keys/values/header values are null with encoding null.
  create-topic --bootstrap B --topic T [--partitions N] [--replication-factor R]
  txn-bench --bootstrap B --topic T [--transactions N] [--records-per-txn M] [--size S] [--transactional-id ID]
      Runs N transactions of M records of S bytes each (init_transactions once, then begin, produce M,
      commit) and prints {"transactions", "records_per_txn", "seconds", "per_second", "cpu_seconds"}.
  partition-for --partitions N [--partitioner murmur2_random|murmur2|consistent_random|fnv1a_random…] KEY…
      Prints "KEY<TAB>PARTITION" per key: the partition librdkafka's partitioner picks, found by really
      producing each key to an N-partition topic of a private librdkafka mock cluster.
Diagnostics go to stderr.
"""
import argparse
import base64
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def die(message: str, status: int = 1):
    print(f"rdkafka_tool: {message}", file=sys.stderr)
    sys.exit(status)


def encode_bytes(data):
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def log_cb_conf(args) -> dict:
    conf = {"bootstrap.servers": args.bootstrap, "client.id": "klife-rdkafka-tool"}
    if getattr(args, "debug", None):
        conf["debug"] = args.debug
    return conf


# ---- produce ------------------------------------------------------------------------------------------
def produce(args) -> int:
    conf = log_cb_conf(args)
    conf.update({"linger.ms": args.linger_ms, "acks": args.acks, "compression.type": args.compression,
                 "enable.idempotence": args.idempotent, "message.max.bytes": 100_000_000})
    if args.transactional_id:
        conf["transactional.id"] = args.transactional_id
        conf["enable.idempotence"] = True
    producer = Producer(conf)
    if args.transactional_id:
        producer.init_transactions(args.timeout_ms / 1000)
        producer.begin_transaction()
    headers = []
    for h in args.header or []:
        k, _, v = h.partition("=")
        headers.append((k, v.encode()))
    delivered, failed = [], []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))
        else:
            delivered.append((msg.topic(), msg.partition(), msg.offset()))

    def send(key, value):
        kwargs = {"key": key, "value": value, "on_delivery": on_delivery}
        if args.partition is not None:
            kwargs["partition"] = args.partition
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                producer.produce(args.topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)

    if args.count is not None:
        payload = b"x" * args.size
        for i in range(args.count):
            send(None, payload)
    else:
        for raw in sys.stdin.buffer:
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if args.key_from_line is not None:
                sep = args.key_from_line.encode()
                key, found, value = line.partition(sep)
                if not found:
                    key, value = None, line
                send(key, value)
            else:
                send(None, line)
    remaining = producer.flush(args.timeout_ms / 1000)
    if remaining:
        failed.append(f"{remaining} record(s) not delivered within {args.timeout_ms} ms")
    if args.transactional_id:
        try:
            if args.abort:
                producer.abort_transaction(args.timeout_ms / 1000)
            else:
                producer.commit_transaction(args.timeout_ms / 1000)
        except KafkaException as e:
            failed.append(f"{'abort' if args.abort else 'commit'}: {e}")
    if args.report:
        for topic, partition, offset in delivered:
            print(json.dumps({"topic": topic, "partition": partition, "offset": offset}))
    print(json.dumps({"produced": len(delivered), "failed": len(failed)}))
    for f in failed[:10]:
        print(f"rdkafka_tool: delivery failed: {f}", file=sys.stderr)
    return 1 if failed else 0


# ---- txn-bench ----------------------------------------------------------------------------------------
def txn_bench(args) -> int:
    conf = log_cb_conf(args)
    conf.update({"transactional.id": args.transactional_id or f"klife-txn-bench-{os.getpid()}-{time.time_ns()}",
                 "linger.ms": 1, "acks": "all"})
    producer = Producer(conf)
    producer.init_transactions(30)
    payload = b"x" * args.size
    failed = []

    def on_delivery(err, msg):
        if err is not None:
            failed.append(str(err))

    start, cpu_start = time.monotonic(), time.process_time()
    for _ in range(args.transactions):
        producer.begin_transaction()
        for _ in range(args.records_per_txn):
            producer.produce(args.topic, payload, on_delivery=on_delivery)
        producer.commit_transaction(30)  # flushes first
    seconds, cpu = time.monotonic() - start, time.process_time() - cpu_start
    if failed:
        die(f"{len(failed)} record(s) failed: {failed[0]}")
    print(json.dumps({"transactions": args.transactions, "records_per_txn": args.records_per_txn, "seconds": seconds,
                      "per_second": args.transactions / seconds, "cpu_seconds": cpu}))
    return 0


# ---- consume ------------------------------------------------------------------------------------------
def record_json(msg) -> str:
    key, key_enc = encode_bytes(msg.key())
    value, value_enc = encode_bytes(msg.value())
    headers = []
    for hk, hv in msg.headers() or []:
        v, enc = encode_bytes(hv)
        headers.append({"key": hk, "value": v, "value_encoding": enc})
    ts_type, ts = msg.timestamp()
    ts_name = {0: "none", 1: "create", 2: "log_append"}.get(ts_type, "none")
    return json.dumps({
        "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
        "key": key, "key_encoding": key_enc, "value": value, "value_encoding": value_enc,
        "headers": headers, "timestamp": ts, "timestamp_type": ts_name,
    })


def consume(args) -> int:
    conf = log_cb_conf(args)
    conf.update({
        "group.id": args.group or "klife-rdkafka-tool-unused",
        "enable.auto.commit": args.group is not None,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "isolation.level": args.isolation,
        "enable.partition.eof": False,
    })
    if args.group is not None:
        conf["group.protocol"] = args.group_protocol
        if args.group_protocol == "classic":
            # Tansu holds the first JoinGroup for ~session.timeout.ms / 2.
            conf["session.timeout.ms"] = 6000
            conf["heartbeat.interval.ms"] = 1000
    consumer = Consumer(conf)
    deadline = time.monotonic() + args.timeout_ms / 1000
    if args.group is not None:
        consumer.subscribe([args.topic])
    else:
        partitions = None
        while partitions is None:
            md = consumer.list_topics(args.topic, timeout=max(0.1, deadline - time.monotonic()))
            t = md.topics.get(args.topic)
            if t is not None and t.error is None and t.partitions:
                partitions = sorted(t.partitions)
            elif time.monotonic() >= deadline:
                die(f"topic {args.topic} not found ({t.error if t else 'no metadata'})", 2)
            else:
                time.sleep(0.1)
        start = -2 if args.from_beginning else -1  # OFFSET_BEGINNING / OFFSET_END
        consumer.assign([TopicPartition(args.topic, p, start) for p in partitions])
    got = 0
    try:
        while args.count is None or got < args.count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = consumer.poll(min(left, 0.5))
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                print(f"rdkafka_tool: consume error: {msg.error()}", file=sys.stderr)
                if msg.error().fatal():
                    return 1
                continue
            print(record_json(msg), flush=True)
            got += 1
    finally:
        consumer.close()
    if args.count is not None and got < args.count:
        print(f"rdkafka_tool: only {got} of {args.count} records within {args.timeout_ms} ms", file=sys.stderr)
        return 2
    return 0


# ---- create-topic --------------------------------------------------------------------------------------
def create_topic(args) -> int:
    admin = AdminClient(log_cb_conf(args))
    futures = admin.create_topics([NewTopic(args.topic, args.partitions, args.replication_factor)],
                                  operation_timeout=10)
    try:
        futures[args.topic].result(timeout=15)
    except KafkaException as e:
        die(f"create {args.topic}: {e}")
    print(json.dumps({"created": args.topic, "partitions": args.partitions}))
    return 0


# ---- partition-for -------------------------------------------------------------------------------------
def partition_for(args) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mock_cluster import Cluster, MockLib, find_librdkafka

    lib = MockLib(find_librdkafka())
    cluster = Cluster(lib, 1)
    try:
        topic = "partition-for"
        lib.check(lib.mock_topic_create(cluster.mc, topic.encode(), args.partitions, 1), "topic")
        producer = Producer({"bootstrap.servers": cluster.bootstraps, "partitioner": args.partitioner,
                             "linger.ms": 0})
        results, errors = {}, []

        def on_delivery_for(index):
            def on_delivery(err, msg):
                if err is not None:
                    errors.append(f"{args.keys[index]}: {err}")
                else:
                    results[index] = msg.partition()
            return on_delivery

        for i, key in enumerate(args.keys):
            producer.produce(topic, key=key.encode(), value=b"", on_delivery=on_delivery_for(i))
        if producer.flush(15) or errors:
            die(f"not all keys delivered: {errors[:3]}")
        for i, key in enumerate(args.keys):
            print(f"{key}\t{results[i]}")
        del producer  # before the cluster goes away, so it does not log the disconnect
    finally:
        cluster.destroy()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    pr = sub.add_parser("produce")
    pr.add_argument("--bootstrap", required=True)
    pr.add_argument("--topic", required=True)
    pr.add_argument("--partition", type=int)
    pr.add_argument("--key-from-line", metavar="SEP")
    pr.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    pr.add_argument("--acks", default="all")
    pr.add_argument("--header", action="append", metavar="K=V")
    pr.add_argument("--idempotent", action="store_true")
    pr.add_argument("--transactional-id")
    pr.add_argument("--abort", action="store_true", help="abort the transaction instead of committing it")
    pr.add_argument("--count", type=int)
    pr.add_argument("--size", type=int, default=100)
    pr.add_argument("--report", action="store_true")
    pr.add_argument("--linger-ms", type=int, default=5,
                    help="linger.ms; a long one puts the records of one call in one batch (the closing flush sends at once)")
    pr.add_argument("--timeout-ms", type=int, default=30000)
    pr.add_argument("--debug")

    co = sub.add_parser("consume")
    co.add_argument("--bootstrap", required=True)
    co.add_argument("--topic", required=True)
    co.add_argument("--group")
    co.add_argument("--group-protocol", default="classic", choices=["classic", "consumer"])
    co.add_argument("--isolation", default="read_committed", choices=["read_committed", "read_uncommitted"])
    co.add_argument("--count", type=int)
    co.add_argument("--timeout-ms", type=int, default=10000)
    co.add_argument("--from-beginning", action="store_true")
    co.add_argument("--debug")

    ct = sub.add_parser("create-topic")
    ct.add_argument("--bootstrap", required=True)
    ct.add_argument("--topic", required=True)
    ct.add_argument("--partitions", type=int, default=1)
    ct.add_argument("--replication-factor", type=int, default=1)
    ct.add_argument("--debug")

    tb = sub.add_parser("txn-bench")
    tb.add_argument("--bootstrap", required=True)
    tb.add_argument("--topic", required=True)
    tb.add_argument("--transactions", type=int, default=100)
    tb.add_argument("--records-per-txn", type=int, default=1)
    tb.add_argument("--size", type=int, default=100)
    tb.add_argument("--transactional-id")
    tb.add_argument("--debug")

    pf = sub.add_parser("partition-for")
    pf.add_argument("--partitions", type=int, required=True)
    pf.add_argument("--partitioner", default="murmur2_random")
    pf.add_argument("keys", nargs="+", metavar="KEY")

    args = p.parse_args()
    return {"produce": produce, "consume": consume, "create-topic": create_topic,
            "partition-for": partition_for, "txn-bench": txn_bench}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
