#!/usr/bin/env bash
# bench-libzstd.sh: puts Debian 13's libzstd.so.1 (zstd 1.5.7) in $BENCH_DIR/libzstd-1.5.7 and prints that
# directory on stdout; prints nothing (and a warning on stderr) when it cannot.
#
# Why: the confluent-kafka wheel's librdkafka 2.16 carries zstd 1.5.7 inside it, while Debian 12 (this machine)
# ships 1.5.4, whose match finder costs ~10% more CPU on the bench's 10 KB rows (docs/benchmarks/codec.md,
# Sessions 5 and 12). scripts/bench.sh runs klife with this directory first on LD_LIBRARY_PATH, so both clients
# compress with the same zstd release and the comparison measures the clients. It is Debian's own build of
# the library (the package Debian 13 installs), pinned by version and checksum; Klife itself is unchanged and
# links whatever libzstd.so.1 the system has. Env: BENCH_DIR (.build/bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/.build/bench}"
VERSION=1.5.7+dfsg-1
DEB="libzstd1_${VERSION}_amd64.deb"
URL="http://deb.debian.org/debian/pool/main/libz/libzstd/$DEB"
SHA256=2f6a2aeacfc925eba8b00ac9139bc4bfccf8cacb09eb93de067074b26948eef9   # trixie's Packages index
DIR="$BENCH_DIR/libzstd-1.5.7"
LIB="$DIR/usr/lib/x86_64-linux-gnu"

warn() { echo "bench-libzstd: $* (klife runs with the system's libzstd)" >&2; }

if [[ -f "$LIB/libzstd.so.1" ]]; then echo "$LIB"; exit 0; fi
[[ "$(uname -m)" == x86_64 ]] || { warn "only the amd64 package is pinned"; exit 0; }
mkdir -p "$BENCH_DIR"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if ! curl -fsS -m 120 -o "$TMP/$DEB" "$URL"; then warn "cannot download $URL"; exit 0; fi
if [[ "$(sha256sum "$TMP/$DEB" | cut -d' ' -f1)" != "$SHA256" ]]; then warn "$DEB: checksum mismatch"; exit 0; fi
rm -rf "$DIR"
dpkg-deb -x "$TMP/$DEB" "$DIR"
[[ -f "$LIB/libzstd.so.1" ]] || { warn "$DEB has no libzstd.so.1"; exit 0; }
echo "bench-libzstd: Debian 13's libzstd1 $VERSION in $LIB" >&2
echo "$LIB"
