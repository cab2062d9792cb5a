//! The workshop's starting point, `specs/tutorial/smtp_partial.proto`, whose
//! `smtp_responses` is `fail "incomplete grammar"`: on the SMTP session, the
//! server's greeting fails to parse, which raises one high alert and drops
//! the connection, as in Haka's `smtp_partial-ref.txt`.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod smtp_partial {
    include!(concat!(env!("OUT_DIR"), "/smtp_partial.rs"));
}

use protoc_runtime::dissector::{Dissector, FlowStatus, Severity};
use recorder::{bytewise, feed, smtp_session, whole, Entry, Recorder};

fn run(cut: &mut dyn FnMut(usize, usize) -> Vec<usize>) -> (Recorder, FlowStatus) {
    let mut dissector = smtp_partial::SmtpPartialDissector::new();
    let mut recorder = Recorder {
        tracing: true,
        ..Recorder::default()
    };
    feed(&mut dissector, &mut recorder, &smtp_session(), cut);
    let status = dissector.status();
    (recorder, status)
}

#[test]
fn the_greeting_is_an_invalid_response_and_the_flow_is_dropped() {
    let (recorder, status) = run(&mut whole);
    let [Entry::Alert {
        severity,
        description,
        ..
    }] = recorder.entries.as_slice()
    else {
        panic!("expected exactly one alert, got {:?}", recorder.entries);
    };
    assert_eq!(*severity, Severity::High);
    assert!(
        description.contains("invalid smtp response"),
        "{description}"
    );
    assert!(description.contains("incomplete grammar"), "{description}");
    assert_eq!(
        description,
        "invalid smtp response parse error at byte 0 for field <unknown> in smtp_responses: incomplete grammar"
    );
    assert_eq!(status, FlowStatus::Dropped);
}

#[test]
fn the_trace_shows_the_parse_error_context_like_haka() {
    let (recorder, _) = run(&mut whole);
    assert!(
        recorder.trace.iter().any(|line| line
            == "grammar: parse error context: 220 metasploitable.localdomain ESMTP Postfix (Ubuntu)\\x0d\\x0a..."),
        "{:#?}",
        recorder.trace
    );
}

#[test]
fn byte_by_byte_gives_the_same_alert() {
    let (whole_run, whole_status) = run(&mut whole);
    let (bytewise_run, bytewise_status) = run(&mut bytewise);
    assert_eq!(bytewise_run.entries, whole_run.entries);
    assert_eq!(bytewise_status, whole_status);
}
