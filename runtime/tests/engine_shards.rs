//! Sharded engines: `n` engines given the same packets, each tracking the
//! flows of its own shard, deliver together exactly what one engine does,
//! with disjoint flow ids, counters that add up, and the same drops.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use common::{packet, packets_of, Recorded, Recorder};
use protoc_runtime::capture::{LinkType, RawTimestamp};
use protoc_runtime::decode::tcp_endpoints;
use protoc_runtime::engine::{Engine, EngineConfig, PacketVerdict, Stats};
use protoc_runtime::flow::{shard_of, FlowKey};
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

/// Runs `count` shards over the packets; returns each flow by its client
/// address, every shard's stats, the ids handed out, and the packets dropped.
/// With `skip_foreign`, a packet whose shard can be told from its addresses
/// alone is only a clock tick for the other shards (`observe_time`), as
/// `pcap --threads` deals them.
fn run_shards(
    packets: &Packets,
    count: usize,
    recorder: impl Fn() -> Recorder,
    skip_foreign: bool,
) -> (
    BTreeMap<SocketAddr, Recorded>,
    Vec<Stats>,
    Vec<u64>,
    Vec<usize>,
) {
    let mut flows = BTreeMap::new();
    let mut stats = Vec::new();
    let mut ids = Vec::new();
    let mut dropped = Vec::new();
    for index in 0..count {
        let config = EngineConfig::default().sharded(index, count);
        let mut engine = Engine::new(recorder(), config);
        for (i, (ts, link, data)) in packets.iter().enumerate() {
            let owner = tcp_endpoints(*link, data).map(|(src, dst)| shard_of(src, dst, count));
            if skip_foreign && owner.is_some_and(|owner| owner != index) {
                engine.observe_time(ts.as_f64());
            } else if engine.process(&packet(*ts, *link, data)) == PacketVerdict::Drop {
                dropped.push(i);
            }
        }
        engine.finish();
        stats.push(engine.stats().clone());
        for (id, flow) in engine.into_handler().flows {
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
    (flows, stats, ids, dropped)
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
    let (whole, whole_stats, whole_ids, _) = run_shards(&packets, 1, Recorder::default, false);
    assert_eq!(whole.len(), 40);
    assert_eq!(whole_ids, (1..=40).collect::<Vec<u64>>());
    for (count, skip_foreign) in [(2, false), (3, false), (2, true), (3, true)] {
        let (split, stats, ids, _) = run_shards(&packets, count, Recorder::default, skip_foreign);
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
    let (_, _, _, whole_dropped) = run_shards(&packets, 1, dropping, false);
    assert!(!whole_dropped.is_empty());
    for skip_foreign in [false, true] {
        let (_, _, _, split_dropped) = run_shards(&packets, 2, dropping, skip_foreign);
        assert_eq!(split_dropped, whole_dropped);
    }
}
