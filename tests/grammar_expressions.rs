//! The expressions the grammar set brought mean the same in generated code
//! as in `protoc_runtime::expr::eval`: each `{…}` of the alert of
//! `tests/fixtures/specs/computed.proto` (arithmetic, with a division by
//! zero and an overflow; string concatenation; a field of every element of
//! a list; `join`, `text`, `hex`, `ip`) renders the same text from the
//! generated dissector and from the interpreter over the event's record.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod computed {
    include!(concat!(env!("OUT_DIR"), "/fixtures/computed.rs"));
}

use protoc_compiler::ir::{Action, Template};
use protoc_runtime::dissector::Direction;
use protoc_runtime::expr::Scope;
use protoc_runtime::value::Value;
use recorder::{bytewise, feed, Entry, Recorder};

fn alert_template() -> Template {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/specs/computed.proto"
    );
    let checked = protoc_compiler::check_file(path).expect("readable");
    let Some(spec) = checked.spec.clone() else {
        panic!("computed.proto rejected:\n{}", checked.render());
    };
    spec.machine
        .states
        .iter()
        .flat_map(|s| &s.transitions)
        .flat_map(|t| &t.actions)
        .find_map(|a| match a {
            Action::Alert { description, .. } => Some(description.clone()),
            _ => None,
        })
        .expect("the spec has an alert")
}

struct Res(Value);

impl Scope for Res {
    fn var(&self, name: &str) -> Value {
        if name == "res" {
            self.0.clone()
        } else {
            Value::Null
        }
    }
}

#[test]
fn generated_code_computes_what_the_interpreter_computes() {
    let template = alert_template();
    let messages: [&[u8]; 3] = [
        b"\x02\x07\x02\x09\x00\xc0\x00\x02\x01abc\n",
        b"\x01\x05\x00\x20\x01\x0d\xb8\n",
        b"\x00\x00\x00\x00\x00\n",
    ];
    let segments: Vec<(Direction, Vec<u8>)> = messages
        .iter()
        .map(|m| (Direction::Up, m.to_vec()))
        .collect();
    let mut dissector = computed::ComputedDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, &mut bytewise);

    let mut rendered = Vec::new();
    let mut entries = recorder.entries.iter();
    while let Some(entry) = entries.next() {
        let Entry::Event { fields, .. } = entry else {
            panic!("expected an event, got {entry:?}");
        };
        let Some(Entry::Alert { description, .. }) = entries.next() else {
            panic!("each event is followed by its alert");
        };
        let expected = template.render(&Res(fields.clone()));
        assert_eq!(
            description.split('|').collect::<Vec<_>>(),
            expected.split('|').collect::<Vec<_>>()
        );
        rendered.push(description.clone());
    }
    assert_eq!(rendered.len(), messages.len());
    // The first message, spelled out: the interpreter is not the only judge.
    let first: Vec<&str> = rendered[0].split('|').collect();
    assert_eq!(
        first,
        [
            "3",
            "-1",
            "14",
            "3",
            "1",
            "",
            "-9223372036854775807",
            "abc!",
            "",
            "[7,9]",
            "[\"7/2\",\"9/0\"]",
            "7/2, 9/0",
            "2",
            "\u{fffd}\0\u{2}\u{1}",
            "c0000201",
            "192.0.2.1",
            "3",
            "false",
            "1",
            "",
            "1",
            "2748",
            "13368",
            "",
        ]
    );
    let second: Vec<&str> = rendered[1].split('|').collect();
    assert_eq!(second.get(3), Some(&""), "5 / 0 is absent: {second:?}");
    assert_eq!(second.get(4), Some(&""), "5 % 0 is absent: {second:?}");
    assert_eq!(
        second.get(6),
        Some(&"-9223372036854775808"),
        "wraps: {second:?}"
    );
    assert_eq!(second.get(15), Some(&"32.1.13.184"), "{second:?}");
}
