#!/usr/bin/env bash
# Peak memory of `protoc-rs pcap` with mail extraction does not grow with the mail's size:
# one SMTP session whose body is SMALL_MB, then LARGE_MB, extracted with rules/mail_content.rules.
#
# Command:  bench/extract_memory.sh          (SMALL_MB=4 LARGE_MB=128 by default)
# Last run (2026-11-25, release build, 2 shared cores, load ~6):
#   4 MB mail:   peak RSS  7.3 MB
#   128 MB mail: peak RSS  7.4 MB   (the body streams to its file chunk by chunk)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL_MB=${SMALL_MB:-4}
LARGE_MB=${LARGE_MB:-128}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release --quiet
BIN=target/release/protoc-rs

for mb in "$SMALL_MB" "$LARGE_MB"; do
    python3 - "$WORK/body-$mb.eml" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = b"a line of the mail body, long enough to look like text ....................\r\n"
block = line * 4096
with open(path, "wb") as f:
    for _ in range(mb * (1 << 20) // len(block)):
        f.write(block)
PY
    cat > "$WORK/session-$mb.txt" <<TXT
S: 220 mx ESMTP
C: EHLO client
S: 250 mx
C: MAIL FROM:<a@example.test>
S: 250 OK
C: RCPT TO:<b@example.test>
S: 250 OK
C: DATA
S: 354 go ahead
C: @file body-$mb.eml
C: .
S: 250 queued
C: QUIT
S: 221 bye
TXT
    "$BIN" synth "$WORK/session-$mb.txt" -o "$WORK/mail-$mb.pcap"
    /usr/bin/time -o "$WORK/rss-$mb" -f %M "$BIN" pcap "$WORK/mail-$mb.pcap" --format json \
        --rules rules/mail_content.rules --extract-dir "$WORK/out-$mb" > /dev/null 2>/dev/null
    rss=$(tail -1 "$WORK/rss-$mb")
    size=$(stat -c %s "$WORK"/out-"$mb"/*)
    printf '%4d MB mail: extracted %d bytes, peak RSS %.1f MB\n' "$mb" "$size" "$(echo "$rss / 1024" | bc -l)"
done
