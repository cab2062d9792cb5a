//! Test helpers shared by the runtime's integration tests: a handler that
//! records what the engine delivers, and a runner over a capture file.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use protoc_runtime::capture::{CaptureReader, LinkType, Packet, RawTimestamp};
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{CloseReason, Engine, EngineConfig, FlowEnd, StreamHandler};

/// The packets of a capture in memory: (timestamp, link type, frame).
pub fn packets_of(pcap: &[u8]) -> Vec<(RawTimestamp, LinkType, Vec<u8>)> {
    let mut reader = CaptureReader::from_reader(std::io::Cursor::new(pcap.to_vec()), "memory")
        .expect("a capture");
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        out.push((p.ts_raw, p.link_type, p.data.to_vec()));
    }
    out
}

/// A packet made in memory.
pub fn packet(ts: RawTimestamp, link_type: LinkType, data: &[u8]) -> Packet<'_> {
    Packet {
        ts: ts.as_f64(),
        ts_raw: ts,
        link_type,
        data,
        orig_len: data.len() as u32,
        file_offset: 0,
        interface: 0,
    }
}

pub fn shared(rel: &str) -> PathBuf {
    Path::new("/work/shared").join(rel)
}

/// One flow as delivered: bytes per direction with gaps as `len` markers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    pub info: Option<FlowInfo>,
    pub bytes: [Vec<u8>; 2],
    pub gaps: [Vec<u64>; 2],
    pub ends: [u32; 2],
    pub closed: Option<CloseReason>,
    pub packets: [u64; 2],
    /// Whether `data`/`gap` came after `end` in a direction (must not happen).
    pub after_end: bool,
}

/// Records every flow; drops a flow when its bytes contain `drop_on` (only
/// flow `drop_flow` if set).
#[derive(Default)]
pub struct Recorder {
    pub flows: BTreeMap<u64, Recorded>,
    pub drop_on: Option<Vec<u8>>,
    pub drop_flow: Option<u64>,
    pub opened: u64,
    pub closed: u64,
    /// (flow id, reason), in the order flows were closed.
    pub close_order: Vec<(u64, CloseReason)>,
    pub ticks: u64,
}

impl StreamHandler for Recorder {
    type Flow = Recorded;

    fn open(&mut self, info: &FlowInfo, _ts: f64) -> Option<Recorded> {
        self.opened += 1;
        Some(Recorded {
            info: Some(info.clone()),
            ..Recorded::default()
        })
    }

    fn data(
        &mut self,
        flow: &mut Recorded,
        info: &FlowInfo,
        dir: Direction,
        _ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        flow.after_end |= flow.ends[dir.index()] > 0;
        flow.bytes[dir.index()].extend_from_slice(bytes);
        if self.drop_flow.is_some_and(|id| id != info.id) {
            return Verdict::Continue;
        }
        match &self.drop_on {
            Some(needle)
                if flow.bytes[dir.index()]
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()) =>
            {
                Verdict::Drop
            }
            _ => Verdict::Continue,
        }
    }

    fn gap(
        &mut self,
        flow: &mut Recorded,
        _info: &FlowInfo,
        dir: Direction,
        _ts: f64,
        len: u64,
    ) -> Verdict {
        flow.after_end |= flow.ends[dir.index()] > 0;
        flow.gaps[dir.index()].push(len);
        Verdict::Continue
    }

    fn end(&mut self, flow: &mut Recorded, _info: &FlowInfo, dir: Direction, _ts: f64) -> Verdict {
        flow.ends[dir.index()] += 1;
        Verdict::Continue
    }

    fn tick(&mut self, _flow: &mut Recorded, _info: &FlowInfo, _ts: f64) -> Verdict {
        self.ticks += 1;
        Verdict::Continue
    }

    fn close(&mut self, mut flow: Recorded, info: &FlowInfo, _ts: f64, end: &FlowEnd) {
        self.closed += 1;
        self.close_order.push((info.id, end.reason));
        flow.closed = Some(end.reason);
        flow.packets = end.packets;
        self.flows.insert(info.id, flow);
    }
}

/// Runs a capture file through an engine with a [`Recorder`].
pub fn record(path: &Path) -> (Recorder, Vec<String>) {
    let mut reader =
        CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut engine = Engine::new(Recorder::default(), EngineConfig::default());
    engine.run(&mut reader);
    let warnings = engine.take_warnings();
    (engine.into_handler(), warnings)
}

/// tshark's view of TCP stream `index` (0-based): node 0's address, then the
/// bytes sent by node 0 and by node 1 (`-z follow,tcp,raw`).
pub fn tshark_follow(path: &Path, index: usize) -> (String, Vec<u8>, Vec<u8>) {
    let output = std::process::Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-q", "-z", &format!("follow,tcp,raw,{index}")])
        .output()
        .expect("tshark runs");
    assert!(
        output.status.success(),
        "tshark failed on {}",
        path.display()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let mut node0 = String::new();
    let (mut bytes0, mut bytes1) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(addr) = line.strip_prefix("Node 0: ") {
            node0 = addr.to_string();
        } else if let Some(hex) = line.strip_prefix('\t') {
            bytes1.extend(unhex(hex));
        } else if !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
            bytes0.extend(unhex(line));
        }
    }
    (node0, bytes0, bytes1)
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
