//! The engine's flow handling: drop verdicts, idle expiry, eviction, RST,
//! mid-stream pickup, stray packets, IP fragments.

mod common;

use common::{packet, packets_of, Recorder};
use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, RawTimestamp};
use protoc_runtime::engine::{CloseReason, Engine, EngineConfig, PacketVerdict};
use protoc_runtime::flow::FlowLimits;
use protoc_runtime::synth::{write_pcap, Options, Side, Transcript};

const TRANSCRIPT: &str =
    "S: 220 hello\nC: EHLO me\nS: 250 ok\nC: MAIL FROM:<a@b>\nS: 250 ok\nC: QUIT\nS: 221 bye\n";

fn transcript() -> Transcript {
    Transcript::parse(TRANSCRIPT, std::path::Path::new(".")).unwrap()
}

fn synth(options: &Options) -> Vec<(RawTimestamp, LinkType, Vec<u8>)> {
    let mut pcap = Vec::new();
    write_pcap(&transcript(), options, &mut pcap).unwrap();
    packets_of(&pcap)
}

fn engine(recorder: Recorder, config: EngineConfig) -> Engine<Recorder> {
    Engine::new(recorder, config)
}

#[test]
fn a_drop_verdict_drops_the_flow_and_all_its_later_packets() {
    let packets = synth(&Options {
        sessions: 2,
        ..Options::default()
    });
    let recorder = Recorder {
        drop_on: Some(b"MAIL FROM".to_vec()),
        drop_flow: Some(1),
        ..Recorder::default()
    };
    let mut engine = engine(recorder, EngineConfig::default());
    let mut verdicts = Vec::new();
    for (ts, link, data) in &packets {
        verdicts.push(engine.process(&packet(*ts, *link, data)));
    }
    engine.finish();
    // Sessions alternate packet by packet: even packets are flow 1's.
    let first_drop = verdicts
        .iter()
        .position(|v| *v == PacketVerdict::Drop)
        .expect("a drop");
    assert_eq!(first_drop % 2, 0);
    for (i, v) in verdicts.iter().enumerate() {
        let expected = if i % 2 == 0 && i >= first_drop {
            PacketVerdict::Drop
        } else {
            PacketVerdict::Pass
        };
        assert_eq!(*v, expected, "packet {i}");
    }
    let stats = engine.stats().clone();
    assert_eq!(stats.dropped_flows, 1);
    assert_eq!(
        stats.dropped_packets as usize,
        verdicts
            .iter()
            .filter(|v| **v == PacketVerdict::Drop)
            .count()
    );
    let recorder = engine.into_handler();
    assert_eq!(recorder.opened, 2);
    assert_eq!(recorder.closed, 2);
    let dropped = &recorder.flows[&1];
    assert_eq!(dropped.closed, Some(CloseReason::Dropped));
    assert!(
        dropped.bytes[0].ends_with(b"MAIL FROM:<a@b>\r\n"),
        "{:?}",
        String::from_utf8_lossy(&dropped.bytes[0])
    );
    assert_eq!(dropped.ends, [0, 0], "a dropped flow gets no end");
    let other = &recorder.flows[&2];
    assert_eq!(other.closed, Some(CloseReason::Fin));
    assert_eq!(other.bytes[0], transcript().stream(Side::Client));
}

#[test]
fn idle_flows_are_closed_after_the_timeout_with_what_they_had() {
    let mut first = synth(&Options::default());
    first.truncate(first.len() - 3); // no FIN: the flow stays open
    let later = synth(&Options {
        start: RawTimestamp {
            sec: 1_402_490_912 + 1000,
            nsec: 0,
        },
        client: "10.0.0.9:5555".parse().unwrap(),
        ..Options::default()
    });
    let config = EngineConfig {
        flows: FlowLimits {
            idle_timeout: 60.0,
            ..FlowLimits::default()
        },
        ..EngineConfig::default()
    };
    let mut engine = engine(Recorder::default(), config);
    for (ts, link, data) in first.iter().chain(later.iter()) {
        engine.process(&packet(*ts, *link, data));
    }
    assert_eq!(
        engine.live_flows(),
        0,
        "the second flow closed with FIN, the first idled out"
    );
    engine.finish();
    assert_eq!(engine.stats().idle_closed, 1);
    let recorder = engine.into_handler();
    assert_eq!(
        recorder.close_order,
        vec![(1, CloseReason::Idle), (2, CloseReason::Fin)]
    );
    assert_eq!(
        recorder.flows[&1].bytes[0],
        transcript().stream(Side::Client)
    );
    assert_eq!(recorder.flows[&1].ends, [1, 1]);
    assert!(recorder.ticks > 0);
}

#[test]
fn a_full_table_evicts_the_longest_idle_flows() {
    let packets = synth(&Options {
        sessions: 10,
        ..Options::default()
    });
    let config = EngineConfig {
        flows: FlowLimits {
            max_flows: 4,
            ..FlowLimits::default()
        },
        ..EngineConfig::default()
    };
    let mut engine = engine(Recorder::default(), config);
    for (ts, link, data) in &packets {
        engine.process(&packet(*ts, *link, data));
        assert!(engine.live_flows() <= 4);
    }
    engine.finish();
    assert!(
        engine.stats().evictions >= 6,
        "{}",
        engine.stats().evictions
    );
    let recorder = engine.into_handler();
    assert_eq!(recorder.opened, recorder.closed);
    assert!(recorder
        .close_order
        .iter()
        .any(|(_, r)| *r == CloseReason::Evicted));
    for flow in recorder.flows.values() {
        assert!(!flow.after_end);
        assert!(flow.ends.iter().all(|&e| e == 1));
    }
}

fn tcp_frame(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    rst: bool,
    payload: &[u8],
) -> Vec<u8> {
    let mut builder = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 1000)
        .ack(ack);
    if rst {
        builder = builder.rst();
    }
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).unwrap();
    frame
}

#[test]
fn rst_ends_both_directions_and_gives_up_holes() {
    let client = ([10, 0, 0, 1], 40000);
    let server = ([10, 0, 0, 2], 25);
    let ts = |n: u32| RawTimestamp {
        sec: 100,
        nsec: n * 1000,
    };
    let link = LinkType::ETHERNET;
    let mut engine = engine(Recorder::default(), EngineConfig::default());
    // Mid-stream: client data at 1000, then a hole of 5 bytes, then more.
    engine.process(&packet(
        ts(1),
        link,
        &tcp_frame(client, server, 1000, 7000, false, b"hello"),
    ));
    engine.process(&packet(
        ts(2),
        link,
        &tcp_frame(client, server, 1010, 7000, false, b"world"),
    ));
    engine.process(&packet(
        ts(3),
        link,
        &tcp_frame(server, client, 7000, 1005, false, b"ok"),
    ));
    assert_eq!(engine.buffered_bytes(), 5);
    engine.process(&packet(
        ts(4),
        link,
        &tcp_frame(server, client, 7002, 1005, true, b""),
    ));
    assert_eq!(engine.live_flows(), 0);
    assert_eq!(engine.buffered_bytes(), 0);
    // A stray ACK afterwards opens nothing.
    engine.process(&packet(
        ts(5),
        link,
        &tcp_frame(client, server, 1015, 7002, false, b""),
    ));
    assert_eq!(engine.live_flows(), 0);
    assert_eq!(engine.stats().late_packets, 1);
    engine.finish();
    let recorder = engine.into_handler();
    let flow = &recorder.flows[&1];
    assert_eq!(flow.closed, Some(CloseReason::Rst));
    assert_eq!(flow.bytes[0], b"helloworld");
    assert_eq!(flow.gaps[0], vec![5]);
    assert_eq!(flow.bytes[1], b"ok");
    assert_eq!(flow.ends, [1, 1]);
    // Mid-stream: the lower port is the server.
    assert_eq!(flow.info.as_ref().unwrap().src.port(), 40000);
}

#[test]
fn a_capture_starting_mid_stream_still_gives_the_streams() {
    let packets = synth(&Options::default());
    let mut engine = engine(Recorder::default(), EngineConfig::default());
    // Without the handshake.
    for (ts, link, data) in &packets[3..] {
        engine.process(&packet(*ts, *link, data));
    }
    engine.finish();
    let recorder = engine.into_handler();
    assert_eq!(recorder.flows.len(), 1);
    let flow = &recorder.flows[&1];
    assert_eq!(
        flow.info.as_ref().unwrap().src.to_string(),
        "10.0.0.1:40000"
    );
    assert_eq!(flow.bytes[0], transcript().stream(Side::Client));
    assert_eq!(flow.bytes[1], transcript().stream(Side::Server));
}

#[test]
fn stray_and_non_tcp_packets_pass_and_are_counted() {
    let ts = RawTimestamp { sec: 1, nsec: 0 };
    let mut engine = engine(Recorder::default(), EngineConfig::default());
    let ack = tcp_frame(([1, 1, 1, 1], 1), ([2, 2, 2, 2], 2), 5, 5, false, b"");
    assert_eq!(
        engine.process(&packet(ts, LinkType::ETHERNET, &ack)),
        PacketVerdict::Pass
    );
    let mut udp = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
        .udp(53, 53)
        .write(&mut udp, b"dns")
        .unwrap();
    assert_eq!(
        engine.process(&packet(ts, LinkType::ETHERNET, &udp)),
        PacketVerdict::Pass
    );
    assert_eq!(
        engine.process(&packet(ts, LinkType::ETHERNET, &udp[..20])),
        PacketVerdict::Pass
    );
    assert_eq!(
        engine.process(&packet(ts, LinkType(147), &udp)),
        PacketVerdict::Pass
    );
    engine.finish();
    let stats = engine.stats();
    assert_eq!(
        (stats.packets, stats.tcp_flows, stats.untracked_packets),
        (4, 0, 1)
    );
    assert_eq!(
        (
            stats.ignored_packets,
            stats.short_packets,
            stats.unsupported_link_packets
        ),
        (1, 1, 1)
    );
    assert_eq!(
        engine.warnings().len(),
        1,
        "one warning for the unknown link type"
    );
}

/// Splits an Ethernet/IPv4 frame's IP payload into two fragments, sent in
/// reverse order.
fn fragment_in_two(frame: &[u8]) -> [Vec<u8>; 2] {
    let (headers, payload) = frame.split_at(34);
    let cut = 24; // a multiple of 8
    let make = |offset: usize, bytes: &[u8], more: bool| {
        let mut f = headers.to_vec();
        f[16..18].copy_from_slice(&((20 + bytes.len()) as u16).to_be_bytes());
        let flags = (if more { 0x2000u16 } else { 0 }) | (offset / 8) as u16;
        f[20..22].copy_from_slice(&flags.to_be_bytes());
        f.extend_from_slice(bytes);
        f
    };
    [
        make(cut, &payload[cut..], false),
        make(0, &payload[..cut], true),
    ]
}

#[test]
fn fragmented_segments_reach_the_stream() {
    let packets = synth(&Options::default());
    let mut engine = engine(Recorder::default(), EngineConfig::default());
    let mut fragmented = 0;
    for (ts, link, data) in &packets {
        if data.len() > 34 + 24 {
            for part in fragment_in_two(data) {
                engine.process(&packet(*ts, *link, &part));
            }
            fragmented += 1;
        } else {
            engine.process(&packet(*ts, *link, data));
        }
    }
    engine.finish();
    assert!(fragmented >= 6);
    assert_eq!(engine.stats().decode.datagrams_reassembled, fragmented);
    let recorder = engine.into_handler();
    assert_eq!(
        recorder.flows[&1].bytes[0],
        transcript().stream(Side::Client)
    );
    assert_eq!(
        recorder.flows[&1].bytes[1],
        transcript().stream(Side::Server)
    );
}

#[test]
fn a_new_syn_on_a_live_tuple_starts_a_new_flow() {
    // Two sessions on the same tuple, the first cut before its close.
    let mut first = synth(&Options {
        isn: Some((1000, 2000)),
        ..Options::default()
    });
    first.truncate(first.len() - 3);
    let second = synth(&Options {
        isn: Some((90_000, 5000)),
        start: RawTimestamp {
            sec: 1_402_490_920,
            nsec: 0,
        },
        ..Options::default()
    });
    let mut engine = engine(Recorder::default(), EngineConfig::default());
    for (ts, link, data) in first.iter().chain(second.iter()) {
        engine.process(&packet(*ts, *link, data));
    }
    engine.finish();
    let recorder = engine.into_handler();
    assert_eq!(
        recorder.close_order,
        vec![(1, CloseReason::Reused), (2, CloseReason::Fin)]
    );
    for flow in recorder.flows.values() {
        assert_eq!(flow.bytes[0], transcript().stream(Side::Client));
        assert_eq!(flow.gaps, [Vec::<u64>::new(), Vec::new()]);
    }
}
