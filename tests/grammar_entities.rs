//! The parsers generated from `tests/fixtures/specs/entities.proto`, which
//! uses every grammar entity of the language: each message gives exactly
//! the fields the spec says, whole, cut in two at every byte, and fed one
//! byte at a time (the parsers resume anywhere: inside a bit field, a
//! `try` alternative that must be read again, a `union`); messages that
//! break a rule (`verify`, no `try` alternative, an `at` position past the
//! bytes read) are parse errors, and the next message is read normally.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod entities {
    include!(concat!(env!("OUT_DIR"), "/fixtures/entities.rs"));
}

use protoc_runtime::dissector::Direction;
use protoc_runtime::value::Value;
use recorder::{bytewise, feed, whole, Entry, Recorder};

/// What parsing `stream` (client to server) reports: events as their
/// fields, alerts as `!message`.
fn run(stream: &[u8], cut: &mut dyn FnMut(usize, usize) -> Vec<usize>) -> Vec<Value> {
    let mut dissector = entities::EntitiesDissector::new();
    let mut recorder = Recorder::default();
    feed(
        &mut dissector,
        &mut recorder,
        &[(Direction::Up, stream.to_vec())],
        cut,
    );
    recorder
        .entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Event { fields, .. } => Some(fields),
            Entry::Alert { description, .. } => Some(Value::Str(format!("!{description}"))),
            Entry::Stream { .. } => None,
        })
        .collect()
}

/// Checks `stream` gives `expected` however it is cut.
fn reads(stream: &[u8], expected: &[Value]) {
    assert_eq!(run(stream, &mut whole), expected, "whole");
    assert_eq!(run(stream, &mut bytewise), expected, "byte by byte");
    for split in 1..stream.len() {
        let mut cut = |_: usize, len: usize| vec![split.min(len), len.saturating_sub(split)];
        assert_eq!(run(stream, &mut cut), expected, "cut at {split}");
    }
}

fn record(fields: &[(&'static str, Value)]) -> Value {
    Value::Record(
        fields
            .iter()
            .map(|(n, v)| ((*n).into(), v.clone()))
            .collect(),
    )
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(s: &str) -> Value {
    Value::Str(s.into())
}

fn list(items: &[Value]) -> Value {
    Value::List(items.to_vec())
}

const NUMBERS: &[u8] = &[
    1,    // type
    0xab, // version 1010, urgent 1, padding 0, level 11
    0x12, 0x34, // big-endian
    0x34, 0x12, // little-endian
    0xfe, // -2
    4, 3, 2, 1,    // 0x01020304, little-endian
    0x38, // scaled 0011 (x4), on 1, padding 000
    0, 0, 0, 0,    // 12 bytes read: to 16, a multiple of 64 bits
    0x7f, // after
];

fn numbers_fields() -> Value {
    record(&[
        ("type", int(1)),
        ("version", int(10)),
        ("urgent", Value::Bool(true)),
        ("level", int(3)),
        ("big", int(0x1234)),
        ("little", int(0x1234)),
        ("small", int(-2)),
        ("wide", int(0x0102_0304)),
        ("scaled", int(12)),
        ("on", Value::Bool(true)),
        ("after", int(127)),
    ])
}

#[test]
fn numbers_bit_fields_flags_converters_and_padding() {
    reads(NUMBERS, &[numbers_fields()]);
}

#[test]
fn arrays_by_count_while_and_until() {
    let mut stream = vec![2, 2, 0, 1, 0, 2, 7, 8, 9, 10, 11];
    stream.extend(b"a\nb\nend\n");
    let word = |w: &str| record(&[("word", text(w))]);
    reads(
        &stream,
        &[record(&[
            ("type", int(2)),
            ("n", int(2)),
            ("items", list(&[int(1), int(2)])),
            ("pair", list(&[int(7), int(8)])),
            ("rest", list(&[int(9), int(10), int(11)])),
            ("words", list(&[word("a"), word("b"), word("end")])),
        ])],
    );
}

/// A type-3 message: `head` (a `try` line), then the union's two bytes
/// 0x41 0x42, an address and a two-byte label.
fn alternatives(head: &[u8]) -> Vec<u8> {
    let mut stream = vec![3];
    stream.extend(head);
    stream.extend([0x41, 0x42, 192, 0, 2, 1]);
    stream.extend(b"ok");
    stream
}

fn alternatives_fields(first: &[(&'static str, Value)]) -> Value {
    let mut fields = vec![("type", int(3))];
    fields.extend_from_slice(first);
    fields.extend([
        ("high", int(0x41)),
        ("both", int(0x4142)),
        ("ip", text("192.0.2.1")),
        ("hexed", text("c0000201")),
        ("next", int(0x42)),
        ("label", text("ok")),
    ]);
    record(&fields)
}

#[test]
fn try_takes_the_first_alternative_that_parses_reading_again_what_failed() {
    reads(
        &alternatives(b"v1:abc\n"),
        &[alternatives_fields(&[
            ("kind", text("v1:")),
            ("v1", text("abc")),
        ])],
    );
    reads(
        &alternatives(b"v2:123\n"),
        &[alternatives_fields(&[
            ("kind", text("v2:")),
            ("number", int(123)),
        ])],
    );
    // `v2:` matches the second alternative's start, then fails on `abc`:
    // the third reads the line again from its start.
    reads(
        &alternatives(b"v2:abc\n"),
        &[alternatives_fields(&[
            ("kind", text("v2:")),
            ("raw", text("abc")),
        ])],
    );
}

#[test]
fn failed_rules_are_parse_errors_and_the_next_message_still_parses() {
    let expected_next = numbers_fields();
    // No alternative matches.
    let mut stream = alternatives(b"!!\n");
    stream.extend(NUMBERS);
    let got = run(&stream, &mut whole);
    assert_eq!(
        got.len(),
        1,
        "the rest of the feed after an error is dropped: {got:?}"
    );
    assert!(
        matches!(&got[0], Value::Str(s) if s.starts_with("!parse error at byte 1")),
        "{got:?}"
    );
    // `verify` fails: the union's first byte is 200.
    let mut bad = vec![3];
    bad.extend(b"v1:abc\n");
    bad.extend([200, 1, 192, 0, 2, 1]);
    bad.extend(b"ok");
    let got = run(&bad, &mut whole);
    assert!(
        matches!(got.as_slice(), [Value::Str(s)] if s.ends_with("high is below 200")),
        "{got:?}"
    );
    // A position past what was read: an error, not a wait.
    let got = run(&[5, 9], &mut whole);
    assert!(
        matches!(got.as_slice(), [Value::Str(s)] if s.contains("position 9 lies past the 2 bytes read")),
        "{got:?}"
    );
    // Fed on its own after an error, the next message parses.
    let mut dissector = entities::EntitiesDissector::new();
    let mut recorder = Recorder::default();
    feed(
        &mut dissector,
        &mut recorder,
        &[
            (Direction::Up, bad.clone()),
            (Direction::Up, NUMBERS.to_vec()),
        ],
        &mut whole,
    );
    let events: Vec<&Value> = recorder
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Event { fields, .. } => Some(fields),
            _ => None,
        })
        .collect();
    assert_eq!(events, vec![&expected_next]);
}

#[test]
fn sequences_at_positions_and_the_default_that_continues() {
    reads(
        &[4, 5, b'h', b'e', b'l', b'l', b'o'],
        &[record(&[
            ("type", int(4)),
            ("greeting", text("hello")),
            ("shout", text("HELLO!")),
        ])],
    );
    reads(
        &[5, 0],
        &[record(&[
            ("type", int(5)),
            ("again", record(&[("value", int(5))])),
        ])],
    );
    reads(&[9], &[record(&[("type", int(9))])]);
}

#[test]
fn the_grammar_reads_the_state_machine_s_variables() {
    // `seen` counts the messages the state machine handled before.
    let expected = [
        record(&[("type", int(9))]),
        record(&[("type", int(6)), ("before", int(1))]),
        record(&[("type", int(6)), ("before", int(2))]),
    ];
    assert_eq!(run(&[9, 6, 6], &mut whole), expected);
    assert_eq!(run(&[9, 6, 6], &mut bytewise), expected);
}

#[test]
fn a_stream_of_every_kind_reads_each_message_in_turn() {
    let mut stream = NUMBERS.to_vec();
    stream.extend(alternatives(b"v2:abc\n"));
    stream.extend([5, 0, 9]);
    stream.extend(NUMBERS);
    let expected = [
        numbers_fields(),
        alternatives_fields(&[("kind", text("v2:")), ("raw", text("abc"))]),
        record(&[("type", int(5)), ("again", record(&[("value", int(5))]))]),
        record(&[("type", int(9))]),
        numbers_fields(),
    ];
    assert_eq!(run(&stream, &mut whole), expected);
    assert_eq!(run(&stream, &mut bytewise), expected);
}
