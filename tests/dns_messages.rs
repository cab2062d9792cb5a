//! The DNS dissector generated from `specs/dns.proto`, fed hand-made
//! messages: name compression (pointers back, pointers forward or past the
//! message, pointer loops, chains too deep), truncated and overlong
//! datagrams, record data that does not fill its length, EDNS options, and
//! DNS over TCP cut at every byte. Each case says what the parse must give;
//! a hostile message is a parse error (an alert), never a hang, and the next
//! message is read on its own.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod dns {
    include!(concat!(env!("OUT_DIR"), "/dns.rs"));
}

use protoc_runtime::dissector::{Cx, Direction, Dissector, FlowStatus};
use protoc_runtime::value::Value;
use recorder::{flow, Entry, Recorder};

// ---- building messages -----------------------------------------------------

/// A name as labels, ending with the root label.
fn name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).expect("short label"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A compression pointer to `offset`.
fn pointer(offset: u16) -> Vec<u8> {
    (0xc000 | offset).to_be_bytes().to_vec()
}

/// A header: id, flags word, and the four counts.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(id.to_be_bytes());
    out.extend(flags.to_be_bytes());
    for count in counts {
        out.extend(count.to_be_bytes());
    }
    out
}

fn question(owner: &[u8], qtype: u16) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend(qtype.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out
}

fn record(owner: &[u8], rtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend(rtype.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out.extend(ttl.to_be_bytes());
    out.extend(u16::try_from(data.len()).expect("short data").to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// A query for `qname` of type `qtype`.
fn query(id: u16, qname: &str, qtype: u16) -> Vec<u8> {
    let mut out = header(id, 0x0100, [1, 0, 0, 0]);
    out.extend(question(&name(qname), qtype));
    out
}

/// An answer to `query(id, "www.example.test", 1)` with two A records, the
/// second owner compressed as a pointer to the question's name (offset 12).
fn answer(id: u16) -> Vec<u8> {
    let mut out = header(id, 0x8180, [1, 2, 0, 0]);
    out.extend(question(&name("www.example.test"), 1));
    out.extend(record(&pointer(12), 1, 300, &[192, 0, 2, 1]));
    out.extend(record(&pointer(12), 1, 300, &[192, 0, 2, 2]));
    out
}

// ---- running the dissector ---------------------------------------------------

/// Each datagram in turn (all from the client unless its QR bit is set).
fn datagrams(messages: &[Vec<u8>]) -> (Vec<Entry>, FlowStatus) {
    let mut dissector = dns::DnsDissector::new();
    let mut recorder = Recorder::default();
    let flow = flow();
    for (i, message) in messages.iter().enumerate() {
        let dir = match message.get(2) {
            Some(flags) if flags & 0x80 != 0 => Direction::Down,
            _ => Direction::Up,
        };
        let mut cx = Cx {
            flow: &flow,
            now: i as f64,
            sink: &mut recorder,
        };
        dissector.datagram(dir, message, &mut cx);
    }
    (recorder.entries, dissector.status())
}

/// The events of `entries` as (name, fields).
fn events(entries: &[Entry]) -> Vec<(&'static str, Value)> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Event { name, fields, .. } => Some((*name, fields.clone())),
            _ => None,
        })
        .collect()
}

fn alerts(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Alert { description, .. } => Some(description.clone()),
            _ => None,
        })
        .collect()
}

/// The answers of an event: (name, type, ttl, data).
fn answers(fields: &Value) -> Vec<(String, i64, i64, String)> {
    let Value::List(items) = fields.field("answers") else {
        panic!("no answers in {fields:?}");
    };
    items
        .iter()
        .map(|a| {
            (
                a.field("name").as_str().unwrap_or_default().to_string(),
                a.field("type").as_int().unwrap_or(-1),
                a.field("ttl").as_int().unwrap_or(-1),
                a.field("data").as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `entries` has exactly one alert, about `reason`, and no event.
fn rejected(entries: &[Entry], reason: &str) {
    assert!(events(entries).is_empty(), "{entries:?}");
    let alerts = alerts(entries);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with("invalid dns message: ") && alerts[0].contains(reason),
        "{alerts:?} should say {reason:?}"
    );
}

// ---- the cases ----------------------------------------------------------------

#[test]
fn a_query_and_its_compressed_answer() {
    let (entries, status) = datagrams(&[query(7, "www.example.test", 1), answer(7)]);
    assert_eq!(status, FlowStatus::Active);
    let events = events(&entries);
    assert_eq!(events.len(), 2, "{entries:?}");
    let (kind, q) = &events[0];
    assert_eq!(*kind, "query");
    assert_eq!(q.field("id"), &Value::Int(7));
    assert_eq!(
        q.field("questions").index(0).field("name"),
        &Value::Str("www.example.test".into())
    );
    assert_eq!(events[1].0, "answer");
    assert_eq!(
        answers(&events[1].1),
        vec![
            ("www.example.test".into(), 1, 300, "192.0.2.1".into()),
            ("www.example.test".into(), 1, 300, "192.0.2.2".into()),
        ]
    );
}

#[test]
fn a_pointer_to_a_pointer_to_a_name_resolves_through_both() {
    // Question at 12 "example.test"; an answer owner "www" + pointer(12) at
    // offset 30; a CNAME whose data is "mail" + pointer to offset 30.
    let mut message = header(9, 0x8180, [1, 1, 0, 0]);
    message.extend(question(&name("example.test"), 5));
    assert_eq!(message.len(), 30);
    let mut owner = vec![3];
    owner.extend(b"www");
    owner.extend(pointer(12));
    let mut target = vec![4];
    target.extend(b"mail");
    target.extend(pointer(30));
    message.extend(record(&owner, 5, 60, &target));
    let (entries, _) = datagrams(&[message]);
    let events = events(&entries);
    assert_eq!(
        answers(&events[0].1),
        vec![(
            "www.example.test".into(),
            5,
            60,
            "mail.www.example.test".into()
        )]
    );
}

#[test]
fn pointers_that_loop_or_point_forward_are_parse_errors() {
    // A name whose label points at itself (offset 12: the question's name).
    let mut self_loop = header(1, 0x0100, [1, 0, 0, 0]);
    self_loop.extend(pointer(12));
    self_loop.extend([0, 1, 0, 1]);
    rejected(&datagrams(&[self_loop]).0, "a name pointer must point back");

    // A pointer past the end of the message.
    let mut past = header(2, 0x0100, [1, 0, 0, 0]);
    past.extend(pointer(0x3fff));
    past.extend([0, 1, 0, 1]);
    rejected(&datagrams(&[past]).0, "a name pointer must point back");

    // Two names pointing back and forth: the second points back at the
    // first, whose label covers the pointer's bytes and points on again.
    // Each pointer points back, yet following them never ends: the runtime
    // stops positioned parses nested too deep.
    let mut cycle = header(3, 0x0100, [2, 0, 0, 0]);
    cycle.extend([1, b'a']); // offset 12: "a" then ...
    cycle.extend(pointer(12)); // offset 14: ... back to 12
    cycle.extend([0, 1, 0, 1]);
    cycle.extend(pointer(14)); // a second question pointing at offset 14
    cycle.extend([0, 1, 0, 1]);
    let (entries, _) = datagrams(&[cycle]);
    assert!(events(&entries).is_empty(), "{entries:?}");
    assert_eq!(alerts(&entries).len(), 1, "{entries:?}");
}

#[test]
fn a_long_chain_of_pointers_back_stops_at_the_nesting_cap() {
    // The question names "x" at offset 12. A record of an unknown type
    // carries 40 names in its data (read as hex, not as names): each a
    // pointer to the one before, the first to offset 12. A second record's
    // owner points at the last: 41 pointers deep, each pointing back.
    let mut message = header(4, 0x8180, [1, 2, 0, 0]);
    message.extend(question(&name("x"), 1));
    let owner = [0u8];
    // The data starts after the owner (1), type, class, ttl and length (10).
    let base = u16::try_from(message.len() + owner.len() + 10).expect("small");
    let mut chain = pointer(12);
    for k in 1..40u16 {
        chain.extend(pointer(base + 2 * (k - 1)));
    }
    message.extend(record(&owner, 99, 0, &chain));
    message.extend(record(&pointer(base + 2 * 39), 1, 0, &[192, 0, 2, 1]));
    let (entries, status) = datagrams(&[message]);
    assert_eq!(
        status,
        FlowStatus::Active,
        "a bad message does not drop the flow"
    );
    rejected(&entries, "nested more than 16 deep");
}

#[test]
fn datagrams_too_short_or_too_long_are_errors_for_that_datagram_only() {
    let whole = query(5, "example.test", 1);
    let truncated = whole[..whole.len() - 2].to_vec();
    let mut overlong = whole.clone();
    overlong.extend(b"xx");
    let (entries, status) = datagrams(&[truncated, overlong, whole]);
    assert_eq!(status, FlowStatus::Active);
    let alerts = alerts(&entries);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[0].contains("ends before its grammar does"),
        "{alerts:?}"
    );
    assert!(alerts[1].contains("2 bytes after the end"), "{alerts:?}");
    let events = events(&entries);
    assert_eq!(
        events.len(),
        1,
        "the good datagram still parses: {entries:?}"
    );
    assert_eq!(events[0].1.field("id"), &Value::Int(5));
}

#[test]
fn record_data_must_fill_exactly_its_length() {
    // An A record that says 5 bytes.
    let mut message = header(6, 0x8180, [0, 1, 0, 0]);
    message.extend(record(&name("a.test"), 1, 1, &[192, 0, 2, 1, 9]));
    rejected(&datagrams(&[message]).0, "an A record holds 4 bytes");
    // An MX whose exchange ends before the record data does.
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend(name("mail.test"));
    mx.push(0);
    let mut message = header(6, 0x8180, [0, 1, 0, 0]);
    message.extend(record(&name("test"), 15, 1, &mx));
    rejected(
        &datagrams(&[message]).0,
        "the record data does not fill its length",
    );
}

#[test]
fn edns_options_and_unknown_types_read_as_text() {
    let mut opt = Vec::new();
    opt.extend(10u16.to_be_bytes()); // COOKIE
    opt.extend(8u16.to_be_bytes());
    opt.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    let mut message = header(8, 0x8180, [0, 3, 0, 0]);
    message.extend(record(&[0], 41, 0, &opt));
    message.extend(record(&name("t.test"), 99, 5, &[0xde, 0xad]));
    let mut txt = vec![3];
    txt.extend(b"one");
    txt.push(0);
    txt.push(3);
    txt.extend(b"two");
    message.extend(record(&name("t.test"), 16, 5, &txt));
    let (entries, _) = datagrams(&[message]);
    let events = events(&entries);
    assert_eq!(
        answers(&events[0].1),
        vec![
            (String::new(), 41, 0, "10:0102030405060708".into()),
            ("t.test".into(), 99, 5, "dead".into()),
            ("t.test".into(), 16, 5, "onetwo".into()),
        ]
    );
}

#[test]
fn dns_over_tcp_reads_the_same_whatever_the_segmentation() {
    let mut stream_up = Vec::new();
    let mut stream_down = Vec::new();
    for id in [21u16, 22] {
        let q = query(id, "www.example.test", 1);
        stream_up.extend(u16::try_from(q.len()).expect("short").to_be_bytes());
        stream_up.extend(q);
        let a = answer(id);
        stream_down.extend(u16::try_from(a.len()).expect("short").to_be_bytes());
        stream_down.extend(a);
    }
    let run = |split: usize| -> Vec<(&'static str, Value)> {
        let mut dissector = dns::DnsDissector::new();
        let mut recorder = Recorder::default();
        let flow = flow();
        for (dir, stream) in [(Direction::Up, &stream_up), (Direction::Down, &stream_down)] {
            let split = split.min(stream.len());
            for piece in [&stream[..split], &stream[split..]] {
                let mut cx = Cx {
                    flow: &flow,
                    now: 0.0,
                    sink: &mut recorder,
                };
                dissector.feed(dir, piece, &mut cx);
            }
        }
        for dir in [Direction::Up, Direction::Down] {
            let mut cx = Cx {
                flow: &flow,
                now: 1.0,
                sink: &mut recorder,
            };
            dissector.end(dir, &mut cx);
        }
        assert!(
            alerts(&recorder.entries).is_empty(),
            "{:?}",
            recorder.entries
        );
        events(&recorder.entries)
    };
    let whole = run(usize::MAX);
    let ids: Vec<(&str, i64)> = whole
        .iter()
        .map(|(kind, f)| (*kind, f.field("id").as_int().unwrap_or(-1)))
        .collect();
    assert_eq!(
        ids,
        [("query", 21), ("query", 22), ("answer", 21), ("answer", 22)]
    );
    for split in 0..stream_down.len().max(stream_up.len()) {
        assert_eq!(run(split), whole, "split at {split}");
    }
}

#[test]
fn a_tcp_stream_that_ends_inside_a_frame_or_loses_bytes_is_reported_once() {
    let q = query(31, "example.test", 1);
    let mut stream = u16::try_from(q.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    stream.extend(&q[..5]);
    let mut dissector = dns::DnsDissector::new();
    let mut recorder = Recorder::default();
    let flow = flow();
    let mut cx = Cx {
        flow: &flow,
        now: 0.0,
        sink: &mut recorder,
    };
    dissector.feed(Direction::Up, &stream, &mut cx);
    dissector.end(Direction::Up, &mut cx);
    let said = alerts(&recorder.entries);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("the stream ends inside a frame"),
        "{said:?}"
    );

    // A gap: later bytes of that direction cannot be cut into frames.
    let mut dissector = dns::DnsDissector::new();
    let mut recorder = Recorder::default();
    let mut cx = Cx {
        flow: &flow,
        now: 0.0,
        sink: &mut recorder,
    };
    dissector.gap(Direction::Up, 10, &mut cx);
    let mut framed = u16::try_from(q.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    framed.extend(&q);
    dissector.feed(Direction::Up, &framed, &mut cx);
    dissector.feed(Direction::Up, &framed, &mut cx);
    assert!(
        events(&recorder.entries).is_empty(),
        "{:?}",
        recorder.entries
    );
    assert_eq!(alerts(&recorder.entries).len(), 1, "{:?}", recorder.entries);
}
