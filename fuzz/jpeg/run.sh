#!/usr/bin/env bash
# Builds the JPEG fuzz target with libFuzzer + AddressSanitizer and runs it.
#   fuzz/jpeg/run.sh [SECONDS] [extra libFuzzer flags...]     (default 60 s)
# e.g. the 30-minute run: fuzz/jpeg/run.sh 1800 -jobs=2 -workers=2
# Crashes land in fuzz/jpeg/artifacts/; new inputs in fuzz/jpeg/work-corpus/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"; shift || true
out=.build/fuzz
mkdir -p "$out" fuzz/jpeg/artifacts fuzz/jpeg/work-corpus
cpu=()
[ "$(uname -m)" = x86_64 ] && cpu=(-target-cpu haswell)
# ImageCodec imports Parallel (work splitting), built first as a module of its own.
swiftc -sanitize=address -parse-as-library -O -g -module-name Parallel -package-name translocator -emit-library -static \
    -emit-module -emit-module-path "$out/Parallel.swiftmodule" Sources/Parallel/*.swift -o "$out/libParallel.a"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g "${cpu[@]}" -module-name ImageCodecFuzz -package-name translocator -I "$out" -L "$out" -lParallel \
    Sources/ImageCodec/*.swift fuzz/jpeg/FuzzJPEG.swift -o "$out/fuzz-jpeg"
exec "$out/fuzz-jpeg" fuzz/jpeg/work-corpus fuzz/jpeg/corpus -max_total_time="$seconds" \
    -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=fuzz/jpeg/artifacts/ -print_final_stats=1 "$@"
