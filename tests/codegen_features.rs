//! The dissector generated from `tests/fixtures/specs/features.proto`, run:
//! counted bytes whose stream spans fields (`ends if`), tallies read by the
//! state machine (size, SHA-256, missing bytes), per-flow variables, named
//! triggers, a gap absorbed by a counted field, `resync … unless`, `end`,
//! a `timeout`, and `stop`. Each scenario gives the same entries whether its bytes come
//! whole or one at a time.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod features {
    include!(concat!(env!("OUT_DIR"), "/fixtures/features.rs"));
}

use protoc_runtime::dissector::{Cx, Direction, Dissector, FlowStatus};
use protoc_runtime::value::Value;
use recorder::{flow, Entry, Recorder};
use sha2::{Digest, Sha256};

use Direction::{Down, Up};

/// What a scenario does to a fresh dissector, in order.
enum Step {
    Bytes(Direction, &'static [u8]),
    Gap(Direction, u64),
    End(Direction),
    /// Capture time moves to this many seconds (`timeout` transitions).
    Tick(f64),
}

/// Runs `steps` (bytes fed whole, or byte by byte); the entries and the status.
fn run(steps: &[Step], bytes_one_at_a_time: bool) -> (Vec<Entry>, FlowStatus) {
    let mut dissector = features::ChunksDissector::new();
    let mut recorder = Recorder::default();
    let info = flow();
    let mut now = 0.0;
    for step in steps {
        if let Step::Tick(to) = step {
            now = *to;
        }
        let mut cx = Cx {
            flow: &info,
            now,
            sink: &mut recorder,
        };
        match step {
            Step::Bytes(dir, bytes) if bytes_one_at_a_time => {
                for byte in bytes.chunks(1) {
                    dissector.feed(*dir, byte, &mut cx);
                }
            }
            Step::Bytes(dir, bytes) => dissector.feed(*dir, bytes, &mut cx),
            Step::Gap(dir, len) => dissector.gap(*dir, *len, &mut cx),
            Step::End(dir) => dissector.end(*dir, &mut cx),
            Step::Tick(_) => dissector.tick(&mut cx),
        }
    }
    (recorder.entries, dissector.status())
}

/// The entries of `steps`, checked to be the same when fed byte by byte.
fn entries(steps: &[Step]) -> (Vec<Entry>, FlowStatus) {
    let whole = run(steps, false);
    assert_eq!(run(steps, true), whole, "byte by byte");
    whole
}

fn record(fields: &[(&str, Value)]) -> Value {
    Value::Record(
        fields
            .iter()
            .map(|(k, v)| (k.to_string().into(), v.clone()))
            .collect(),
    )
}

fn text(s: &str) -> Value {
    Value::Str(s.to_string())
}

fn sha256(bytes: &[u8]) -> Value {
    let digest = Sha256::digest(bytes);
    text(
        &digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

fn done(size: i64, content: &[u8], missing: i64, answered: Option<&str>) -> Entry {
    let mut fields = vec![
        ("size", Value::Int(size)),
        ("sha256", sha256(content)),
        ("missing", Value::Int(missing)),
    ];
    if let Some(answered) = answered {
        fields.push(("answered", text(answered)));
    }
    fields.push(("reply", text("OK")));
    Entry::Event {
        dir: Down,
        name: "done",
        fields: record(&fields),
    }
}

#[test]
fn chunks_make_one_stream_until_the_last_and_the_machine_reads_its_tally() {
    let (entries, status) = entries(&[
        Step::Bytes(Up, b"PUT 5\nhelloPUT 3 LAST\nabc"),
        Step::Bytes(Down, b"OK\n"),
    ]);
    assert_eq!(
        entries,
        [
            Entry::Stream {
                dir: Up,
                name: "body",
                bytes: b"helloabc".to_vec(),
                lasts: 1
            },
            Entry::Event {
                dir: Up,
                name: "chunk",
                fields: record(&[
                    ("verb", text("PUT")),
                    ("size", Value::Int(3)),
                    ("dir", text("up"))
                ])
            },
            // `pending` holds both PUTs: the reply answers the first.
            done(8, b"helloabc", 0, Some("PUT")),
        ]
    );
    assert_eq!(status, FlowStatus::Active);
}

#[test]
fn a_gap_inside_a_counted_field_is_absorbed_and_counted_missing() {
    let (entries, _) = entries(&[
        Step::Bytes(Up, b"PUT 10 LAST\nabc"),
        Step::Gap(Up, 4),
        Step::Bytes(Up, b"xyz"),
        Step::Bytes(Down, b"OK\n"),
    ]);
    let streamed: Vec<u8> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Stream { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(streamed, b"abcxyz");
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::Event { name: "chunk", .. })),
        "the field ended where the sender meant: {entries:?}"
    );
    assert_eq!(entries.last(), Some(&done(6, b"abcxyz", 4, Some("PUT"))));
}

#[test]
fn a_parse_error_resyncs_at_the_next_line_unless_a_word_starts_there() {
    let (entries, _) = entries(&[Step::Bytes(Up, b"PUT x\nPUT 2 LAST\nhi")]);
    assert!(
        matches!(entries.last(), Some(Entry::Event { name: "chunk", .. })),
        "the line after the bad one is read: {entries:?}"
    );
    assert!(entries
        .iter()
        .any(|e| matches!(e, Entry::Stream { bytes, lasts: 1, .. } if bytes == b"hi")));
}

#[test]
fn after_a_gap_bytes_wait_for_the_end_event_that_makes_them_readable() {
    let (entries, status) = entries(&[
        Step::Gap(Up, 7),
        // The resync skips to the next line end; then the state has no client
        // grammar, so the rest waits until `end` jumps back to one.
        Step::Bytes(Up, b"junk\nPUT 1 LAST\nz"),
        Step::End(Up),
    ]);
    assert!(
        matches!(entries.last(), Some(Entry::Event { name: "chunk", .. })),
        "{entries:?}"
    );
    assert_eq!(status, FlowStatus::Active);
    let (before_end, _) = entries_of(&[Step::Gap(Up, 7), Step::Bytes(Up, b"junk\nPUT 1 LAST\nz")]);
    assert!(before_end.is_empty(), "the bytes waited: {before_end:?}");
}

#[test]
fn after_a_gap_bytes_wait_for_the_timeout_that_makes_them_readable_and_are_read_at_once() {
    let (before, _) = entries_of(&[
        Step::Gap(Up, 7),
        Step::Bytes(Up, b"junk\nPUT 1 LAST\nz"),
        Step::Tick(4.0),
    ]);
    assert!(
        before.is_empty(),
        "four seconds: the bytes still wait: {before:?}"
    );
    // Five quiet seconds jump back to a state that reads the client: its
    // waiting message is read at the tick, before the server's next reply
    // (not after it, as it would be if it waited for the next feed).
    let (entries, status) = entries(&[
        Step::Gap(Up, 7),
        Step::Bytes(Up, b"junk\nPUT 1 LAST\nz"),
        Step::Tick(6.0),
        Step::Bytes(Down, b"OK\n"),
    ]);
    let names: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Event { name, .. } => Some(*name),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["chunk", "done"], "{entries:?}");
    assert_eq!(status, FlowStatus::Active);
}

/// The entries of `steps` fed whole.
fn entries_of(steps: &[Step]) -> (Vec<Entry>, FlowStatus) {
    run(steps, false)
}

#[test]
fn stop_ends_parsing_quietly() {
    let (entries, status) = entries(&[
        Step::Bytes(Down, b"TLS\n"),
        Step::Bytes(Up, b"\x16\x03\x01 not a header at all\n"),
        Step::Bytes(Down, b"\x17\x03\x03 nor a reply\n"),
    ]);
    assert_eq!(
        entries,
        [Entry::Event {
            dir: Down,
            name: "tls",
            fields: Value::Record(Vec::new())
        }]
    );
    assert_eq!(status, FlowStatus::Finished);
}

#[test]
fn a_reset_closes_the_open_stream() {
    let (entries, _) = entries(&[
        Step::Bytes(Up, b"PUT 2\nab"),
        Step::Bytes(Up, b"RESET 0\n"),
        Step::Bytes(Down, b"OK\n"),
    ]);
    assert_eq!(
        entries.first(),
        Some(&Entry::Stream {
            dir: Up,
            name: "body",
            bytes: b"ab".to_vec(),
            lasts: 1
        })
    );
    assert_eq!(entries.last(), Some(&done(2, b"ab", 0, Some("PUT"))));
}
