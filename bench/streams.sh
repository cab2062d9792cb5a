#!/usr/bin/env bash
# Benchmark: `protoc-rs streams --json` (release build) against
# `tshark -q -z conv,tcp` on the same large synthetic capture, in one run.
#
# The capture: `protoc-rs synth tests/transcripts/smtp-large-body.txt` with
# SESSIONS interleaved sessions (default 2700, about 200 MB), random splits of
# at most 1460 bytes; a second capture has its segments also reordered and
# duplicated (the copying path of reassembly). Each tool reads each capture
# once, from the page cache (warmed first); times are wall-clock.
#
# Command:  bench/streams.sh            (BENCH_DIR=dir keeps the capture there)
# Results of the last run (2026-11-25, 2 shared cores of an AMD EPYC, release
# build, tshark 4.0.17; times vary by ~30% with the other load on the machine):
#   [in-order]  200.5 MB, 2700 flows: protoc-rs 0.30 s (673 MB/s),
#               tshark 10.29 s (19.5 MB/s): protoc-rs 34.5x faster
#   [reordered] 249.5 MB, 2700 flows: protoc-rs 1.07 s (233 MB/s),
#               tshark 5.97 s (41.8 MB/s): protoc-rs 5.6x faster
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-2700}
WORK=${BENCH_DIR:-$(mktemp -d)}

cargo build --release --quiet
BIN=target/release/protoc-rs

seconds() { # runs "$@" with stdout discarded, prints the wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

bench() { # name, then extra synth options
    local name=$1
    shift
    local capture="$WORK/bench-$name.pcap"
    if [ ! -s "$capture" ]; then
        echo "generating $capture ($SESSIONS sessions)..." >&2
        "$BIN" synth tests/transcripts/smtp-large-body.txt -o "$capture" \
            --sessions "$SESSIONS" --split random --segment-size 1460 --seed 1 "$@"
    fi
    cat "$capture" > /dev/null # warm the page cache
    local bytes ours tshark flows
    bytes=$(stat -c %s "$capture")
    ours=$(seconds "$BIN" streams "$capture" --json)
    tshark=$(seconds tshark -r "$capture" -q -z conv,tcp)
    flows=$("$BIN" streams "$capture" --json | wc -l)
    python3 - "$name" "$bytes" "$ours" "$tshark" "$flows" <<'PY'
import sys
name, size, ours, tshark, flows = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mb = size / 1e6
print(f"[{name}] capture: {mb:.1f} MB, {flows} TCP flows")
print(f"[{name}] protoc-rs streams --json : {ours:7.2f} s  {mb / ours:8.1f} MB/s")
print(f"[{name}] tshark -q -z conv,tcp    : {tshark:7.2f} s  {mb / tshark:8.1f} MB/s")
print(f"[{name}] protoc-rs is {tshark / ours:.1f}x tshark's speed")
PY
}

bench in-order
bench reordered --reorder --duplicate
