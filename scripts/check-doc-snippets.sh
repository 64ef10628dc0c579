#!/usr/bin/env bash
# Checks that every Swift code block of the DocC articles (Sources/Klife/Klife.docc) is a compiled snippet of
# Tests/KlifeDocSnippetTests, that the configuration reference lists every configuration key and that the
# observability article lists every metric. The snippets themselves compile as part of `swift build --build-tests`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build --filter DocSnippetsTests
