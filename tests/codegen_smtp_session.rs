//! The SMTP dissector that `build.rs` generates from `specs/smtp.proto` (the
//! one built into `protoc-rs`), fed the Haka workshop's SMTP session: the same
//! commands, responses and mail content as Haka's reference output, whatever
//! the segmentation. The committed golden `tests/fixtures/smtp_generated.rs`,
//! generated from the seed's own spec (`tests/fixtures/specs/smtp_seed.proto`),
//! is compiled too: it reads the session the same way, and the seed's strict
//! reactions (a client speaking first, a bad greeting, a mail cut short, an
//! endless reply: alert, then drop) are tested on it. `tests/smtp_real.rs`
//! tests how the built-in spec reads real traffic instead.

#[path = "fixtures/recorder.rs"]
mod recorder;

// A generated module offers more API than one test uses.
#[allow(dead_code)]
mod smtp {
    include!(concat!(env!("OUT_DIR"), "/smtp.rs"));
}

#[allow(dead_code)]
mod golden {
    include!("fixtures/smtp_generated.rs");
}

use proptest::prelude::*;
use protoc_runtime::dissector::{Direction, Dissector, FlowStatus, Severity};
use protoc_runtime::value::Value;
use recorder::{bytewise, feed, smtp_session, whole, Entry, Recorder};

/// Events as Haka prints them: `(event, one field list per response line)`.
type HakaEvents = Vec<(&'static str, Vec<Vec<(String, String)>>)>;

/// The commands and responses of `smtp_command_response-ref.txt`, in order,
/// read from Haka's pretty-printed output: `(event, fields)`, with the fields
/// of each response line in the order Haka prints them (alphabetical).
fn haka_reference() -> HakaEvents {
    let text = include_str!("/work/shared/reference/haka/smtp_command_response-ref.txt");
    let mut out: HakaEvents = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line == "SMTP COMMAND" {
            out.push(("command", vec![Vec::new()]));
        } else if line == "SMTP RESPONSE" {
            out.push(("response", Vec::new()));
        } else if line.starts_with("1 : class Result") || line.starts_with("2 : class Result") {
            if let Some((_, lines)) = out.last_mut() {
                lines.push(Vec::new());
            }
        } else if let Some((key, value)) = line.split_once(" : \"") {
            let value = value.trim_end_matches('"').to_string();
            if let Some(fields) = out.last_mut().and_then(|(_, lines)| lines.last_mut()) {
                fields.push((key.to_string(), value));
            }
        }
    }
    out
}

/// A record value as sorted `(field, string)` pairs.
fn sorted_fields(value: &Value) -> Vec<(String, String)> {
    let Value::Record(fields) = value else {
        return Vec::new();
    };
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    pairs.sort();
    pairs
}

/// The recorded events in Haka's shape.
fn as_haka(entries: &[Entry]) -> HakaEvents {
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Event {
                name: "command",
                fields,
                ..
            } => Some(("command", vec![sorted_fields(fields)])),
            Entry::Event {
                name: "response",
                fields,
                ..
            } => {
                let Value::List(lines) = fields.field("responses") else {
                    return Some(("response", Vec::new()));
                };
                Some(("response", lines.iter().map(sorted_fields).collect()))
            }
            _ => None,
        })
        .collect()
}

fn run(cut: &mut dyn FnMut(usize, usize) -> Vec<usize>) -> (Vec<Entry>, FlowStatus) {
    let mut dissector = smtp::SmtpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &smtp_session(), cut);
    (recorder.entries, dissector.status())
}

#[test]
fn whole_segments_give_haka_s_commands_responses_and_mail_content() {
    let (entries, status) = run(&mut whole);
    let reference = haka_reference();
    assert_eq!(
        reference.len(),
        12,
        "the reference has 7 responses and 5 commands"
    );
    assert_eq!(as_haka(&entries), reference);
    let mail: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e, Entry::Stream { .. }))
        .collect();
    assert_eq!(
        mail,
        [&Entry::Stream {
            dir: Direction::Up,
            name: "mail_content",
            bytes: b"BLA BLA BLA ...\r\nMORE BLA BLA BLA ...".to_vec(),
            lasts: 1
        }]
    );
    assert!(
        !entries.iter().any(|e| matches!(e, Entry::Alert { .. })),
        "no alert: {entries:?}"
    );
    assert_eq!(status, FlowStatus::Finished, "221 ends the session");
}

#[test]
fn the_mail_content_comes_between_the_354_and_the_250_responses() {
    let (entries, _) = run(&mut whole);
    let position = |pred: &dyn Fn(&Entry) -> bool| entries.iter().position(pred);
    let code_of = |e: &Entry, code: &str| {
        matches!(e, Entry::Event { name: "response", fields, .. }
            if fields.field("responses").index(0).field("code").as_str() == Some(code))
    };
    let data = position(&|e| matches!(e, Entry::Stream { .. }));
    let before = position(&|e| code_of(e, "354"));
    let after = position(&|e| code_of(e, "250") && entries.iter().position(|x| x == e) > before);
    assert!(before < data && data.is_some(), "{entries:?}");
    let queued = entries.iter().rposition(|e| {
        matches!(e, Entry::Event { name: "response", fields, .. }
            if fields.field("responses").index(0).field("parameter").as_str().is_some_and(|p| p.contains("queued")))
    });
    assert!(data < queued, "{entries:?}");
    assert!(after.is_some());
}

#[test]
fn the_golden_module_behaves_like_the_built_one() {
    let mut golden = golden::SmtpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut golden, &mut recorder, &smtp_session(), &mut bytewise);
    let (built, status) = run(&mut whole);
    assert_eq!(as_haka(&recorder.entries), as_haka(&built));
    let streams = |entries: &[Entry]| -> Vec<Entry> {
        entries
            .iter()
            .filter(|e| matches!(e, Entry::Stream { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(streams(&recorder.entries), streams(&built));
    assert_eq!(golden.status(), status);
}

#[test]
fn byte_by_byte_feeding_gives_the_same_events() {
    assert_eq!(run(&mut bytewise), run(&mut whole));
}

#[test]
fn every_two_piece_split_of_every_segment_gives_the_same_events() {
    let expected = run(&mut whole);
    let segments = smtp_session();
    for (target, (_, bytes)) in segments.iter().enumerate() {
        for at in 1..bytes.len() {
            let got = run(&mut |i, len| {
                if i == target {
                    vec![at, len - at]
                } else {
                    vec![len]
                }
            });
            assert_eq!(got, expected, "segment {target} split at {at}");
        }
    }
}

#[test]
fn a_dropping_rule_stops_the_flow_at_once() {
    let mut dissector = smtp::SmtpDissector::new();
    let mut recorder = Recorder {
        drop_on: Some("command"),
        ..Recorder::default()
    };
    feed(&mut dissector, &mut recorder, &smtp_session(), &mut whole);
    assert_eq!(dissector.status(), FlowStatus::Dropped);
    let events = recorder
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Event { .. }))
        .count();
    assert_eq!(
        events, 2,
        "the greeting, then the HELO that was dropped: {:?}",
        recorder.entries
    );
}

#[test]
fn a_client_speaking_first_is_an_unexpected_command() {
    let mut dissector = golden::SmtpDissector::new();
    let mut recorder = Recorder::default();
    let segments = vec![(Direction::Up, b"HELO x\r\n".to_vec())];
    feed(&mut dissector, &mut recorder, &segments, &mut whole);
    assert_eq!(
        recorder.entries,
        [Entry::Alert {
            dir: Direction::Up,
            severity: Severity::Low,
            description: "unexpected client command".into()
        }]
    );
    assert_eq!(dissector.status(), FlowStatus::Dropped);
}

#[test]
fn a_bad_greeting_is_a_parse_error_alert_with_haka_s_wording() {
    let mut dissector = golden::SmtpDissector::new();
    let mut recorder = Recorder {
        tracing: true,
        ..Recorder::default()
    };
    let segments = vec![(Direction::Down, b"22x oops\r\n".to_vec())];
    feed(&mut dissector, &mut recorder, &segments, &mut whole);
    assert_eq!(
        recorder.entries,
        [Entry::Alert {
            dir: Direction::Down,
            severity: Severity::High,
            description: "invalid smtp response parse error at byte 0 for field code in smtp_response: token CODE does not match".into()
        }]
    );
    assert_eq!(dissector.status(), FlowStatus::Dropped);
    assert!(
        recorder
            .trace
            .iter()
            .any(|l| l.contains("parse error context: 22x oops\\x0d\\x0a...")),
        "{:?}",
        recorder.trace
    );
}

#[test]
fn a_capture_ending_inside_the_mail_closes_its_stream_then_reports_the_error() {
    let mut segments = smtp_session();
    segments.truncate(10); // up to the first line of the mail
    let mut dissector = golden::SmtpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, &mut whole);
    let tail: Vec<&Entry> = recorder.entries.iter().rev().take(2).collect();
    assert!(
        matches!(tail[0], Entry::Alert { description, .. } if description.starts_with("invalid data blob parse error") && description.ends_with("unexpected end of stream")),
        "{tail:?}"
    );
    assert!(
        matches!(tail[1], Entry::Stream { lasts: 1, bytes, .. } if bytes == b"BLA BLA BLA ...\r\n"),
        "the held-back CRLF is data after all: {tail:?}"
    );
    assert_eq!(dissector.status(), FlowStatus::Dropped);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_splits_give_the_same_events(cuts in proptest::collection::vec(1usize..12, 64)) {
        let expected = run(&mut whole);
        let mut k = 0;
        let got = run(&mut |_, len| {
            let mut pieces = Vec::new();
            let mut left = len;
            while left > 0 {
                let piece = cuts[k % cuts.len()].min(left);
                k += 1;
                pieces.push(piece);
                left -= piece;
            }
            pieces
        });
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn a_huge_mail_streams_through_without_being_buffered() {
    let mut segments = smtp_session();
    let mail_line = b"0123456789 abcdefghijklmnopqrstuvwxyz ..........\r\n".repeat(64); // ~3 KiB
    let first_mail_segment = segments
        .iter()
        .position(|(_, b)| b.starts_with(b"BLA"))
        .expect("mail");
    let big: Vec<(Direction, Vec<u8>)> = (0..1024)
        .map(|_| (Direction::Up, mail_line.clone()))
        .collect();
    segments.splice(first_mail_segment..first_mail_segment, big);
    let mut dissector = smtp::SmtpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, &mut whole);
    let streamed: usize = recorder
        .entries
        .iter()
        .map(|e| match e {
            Entry::Stream { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum();
    let expected = 1024 * mail_line.len() + b"BLA BLA BLA ...\r\nMORE BLA BLA BLA ...".len();
    assert_eq!(
        streamed, expected,
        "3 MiB of mail, over the 1 MiB message cap, all streamed"
    );
    assert!(!recorder
        .entries
        .iter()
        .any(|e| matches!(e, Entry::Alert { .. })));
    assert_eq!(dissector.status(), FlowStatus::Finished);
}

#[test]
fn an_endless_multiline_reply_hits_the_message_cap() {
    let endless = b"250-more to come\r\n".repeat(70_000); // ~1.2 MiB
    let segments = vec![(Direction::Down, endless)];
    let mut dissector = golden::SmtpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, &mut |_, len| {
        vec![4096; len / 4096 + 1]
    });
    let [Entry::Alert { description, .. }] = recorder.entries.as_slice() else {
        panic!("{:?}", recorder.entries);
    };
    assert!(description.ends_with("message too long"), "{description}");
    assert_eq!(dissector.status(), FlowStatus::Dropped);
}
