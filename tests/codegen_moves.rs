//! The dissector generated from `tests/fixtures/specs/moves.proto`: a
//! transition's last use of its message moves the message's strings into the
//! event (`std::mem::take`), and every use before it, in later actions or in
//! later fields of the same trigger, still sees them whole.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod moves {
    include!(concat!(env!("OUT_DIR"), "/fixtures/moves.rs"));
}

use protoc_runtime::dissector::{Cx, Direction, Dissector};
use protoc_runtime::value::Value;
use recorder::{flow, Entry, Recorder};

use Direction::{Down, Up};

fn event(dir: Direction, name: &'static str, fields: &[(&str, &str)]) -> Entry {
    let fields = fields
        .iter()
        .map(|(k, v)| (k.to_string().into(), Value::Str(v.to_string())))
        .collect();
    Entry::Event {
        dir,
        name,
        fields: Value::Record(fields),
    }
}

#[test]
fn every_use_before_the_last_sees_the_message_whole() {
    let mut dissector = moves::MovesDissector::new();
    let mut recorder = Recorder::default();
    let info = flow();
    let mut cx = Cx {
        flow: &info,
        now: 0.0,
        sink: &mut recorder,
    };
    dissector.feed(Up, b"ab cd\n", &mut cx);
    dissector.feed(Down, b"ef gh\n", &mut cx);
    assert_eq!(
        recorder.entries,
        [
            event(Up, "pair", &[("a", "ab"), ("b", "cd")]),
            event(Up, "whole", &[("a", "ab"), ("b", "cd")]),
            event(Up, "kept", &[("value", "cd")]),
            event(Down, "whole", &[("a", "ef"), ("b", "gh")]),
            event(Down, "pair", &[("a", "ef"), ("b", "ef")]),
        ]
    );
}

#[test]
fn only_the_last_uses_move() {
    let code = include_str!(concat!(env!("OUT_DIR"), "/fixtures/moves.rs"));
    let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    // up: `whole(l)` is the last use; down: the second field of `pair`.
    for moved in [
        "\"whole\",&std::mem::take(l).into_value()",
        "(\"b\",std::mem::take(&mutl.a).into_value())",
    ] {
        assert_eq!(squeezed.matches(moved).count(), 1, "{moved}");
    }
    assert_eq!(squeezed.matches("std::mem::take(l)").count(), 1);
    assert_eq!(squeezed.matches("std::mem::take(&mutl.").count(), 1);
}
