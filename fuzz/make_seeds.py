#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpora in fuzz/corpus/<target>/.

One job: turn the tests' own inputs into small, varied seeds, so that the
fuzzer starts from every container format and link type the runtime reads.

- spec_check:        specs/**/*.proto and tests/diagnostics/*.proto, as they are;
- capture_reader:    samples/smtp.pcap and the small (< 8 KiB) Zeek traces, as
                     they are; and from samples/smtp.pcap's SMTP packets: raw IP,
                     Linux SLL, BSD loopback, 802.1Q, big-endian nanosecond pcap,
                     pcapng (nanosecond resolution), gzip, IPv4 fragments;
- reassembly_oracle: a few byte strings (arbitrary decodes them into inputs);
- rules_check:       rules/*.rules and tests/rules_diagnostics/*.rules, as they are;
- smtp_dissector:    session scripts (see fuzz_targets/smtp_dissector.rs) made
                     from tests/transcripts/*.txt and samples/smtp.pcap's SMTP
                     session, with cut marks every few bytes, each with the
                     built-in caps and with tiny caps;
- http_dissector:    session scripts of the conversations of tests/http_messages.rs
                     and of the Zeek HTTP trace (a CONNECT), likewise;
- dns_dissector:     binary session scripts (0x02 escapes) of the queries and
                     answers of tests/dns_messages.rs: as datagrams, and as TCP
                     streams of length-prefixed frames with cut marks;
- features_dissector: session scripts of the scenarios of
                     tests/codegen_features.rs (gaps, ends, ticks included).

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


def rules_seeds():
    dest = out_dir("rules_check")
    sources = glob.glob(os.path.join(ROOT, "rules", "*.rules"))
    sources += glob.glob(os.path.join(ROOT, "tests", "rules_diagnostics", "*.rules"))
    for src in sorted(sources):
        shutil.copy(src, os.path.join(dest, os.path.basename(src)))


def transcript_steps(path):
    """[(side, bytes)] of a transcript: consecutive lines of one side joined."""
    escapes = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}
    steps = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n").lstrip()
            if not line or line.startswith("#") or line[:2] not in ("C:", "S:"):
                continue
            side, rest = line[0], line[2:]
            rest = rest[1:] if rest.startswith(" ") else rest
            if rest.startswith("@file "):
                with open(os.path.join(os.path.dirname(path), rest[6:].strip()), "rb") as g:
                    data = g.read()[:2048]
            else:
                data, ending, i = b"", b"\r\n", 0
                while i < len(rest):
                    c = rest[i]
                    if c == "\\" and i + 1 < len(rest):
                        e = rest[i + 1]
                        at_end = i + 2 == len(rest)
                        if e == "x":
                            data += bytes([int(rest[i + 2 : i + 4], 16)])
                            i += 4
                            continue
                        if e == "c" and at_end:
                            ending = b""
                        elif e == "n" and at_end:
                            data += b"\n"
                            ending = b""
                        else:
                            data += escapes.get(e, e.encode())
                        i += 2
                        continue
                    data += c.encode()
                    i += 1
                data += ending
            if steps and steps[-1][0] == side:
                steps[-1] = (side, steps[-1][1] + data)
            else:
                steps.append((side, data))
    return steps


def script(steps, tiny, every, binary=False):
    """A session script: flags byte, then steps separated by 0x00, with a cut
    mark (0x01) every `every` bytes of data. A text script drops the bytes
    0x00 and 0x01 of the data; a binary one escapes 0x00, 0x01 and 0x02 as
    0x02 followed by the byte + 0x10. Steps of side `D`/`d` are datagrams:
    no cut marks."""

    def escape(data):
        if not binary:
            return [bytes([b]) for b in data if b > 1]
        return [bytes([2, b + 0x10]) if b <= 2 else bytes([b]) for b in data]

    out = bytes([1 if tiny else 0])
    for side, data in steps:
        units = escape(data)
        if side in "Dd":
            marked = b"".join(units)
        else:
            marked = b"\x01".join(
                b"".join(units[i : i + every]) for i in range(0, len(units), every)
            )
        out += b"\x00" + side.encode() + marked
    return out + b"\x00E\x00e"


def dissector_seeds():
    dest = out_dir("smtp_dissector")
    sessions = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "transcripts", "*.txt"))):
        sessions[os.path.basename(path)[:-4]] = transcript_steps(path)
    _, packets = read_pcap(os.path.join(ROOT, "samples", "smtp.pcap"))
    steps = []
    for _, _, d, _ in packets:
        if len(d) <= 66 or d[12:14] != b"\x08\x00":
            continue
        sport, dport = struct.unpack("!HH", d[34:38])
        if 25 not in (sport, dport):
            continue
        side = "C" if dport == 25 else "S"
        if steps and steps[-1][0] == side:
            steps[-1] = (side, steps[-1][1] + d[66:])
        else:
            steps.append((side, d[66:]))
    sessions["sample"] = steps
    for name, steps in sessions.items():
        for tiny, every, suffix in ((False, 7, ""), (True, 5, "-tiny")):
            with open(os.path.join(dest, name + suffix), "wb") as f:
                f.write(script(steps, tiny, every))


def tcp_payloads(path, port):
    """[(side, bytes)] of the TCP payloads to and from `port` of an Ethernet
    IPv4 pcap, consecutive payloads of one side joined (C: to the port)."""
    _, packets = read_pcap(path)
    steps = []
    for _, _, d, _ in packets:
        if len(d) < 34 or d[12:14] != b"\x08\x00" or d[23] != 6:
            continue
        ihl = (d[14] & 0x0F) * 4
        tcp = 14 + ihl
        sport, dport = struct.unpack("!HH", d[tcp : tcp + 4])
        # Up to the IP length: short frames carry Ethernet padding.
        ip_end = 14 + struct.unpack("!H", d[16:18])[0]
        payload = d[tcp + (d[tcp + 12] >> 4) * 4 : ip_end]
        if port not in (sport, dport) or not payload:
            continue
        side = "C" if dport == port else "S"
        if steps and steps[-1][0] == side:
            steps[-1] = (side, steps[-1][1] + payload)
        else:
            steps.append((side, payload))
    return steps


# The conversations of tests/http_messages.rs.
HTTP_SESSIONS = {
    "chunked": [
        ("C", b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("S", b"HTTP/1.1 200 OK\r\ntransfer-ENCODING: Chunked\r\n\r\n"
              b"5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"),
    ],
    "until-close": [
        ("C", b"GET /old HTTP/1.0\r\n\r\n"),
        ("S", b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\nall of it\nuntil the end"),
    ],
    "interim-head-204-304": [
        ("C", b"POST /up HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"),
        ("S", b"HTTP/1.1 100 Continue\r\n\r\n"),
        ("C", b"dataHEAD /big HTTP/1.1\r\n\r\nGET /gone HTTP/1.1\r\n\r\n"
              b"GET /same HTTP/1.1\r\n\r\n"),
        ("S", b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
              b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
              b"HTTP/1.1 204 No Content\r\n\r\n"
              b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
    ],
    "header-values": [
        ("C", b"GET / HTTP/1.1\r\nHost:  example.test  \r\nX-Empty:\r\n\r\n"),
    ],
    "not-http": [
        ("C", b"\x16\x03\x01\x02\x00 not http\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    ],
}


def http_seeds():
    dest = out_dir("http_dissector")
    sessions = dict(HTTP_SESSIONS)
    sessions["zeek-connect"] = tcp_payloads(
        os.path.join(ZEEK, "http", "connect-with-smtp.pcap"), 8240
    )
    for name, steps in sessions.items():
        for tiny, every, suffix in ((False, 7, ""), (True, 5, "-tiny")):
            with open(os.path.join(dest, name + suffix), "wb") as f:
                f.write(script(steps, tiny, every))


# DNS messages, as tests/dns_messages.rs builds them.
def dns_name(text):
    out = b""
    for label in filter(None, text.split(".")):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def dns_pointer(offset):
    return struct.pack("!H", 0xC000 | offset)


def dns_header(ident, flags, counts):
    return struct.pack("!HH4H", ident, flags, *counts)


def dns_question(owner, qtype):
    return owner + struct.pack("!HH", qtype, 1)


def dns_record(owner, rtype, ttl, data):
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(data)) + data


def dns_query(ident, qname, qtype):
    return dns_header(ident, 0x0100, (1, 0, 0, 0)) + dns_question(dns_name(qname), qtype)


def dns_answer(ident):
    out = dns_header(ident, 0x8180, (1, 2, 0, 0))
    out += dns_question(dns_name("www.example.test"), 1)
    out += dns_record(dns_pointer(12), 1, 300, bytes([192, 0, 2, 1]))
    out += dns_record(dns_pointer(12), 1, 300, bytes([192, 0, 2, 2]))
    return out


def dns_seeds():
    dest = out_dir("dns_dissector")
    cname = dns_header(7, 0x8180, (1, 2, 0, 0))
    cname += dns_question(dns_name("www.example.test"), 5)
    cname += dns_record(dns_pointer(12), 5, 60, b"\x04mail" + dns_pointer(12))
    cname += dns_record(b"\x00", 16, 0, b"\x03one\x03two")
    self_loop = dns_header(1, 0x0100, (1, 0, 0, 0)) + dns_pointer(12) + b"\x00\x01\x00\x01"
    cycle = dns_header(3, 0x0100, (2, 0, 0, 0)) + b"\x01a" + dns_pointer(12)
    cycle += b"\x00\x01\x00\x01" + dns_pointer(14) + b"\x00\x01\x00\x01"
    edns = dns_header(9, 0x0100, (1, 0, 0, 1)) + dns_question(dns_name("example.test"), 28)
    edns += dns_record(b"\x00", 41, 0, struct.pack("!HH", 10, 8) + b"cookie!!")
    q = dns_query(5, "example.test", 1)
    datagrams = {
        "udp-query-answer": [("D", dns_query(21, "www.example.test", 1)), ("d", dns_answer(21))],
        "udp-cname-txt": [("D", dns_query(7, "www.example.test", 5)), ("d", cname)],
        "udp-pointer-loops": [("D", self_loop), ("D", cycle)],
        "udp-edns": [("D", edns)],
        "udp-short-long": [("D", q[:-2]), ("D", q + b"xx"), ("D", q)],
    }
    def framed(*messages):
        return b"".join(struct.pack("!H", len(m)) + m for m in messages)
    streams = {
        "tcp-queries-answers": [
            ("C", framed(dns_query(21, "www.example.test", 1), dns_query(22, "www.example.test", 1))),
            ("S", framed(dns_answer(21), dns_answer(22))),
        ],
        "tcp-cname-cut-frame": [
            ("C", framed(dns_query(7, "www.example.test", 5))),
            ("S", framed(cname)[:-5]),
        ],
    }
    for name, steps in {**datagrams, **streams}.items():
        for tiny, every, suffix in ((False, 7, ""), (True, 3, "-tiny")):
            with open(os.path.join(dest, name + suffix), "wb") as f:
                f.write(script(steps, tiny, every, binary=True))


# The scenarios of tests/codegen_features.rs (G: a gap as long as its bytes;
# T: one second passes; script() ends both sides last).
FEATURES_SESSIONS = {
    "chunks": [("C", b"PUT 5\nhelloPUT 3 LAST\nabc"), ("S", b"OK\n")],
    "gap-absorbed": [("C", b"PUT 10 LAST\nabc"), ("G", b"gap!"), ("C", b"xyz"), ("S", b"OK\n")],
    "resync": [("C", b"PUT x\nPUT 2 LAST\nhi"), ("S", b"OK\n")],
    "gap-then-end": [("G", b"gap gap"), ("C", b"junk\nPUT 1 LAST\nz")],
    "gap-then-timeout": [("G", b"gap gap"), ("C", b"junk\nPUT 1 LAST\nz")]
    + [("T", b"")] * 5 + [("S", b"OK\n")],
    "stop": [("S", b"TLS\n"), ("C", b"\x16\x03 not a header\n"), ("S", b"\x17\x03 nor a reply\n")],
    "reset": [("C", b"PUT 2\nab"), ("C", b"RESET 0\n"), ("S", b"OK\n")],
}


def features_seeds():
    dest = out_dir("features_dissector")
    for name, steps in FEATURES_SESSIONS.items():
        for tiny, every, suffix in ((False, 7, ""), (True, 5, "-tiny")):
            with open(os.path.join(dest, name + suffix), "wb") as f:
                f.write(script(steps, tiny, every))


if __name__ == "__main__":
    spec_seeds()
    capture_seeds()
    reassembly_seeds()
    rules_seeds()
    dissector_seeds()
    http_seeds()
    dns_seeds()
    features_seeds()
