#!/usr/bin/env python3
"""librdkafka 2.16 mock-cluster harness for the integration tests.

Loads the librdkafka bundled in the confluent-kafka wheel with ctypes and hosts any number of independent
mock clusters (each with its own brokers on random 127.0.0.1 ports). Tests drive them over a TCP control
port with one command per line; every command gets one reply line, `ok …` or `err MESSAGE`.

Server:   mock_cluster.py serve [--control-port P] [--brokers N] [--ready-file FILE]
          Creates a default cluster (id 0, N brokers, default 3), listens for control connections, prints
          `control 127.0.0.1:P` and `bootstrap ID BOOTSTRAPS`, and (with --ready-file) writes both to FILE.
Client:   mock_cluster.py ctl HOST:PORT COMMAND [ARGS…]      sends one command, prints the reply

Commands (ID = cluster id from `new`; BROKER = broker id, 1…N, or -1 for all):
  new BROKERS                          -> ok ID BOOTSTRAPS
  bootstraps ID                        -> ok BOOTSTRAPS
  topic ID NAME PARTITIONS RF          create a topic
  leader ID TOPIC PARTITION BROKER     move a partition leader (-1: leaderless)
  follower ID TOPIC PARTITION BROKER   set the preferred follower replica
  down ID BROKER / up ID BROKER        disconnect and refuse connections / accept again
  rtt ID BROKER MS                     delay every response of the broker
  rack ID BROKER RACK
  errors ID APIKEY CODE[,CODE…]        the next requests of that API (any broker) fail with these codes
  clear-errors ID APIKEY
  broker-errors ID BROKER APIKEY CODE:RTT_MS[,…]   per-broker error/delay stack (takes precedence)
  topic-error ID TOPIC CODE            error returned for the topic in Metadata
  coordinator ID group|transaction KEY BROKER
  apiversion ID APIKEY MIN MAX         restrict (or with -1 -1 disable) an API
  rebalance-delay ID MS                group.initial.rebalance.delay.ms
  group-timeouts ID SESSION_MS HEARTBEAT_MS   KIP-848 member session timeout and heartbeat interval
  destroy ID
  list                                 -> ok ID…
  ping                                 -> ok pong
APIKEY is a number or a name such as Produce, Fetch, Metadata. CODE is a Kafka error code; librdkafka's
-195 (_TRANSPORT) makes the broker drop the connection.
"""
import argparse
import ctypes
import glob
import os
import signal
import socket
import socketserver
import sys
import threading

API_KEYS = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
    "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
    "DescribeGroups": 15, "ListGroups": 16, "SaslHandshake": 17, "ApiVersions": 18, "CreateTopics": 19,
    "DeleteTopics": 20, "DeleteRecords": 21, "InitProducerId": 22, "OffsetForLeaderEpoch": 23,
    "AddPartitionsToTxn": 24, "AddOffsetsToTxn": 25, "EndTxn": 26, "TxnOffsetCommit": 28,
    "DescribeConfigs": 32, "SaslAuthenticate": 36, "CreatePartitions": 37, "DeleteGroups": 42,
    "DescribeCluster": 60, "ConsumerGroupHeartbeat": 68, "ConsumerGroupDescribe": 69,
    "GetTelemetrySubscriptions": 71, "PushTelemetry": 72,
}


def find_librdkafka() -> str:
    import confluent_kafka  # the wheel bundles librdkafka 2.16 with the mock cluster exported
    libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    found = sorted(glob.glob(os.path.join(libs, "librdkafka*.so*")))
    if not found:
        raise RuntimeError(f"no librdkafka in {libs}")
    return found[0]


class MockLib:
    """ctypes bindings; every function gets explicit restype/argtypes (pointers must not be truncated)."""

    def __init__(self, path: str):
        lib = ctypes.CDLL(path)
        P, I, I16, I32, I64, S, SZ = (ctypes.c_void_p, ctypes.c_int, ctypes.c_int16, ctypes.c_int32,
                                      ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t)
        sigs = {
            "rd_kafka_version_str": (S, []),
            "rd_kafka_conf_new": (P, []),
            "rd_kafka_conf_set": (I, [P, S, S, S, SZ]),
            "rd_kafka_new": (P, [I, P, S, SZ]),
            "rd_kafka_destroy": (None, [P]),
            "rd_kafka_err2str": (S, [I]),
            "rd_kafka_mock_cluster_new": (P, [P, I]),
            "rd_kafka_mock_cluster_destroy": (None, [P]),
            "rd_kafka_mock_cluster_bootstraps": (S, [P]),
            "rd_kafka_mock_topic_create": (I, [P, S, I, I]),
            "rd_kafka_mock_topic_set_error": (None, [P, S, I]),
            "rd_kafka_mock_partition_set_leader": (I, [P, S, I32, I32]),
            "rd_kafka_mock_partition_set_follower": (I, [P, S, I32, I32]),
            "rd_kafka_mock_broker_set_down": (I, [P, I32]),
            "rd_kafka_mock_broker_set_up": (I, [P, I32]),
            "rd_kafka_mock_broker_set_rtt": (I, [P, I32, I]),
            "rd_kafka_mock_broker_set_rack": (I, [P, I32, S]),
            "rd_kafka_mock_push_request_errors_array": (None, [P, I16, SZ, ctypes.POINTER(ctypes.c_int)]),
            "rd_kafka_mock_clear_request_errors": (None, [P, I16]),
            "rd_kafka_mock_coordinator_set": (I, [P, S, S, I32]),
            "rd_kafka_mock_set_apiversion": (I, [P, I16, I16, I16]),
            "rd_kafka_mock_group_initial_rebalance_delay_ms": (None, [P, I32]),
            "rd_kafka_mock_set_group_consumer_session_timeout_ms": (None, [P, I]),
            "rd_kafka_mock_set_group_consumer_heartbeat_interval_ms": (None, [P, I]),
        }
        for name, (restype, argtypes) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name[len("rd_kafka_"):], fn)
        # Variadic: (mcluster, broker_id, ApiKey, cnt, err0, rtt0, err1, rtt1, …). Only the fixed part is
        # declared; the pairs are passed as explicit c_int values.
        fn = lib.rd_kafka_mock_broker_push_request_error_rtts
        fn.restype, fn.argtypes = I, [P, I32, I16, SZ]
        self.mock_broker_push_request_error_rtts = fn

    def check(self, err: int, what: str):
        if err != 0:
            raise CommandError(f"{what}: {self.err2str(err).decode()} ({err})")


class CommandError(Exception):
    pass


class Cluster:
    def __init__(self, lib: MockLib, brokers: int):
        self.lib = lib
        errbuf = ctypes.create_string_buffer(512)
        conf = lib.conf_new()
        # The owning handle never connects anywhere; keep its log quiet.
        lib.conf_set(conf, b"log_level", b"3", errbuf, len(errbuf))
        self.rk = lib.new(0, conf, errbuf, len(errbuf))  # RD_KAFKA_PRODUCER
        if not self.rk:
            raise CommandError(f"rd_kafka_new: {errbuf.value.decode()}")
        self.mc = lib.mock_cluster_new(self.rk, brokers)
        if not self.mc:
            lib.destroy(self.rk)
            raise CommandError("rd_kafka_mock_cluster_new failed")
        self.bootstraps = lib.mock_cluster_bootstraps(self.mc).decode()

    def destroy(self):
        self.lib.mock_cluster_destroy(self.mc)
        self.lib.destroy(self.rk)


def api_key(text: str) -> int:
    if text in API_KEYS:
        return API_KEYS[text]
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"unknown API key '{text}'") from None


class Harness:
    def __init__(self, lib: MockLib):
        self.lib = lib
        self.clusters = {}
        self.next_id = 0
        self.lock = threading.Lock()

    def new(self, brokers: int) -> tuple:
        if not 1 <= brokers <= 32:
            raise CommandError("BROKERS must be 1…32")
        cluster = Cluster(self.lib, brokers)
        with self.lock:
            cid = self.next_id
            self.next_id += 1
            self.clusters[cid] = cluster
        return cid, cluster

    def get(self, text: str) -> Cluster:
        with self.lock:
            cluster = self.clusters.get(int(text))
        if cluster is None:
            raise CommandError(f"no cluster {text}")
        return cluster

    def destroy_all(self):
        with self.lock:
            clusters, self.clusters = list(self.clusters.values()), {}
        for c in clusters:
            c.destroy()

    def execute(self, line: str) -> str:
        words = line.split()
        if not words:
            raise CommandError("empty command")
        cmd, args = words[0], words[1:]
        handler = getattr(self, "cmd_" + cmd.replace("-", "_"), None)
        if handler is None:
            raise CommandError(f"unknown command '{cmd}'")
        try:
            return handler(*args)
        except TypeError:
            raise CommandError(f"wrong number of arguments for '{cmd}'") from None
        except ValueError as e:
            raise CommandError(f"bad argument for '{cmd}': {e}") from None

    # ---- commands -------------------------------------------------------------------------------
    def cmd_ping(self):
        return "ok pong"

    def cmd_list(self):
        with self.lock:
            return " ".join(["ok"] + [str(i) for i in sorted(self.clusters)])

    def cmd_new(self, brokers):
        cid, cluster = self.new(int(brokers))
        return f"ok {cid} {cluster.bootstraps}"

    def cmd_bootstraps(self, cid):
        return f"ok {self.get(cid).bootstraps}"

    def cmd_destroy(self, cid):
        with self.lock:
            cluster = self.clusters.pop(int(cid), None)
        if cluster is None:
            raise CommandError(f"no cluster {cid}")
        cluster.destroy()
        return "ok"

    def cmd_topic(self, cid, name, partitions, rf):
        c = self.get(cid)
        self.lib.check(self.lib.mock_topic_create(c.mc, name.encode(), int(partitions), int(rf)), "topic")
        return "ok"

    def cmd_leader(self, cid, topic, partition, broker):
        c = self.get(cid)
        self.lib.check(self.lib.mock_partition_set_leader(c.mc, topic.encode(), int(partition), int(broker)),
                       "leader")
        return "ok"

    def cmd_follower(self, cid, topic, partition, broker):
        c = self.get(cid)
        self.lib.check(self.lib.mock_partition_set_follower(c.mc, topic.encode(), int(partition),
                                                            int(broker)), "follower")
        return "ok"

    def cmd_down(self, cid, broker):
        c = self.get(cid)
        self.lib.check(self.lib.mock_broker_set_down(c.mc, int(broker)), "down")
        return "ok"

    def cmd_up(self, cid, broker):
        c = self.get(cid)
        self.lib.check(self.lib.mock_broker_set_up(c.mc, int(broker)), "up")
        return "ok"

    def cmd_rtt(self, cid, broker, ms):
        c = self.get(cid)
        self.lib.check(self.lib.mock_broker_set_rtt(c.mc, int(broker), int(ms)), "rtt")
        return "ok"

    def cmd_rack(self, cid, broker, rack):
        c = self.get(cid)
        self.lib.check(self.lib.mock_broker_set_rack(c.mc, int(broker), rack.encode()), "rack")
        return "ok"

    def cmd_errors(self, cid, apikey, codes):
        c = self.get(cid)
        values = [int(x) for x in codes.split(",") if x]
        if not values:
            raise CommandError("no error codes")
        arr = (ctypes.c_int * len(values))(*values)
        self.lib.mock_push_request_errors_array(c.mc, api_key(apikey), len(values), arr)
        return "ok"

    def cmd_clear_errors(self, cid, apikey):
        c = self.get(cid)
        self.lib.mock_clear_request_errors(c.mc, api_key(apikey))
        return "ok"

    def cmd_broker_errors(self, cid, broker, apikey, pairs):
        c = self.get(cid)
        flat = []
        for pair in pairs.split(","):
            code, _, rtt = pair.partition(":")
            flat += [ctypes.c_int(int(code)), ctypes.c_int(int(rtt or "0"))]
        if not flat:
            raise CommandError("no CODE:RTT pairs")
        err = self.lib.mock_broker_push_request_error_rtts(c.mc, int(broker), api_key(apikey), len(flat) // 2,
                                                           *flat)
        self.lib.check(err, "broker-errors")
        return "ok"

    def cmd_topic_error(self, cid, topic, code):
        c = self.get(cid)
        self.lib.mock_topic_set_error(c.mc, topic.encode(), int(code))
        return "ok"

    def cmd_coordinator(self, cid, key_type, key, broker):
        if key_type not in ("group", "transaction"):
            raise CommandError("TYPE must be group or transaction")
        c = self.get(cid)
        self.lib.check(self.lib.mock_coordinator_set(c.mc, key_type.encode(), key.encode(), int(broker)),
                       "coordinator")
        return "ok"

    def cmd_apiversion(self, cid, apikey, lo, hi):
        c = self.get(cid)
        self.lib.check(self.lib.mock_set_apiversion(c.mc, api_key(apikey), int(lo), int(hi)), "apiversion")
        return "ok"

    def cmd_rebalance_delay(self, cid, ms):
        c = self.get(cid)
        self.lib.mock_group_initial_rebalance_delay_ms(c.mc, int(ms))
        return "ok"

    def cmd_group_timeouts(self, cid, session_ms, heartbeat_ms):
        c = self.get(cid)
        self.lib.mock_set_group_consumer_session_timeout_ms(c.mc, int(session_ms))
        self.lib.mock_set_group_consumer_heartbeat_interval_ms(c.mc, int(heartbeat_ms))
        return "ok"


class ControlHandler(socketserver.StreamRequestHandler):
    def handle(self):
        harness: Harness = self.server.harness
        for raw in self.rfile:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                reply = harness.execute(line)
            except CommandError as e:
                reply = f"err {e}"
            except Exception as e:  # noqa: BLE001 - report, keep serving
                reply = f"err internal: {e!r}"
            self.wfile.write((reply.replace("\n", " ") + "\n").encode())
            self.wfile.flush()


class ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(args) -> int:
    lib = MockLib(args.library or find_librdkafka())
    harness = Harness(lib)
    cid, cluster = harness.new(args.brokers)
    server = ControlServer(("127.0.0.1", args.control_port), ControlHandler)
    server.harness = harness
    control = f"127.0.0.1:{server.server_address[1]}"
    lines = f"control {control}\nbootstrap {cid} {cluster.bootstraps}\n"
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(lines)
        os.replace(tmp, args.ready_file)
    sys.stdout.write(lines)
    sys.stdout.flush()
    print(f"mock_cluster: librdkafka {lib.version_str().decode()}, serving on {control}", file=sys.stderr)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()
    harness.destroy_all()
    return 0


def ctl(args) -> int:
    host, _, port = args.address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall((" ".join(args.command) + "\n").encode())
        reply = s.makefile().readline().strip()
    print(reply)
    return 0 if reply.startswith("ok") else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--control-port", type=int, default=0)
    s.add_argument("--brokers", type=int, default=3)
    s.add_argument("--ready-file")
    s.add_argument("--library", help="path to librdkafka (default: the confluent-kafka wheel's)")
    c = sub.add_parser("ctl")
    c.add_argument("address")
    c.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    return serve(args) if args.mode == "serve" else ctl(args)


if __name__ == "__main__":
    sys.exit(main())
