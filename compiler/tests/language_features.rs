//! The language features real protocols need, through the front end: a small
//! spec using each of them checks clean and lowers to the IR its consumers
//! rely on (counted and tried elements, per-flow variables, named-value
//! triggers, stream tallies, `close`/`resync`/`stop`, the `end` event), and
//! the code generated for it parses as Rust (`tests/codegen_features.rs`
//! compiles and runs it).

use protoc_compiler::check_source;
use protoc_compiler::ir::{Action, Element, Spec, Target, TransitionEvent, Type};

const SPEC: &str = include_str!("../../tests/fixtures/specs/features.proto");

fn checked() -> Spec {
    let result = check_source("tests/fixtures/specs/features.proto", SPEC);
    assert!(
        result.diagnostics.is_empty(),
        "no diagnostic:\n{}",
        result.render()
    );
    result.spec.expect("the spec checks")
}

#[test]
fn counted_bytes_tried_tokens_and_guards_lower_to_their_elements() {
    let spec = checked();
    let header = spec.record(spec.record_by_name("header").expect("header"));
    let last = header.items.last().expect("items");
    let Element::BytesCount(count) = last else {
        panic!("a counted field: {last:?}");
    };
    assert!(count.chunked.is_some());
    assert!(count.ends.is_some(), "ends if");
    assert_eq!(count.count.ty, Type::Optional(Box::new(Type::Int)));
    let end = header
        .items
        .iter()
        .find_map(|i| match i {
            Element::Field { name, element } if name == "end" => Some(element),
            _ => None,
        })
        .expect("the `end` field");
    assert!(matches!(**end, Element::TryToken(_)), "{end:?}");
    let end_type = header
        .fields
        .iter()
        .find(|f| f.name == "end")
        .map(|f| f.ty.clone());
    assert_eq!(end_type, Some(Type::Optional(Box::new(Type::Str))));
    assert!(header.items.iter().any(
        |i| matches!(i, Element::Optional { element, .. } if matches!(**element, Element::Fail(_)))
    ));
}

#[test]
fn variables_named_triggers_and_the_new_actions_lower_as_written() {
    let spec = checked();
    let vars: Vec<(&str, Type)> = spec
        .machine
        .vars
        .iter()
        .map(|v| (v.name.as_str(), v.ty.clone()))
        .collect();
    assert_eq!(
        vars,
        [
            ("pending", Type::List(Box::new(Type::Str))),
            ("sender", Type::Str),
            ("chunks", Type::Int)
        ]
    );
    let talk = spec.state(spec.state_by_name("talk").expect("talk"));
    let actions: Vec<&Action> = talk.transitions.iter().flat_map(|t| &t.actions).collect();
    let has = |f: &dyn Fn(&Action) -> bool| actions.iter().any(|a| f(a));
    assert!(has(
        &|a| matches!(a, Action::Push { var, .. } if var == "pending")
    ));
    assert!(has(
        &|a| matches!(a, Action::Set { var, .. } if var == "sender")
    ));
    assert!(has(&|a| matches!(a, Action::Pop(v) if v == "pending")));
    assert!(has(&|a| matches!(a, Action::Clear(v) if v == "sender")));
    assert!(has(&|a| matches!(a, Action::Close(_))));
    assert!(has(&|a| matches!(a, Action::Stop)));
    // `stop` ends its transition: no jump follows it.
    let stopping = talk
        .transitions
        .iter()
        .find(|t| t.actions.iter().any(|a| matches!(a, Action::Stop)))
        .expect("the stopping transition");
    assert_eq!(stopping.jump, None);

    // Events triggered with named values carry them, typed.
    let done = spec.events.iter().find(|e| e.name == "done").expect("done");
    let fields: Vec<(&str, Type)> = done
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("size", Type::Int),
            ("sha256", Type::Str),
            ("missing", Type::Int),
            ("answered", Type::Optional(Box::new(Type::Str))),
            ("reply", Type::Str)
        ]
    );
    assert_eq!(done.payload, None);
    let chunk = spec
        .events
        .iter()
        .find(|e| e.name == "chunk")
        .expect("chunk");
    assert_eq!(
        chunk
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["verb", "size", "dir"]
    );
    assert!(spec
        .events
        .iter()
        .any(|e| e.name == "tls" && e.fields.is_empty()));
}

#[test]
fn resync_and_end_lower_with_their_tokens_and_binding() {
    let spec = checked();
    let resyncs: Vec<(String, Option<String>)> = spec
        .machine
        .any
        .iter()
        .flat_map(|t| &t.actions)
        .filter_map(|a| match a {
            Action::Resync { token, unless } => Some((
                spec.token(*token).name.clone(),
                unless.map(|u| spec.token(u).name.clone()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(resyncs.len(), 2);
    assert_eq!(resyncs[0], ("NL".to_string(), Some("WORD".to_string())));
    // An inline regex is a token of its own (`_token_N`).
    assert!(resyncs[1].0.starts_with("_token_"), "{resyncs:?}");
    assert!(resyncs[1].1.is_none());

    let quiet = spec.state(spec.state_by_name("quiet").expect("quiet"));
    let end = quiet.transitions.first().expect("the end transition");
    assert_eq!(end.on, TransitionEvent::End);
    assert_eq!(end.binding.as_deref(), Some("dir"));
    assert!(matches!(end.jump, Some(Target::State(_))));
}

#[test]
fn the_generated_code_parses_and_keeps_the_features() {
    let code = protoc_compiler::codegen::generate(&checked());
    let parsed = syn::parse_file(&code).map(drop).map_err(|e| e.to_string());
    assert_eq!(parsed, Ok(()));
    assert!(!code.contains("compile_error!"), "{code}");
    for expected in [
        "self.count.stream(",
        "try_read(",
        "struct Vars",
        "machine::push(&mut self.vars.pending",
        "machine::trigger_fields(",
        "machine::close_stream(",
        "fn stop(",
        "Resync::new(",
        "fn on_end(",
        "const DIGESTS: &[&str] = &[\"body\"",
        "absorb_gap",
        "parse_number",
    ] {
        // prettyplease wraps long calls: compare without whitespace.
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert!(
            squeeze(&code).contains(&squeeze(expected)),
            "missing `{expected}`"
        );
    }
}
