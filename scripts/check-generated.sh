#!/usr/bin/env bash
# Regenerates the Kafka protocol messages from ../shared/kafka-protocol into a temporary directory and
# diffs them against the committed Sources/KafkaProtocol/Generated and
# Tests/KafkaProtocolTests/Generated/Samples. Exits non-zero on any difference.
# Skips (exit 0) when the shared JSON definitions are not present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ../shared next to the package; from a nested git worktree, the nearest ancestor's shared/ (as the
# generator's own default does).
protocol_dir=""
dir="$(dirname "$root")"
while [ "$dir" != "/" ]; do
    if [ -d "$dir/shared/kafka-protocol/messages" ]; then
        protocol_dir="$dir/shared/kafka-protocol"
        break
    fi
    dir="$(dirname "$dir")"
done
if [ -z "$protocol_dir" ]; then
    echo "skipped: ../shared not present"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

swift build --package-path "$root" --product KafkaProtocolGenerator -q
bin="$(swift build --package-path "$root" --show-bin-path)"
"$bin/KafkaProtocolGenerator" \
    --messages "$protocol_dir/messages" \
    --error-codes "$protocol_dir/error-codes.tsv" \
    --output "$tmp/Generated" \
    --test-output "$tmp/Samples" >/dev/null

status=0
diff -ru "$root/Sources/KafkaProtocol/Generated" "$tmp/Generated" || status=1
diff -ru "$root/Tests/KafkaProtocolTests/Generated/Samples" "$tmp/Samples" || status=1
if [ "$status" -ne 0 ]; then
    echo "generated code is out of date: run 'swift run KafkaProtocolGenerator' and commit the result" >&2
    exit 1
fi
echo "generated code is up to date ($protocol_dir)"
