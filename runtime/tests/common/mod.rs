//! Test helpers shared by the runtime's integration tests: a handler that
//! records what the engine delivers, and a runner over a capture file.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use protoc_runtime::capture::CaptureReader;
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{CloseReason, Engine, EngineConfig, FlowEnd, StreamHandler};

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

/// Records every flow; drops a flow when its bytes contain `drop_on`.
#[derive(Default)]
pub struct Recorder {
    pub flows: BTreeMap<u64, Recorded>,
    pub drop_on: Option<Vec<u8>>,
    pub opened: u64,
    pub closed: u64,
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
        _info: &FlowInfo,
        dir: Direction,
        _ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        flow.after_end |= flow.ends[dir.index()] > 0;
        flow.bytes[dir.index()].extend_from_slice(bytes);
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
        Verdict::Continue
    }

    fn close(&mut self, mut flow: Recorded, info: &FlowInfo, _ts: f64, end: &FlowEnd) {
        self.closed += 1;
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
