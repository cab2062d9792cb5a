//! Floods: traffic built to exhaust the engine's memory, fed packet by packet.
//!
//! One job: prove that the caps hold under hostile traffic and that hitting
//! one is counted and reported, never a crash or unbounded growth:
//! - 100,000 half-open connections, each with out-of-order data: live flows
//!   stay within the flow cap (the oldest are evicted, and counted), buffered
//!   bytes within the reassembly cap (holes given up early, counted, warned
//!   about), and the peak RSS of this test process stays under 256 MiB;
//! - a flow whose sequence numbers jump by nearly 2^31: the jump is a gap of
//!   the right length, delivered as a number, with no allocation for it;
//! - overlapping segments with different content: the documented policy
//!   (first arrived wins) decides each byte, and the overlap is counted.
//!
//! Frames are built one at a time into a reused buffer, so that the test's
//! own memory does not hide the engine's.

use std::net::SocketAddr;

use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, Packet, RawTimestamp};
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{CloseReason, Engine, EngineConfig, FlowEnd, StreamHandler};
use protoc_runtime::flow::FlowLimits;
use protoc_runtime::reassembly::{ReassemblyLimits, StreamStats};

/// What one flow received, kept small: counts, plus the bytes of flows
/// the test wants to look at.
#[derive(Debug, Default, Clone)]
struct Seen {
    bytes: [u64; 2],
    gaps: [Vec<u64>; 2],
    /// Data and gaps of the up direction, in order (gaps as `None`).
    up: Vec<Option<Vec<u8>>>,
    keep_bytes: bool,
}

/// A handler that counts, and keeps bytes when asked.
#[derive(Default)]
struct Counter {
    keep_bytes: bool,
    opened: u64,
    closed: Vec<(CloseReason, StreamStats)>,
    flows: Vec<Seen>,
}

impl StreamHandler for Counter {
    type Flow = Seen;

    fn open(&mut self, _info: &FlowInfo, _ts: f64) -> Option<Seen> {
        self.opened += 1;
        Some(Seen {
            keep_bytes: self.keep_bytes,
            ..Seen::default()
        })
    }

    fn data(&mut self, flow: &mut Seen, _: &FlowInfo, dir: Direction, _: f64, b: &[u8]) -> Verdict {
        flow.bytes[dir.index()] += b.len() as u64;
        if flow.keep_bytes && dir == Direction::Up {
            flow.up.push(Some(b.to_vec()));
        }
        Verdict::Continue
    }

    fn gap(&mut self, flow: &mut Seen, _: &FlowInfo, dir: Direction, _: f64, len: u64) -> Verdict {
        flow.gaps[dir.index()].push(len);
        if flow.keep_bytes && dir == Direction::Up {
            flow.up.push(None);
        }
        Verdict::Continue
    }

    fn end(&mut self, _: &mut Seen, _: &FlowInfo, _: Direction, _: f64) -> Verdict {
        Verdict::Continue
    }

    fn tick(&mut self, _: &mut Seen, _: &FlowInfo, _: f64) -> Verdict {
        Verdict::Continue
    }

    fn close(&mut self, flow: Seen, _: &FlowInfo, _: f64, end: &FlowEnd) {
        self.closed.push((end.reason, end.streams[0]));
        if flow.keep_bytes {
            self.flows.push(flow);
        }
    }
}

/// TCP flags of a built segment.
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: Option<u32>,
    fin: bool,
}

/// Builds Ethernet/IPv4/TCP frames into one reused buffer and feeds them.
struct Feeder {
    frame: Vec<u8>,
    ts: f64,
}

impl Feeder {
    fn new() -> Feeder {
        Feeder {
            frame: Vec::with_capacity(4096),
            ts: 1_000_000.0,
        }
    }

    fn send<H: StreamHandler>(
        &mut self,
        engine: &mut Engine<H>,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: Flags,
        payload: &[u8],
    ) {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
            panic!("IPv4 only");
        };
        let builder = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src.ip().octets(), dst.ip().octets(), 64)
            .tcp(src.port(), dst.port(), seq, 65535);
        let builder = if flags.syn { builder.syn() } else { builder };
        let builder = if flags.fin { builder.fin() } else { builder };
        let builder = match flags.ack {
            Some(ack) => builder.ack(ack),
            None => builder,
        };
        self.frame.clear();
        builder
            .write(&mut self.frame, payload)
            .expect("a frame that fits");
        let packet = Packet {
            ts: self.ts,
            ts_raw: RawTimestamp {
                sec: self.ts as i64,
                nsec: 0,
            },
            link_type: LinkType::ETHERNET,
            data: &self.frame,
            orig_len: self.frame.len() as u32,
            file_offset: 0,
            interface: 0,
        };
        engine.process(&packet);
    }
}

/// Peak resident set of this process, in KiB (`VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `i`th client: 10.x.y.z, a different address for each `i` below 2^24.
fn client(i: u32) -> SocketAddr {
    let ip = std::net::Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff));
    SocketAddr::from((ip, 1024 + (i % 60_000) as u16))
}

const SERVER: ([u8; 4], u16) = ([192, 168, 0, 1], 25);

/// 100,000 half-open connections (a SYN, never answered), each sending 2 KiB
/// of data with a hole before it, so that every byte waits out of order.
#[test]
fn a_flood_of_half_open_connections_stays_within_the_caps() {
    const FLOWS: u32 = 100_000;
    const DATA: usize = 2048;
    const MAX_FLOWS: usize = 50_000;
    const TOTAL: usize = 64 << 20;
    const PER_STREAM: usize = 1 << 20;
    let config = EngineConfig {
        flows: FlowLimits {
            max_flows: MAX_FLOWS,
            ..FlowLimits::default()
        },
        reassembly: ReassemblyLimits {
            per_stream: PER_STREAM,
            total: TOTAL,
        },
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(Counter::default(), config);
    let mut feeder = Feeder::new();
    let server = SocketAddr::from(SERVER);
    let payload = vec![b'x'; DATA];
    let mut max_live = 0;
    let mut max_buffered = 0;
    for i in 0..FLOWS {
        let src = client(i);
        let isn = i.wrapping_mul(2_654_435_761);
        feeder.ts += 0.001;
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        feeder.send(&mut engine, src, server, isn, syn, &[]);
        // The first 100 bytes never come: the data waits out of order.
        feeder.send(
            &mut engine,
            src,
            server,
            isn + 101,
            Flags::default(),
            &payload,
        );
        max_live = max_live.max(engine.live_flows());
        max_buffered = max_buffered.max(engine.buffered_bytes());
        assert!(
            engine.live_flows() <= MAX_FLOWS,
            "flow {i}: flow cap broken"
        );
        assert!(
            engine.buffered_bytes() <= TOTAL,
            "flow {i}: reassembly cap broken"
        );
    }
    let stats = engine.stats().clone();
    let warnings = engine.warnings().to_vec();
    engine.finish();
    let counter = engine.into_handler();

    assert_eq!(stats.tcp_flows, u64::from(FLOWS));
    assert_eq!(max_live, MAX_FLOWS, "the flow cap was reached");
    // Every flow opened was closed, the oldest by eviction.
    assert_eq!(counter.opened, u64::from(FLOWS));
    assert_eq!(counter.closed.len(), FLOWS as usize);
    let evicted = counter
        .closed
        .iter()
        .filter(|(reason, _)| *reason == CloseReason::Evicted)
        .count() as u64;
    assert_eq!(stats.evictions, evicted);
    assert!(evicted >= u64::from(FLOWS) - MAX_FLOWS as u64, "{evicted}");
    // 50,000 flows of 2 KiB want 100 MiB: the 64 MiB cap gave holes up early.
    assert!(max_buffered > TOTAL - DATA, "{max_buffered}");
    assert!(stats.forced_gaps > 0);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("reassembly memory reached its cap")),
        "{warnings:?}"
    );
    // Every byte sent was delivered, after a gap of 100.
    for (_, streams) in &counter.closed {
        assert_eq!(streams.delivered_bytes, DATA as u64);
        assert_eq!(streams.gap_bytes, 100);
    }
    let peak = peak_rss_kib().expect("VmHWM in /proc/self/status");
    eprintln!(
        "flood: {FLOWS} flows, peak live {max_live}, evicted {evicted}, peak buffered \
         {max_buffered} bytes, forced gaps {}, peak RSS {peak} KiB",
        stats.forced_gaps
    );
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
}

/// Sequence numbers that jump by nearly 2^31 bytes: the hole is a gap of
/// exactly that length, only the bytes sent are buffered, and data after the
/// jump arrives at its place.
#[test]
fn a_flow_whose_sequence_numbers_jump() {
    let mut engine = Engine::new(
        Counter {
            keep_bytes: true,
            ..Counter::default()
        },
        EngineConfig::default(),
    );
    let mut feeder = Feeder::new();
    let src = client(7);
    let server = SocketAddr::from(SERVER);
    let isn = u32::MAX - 2; // the jumps wrap around 2^32 too
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    let plain = Flags::default();
    feeder.send(&mut engine, src, server, isn, syn, &[]);
    feeder.send(
        &mut engine,
        src,
        server,
        isn.wrapping_add(1),
        plain,
        b"hello",
    );
    // A jump of nearly 2^31 past the next byte (as far forward as a
    // sequence number can point, leaving room for the ACK of what follows).
    let jump = (1u32 << 31) - 100;
    let far = isn.wrapping_add(6).wrapping_add(jump);
    feeder.send(&mut engine, src, server, far, plain, b"far away");
    assert_eq!(engine.buffered_bytes(), 8, "only the bytes sent are held");
    // A segment 2^31 + 1 bytes ahead reads as 2^31 - 1 behind: an old
    // retransmission, ignored.
    let behind = isn.wrapping_add(6).wrapping_add((1u32 << 31) + 1);
    feeder.send(&mut engine, src, server, behind, plain, b"ignored");
    assert_eq!(engine.buffered_bytes(), 8);
    // The server acknowledges everything: the hole is given up at once.
    let ack = Flags {
        ack: Some(far.wrapping_add(8)),
        ..Flags::default()
    };
    feeder.send(&mut engine, server, src, 1, ack, &[]);
    assert_eq!(engine.buffered_bytes(), 0);
    feeder.send(&mut engine, src, server, far.wrapping_add(8), plain, b"!");
    engine.finish();
    let counter = engine.into_handler();
    let flow = &counter.flows[0];
    assert_eq!(flow.gaps[0], vec![u64::from(jump)]);
    assert_eq!(
        flow.up,
        vec![
            Some(b"hello".to_vec()),
            None,
            Some(b"far away".to_vec()),
            Some(b"!".to_vec())
        ]
    );
    let (_, stats) = counter.closed[0];
    assert_eq!(stats.delivered_bytes, 14);
    assert_eq!(stats.gap_bytes, u64::from(jump));
    assert_eq!(stats.retransmitted_bytes, 7);
}

/// Overlapping segments that disagree: the bytes that arrived first win
/// (buffered or in order), and each disagreement is counted.
#[test]
fn overlapping_segments_with_different_content() {
    let mut engine = Engine::new(
        Counter {
            keep_bytes: true,
            ..Counter::default()
        },
        EngineConfig::default(),
    );
    let mut feeder = Feeder::new();
    let src = client(9);
    let server = SocketAddr::from(SERVER);
    let isn = 1000;
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    let plain = Flags::default();
    let at = |offset: u32| isn + 1 + offset;
    feeder.send(&mut engine, src, server, isn, syn, &[]);
    // Offsets 10..20 first, out of order.
    feeder.send(&mut engine, src, server, at(10), plain, b"AAAAAAAAAA");
    // 5..15 disagrees with the buffered 10..15: those stay "A".
    feeder.send(&mut engine, src, server, at(5), plain, b"BBBBBBBBBB");
    // 0..8 arrives in order and disagrees with the buffered 5..8.
    feeder.send(&mut engine, src, server, at(0), plain, b"CCCCCCCC");
    // A retransmission of delivered bytes with other content: too late.
    feeder.send(
        &mut engine,
        src,
        server,
        at(0),
        plain,
        b"DDDDDDDDDDDDDDDDDDDD",
    );
    // The same bytes again: no disagreement.
    feeder.send(&mut engine, src, server, at(18), plain, b"AAxy");
    engine.finish();
    let stats = engine.stats().clone();
    let counter = engine.into_handler();
    let flow = &counter.flows[0];
    let delivered: Vec<u8> = flow.up.iter().flatten().flatten().copied().collect();
    assert_eq!(delivered, b"CCCCCBBBBBAAAAAAAAAAxy".to_vec());
    assert!(flow.gaps[0].is_empty());
    let (_, up) = counter.closed[0];
    assert_eq!(up.overlaps, 2, "the two disagreeing overlaps");
    assert_eq!(stats.overlaps, 2);
    assert_eq!(up.retransmitted_bytes, 20 + 2);
}
