//! Expressions in generated code mean what `protoc_runtime::expr::eval`
//! says: the alert of `tests/fixtures/specs/exprs.proto` interpolates
//! expressions over absent indexes, optional fields, const lookups, string
//! functions, comparisons and boolean operators; for several messages, the
//! generated dissector's text must equal the template rendered by the
//! interpreter over the event's record.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod exprs {
    include!(concat!(env!("OUT_DIR"), "/fixtures/exprs.rs"));
}

use protoc_compiler::ir::{Action, Spec, Template};
use protoc_runtime::dissector::{Direction, Dissector};
use protoc_runtime::expr::Scope;
use protoc_runtime::value::Value;
use recorder::{bytewise, feed, Entry, Recorder};

fn checked_spec() -> Spec {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/specs/exprs.proto"
    );
    let result = protoc_compiler::check_file(path).expect("readable");
    match result.spec.clone() {
        Some(spec) => spec,
        None => panic!("exprs.proto rejected:\n{}", result.render()),
    }
}

fn alert_template(spec: &Spec) -> Template {
    let actions = spec
        .machine
        .states
        .iter()
        .flat_map(|s| &s.transitions)
        .flat_map(|t| &t.actions);
    actions
        .filter_map(|a| match a {
            Action::Alert { description, .. } => Some(description.clone()),
            _ => None,
        })
        .next()
        .expect("the spec has an alert")
}

/// The interpreter's view: `res` and the spec's const tables.
struct Interpreter<'a> {
    spec: &'a Spec,
    res: Value,
}

impl Scope for Interpreter<'_> {
    fn var(&self, name: &str) -> Value {
        if name == "res" {
            self.res.clone()
        } else {
            Value::Null
        }
    }
    /// Every message of the test comes from the client.
    fn direction(&self) -> Option<&'static str> {
        Some("up")
    }
    fn lookup(&self, table: &str, key: &str) -> Value {
        self.spec
            .const_table(table)
            .and_then(|t| t.entries.iter().find(|(k, _)| k == key))
            .map_or(Value::Null, |(_, v)| Value::Str(v.clone()))
    }
}

#[test]
fn generated_expressions_agree_with_the_interpreter() {
    let spec = checked_spec();
    let template = alert_template(&spec);
    let messages: [&[u8]; 4] = [
        b"a b end \n",
        b"b end +zz\n",
        b"end \n",
        b"a b a b a b a b a b end +q\n",
    ];
    let segments: Vec<(Direction, Vec<u8>)> = messages
        .iter()
        .map(|m| (Direction::Up, m.to_vec()))
        .collect();
    let mut dissector = exprs::ExprsDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, &mut bytewise);

    let mut checked = 0;
    let mut entries = recorder.entries.iter();
    while let Some(entry) = entries.next() {
        let Entry::Event {
            name: "hit",
            fields,
            ..
        } = entry
        else {
            panic!("expected a hit event, got {entry:?}");
        };
        let Some(Entry::Alert { description, .. }) = entries.next() else {
            panic!("each hit is followed by its alert");
        };
        let expected = template.render(&Interpreter {
            spec: &spec,
            res: fields.clone(),
        });
        let got: Vec<&str> = description.split('|').collect();
        let want: Vec<&str> = expected.split('|').collect();
        assert_eq!(got, want, "message {checked}");
        checked += 1;
    }
    assert_eq!(checked, messages.len());
}

#[test]
fn absent_values_compare_unequal_and_display_empty() {
    let mut dissector = exprs::ExprsDissector::new();
    let mut recorder = Recorder::default();
    feed(
        &mut dissector,
        &mut recorder,
        &[(Direction::Up, b"end \n".to_vec())],
        &mut bytewise,
    );
    let Some(Entry::Alert { description, .. }) = recorder.entries.get(1) else {
        panic!("{:?}", recorder.entries);
    };
    let parts: Vec<&str> = description.split('|').collect();
    // items[0].w, items[5].w (absent), items[1].w == "end" (absent: false),
    // items[9].w == "x" (false), items[9].w != "x" (true).
    assert_eq!(
        parts.get(..5),
        Some(&["end", "", "false", "false", "true"][..])
    );
    assert_eq!(
        dissector.status(),
        protoc_runtime::dissector::FlowStatus::Active
    );
}
