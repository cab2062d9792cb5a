#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpora in fuzz/corpus/<target>/.

One job: turn the tests' own inputs into small, varied seeds, so that the
fuzzer starts from every container format and link type the runtime reads.

- spec_check:        specs/**/*.proto and tests/diagnostics/*.proto, as they are;
- capture_reader:    samples/smtp.pcap and the small (< 8 KiB) Zeek traces, as
                     they are; and from samples/smtp.pcap's SMTP packets: raw IP,
                     Linux SLL, BSD loopback, 802.1Q, big-endian nanosecond pcap,
                     pcapng (nanosecond resolution), gzip, IPv4 fragments;
- reassembly_oracle: a few byte strings (arbitrary decodes them into inputs).

Deterministic: the same sources give the same files. Run from anywhere:
    python3 fuzz/make_seeds.py
"""

import glob
import gzip
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
ZEEK = "/work/shared/corpus/zeek/Traces"
SMALL = 8 * 1024


def out_dir(target):
    path = os.path.join(CORPUS, target)
    os.makedirs(path, exist_ok=True)
    return path


def read_pcap(path):
    """(linktype, [(ts_sec, ts_usec, data, orig_len)]) of a little-endian µs pcap."""
    with open(path, "rb") as f:
        raw = f.read()
    magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert magic == 0xA1B2C3D4, "expected a little-endian microsecond pcap"
    packets, pos = [], 24
    while pos + 16 <= len(raw):
        sec, usec, caplen, origlen = struct.unpack("<IIII", raw[pos : pos + 16])
        packets.append((sec, usec, raw[pos + 16 : pos + 16 + caplen], origlen))
        pos += 16 + caplen
    return linktype, packets


def write_pcap(linktype, packets, big_endian=False, nanos=False):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, usec, data, _ in packets:
        frac = usec * 1000 if nanos else usec
        out += struct.pack(e + "IIII", sec, frac, len(data), len(data)) + data
    return out


def pcapng_block(block_type, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def write_pcapng(linktype, packets):
    shb = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # Options: if_tsresol = 9 (nanoseconds), if_tsoffset = 1 s, end.
    options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HHq", 14, 8, 1) + struct.pack("<HH", 0, 0)
    idb = pcapng_block(1, struct.pack("<HHI", linktype, 0, 0) + options)
    out = shb + idb
    for sec, usec, data, _ in packets:
        ticks = ((sec - 1) * 1_000_000 + usec) * 1000
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
        out += pcapng_block(6, head + data)
    return out


def ip_checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def fragment(ip, size):
    """Splits an IPv4 packet (20-byte header) into fragments of `size` bytes."""
    header, payload = ip[:20], ip[20:]
    frags = []
    for off in range(0, len(payload), size):
        chunk = payload[off : off + size]
        more = off + size < len(payload)
        h = bytearray(header)
        struct.pack_into("!H", h, 2, 20 + len(chunk))
        struct.pack_into("!H", h, 6, (0x2000 if more else 0) | (off // 8))
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, ip_checksum(bytes(h)))
        frags.append(bytes(h) + chunk)
    return frags


def spec_seeds():
    dest = out_dir("spec_check")
    sources = glob.glob(os.path.join(ROOT, "specs", "**", "*.proto"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "tests", "diagnostics", "*.proto"))
    for src in sorted(sources):
        shutil.copy(src, os.path.join(dest, os.path.basename(src)))


def capture_seeds():
    dest = out_dir("capture_reader")

    def put(name, data):
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)

    sample = os.path.join(ROOT, "samples", "smtp.pcap")
    shutil.copy(sample, os.path.join(dest, "smtp.pcap"))
    for src in sorted(glob.glob(os.path.join(ZEEK, "**", "*.pcap*"), recursive=True)):
        if os.path.getsize(src) <= SMALL:
            shutil.copy(src, os.path.join(dest, "zeek-" + os.path.basename(src)))

    linktype, packets = read_pcap(sample)
    # The SMTP session only (port 25), to keep the variants small.
    smtp = [p for p in packets if len(p[2]) > 37 and 25 in struct.unpack("!HH", p[2][34:38])]
    eth_type = lambda d: d[12:14]
    ip_only = [(s, u, d[14:], o - 14) for s, u, d, o in smtp if eth_type(d) == b"\x08\x00"]

    put("smtp-rawip.pcap", write_pcap(101, ip_only))
    sll = [(s, u, struct.pack("!HHH8sH", 0, 1, 6, b"\x52\x54\0\xf5\x43\x4a\0\0", 0x0800) + d, o)
           for s, u, d, o in ip_only]
    put("smtp-sll.pcap", write_pcap(113, sll))
    null = [(s, u, struct.pack("<I", 2) + d, o) for s, u, d, o in ip_only]
    put("smtp-null.pcap", write_pcap(0, null))
    vlan = [(s, u, d[:12] + b"\x81\x00\x00\x2a" + d[12:], o) for s, u, d, o in smtp]
    put("smtp-vlan.pcap", write_pcap(1, vlan))
    put("smtp-be-nanos.pcap", write_pcap(1, smtp, big_endian=True, nanos=True))
    put("smtp.pcapng", write_pcapng(1, smtp))
    put("smtp.pcap.gz", gzip.compress(write_pcap(1, smtp), mtime=0))
    frags = []
    for s, u, d, o in ip_only:
        pieces = fragment(d, 16) if len(d) > 60 else [d]
        frags += [(s, u, f, len(f)) for f in reversed(pieces)]
    put("smtp-fragments-rawip.pcap", write_pcap(101, frags))


def reassembly_seeds():
    dest = out_dir("reassembly_oracle")
    _, packets = read_pcap(os.path.join(ROOT, "samples", "smtp.pcap"))
    payloads = [d[66:] for _, _, d, _ in packets if len(d) > 66]
    for i, payload in enumerate(payloads[:6]):
        with open(os.path.join(dest, "payload-%d" % i), "wb") as f:
            f.write(payload)


if __name__ == "__main__":
    spec_seeds()
    capture_seeds()
    reassembly_seeds()
