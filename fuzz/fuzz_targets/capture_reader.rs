//! Fuzz target `capture_reader`: arbitrary bytes as a capture file.
//!
//! One job: the capture reader (pcap, pcapng, gzip) and the whole packet
//! pipeline behind it (link and IP decoding, fragment pool, flow table, TCP
//! reassembly) must never panic, hang or allocate without bound, whatever
//! the file holds. The bytes are read by a bare [`CaptureReader`] loop, by
//! [`ChunkReader`] (what `protoc-rs pcap` reads with) at its default chunk
//! size and at tiny ones, and through an [`Engine`] with a handler that only
//! counts.
//!
//! Invariants checked beyond "no panic": every packet's data lies within the
//! captured bytes of the file; `ChunkReader` gives exactly `CaptureReader`'s
//! open error, or its packets (timestamps, link types, lengths, offsets,
//! interfaces, bytes), its warnings and, once a packet was read, its link
//! type, snap length and timestamp precision, at every chunk size, and
//! numbers its chunks without a gap; the engine closes every flow it opened;
//! no bytes stay buffered after `finish`.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use protoc_runtime::capture::chunks::CHUNK_SIZE;
use protoc_runtime::capture::{
    CaptureReader, CaptureWarning, ChunkReader, LinkType, Packet, RawTimestamp, TsPrecision,
};
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

/// Everything a reader says of one packet.
#[derive(Debug, PartialEq)]
struct Seen {
    ts_raw: RawTimestamp,
    ts_bits: u64,
    link_type: LinkType,
    orig_len: u32,
    file_offset: u64,
    interface: u32,
    data: Vec<u8>,
}

impl Seen {
    fn of(packet: &Packet<'_>) -> Seen {
        Seen {
            ts_raw: packet.ts_raw,
            ts_bits: packet.ts.to_bits(),
            link_type: packet.link_type,
            orig_len: packet.orig_len,
            file_offset: packet.file_offset,
            interface: packet.interface,
            data: packet.data.to_vec(),
        }
    }
}

/// What a reader made of a whole capture: its open error (as displayed), or
/// its packets, warnings, and what it knows of the capture at the end.
#[derive(Debug, PartialEq)]
enum Reading {
    Failed(String),
    Read {
        packets: Vec<Seen>,
        warnings: Vec<CaptureWarning>,
        /// Link type, snap length, precision: compared once a packet was read
        /// (`CaptureReader` learns them from the file header's block).
        header: Option<(Option<LinkType>, Option<u32>, TsPrecision)>,
    },
}

fn by_capture_reader(data: &[u8]) -> Reading {
    let mut reader = match CaptureReader::from_reader(Cursor::new(data.to_vec()), "fuzz") {
        Ok(reader) => reader,
        Err(err) => return Reading::Failed(err.to_string()),
    };
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        packets.push(Seen::of(&packet));
    }
    // Gzip inflates, so only a plain capture bounds what it can carry.
    if !reader.compressed() {
        let captured: usize = packets.iter().map(|p| p.data.len()).sum();
        assert!(captured <= data.len(), "more packet bytes than file bytes");
    }
    let header = (!packets.is_empty())
        .then(|| (reader.link_type(), reader.snaplen(), reader.ts_precision()));
    Reading::Read {
        packets,
        warnings: reader.take_warnings(),
        header,
    }
}

fn by_chunk_reader(data: &[u8], chunk_size: usize) -> Reading {
    let reader = match ChunkReader::from_reader(Cursor::new(data.to_vec()), "fuzz") {
        Ok(reader) => reader,
        Err(err) => return Reading::Failed(err.to_string()),
    };
    let mut reader = reader.with_chunk_size(chunk_size);
    let mut packets = Vec::new();
    while let Some(chunk) = reader.next_chunk() {
        assert!(!chunk.is_empty(), "an empty chunk");
        assert_eq!(
            chunk.first_packet(),
            packets.len() as u64,
            "chunks misnumbered"
        );
        packets.extend(chunk.packets().map(|p| Seen::of(&p)));
    }
    assert!(reader.next_chunk().is_none(), "a chunk after the end");
    assert_eq!(reader.packets_read(), packets.len() as u64);
    let header = (!packets.is_empty())
        .then(|| (reader.link_type(), reader.snaplen(), reader.ts_precision()));
    Reading::Read {
        packets,
        warnings: reader.take_warnings(),
        header,
    }
}

fuzz_target!(|data: &[u8]| {
    // The bare reader, then the chunked one at several chunk sizes: the
    // default (one chunk for any input here), one byte (every record in a
    // chunk of its own, every read cut inside a record), and a size the
    // input's length moves about.
    let expected = by_capture_reader(data);
    for chunk_size in [CHUNK_SIZE, 1, 17 + data.len() % 211] {
        let got = by_chunk_reader(data, chunk_size);
        assert!(
            got == expected,
            "ChunkReader (chunks of {chunk_size} bytes) differs from CaptureReader:\n\
             chunks: {got:?}\nreader: {expected:?}"
        );
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
