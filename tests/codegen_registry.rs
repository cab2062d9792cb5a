//! The registry of built-in specs (`src/specs.rs` over the `build.rs` output):
//! every spec under `specs/` is there, top-level ones first, and found by
//! name and port.

#[allow(dead_code)]
#[path = "../src/specs.rs"]
mod specs;

#[test]
fn every_spec_is_registered_top_level_first() {
    let names: Vec<&str> = specs::names().collect();
    assert_eq!(names.first(), Some(&"dns"), "top-level specs by path");
    assert!(names.contains(&"smtp_partial"), "{names:?}");
    let position = |name| names.iter().position(|n| *n == name);
    assert!(position("dns") < position("smtp"));
    assert!(position("smtp") < position("smtp_partial"));
}

#[test]
fn specs_are_found_by_name_and_port() {
    assert_eq!(
        specs::by_name("smtp").map(|s| s.ports),
        Some(&[25u16, 587][..])
    );
    assert_eq!(specs::by_port(587).map(|s| s.name), Some("smtp"));
    assert_eq!(
        specs::by_port(25).map(|s| s.name),
        Some("smtp"),
        "the top-level spec wins port 25"
    );
    assert_eq!(
        specs::by_name("smtp_partial").map(|s| s.name),
        Some("smtp_partial")
    );
    assert!(specs::by_name("nope").is_none());
    assert_eq!(specs::by_port(80).map(|s| s.name), Some("http"));
    assert!(specs::by_port(7).is_none());
}

#[test]
fn descriptors_describe_events_and_make_dissectors() {
    let smtp = specs::by_name("smtp").expect("smtp is built in");
    let events: Vec<(&str, bool)> = smtp.events.iter().map(|e| (e.name, e.streamed)).collect();
    assert_eq!(
        events,
        [
            ("command", false),
            ("response", false),
            ("transaction", false),
            ("starttls", false),
            ("mail_content", true)
        ]
    );
    let command = smtp
        .events
        .iter()
        .find(|e| e.name == "command")
        .map(|e| e.fields)
        .unwrap_or_default();
    let fields: Vec<(&str, &str)> = command.iter().map(|f| (f.name, f.ty)).collect();
    assert_eq!(
        fields,
        [
            ("command", "string"),
            ("parameter", "optional string"),
            ("size", "optional string"),
            ("last", "optional string")
        ]
    );
    let responses = smtp
        .records
        .iter()
        .find(|(name, _)| *name == "smtp_responses")
        .map(|(_, f)| *f)
        .unwrap_or_default();
    assert_eq!(
        responses.first().map(|f| f.ty),
        Some("list of record smtp_response")
    );
    let dissector = (smtp.new_dissector)();
    assert_eq!(
        dissector.status(),
        protoc_runtime::dissector::FlowStatus::Active
    );
}
