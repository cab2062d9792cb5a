//! The engine's UDP flows (`engine.rs` over `udp.rs`), with a handler that
//! records what it gets: datagrams of one pair make one flow whichever way
//! they go; a handler that declines a flow sees none of its datagrams (they
//! pass as ignored); ids are shared with TCP flows; a flow idle for the
//! timeout ends (both directions, then `close`) and a later datagram opens a
//! new one; a dropped flow's later datagrams are dropped; a full table
//! evicts the idlest flow; the end of the capture closes what is left.

use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, Packet, RawTimestamp};
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{
    CloseReason, Engine, EngineConfig, FlowEnd, PacketVerdict, StreamHandler,
};
use protoc_runtime::flow::FlowLimits;

/// What happened to one flow.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    info: Option<FlowInfo>,
    datagrams: Vec<(Direction, Vec<u8>)>,
    ends: Vec<Direction>,
    closed: Option<(CloseReason, [u64; 2])>,
}

#[derive(Default)]
struct Handler {
    flows: Vec<Seen>,
    /// UDP flows to this server port are declined.
    decline_port: Option<u16>,
    /// Drop the flow whose datagram holds this.
    drop_on: Option<&'static [u8]>,
}

impl Handler {
    fn seen(&mut self, info: &FlowInfo) -> &mut Seen {
        let index = self
            .flows
            .iter()
            .position(|s| s.info.as_ref().is_some_and(|i| i.id == info.id))
            .expect("a flow the handler opened");
        &mut self.flows[index]
    }
}

impl StreamHandler for Handler {
    type Flow = u64;

    fn open(&mut self, info: &FlowInfo, _ts: f64) -> Option<u64> {
        self.flows.push(Seen {
            info: Some(info.clone()),
            ..Seen::default()
        });
        Some(info.id)
    }

    fn data(&mut self, _: &mut u64, _: &FlowInfo, _: Direction, _: f64, _: &[u8]) -> Verdict {
        Verdict::Continue
    }

    fn gap(&mut self, _: &mut u64, _: &FlowInfo, _: Direction, _: f64, _: u64) -> Verdict {
        Verdict::Continue
    }

    fn end(&mut self, _: &mut u64, info: &FlowInfo, dir: Direction, _: f64) -> Verdict {
        self.seen(info).ends.push(dir);
        Verdict::Continue
    }

    fn tick(&mut self, _: &mut u64, _: &FlowInfo, _: f64) -> Verdict {
        Verdict::Continue
    }

    fn close(&mut self, _: u64, info: &FlowInfo, _: f64, end: &FlowEnd) {
        self.seen(info).closed = Some((end.reason, end.packets));
    }

    fn open_datagram(&mut self, info: &FlowInfo, ts: f64) -> Option<u64> {
        if self.decline_port == Some(info.dst.port()) {
            return None;
        }
        self.open(info, ts)
    }

    fn datagram(
        &mut self,
        _: &mut u64,
        info: &FlowInfo,
        dir: Direction,
        _: f64,
        bytes: &[u8],
    ) -> Verdict {
        let drop = self.drop_on.is_some_and(|needle| bytes == needle);
        self.seen(info).datagrams.push((dir, bytes.to_vec()));
        if drop {
            Verdict::Drop
        } else {
            Verdict::Continue
        }
    }
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut frame, payload)
        .expect("a frame");
    frame
}

fn tcp_syn(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2; 6], [4; 6])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 100, 1000)
        .syn()
        .write(&mut frame, &[])
        .expect("a frame");
    frame
}

fn send(engine: &mut Engine<Handler>, second: i64, frame: &[u8]) -> PacketVerdict {
    let ts = RawTimestamp {
        sec: 1_000 + second,
        nsec: 0,
    };
    engine.process(&Packet {
        ts: ts.as_f64(),
        ts_raw: ts,
        link_type: LinkType::ETHERNET,
        data: frame,
        orig_len: u32::try_from(frame.len()).expect("small"),
        file_offset: 0,
        interface: 0,
    })
}

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 53);

fn config(max_flows: usize) -> EngineConfig {
    EngineConfig {
        udp: FlowLimits {
            idle_timeout: 30.0,
            max_flows,
        },
        ..EngineConfig::default()
    }
}

#[test]
fn one_pair_is_one_flow_both_ways_sharing_ids_with_tcp() {
    let mut engine = Engine::new(Handler::default(), config(16));
    send(&mut engine, 0, &udp(CLIENT, SERVER, b"q1"));
    send(
        &mut engine,
        0,
        &tcp_syn(([10, 0, 0, 1], 40001), ([10, 0, 0, 2], 25)),
    );
    send(&mut engine, 1, &udp(SERVER, CLIENT, b"a1"));
    send(&mut engine, 2, &udp(CLIENT, SERVER, b"q2"));
    engine.finish();
    let stats = engine.stats().clone();
    let handler = engine.into_handler();
    assert_eq!(handler.flows.len(), 2);
    let dns = &handler.flows[0];
    let info = dns.info.as_ref().expect("info");
    assert_eq!((info.id, info.src.port(), info.dst.port()), (1, 40000, 53));
    assert_eq!(
        dns.datagrams,
        vec![
            (Direction::Up, b"q1".to_vec()),
            (Direction::Down, b"a1".to_vec()),
            (Direction::Up, b"q2".to_vec()),
        ]
    );
    assert_eq!(dns.ends, vec![Direction::Up, Direction::Down]);
    assert_eq!(dns.closed, Some((CloseReason::EndOfCapture, [2, 1])));
    assert_eq!(
        handler.flows[1].info.as_ref().map(|i| i.id),
        Some(2),
        "the TCP flow"
    );
    assert_eq!(
        (stats.udp_flows, stats.udp_packets, stats.tcp_flows),
        (1, 3, 1)
    );
}

#[test]
fn declined_flows_are_ignored_and_idle_flows_end() {
    let mut engine = Engine::new(
        Handler {
            decline_port: Some(123),
            ..Handler::default()
        },
        config(16),
    );
    send(&mut engine, 0, &udp(CLIENT, ([10, 0, 0, 2], 123), b"ntp"));
    send(&mut engine, 0, &udp(CLIENT, SERVER, b"q1"));
    // 40 s later (more than the 30 s timeout): the first flow ended, this
    // datagram opens a second one.
    send(&mut engine, 40, &udp(CLIENT, SERVER, b"q2"));
    engine.finish();
    let stats = engine.stats().clone();
    let handler = engine.into_handler();
    assert_eq!(stats.ignored_packets, 1);
    let closed: Vec<_> = handler
        .flows
        .iter()
        .map(|f| (f.info.as_ref().map(|i| i.id), f.closed))
        .collect();
    assert_eq!(
        closed,
        vec![
            (Some(1), Some((CloseReason::Idle, [1, 0]))),
            (Some(2), Some((CloseReason::EndOfCapture, [1, 0]))),
        ]
    );
    assert_eq!(handler.flows[0].ends, vec![Direction::Up, Direction::Down]);
}

#[test]
fn a_dropped_flow_stays_dropped_and_a_full_table_evicts_the_idlest() {
    let mut engine = Engine::new(
        Handler {
            drop_on: Some(b"bad"),
            ..Handler::default()
        },
        config(2),
    );
    assert_eq!(
        send(&mut engine, 0, &udp(CLIENT, SERVER, b"bad")),
        PacketVerdict::Drop
    );
    assert_eq!(
        send(&mut engine, 1, &udp(SERVER, CLIENT, b"later")),
        PacketVerdict::Drop
    );
    let other = |port| ([10, 0, 0, 3], port);
    send(&mut engine, 2, &udp(other(1001), SERVER, b"a"));
    send(&mut engine, 3, &udp(other(1002), SERVER, b"b"));
    // The table holds two flows: a third evicts the idlest (port 1001).
    send(&mut engine, 4, &udp(other(1003), SERVER, b"c"));
    engine.finish();
    let stats = engine.stats().clone();
    let handler = engine.into_handler();
    assert_eq!(
        handler.flows[0].datagrams.len(),
        1,
        "nothing after the drop"
    );
    assert_eq!(
        handler.flows[0].closed.map(|c| c.0),
        Some(CloseReason::Dropped)
    );
    assert_eq!(
        handler.flows[1].closed.map(|c| c.0),
        Some(CloseReason::Evicted)
    );
    assert_eq!(stats.dropped_packets, 2);
    assert_eq!(stats.evictions, 1);
}

/// UDP flows count against the memory cap as TCP flows do: a flood of
/// datagrams from 20,000 ports keeps the estimated memory under the cap
/// (each packet's peak, after evictions), the idlest flows are evicted, and
/// the newest ones are still tracked.
#[test]
fn udp_flows_count_against_the_memory_cap() {
    let memcap = 256 << 10;
    let mut engine = Engine::new(
        Handler::default(),
        EngineConfig {
            memcap,
            ..config(1 << 20)
        },
    );
    let flows = 20_000u16;
    for i in 0..flows {
        let client = ([10, 0, 1, 1], 10_000 + i);
        send(&mut engine, 0, &udp(client, SERVER, b"q"));
    }
    let stats = engine.stats().clone();
    assert_eq!(stats.udp_flows, u64::from(flows));
    assert!(stats.memcap_evictions > 0, "{stats:?}");
    assert!(stats.peak_memory <= memcap, "{stats:?}");
    let last = ([10, 0, 1, 1], 10_000 + flows - 1);
    send(&mut engine, 1, &udp(SERVER, last, b"a"));
    engine.finish();
    let handler = engine.into_handler();
    let newest = handler.flows.last().expect("flows");
    assert_eq!(
        newest.datagrams.len(),
        2,
        "the newest flow is still tracked"
    );
    let evicted = handler
        .flows
        .iter()
        .filter(|f| f.closed.map(|c| c.0) == Some(CloseReason::Evicted))
        .count() as u64;
    assert_eq!(evicted, stats.memcap_evictions);
}
