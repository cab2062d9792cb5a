//! The checker's IR for the grammar set, and the grammar graph it draws.
//!
//! `specs/dns.proto` and `tests/fixtures/specs/entities.proto` use every
//! grammar entity; these tests check what the checker makes of them: the
//! fields a record's value carries (message variables are not among them,
//! converters and `let` give their types, branch and `try` cases make
//! fields optional, a `var` never is), the transports, and the grammar
//! graph (every entity drawn, rendered by Graphviz `dot`).

use std::io::Write;
use std::process::{Command, Stdio};

use protoc_compiler::ir::{Element, FieldDef, Spec, TcpMode, Transport, Type};

fn checked(relative: &str) -> Spec {
    let path = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    let result = protoc_compiler::check_file(&path).expect("readable spec");
    assert!(
        result.diagnostics.is_empty(),
        "{relative}: {}",
        result.render()
    );
    result.spec.clone().expect("a checked spec")
}

fn fields(spec: &Spec, record: &str) -> Vec<(String, Type)> {
    let id = spec.record_by_name(record).expect("the record exists");
    spec.record(id)
        .fields
        .iter()
        .map(|FieldDef { name, ty }| (name.clone(), ty.clone()))
        .collect()
}

fn opt(ty: Type) -> Type {
    Type::Optional(Box::new(ty))
}

fn list(ty: Type) -> Type {
    Type::List(Box::new(ty))
}

/// The message variables of a record, as the IR names them.
fn hidden(spec: &Spec, record: &str) -> Vec<(String, Type)> {
    fn walk(e: &Element, out: &mut Vec<(String, Type)>) {
        match e {
            Element::Hidden { name, ty, element } => {
                out.push((name.clone(), ty.clone()));
                walk(element, out);
            }
            Element::Field { element, .. } | Element::Convert { element, .. } => walk(element, out),
            Element::Sequence(items) | Element::Try(items) | Element::Union(items) => {
                items.iter().for_each(|i| walk(i, out))
            }
            Element::Branch { cases, default, .. } => {
                cases.iter().for_each(|(_, c)| walk(c, out));
                default.iter().for_each(|d| walk(d, out));
            }
            _ => {}
        }
    }
    let id = spec.record_by_name(record).expect("the record exists");
    let mut out = Vec::new();
    spec.record(id).items.iter().for_each(|i| walk(i, &mut out));
    out
}

#[test]
fn dns_records_carry_the_fields_of_the_events_and_keep_the_rest_hidden() {
    let spec = checked("specs/dns.proto");
    assert_eq!(
        spec.transport,
        Transport::Carried {
            tcp: Some(TcpMode::Framed(protoc_compiler::ir::FrameFormat {
                bytes: 2,
                little_endian: false
            })),
            udp: true
        }
    );
    assert_eq!(
        fields(&spec, "question"),
        [
            ("name".into(), Type::Str),
            ("type".into(), Type::Int),
            ("class".into(), Type::Int)
        ]
    );
    assert_eq!(
        hidden(&spec, "question"),
        [("qname".into(), Type::Record("name".into()))]
    );
    // `data` is text in every case; an A record's `ip` may be absent.
    assert_eq!(
        fields(&spec, "resource"),
        [
            ("name".into(), Type::Str),
            ("type".into(), Type::Int),
            ("ttl".into(), Type::Int),
            ("data".into(), opt(Type::Str)),
        ]
    );
    // A label is a length and text, or a pointer: `text` is always there.
    assert_eq!(
        fields(&spec, "label"),
        [
            ("kind".into(), Type::Int),
            ("length".into(), opt(Type::Int)),
            ("text".into(), Type::Str),
            ("pointer".into(), opt(Type::Int)),
        ]
    );
    // The header's flags are booleans, merged into the message.
    let message = fields(&spec, "message");
    assert!(message.contains(&("qr".into(), Type::Bool)), "{message:?}");
    assert!(
        message.contains(&("rcode".into(), Type::Int)),
        "{message:?}"
    );
    assert!(
        message.contains(&("answers".into(), list(Type::Record("resource".into())))),
        "{message:?}"
    );
}

#[test]
fn entity_fields_follow_converters_cases_and_alternatives() {
    let spec = checked("tests/fixtures/specs/entities.proto");
    let numbers = fields(&spec, "numbers");
    assert!(numbers.contains(&("urgent".into(), Type::Bool)));
    assert!(numbers.contains(&("scaled".into(), Type::Int)), "mult(4)");
    assert!(numbers.contains(&("on".into(), Type::Bool)), "as bool");
    let alternatives = fields(&spec, "alternatives");
    // Every `try` alternative sets `kind`; the others are optional.
    assert!(alternatives.contains(&("kind".into(), Type::Str)));
    assert!(alternatives.contains(&("v1".into(), opt(Type::Str))));
    assert!(alternatives.contains(&("number".into(), opt(Type::Int))));
    // A union sets all its members.
    assert!(alternatives.contains(&("high".into(), Type::Int)));
    assert!(alternatives.contains(&("ip".into(), opt(Type::Str))));
    assert_eq!(
        hidden(&spec, "alternatives"),
        [("address".into(), Type::Bytes)]
    );
    // Branch cases make the frame's fields optional, but not its `var`s.
    let frame = fields(&spec, "frame");
    assert!(frame.contains(&("greeting".into(), opt(Type::Str))));
    assert!(frame.contains(&("again".into(), opt(Type::Record("first_byte".into())))));
    assert_eq!(
        hidden(&spec, "frame"),
        [("length".into(), Type::Int), ("position".into(), Type::Int)]
    );
}

#[test]
fn the_grammar_graph_draws_every_entity_and_renders() {
    for relative in ["specs/dns.proto", "tests/fixtures/specs/entities.proto"] {
        let spec = checked(relative);
        let dot = protoc_compiler::graph::grammar_dot(&spec);
        let rendered = render(&dot);
        assert!(
            rendered.starts_with("<?xml") || rendered.contains("<svg"),
            "{relative}"
        );
        if relative.contains("entities") {
            for expected in [
                "u16le",
                "flag",
                "padding align 64",
                "array count n",
                "array while offset() < end",
                "as mult(4)",
                "var address",
                "= ip(address)",
                "verify high < 200",
                "label=\"try\"",
                "label=\"union\"",
                "alternative 2",
                "at position",
            ] {
                assert!(dot.contains(expected), "no `{expected}` in\n{dot}");
            }
            // Integer cases are written as numbers.
            assert!(dot.contains("label=\"1\""), "{dot}");
        } else {
            assert!(dot.contains("at pointer"), "{dot}");
            assert!(dot.contains("as ip"), "{dot}");
        }
    }
}

/// `dot -Tsvg` of `text`: it must succeed.
fn render(text: &str) -> String {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz `dot` runs (.ci/run installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("dot reads");
    let out = child.wait_with_output().expect("dot ends");
    assert!(
        out.status.success(),
        "dot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
