#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, `swiftc -sanitize=fuzzer`) of every generated response decoder and
# the record batch reader, with the harness in scripts/fuzz-libfuzzer/Harness.swift. Complements the
# seeded mutation tests (scripts/fuzz.sh): those run in `swift test`, this one needs no test framework and
# learns which inputs reach new code.
#
#   scripts/fuzz-libfuzzer.sh [SECONDS] [libFuzzer options…]
#
# Builds KafkaProtocol's dependencies with `swift build` (debug), compiles the KafkaProtocol sources plus
# the harness as one instrumented module, links against the NIOCore objects, then fuzzes for SECONDS
# (default 300) with a corpus in $KLIFE_FUZZ_CORPUS (default .build/fuzz-corpus) seeded from the record
# batch fixtures. A crash, a Swift trap, a non-protocol error or an allocation above -malloc_limit_mb
# (default 1024 MiB: a forged length) stops the run and leaves crash-* in the current directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
seconds="${1:-300}"
shift || true

swift build --target KafkaProtocol >&2
debug="$(readlink -f "$(swift build --show-bin-path)")"
work="$ROOT/.build/libfuzzer"
mkdir -p "$work"

# The list of response types, from the generated test samples.
{
  echo 'import NIOCore'
  echo 'let fuzzResponseTypes: [(any KafkaMessage.Type, ClosedRange<Int16>)] = ['
  grep -o 'GeneratedMessageCase([A-Za-z]*Response.self, versions: [0-9]*\.\.\.[0-9]*)' \
    Tests/KafkaProtocolTests/Generated/Samples/GeneratedMessageCases.swift |
    sed -E 's/GeneratedMessageCase\(([A-Za-z]*Response)\.self, versions: ([0-9.]*)\)/    (\1.self, \2),/'
  echo ']'
} > "$work/Types.swift"

maps=()
while IFS= read -r -d '' map; do maps+=(-Xcc "-fmodule-map-file=$map"); done < <(
  find "$debug" -maxdepth 2 -name module.modulemap -print0
  find .build/checkouts -path '*include*' -name module.modulemap -print0
  find Sources/CZlib Sources/CZstd Sources/CLZ4 Sources/CSnappy -name module.modulemap -print0)
sources=()
while IFS= read -r -d '' file; do sources+=("$file"); done < <(find Sources/KafkaProtocol -name '*.swift' -print0)

echo "==> compiling the instrumented decoders (a few minutes)" >&2
swiftc -sanitize=fuzzer -parse-as-library -O -wmo -module-name KafkaProtocol -swift-version 6 \
  "${sources[@]}" "$work/Types.swift" scripts/fuzz-libfuzzer/Harness.swift \
  -I "$debug/Modules" "${maps[@]}" -Xcc -I -Xcc Sources/CKlifeCRC32C/include \
  -c -o "$work/decoders.o"

objects=()
for module in NIOCore _NIODataStructures _NIOBase64 NIOConcurrencyHelpers Atomics _AtomicsShims CNIOLinux CNIODarwin \
  CNIOWindows CNIOWASI CNIOAtomics DequeModule InternalCollectionsUtilities ContainersPreview BasicContainers CKlifeCRC32C; do
  [[ -d "$debug/$module.build" ]] || continue
  while IFS= read -r -d '' object; do objects+=("$object"); done < <(find "$debug/$module.build" -name '*.o' -print0)
done
swiftc -sanitize=fuzzer "$work/decoders.o" "${objects[@]}" -lz -lzstd -llz4 -lsnappy -lstdc++ -o "$work/klife-fuzz"

corpus="${KLIFE_FUZZ_CORPUS:-$ROOT/.build/fuzz-corpus}"
mkdir -p "$corpus"
# Seeds: the record batch fixtures behind the 3-byte selector (0x80 = record batches).
for fixture in Tests/KafkaProtocolTests/Fixtures/*.bin; do
  [[ -e "$fixture" ]] || continue
  { printf '\x00\x00\x81'; cat "$fixture"; } > "$corpus/seed-$(basename "$fixture")"
done
echo "==> fuzzing for ${seconds}s, corpus $corpus" >&2
exec "$work/klife-fuzz" -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -malloc_limit_mb=1024 "$@" "$corpus"
