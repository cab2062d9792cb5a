//! UDP flows through `protoc-rs pcap`: a capture made here (Ethernet, IPv4
//! and IPv6, UDP) of DNS datagrams, including a reply seen before its query
//! (a capture that starts late), datagrams to a port no spec claims, and
//! two clients; each flow's datagrams go to one dissector, the client is who
//! asked, and `--spec` picks the README tutorial's `dns_header` spec (UDP
//! only: the TCP flow of the capture is left alone).

mod common;

use std::path::Path;

use common::{protoc, run_json, Event};
use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, RawTimestamp, TsPrecision};
use protoc_runtime::pcap_writer::PcapWriter;

/// A query (QR = 0) or a reply (QR = 1) for `a.example.test` A, no records.
fn message(id: u16, reply: bool) -> Vec<u8> {
    let flags: u16 = if reply { 0x8180 } else { 0x0100 };
    let mut out = Vec::new();
    out.extend(id.to_be_bytes());
    out.extend(flags.to_be_bytes());
    out.extend([0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["a", "example", "test"] {
        out.push(u8::try_from(label.len()).expect("short"));
        out.extend(label.as_bytes());
    }
    out.extend([0, 0, 1, 0, 1]);
    out
}

enum Ip {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

/// An Ethernet frame carrying one UDP datagram.
fn udp(ip: &Ip, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let builder = match ip {
        Ip::V4(src, dst) => eth.ipv4(*src, *dst, 64).udp(src_port, dst_port),
        Ip::V6(src, dst) => eth.ipv6(*src, *dst, 64).udp(src_port, dst_port),
    };
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).expect("a frame");
    frame
}

/// An Ethernet frame carrying one TCP segment (no handshake: picked up mid-flow).
fn tcp(src_port: u16, dst_port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(src_port, dst_port, seq, 1000)
        .ack(1)
        .write(&mut frame, payload)
        .expect("a frame");
    frame
}

fn write_capture(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("capture file");
    let mut writer =
        PcapWriter::new(file, LinkType::ETHERNET, TsPrecision::Micro, 65535).expect("header");
    for (i, frame) in frames.iter().enumerate() {
        let ts = RawTimestamp {
            sec: 1_700_000_000 + i as i64,
            nsec: 0,
        };
        let len = u32::try_from(frame.len()).expect("small frame");
        writer.write_record(ts, len, frame).expect("record");
    }
    writer.flush().expect("flush");
}

fn capture(dir: &Path) -> std::path::PathBuf {
    let v4 = Ip::V4([10, 0, 0, 1], [10, 0, 0, 53]);
    let v4_back = Ip::V4([10, 0, 0, 53], [10, 0, 0, 1]);
    let mut client6 = [0u8; 16];
    client6[0] = 0x20;
    client6[1] = 0x01;
    client6[15] = 1;
    let mut server6 = client6;
    server6[15] = 0x53;
    let v6 = Ip::V6(client6, server6);
    let v6_back = Ip::V6(server6, client6);
    let query = message(9, false);
    let mut tcp_query = u16::try_from(query.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    tcp_query.extend(query);
    let frames = vec![
        // A reply whose query was not captured: the client is still the
        // side with the high port.
        udp(&v4_back, 53, 40001, &message(1, true)),
        udp(&v4, 40002, 53, &message(2, false)),
        udp(&v4_back, 53, 40002, &message(2, true)),
        // The same pair again: the same flow.
        udp(&v4, 40002, 53, &message(3, false)),
        // Not DNS: no spec claims port 9.
        udp(&v4, 40003, 9, b"discard me"),
        udp(&v6, 40004, 53, &message(4, false)),
        udp(&v6_back, 53, 40004, &message(4, true)),
        tcp(40005, 53, 1, &tcp_query),
    ];
    let path = dir.join("udp.pcap");
    write_capture(&path, &frames);
    path
}

/// (flow, direction, event, id, client port) of each event.
fn summary(events: &[Event]) -> Vec<(u64, String, String, i64, u64)> {
    events
        .iter()
        .map(|e| {
            (
                e.flow,
                e.dir.clone(),
                e.event.clone(),
                e.fields["id"].as_i64().unwrap_or(-1),
                e.src_port,
            )
        })
        .collect()
}

#[test]
fn datagrams_of_one_pair_make_one_flow_and_the_asker_is_the_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let events = run_json(&["pcap", pcap.to_str().expect("utf-8")]);
    let s = |flow, dir: &str, event: &str, id, port| {
        (flow, dir.to_string(), event.to_string(), id, port)
    };
    assert_eq!(
        summary(&events),
        vec![
            s(1, "down", "answer", 1, 40001),
            s(2, "up", "query", 2, 40002),
            s(2, "down", "answer", 2, 40002),
            s(2, "up", "query", 3, 40002),
            s(3, "up", "query", 4, 40004),
            s(3, "down", "answer", 4, 40004),
            s(4, "up", "query", 9, 40005),
        ]
    );
    assert!(events.iter().all(|e| e.proto == "dns"));
    assert_eq!(events[4].src_ip, "2001::1", "IPv6 flows too");
    let out = protoc(&["pcap", pcap.to_str().expect("utf-8"), "--format", "json"]);
    let stats = String::from_utf8_lossy(&out.stderr);
    assert!(
        stats.contains("8 packets, 4 flows"),
        "three UDP flows and one TCP flow: {stats}"
    );
}

#[test]
fn the_tutorial_spec_reads_every_header_of_the_udp_flows_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = capture(dir.path());
    let events = run_json(&[
        "pcap",
        pcap.to_str().expect("utf-8"),
        "--spec",
        "dns_header",
    ]);
    let headers: Vec<(i64, bool, i64)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.proto, "dns_header");
            assert_eq!(e.event, "message");
            (
                e.fields["id"].as_i64().unwrap_or(-1),
                e.fields["qr"].as_bool().unwrap_or(false),
                e.fields["questions"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        headers,
        vec![
            (1, true, 1),
            (2, false, 1),
            (2, true, 1),
            (3, false, 1),
            (4, false, 1),
            (4, true, 1),
        ],
        "the datagram to port 9 and the TCP flow are not read"
    );
}
