//! The streams of one flow: which streamed events have a stream open, and
//! a tally of each event's current (or last) stream.
//!
//! A streamed event receives chunks from `bytes ... chunked -> EVENT` fields;
//! a stream runs from its first chunk to its `last` call and may span several
//! fields (`ends if` keeps it open). The [`StreamBook`] sees every chunk a
//! dissector sends (through [`ParseCx::stream`](super::ParseCx::stream)) and
//! keeps, per event: whether a stream is open and in which direction, its size
//! so far, the bytes lost to gaps inside it, and, for the events the spec
//! reads it of, its SHA-256 once it is closed. State machines read the tally
//! as `EVENT.size`, `EVENT.sha256`, `EVENT.missing`, `EVENT.open`.
//!
//! Invariants:
//! - a tally describes the stream that is open, or else the last one closed:
//!   it is reset when a new stream starts (its first chunk, or a `last` call
//!   with no stream open, which is an empty stream);
//! - memory is constant per event: chunks are counted and hashed, never kept;
//! - `sha256` is the lowercase hex digest of the whole stream once it is
//!   closed, and empty while it is open or when the spec never reads it;
//! - a stream is hashed once: when the sink hashes it whole already (an
//!   extraction, see [`EventSink::hashes_stream`]), its digest is the
//!   sink's, and the book does not hash it again;
//! - the book hashes with the sink's pool when it lends one
//!   ([`EventSink::sha256_lanes`]): many flows' streams side by side.

use crate::dissector::{Direction, EventSink, FlowInfo};
use crate::sha256::Sha256Stream;

/// What a state machine can read of a streamed event's current or last stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTally {
    /// Whether a stream is open (it had chunks and no `last` call yet).
    pub open: bool,
    /// Bytes streamed so far (after any transform).
    pub size: i64,
    /// Bytes lost to gaps inside the stream (skipped in a counted field).
    pub missing: i64,
    /// Lowercase hex SHA-256 of the closed stream; empty while open.
    pub sha256: String,
}

/// One streamed event's book entry.
#[derive(Debug)]
struct Entry {
    event: &'static str,
    dir: Direction,
    tally: StreamTally,
    digest: Digest,
}

/// Who hashes an open stream.
#[derive(Debug, Default)]
enum Digest {
    /// No one: the spec does not read its `sha256`.
    #[default]
    Off,
    /// The book.
    Own(Sha256Stream),
    /// The sink, which gives the digest at the stream's end.
    Sink,
}

/// The sink that may hash streams for the book (see [`StreamBook::record_with`]).
pub struct SinkDigests<'a, 'b> {
    pub flow: &'a FlowInfo,
    pub sink: &'a mut (dyn EventSink + 'b),
}

/// The streams of one flow (see the module doc).
#[derive(Debug, Default)]
pub struct StreamBook {
    /// Events whose stream is hashed.
    digests: &'static [&'static str],
    entries: Vec<Entry>,
}

/// The tally of an event that never streamed.
static NO_STREAM: StreamTally = StreamTally {
    open: false,
    size: 0,
    missing: 0,
    sha256: String::new(),
};

impl StreamBook {
    /// A book that hashes the streams of the events in `digests`.
    pub fn new(digests: &'static [&'static str]) -> StreamBook {
        StreamBook {
            digests,
            entries: Vec::new(),
        }
    }

    /// The tally of `event`'s current or last stream.
    pub fn get(&self, event: &str) -> &StreamTally {
        self.entries
            .iter()
            .find(|e| e.event == event)
            .map_or(&NO_STREAM, |e| &e.tally)
    }

    /// The direction of `event`'s open stream, if one is open.
    pub fn open_direction(&self, event: &str) -> Option<Direction> {
        self.entries
            .iter()
            .find(|e| e.event == event && e.tally.open)
            .map(|e| e.dir)
    }

    fn entry(&mut self, event: &'static str, dir: Direction) -> &mut Entry {
        let index = match self.entries.iter().position(|e| e.event == event) {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    event,
                    dir,
                    tally: StreamTally::default(),
                    digest: Digest::Off,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }

    /// Records one chunk of `event` sent in `dir` (the `last` call too).
    pub fn record(&mut self, event: &'static str, dir: Direction, chunk: &[u8], last: bool) {
        self.record_with(event, dir, chunk, last, None);
    }

    /// Like [`StreamBook::record`], called after the chunk went to `sink`:
    /// a stream the sink hashes whole (it says so at the stream's first
    /// chunk) takes the sink's digest at its end instead of being hashed
    /// here too.
    pub fn record_with(
        &mut self,
        event: &'static str,
        dir: Direction,
        chunk: &[u8],
        last: bool,
        mut sink: Option<SinkDigests<'_, '_>>,
    ) {
        let hashed = self.digests.contains(&event);
        let entry = self.entry(event, dir);
        if !entry.tally.open {
            entry.dir = dir;
            entry.tally = StreamTally {
                open: true,
                ..StreamTally::default()
            };
            entry.digest = if !hashed {
                Digest::Off
            } else if sink
                .as_mut()
                .is_some_and(|s| s.sink.hashes_stream(s.flow, dir, event))
            {
                Digest::Sink
            } else {
                let lanes = sink.as_mut().and_then(|s| s.sink.sha256_lanes());
                Digest::Own(lanes.map_or_else(Sha256Stream::new, |lanes| lanes.stream()))
            };
        }
        entry.tally.size = entry
            .tally
            .size
            .saturating_add(i64::try_from(chunk.len()).unwrap_or(i64::MAX));
        if let Digest::Own(hasher) = &mut entry.digest {
            hasher.update(chunk, sink.as_mut().and_then(|s| s.sink.sha256_lanes()));
        }
        if last {
            entry.tally.open = false;
            match std::mem::take(&mut entry.digest) {
                Digest::Off => {}
                Digest::Own(hasher) => entry.tally.sha256 = hex(&hasher.finish()),
                Digest::Sink => {
                    let digest = sink.and_then(|s| s.sink.stream_digest(s.flow, entry.dir, event));
                    entry.tally.sha256 = digest.map(|d| hex(&d)).unwrap_or_default();
                }
            }
        }
    }

    /// Records `len` bytes of `event`'s open stream lost to a gap.
    pub fn record_missing(&mut self, event: &'static str, dir: Direction, len: u64) {
        let entry = self.entry(event, dir);
        if entry.tally.open {
            entry.tally.missing = entry
                .tally
                .missing
                .saturating_add(i64::try_from(len).unwrap_or(i64::MAX));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_spans_chunks_until_its_last_call_and_is_hashed_whole() {
        let mut book = StreamBook::new(&["mail"]);
        book.record("mail", Direction::Up, b"ab", false);
        assert!(book.get("mail").open);
        assert_eq!(book.open_direction("mail"), Some(Direction::Up));
        book.record("mail", Direction::Up, b"c", false);
        book.record("mail", Direction::Up, b"", true);
        let tally = book.get("mail");
        assert!(!tally.open);
        assert_eq!(tally.size, 3);
        assert_eq!(
            tally.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // The next stream starts afresh.
        book.record("mail", Direction::Up, b"", true);
        assert_eq!(book.get("mail").size, 0);
        assert_eq!(
            book.get("mail").sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// A sink that hashes the streams of `mail` (its digest is a marker,
    /// so the test sees whose digest the book took).
    struct HashingSink {
        asked: usize,
    }

    impl EventSink for HashingSink {
        fn event(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &crate::value::Value,
        ) -> crate::dissector::Verdict {
            crate::dissector::Verdict::Continue
        }
        fn stream(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &[u8],
            _: bool,
        ) -> crate::dissector::Verdict {
            crate::dissector::Verdict::Continue
        }
        fn alert(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: crate::dissector::Severity,
            _: &str,
        ) {
        }
        fn hashes_stream(&mut self, _: &FlowInfo, _: Direction, name: &'static str) -> bool {
            self.asked += 1;
            name == "mail"
        }
        fn stream_digest(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: &'static str,
        ) -> Option<[u8; 32]> {
            Some([0xab; 32])
        }
    }

    #[test]
    fn a_stream_the_sink_hashes_takes_the_sinks_digest() {
        let flow = FlowInfo {
            id: 1,
            src: "10.0.0.1:1000".parse().expect("address"),
            dst: "10.0.0.2:25".parse().expect("address"),
        };
        let mut sink = HashingSink { asked: 0 };
        let mut book = StreamBook::new(&["mail", "body"]);
        for (event, chunk, last) in [
            ("mail", &b"ab"[..], false),
            ("mail", b"c", true),
            ("body", b"abc", false),
            ("body", b"", true),
        ] {
            let digests = SinkDigests {
                flow: &flow,
                sink: &mut sink,
            };
            book.record_with(event, Direction::Up, chunk, last, Some(digests));
        }
        // Asked once per stream, at its first chunk.
        assert_eq!(sink.asked, 2);
        assert_eq!(book.get("mail").sha256, "ab".repeat(32));
        assert_eq!(book.get("mail").size, 3);
        // The sink does not hash `body`: the book does.
        assert_eq!(
            book.get("body").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn unhashed_events_and_unknown_events_have_no_digest() {
        let mut book = StreamBook::new(&[]);
        book.record("body", Direction::Down, b"xyz", true);
        assert_eq!(book.get("body").size, 3);
        assert_eq!(book.get("body").sha256, "");
        assert_eq!(book.get("other"), &StreamTally::default());
    }

    #[test]
    fn missing_bytes_count_only_while_a_stream_is_open() {
        let mut book = StreamBook::new(&[]);
        book.record_missing("mail", Direction::Up, 5);
        book.record("mail", Direction::Up, b"a", false);
        book.record_missing("mail", Direction::Up, 7);
        assert_eq!(book.get("mail").missing, 7);
    }
}
