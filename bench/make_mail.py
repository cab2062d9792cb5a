#!/usr/bin/env python3
"""Writes a synthetic mail body of about SIZE bytes for the benchmarks.

Usage: make_mail.py SIZE OUT

The body is what a client sends after DATA, dot-stuffed as on the wire: a
few header lines, a blank line, then text lines of 40 to 76 characters
ending in CRLF; one line in 50 starts with a dot, sent doubled (`..`). The
terminating `.` line is not included (the transcript adds it). The same SIZE
always gives the same bytes. Beyond 4 MB, the text is a 1 MB block repeated
(generating 300 MB line by line would take minutes).
"""
import random
import sys

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or "
    "his from at which but have an they you were her she there been one all "
    "we their has would when if so no will more out up into do any your what "
    "mail server relay message queue delivery envelope header body transfer"
).split()


def main() -> None:
    size, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(size)
    lines = [
        b"From: Smith <Smith@bar.com>",
        b"To: Jones <Jones@foo.com>",
        b"Subject: benchmark mail",
        b"Content-Type: text/plain; charset=us-ascii",
        b"",
    ]
    head = b"\r\n".join(lines) + b"\r\n"
    block_size = size if size <= 4 << 20 else 1 << 20
    block = text(rng, block_size - len(head) if size <= 4 << 20 else block_size)
    with open(out, "wb") as f:
        f.write(head)
        written = len(head)
        while written < size:
            f.write(block)
            written += len(block)


def text(rng: random.Random, size: int) -> bytes:
    """Text lines of about `size` bytes in all."""
    out = []
    total = 0
    while total < size:
        width = rng.randint(40, 76)
        words = []
        length = 0
        while length < width:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        line = " ".join(words)[:width].encode()
        if rng.randrange(50) == 0:
            line = b".." + line
        out.append(line + b"\r\n")
        total += len(line) + 2
    return b"".join(out)


if __name__ == "__main__":
    main()
