//! Fuzz target `capture_reader`: arbitrary bytes as a capture file.
//!
//! One job: the capture reader (pcap, pcapng, gzip) and the whole packet
//! pipeline behind it (link and IP decoding, fragment pool, flow table, TCP
//! reassembly) must never panic, hang or allocate without bound, whatever
//! the file holds. The bytes are read once by a bare [`CaptureReader`] loop and
//! once through an [`Engine`] with a handler that only counts.
//!
//! Invariants checked beyond "no panic": every packet's data lies within the
//! captured bytes of the file; the engine closes every flow it opened; no
//! bytes stay buffered after `finish`.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use protoc_runtime::capture::CaptureReader;
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{Engine, EngineConfig, FlowEnd, StreamHandler};

/// Counts what the engine delivers; keeps no bytes.
#[derive(Default)]
struct Counter {
    opened: u64,
    closed: u64,
    bytes: u64,
}

impl StreamHandler for Counter {
    type Flow = ();

    fn open(&mut self, _info: &FlowInfo, _ts: f64) -> Option<()> {
        self.opened += 1;
        Some(())
    }

    fn data(&mut self, _: &mut (), _: &FlowInfo, _: Direction, _: f64, bytes: &[u8]) -> Verdict {
        self.bytes += bytes.len() as u64;
        Verdict::Continue
    }

    fn gap(&mut self, _: &mut (), _: &FlowInfo, _: Direction, _: f64, _len: u64) -> Verdict {
        Verdict::Continue
    }

    fn end(&mut self, _: &mut (), _: &FlowInfo, _: Direction, _: f64) -> Verdict {
        Verdict::Continue
    }

    fn tick(&mut self, _: &mut (), _: &FlowInfo, _: f64) -> Verdict {
        Verdict::Continue
    }

    fn close(&mut self, _: (), _: &FlowInfo, _: f64, _: &FlowEnd) {
        self.closed += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    // Bare reader: every packet, then the warnings.
    if let Ok(mut reader) = CaptureReader::from_reader(Cursor::new(data.to_vec()), "fuzz") {
        let mut captured = 0usize;
        while let Some(pkt) = reader.next_packet() {
            captured += pkt.data.len();
        }
        let _ = reader.take_warnings();
        // Gzip inflates, so only a plain capture bounds what it can carry.
        if !reader.compressed() {
            assert!(captured <= data.len(), "more packet bytes than file bytes");
        }
    }
    // Through the engine.
    if let Ok(mut reader) = CaptureReader::from_reader(Cursor::new(data.to_vec()), "fuzz") {
        let mut engine = Engine::new(Counter::default(), EngineConfig::default());
        engine.run(&mut reader);
        assert_eq!(engine.live_flows(), 0, "flows left after finish");
        assert_eq!(
            engine.buffered_bytes(),
            0,
            "bytes left buffered after finish"
        );
        let counter = engine.handler();
        assert_eq!(
            counter.opened, counter.closed,
            "a flow opened but never closed"
        );
    }
});
