#!/usr/bin/env python3
"""Groups a perf profile of `protoc-rs pcap` into where its time goes.

Usage:
  perf record -F 20000 --call-graph dwarf,16384 -o perf.data -- \\
      target/release/protoc-rs pcap CAPTURE --format json > /dev/null
  perf report -i perf.data --no-children --stdio --sort symbol \\
      -g folded,0,caller,function,percent | bench/perf_groups.py

Reads perf's folded stacks (`P% frame;frame;...` lines) and gives each
sample to the first group, in the order below, that one of its frames
matches: a sample of SHA-256 inside an extraction counts as SHA-256, a
sample of file I/O inside a chunk's delivery counts as file I/O. Prints a
Markdown table, largest share first.
"""
import re
import sys
from collections import Counter

GROUPS = [
    ("SHA-256 (16 lanes AVX-512, sha2 SHA-NI alone)", r"sha2::|sha256::"),
    ("extraction files: open, write, close (kernel)",
     r"rules::extract::(write_out|flush_buffer)|__libc_open|__GI___close"),
    ("reading the capture (read(2) copy, record headers)", r"ChunkReader::next_chunk"),
    ("streamed chunks: sinks' bookkeeping, extraction buffers",
     r"EventSink>::stream|Extractor::write|record_with"),
    ("events: state machine triggers, JSON lines",
     r"machine::trigger|EventSink>::event|json_header|write_record"),
    ("end-token search and unstuffing (memmem, DFA)",
     r"Skipper::skip|Unstuffer::feed|FirstBytes|confirm|ByteClass|TokenDfa"),
    ("dissector: other parsing, state machine", r"Dissector::|Parsers::"),
    ("engine: decode, flow table, reassembly, accounting",
     r"Engine<H>::process|run_threads|dissect_shard"),
]


def main() -> None:
    shares = Counter()
    total = 0.0
    for line in sys.stdin:
        match = re.match(r"([0-9.]+)% (.*)", line.rstrip("\n"))
        if not match:
            continue
        share, stack = float(match.group(1)), match.group(2)
        total += share
        group = next((name for name, pattern in GROUPS if re.search(pattern, stack)),
                     "other (allocator, start-up, exit)")
        shares[group] += share
    print("| where | share |\n| --- | --- |")
    for name, share in shares.most_common():
        print(f"| {name} | {100 * share / max(total, 1e-9):.1f}% |")


if __name__ == "__main__":
    main()
