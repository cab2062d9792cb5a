//! Sharded engines: `n` engines given the same packets, each tracking the
//! flows of its own shard, deliver together exactly what one engine does,
//! with disjoint flow ids, counters that add up, and the same drops.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use common::{packet, packets_of, Recorded, Recorder};
use protoc_runtime::capture::{LinkType, RawTimestamp};
use protoc_runtime::decode::tcp_shard_key;
use protoc_runtime::engine::{Engine, EngineConfig, PacketVerdict, Stats, SweepClock};
use protoc_runtime::flow::FlowKey;
use protoc_runtime::synth::{write_pcap, Options, Split, Transcript};

type Packets = Vec<(RawTimestamp, LinkType, Vec<u8>)>;

fn capture() -> Packets {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts");
    let t = Transcript::from_file(&dir.join("smtp-large-body.txt")).unwrap();
    let options = Options {
        sessions: 40,
        concurrency: 7,
        split: Split::Random,
        segment_size: 900,
        reorder: true,
        duplicate: true,
        seed: 11,
        ..Options::default()
    };
    let mut pcap = Vec::new();
    write_pcap(&t, &options, &mut pcap).unwrap();
    packets_of(&pcap)
}

/// What [`run_shards`] returns.
type ShardRun = (
    BTreeMap<SocketAddr, Recorded>,
    Vec<Stats>,
    Vec<u64>,
    Vec<usize>,
    u64,
);

/// How each shard is given the packets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    /// Every packet through `process`.
    Every,
    /// A packet whose shard can be told from its addresses alone is only a
    /// clock tick for the other shards (`observe_time`).
    ForeignAsTime,
    /// As `pcap --threads` deals them: such a packet goes to its shard's
    /// `process_owned`, and to the others' `observe_time` only where a
    /// [`SweepClock`] fed every packet's time says a sweep is due.
    Dealt,
}

/// Runs `count` shards over the packets; returns each flow by its client
/// address, every shard's stats, the ids handed out, the packets dropped,
/// and the ticks the shards' handlers got in all.
fn run_shards(
    packets: &Packets,
    count: usize,
    recorder: impl Fn() -> Recorder,
    feed: Feed,
) -> ShardRun {
    let mut flows = BTreeMap::new();
    let mut stats = Vec::new();
    let mut ids = Vec::new();
    let mut dropped = Vec::new();
    let mut ticks = 0;
    for index in 0..count {
        let config = EngineConfig::default().sharded(index, count);
        let mut engine = Engine::new(recorder(), config);
        let mut clock = SweepClock::default();
        for (i, (ts, link, data)) in packets.iter().enumerate() {
            let owner = tcp_shard_key(*link, data).map(|key| key.shard(count));
            let foreign = owner.is_some_and(|owner| owner != index);
            let sweeps = clock.due(ts.as_f64());
            let verdict = match feed {
                Feed::ForeignAsTime if foreign => {
                    engine.observe_time(ts.as_f64());
                    continue;
                }
                Feed::Dealt if foreign => {
                    if sweeps {
                        engine.observe_time(ts.as_f64());
                    }
                    continue;
                }
                Feed::Dealt if owner.is_some() => engine.process_owned(&packet(*ts, *link, data)),
                _ => engine.process(&packet(*ts, *link, data)),
            };
            if verdict == PacketVerdict::Drop {
                dropped.push(i);
            }
        }
        engine.finish();
        stats.push(engine.stats().clone());
        let handler = engine.into_handler();
        ticks += handler.ticks;
        for (id, flow) in handler.flows {
            ids.push(id);
            let client = flow.info.as_ref().map(|i| i.src).unwrap();
            assert!(
                flows.insert(client, flow).is_none(),
                "{client} in two shards"
            );
        }
    }
    ids.sort_unstable();
    dropped.sort_unstable();
    (flows, stats, ids, dropped, ticks)
}

/// A flow's delivery without its id (which depends on the shard count).
fn without_id(flow: &Recorded) -> Recorded {
    let mut flow = flow.clone();
    if let Some(info) = flow.info.as_mut() {
        info.id = 0;
    }
    flow
}

#[test]
fn shards_together_deliver_what_one_engine_does() {
    let packets = capture();
    let (whole, whole_stats, whole_ids, _, _) =
        run_shards(&packets, 1, Recorder::default, Feed::Every);
    assert_eq!(whole.len(), 40);
    assert_eq!(whole_ids, (1..=40).collect::<Vec<u64>>());
    // Packets 7 ms apart: a sweep every ~143 packets, most at another
    // shard's packet. The same sweeps, so the same ticks, however the
    // packets are fed; none but its own packets' ticks if the others'
    // sweeps are missed.
    let spread: Packets = packets
        .iter()
        .enumerate()
        .map(|(i, (_, link, data))| {
            let ms = i as i64 * 7;
            let ts = RawTimestamp {
                sec: 1_000 + ms / 1_000,
                nsec: (ms % 1_000) as u32 * 1_000_000,
            };
            (ts, *link, data.clone())
        })
        .collect();
    for count in [2, 3] {
        let every = run_shards(&spread, count, Recorder::default, Feed::Every).4;
        let foreign_as_time = run_shards(&spread, count, Recorder::default, Feed::ForeignAsTime).4;
        let dealt = run_shards(&spread, count, Recorder::default, Feed::Dealt).4;
        assert_eq!(foreign_as_time, every, "{count} shards' ticks");
        assert_eq!(dealt, every, "{count} shards' ticks");
    }
    for (count, feed) in [
        (2, Feed::Every),
        (3, Feed::Every),
        (2, Feed::ForeignAsTime),
        (3, Feed::ForeignAsTime),
        (2, Feed::Dealt),
        (3, Feed::Dealt),
    ] {
        let (split, stats, ids, _, _) = run_shards(&packets, count, Recorder::default, feed);
        assert_eq!(split.len(), whole.len(), "{count} shards");
        for (client, flow) in &whole {
            assert_eq!(
                without_id(&split[client]),
                without_id(flow),
                "{client}, {count} shards"
            );
        }
        // Ids: disjoint, and shard i's are i+1, i+1+n, ...
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 40);
        for (client, flow) in &split {
            let info = flow.info.as_ref().unwrap();
            let shard = FlowKey::new(info.src, info.dst).shard(count);
            assert_eq!((info.id - 1) as usize % count, shard, "{client}");
        }
        // Every shard has worked: the split is not all on one side.
        assert!(stats.iter().all(|s| s.tcp_flows > 0), "{count}: {stats:?}");
        let mut total = stats[0].clone();
        for s in &stats[1..] {
            total.add(s);
        }
        // Peaks come at different times: their sum bounds the whole's peak.
        assert!(
            total.peak_memory >= whole_stats[0].peak_memory,
            "{count} shards' peaks"
        );
        total.peak_memory = whole_stats[0].peak_memory;
        assert_eq!(total, whole_stats[0], "{count} shards' stats add up");
    }
}

#[test]
fn a_drop_in_one_shard_drops_the_same_packets_as_one_engine() {
    let packets = capture();
    let dropping = || Recorder {
        drop_on: Some(b"RCPT TO".to_vec()),
        ..Recorder::default()
    };
    let (_, _, _, whole_dropped, _) = run_shards(&packets, 1, dropping, Feed::Every);
    assert!(!whole_dropped.is_empty());
    for feed in [Feed::Every, Feed::ForeignAsTime, Feed::Dealt] {
        let (_, _, _, split_dropped, _) = run_shards(&packets, 2, dropping, feed);
        assert_eq!(split_dropped, whole_dropped);
    }
}
