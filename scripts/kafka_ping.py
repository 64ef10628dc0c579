#!/usr/bin/env python3
"""Checks that a Kafka-protocol broker answers a Metadata request (optionally over TLS / mTLS).

    kafka_ping.py HOST:PORT [--ca FILE [--cert FILE --key FILE] [--server-name NAME]] [--timeout SECONDS]

Exits 0 and prints the advertised brokers ("id host:port" per line) if the reply lists at least one broker.
Only the standard library is used, so any python3 works.
"""
import argparse
import socket
import ssl
import struct
import sys


def metadata_v0_request(correlation_id: int) -> bytes:
    client_id = b"klife-ping"
    # header: api_key=3 (Metadata), api_version=0, correlation_id, client_id; body: empty topic array = all
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id + struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def read_exact(sock, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        data += chunk
    return data


def ping(host: str, port: int, args) -> list:
    sock = socket.create_connection((host, port), timeout=args.timeout)
    if args.ca:
        ctx = ssl.create_default_context(cafile=args.ca)
        if args.cert:
            ctx.load_cert_chain(args.cert, args.key)
        sock = ctx.wrap_socket(sock, server_hostname=args.server_name or host)
    with sock:
        sock.sendall(metadata_v0_request(0x6b6c6966))
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        payload = read_exact(sock, size)
    correlation_id, count = struct.unpack_from(">ii", payload, 0)
    if correlation_id != 0x6b6c6966:
        raise ValueError(f"unexpected correlation id {correlation_id}")
    brokers, pos = [], 8
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", payload, pos)
        pos += 6
        bhost = payload[pos:pos + host_len].decode()
        pos += host_len
        (bport,) = struct.unpack_from(">i", payload, pos)
        pos += 4
        brokers.append((node_id, bhost, bport))
    return brokers


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("address")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--server-name")
    p.add_argument("--timeout", type=float, default=2.0)
    args = p.parse_args()
    host, _, port = args.address.rpartition(":")
    try:
        brokers = ping(host, int(port), args)
    except Exception as e:  # noqa: BLE001 - any failure means "not ready"
        print(f"kafka_ping: {args.address}: {e}", file=sys.stderr)
        return 1
    if not brokers:
        print(f"kafka_ping: {args.address}: Metadata lists no brokers", file=sys.stderr)
        return 1
    for node_id, bhost, bport in brokers:
        print(f"{node_id} {bhost}:{bport}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
