#!/usr/bin/env bash
# Builds and runs the PNG fuzz target (libFuzzer + AddressSanitizer, Linux swiftc).
#   fuzz/png/run.sh [seconds=60] [extra libFuzzer flags...]
# Corpus: fuzz/png/corpus (seeds, committed) plus fuzz/png/work (new inputs, not committed).
# Crashes land in fuzz/png/artifacts/. Prints libFuzzer's final stats line (execs, coverage).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"; shift || true
mkdir -p .build/fuzz fuzz/png/work fuzz/png/artifacts
# ImageCodec imports Parallel (work splitting), built first as a module of its own.
swiftc -sanitize=address -parse-as-library -O -module-name Parallel -package-name translocator -emit-library -static \
    -emit-module -emit-module-path .build/fuzz/Parallel.swiftmodule Sources/Parallel/*.swift -o .build/fuzz/libParallel.a
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzPNG -package-name translocator -I .build/fuzz -L .build/fuzz -lParallel \
    fuzz/png/FuzzPNG.swift Sources/ImageCodec/*.swift -o .build/fuzz/fuzz-png
.build/fuzz/fuzz-png fuzz/png/work fuzz/png/corpus \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=fuzz/png/artifacts/ -print_final_stats=1 "$@"
