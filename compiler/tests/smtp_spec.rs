//! The seed's SMTP spec (`tests/fixtures/specs/smtp_seed.proto`, from which
//! `specs/smtp.proto` grew) checks clean and lowers to the IR the code generator
//! relies on: states, transitions, record fields, event payloads, tokens.

use protoc_compiler::ir::{
    Action, Element, FieldDef, Spec, Target, TemplatePart, Transform, Transition, TransitionEvent,
    Type,
};
use protoc_compiler::{check_file, CheckResult};

fn spec_path(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn check_smtp() -> (CheckResult, Spec) {
    let result = check_file(spec_path("tests/fixtures/specs/smtp_seed.proto"))
        .expect("the spec file is readable");
    let spec = result
        .spec
        .clone()
        .unwrap_or_else(|| panic!("smtp.proto rejected:\n{}", result.render()));
    (result, spec)
}

fn field(name: &str, ty: Type) -> FieldDef {
    FieldDef {
        name: name.into(),
        ty,
    }
}

fn state_transitions<'s>(spec: &'s Spec, state: &str) -> &'s [Transition] {
    let id = spec
        .state_by_name(state)
        .unwrap_or_else(|| panic!("no state {state}"));
    &spec.state(id).transitions
}

fn jump_name(spec: &Spec, t: &Transition) -> String {
    match t.jump {
        Some(Target::State(id)) => spec.state(id).name.clone(),
        Some(Target::Fail) => "fail".into(),
        Some(Target::Finish) => "finish".into(),
        None => "-".into(),
    }
}

#[test]
fn smtp_checks_with_no_diagnostic_at_all() {
    let (result, spec) = check_smtp();
    assert!(result.diagnostics.is_empty(), "{}", result.render());
    assert_eq!(spec.name, "smtp");
    assert!(spec
        .source_path
        .ends_with("tests/fixtures/specs/smtp_seed.proto"));
    assert_eq!(spec.ports, vec![25, 587]);
}

#[test]
fn smtp_has_the_five_states_starting_with_session_initiation() {
    let (_, spec) = check_smtp();
    let names: Vec<&str> = spec
        .machine
        .states
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "session_initiation",
            "client_initiation",
            "response",
            "command",
            "data_transmission"
        ]
    );
    assert_eq!(spec.state(spec.machine.initial).name, "session_initiation");
    let grammar = |state: &str| {
        let s = spec.state(spec.state_by_name(state).unwrap());
        (
            s.up.map(|r| spec.record(r).name.clone()),
            s.down.map(|r| spec.record(r).name.clone()),
        )
    };
    assert_eq!(
        grammar("session_initiation"),
        (None, Some("smtp_responses".into()))
    );
    assert_eq!(grammar("command"), (Some("smtp_command".into()), None));
    assert_eq!(
        grammar("data_transmission"),
        (Some("smtp_data".into()), None)
    );
}

#[test]
fn smtp_transitions_keep_declaration_order_events_and_jumps() {
    let (_, spec) = check_smtp();
    let summary = |state: &str| -> Vec<(&'static str, bool, String)> {
        state_transitions(&spec, state)
            .iter()
            .map(|t| (t.on.name(), t.when.is_some(), jump_name(&spec, t)))
            .collect()
    };
    assert_eq!(
        summary("response"),
        [
            ("parse_error", false, "fail".to_string()),
            ("down", true, "data_transmission".to_string()),
            ("down", true, "finish".to_string()),
            ("down", false, "command".to_string()),
        ]
    );
    assert_eq!(
        summary("data_transmission"),
        [
            ("parse_error", false, "fail".into()),
            ("up", false, "response".into())
        ]
    );
    let any: Vec<_> = spec
        .machine
        .any
        .iter()
        .map(|t| (t.on, t.binding.clone(), t.when.is_some()))
        .collect();
    assert_eq!(
        any,
        [
            (TransitionEvent::Fail, None, false),
            (TransitionEvent::MissingGrammar, Some("dir".into()), true),
            (TransitionEvent::MissingGrammar, Some("dir".into()), false),
        ]
    );
    assert!(matches!(
        spec.machine.any[0].actions.as_slice(),
        [Action::Drop]
    ));
    // Transition lines point at the source.
    let source =
        std::fs::read_to_string(spec_path("tests/fixtures/specs/smtp_seed.proto")).unwrap();
    let line = source.lines().nth(spec.machine.any[0].line - 1).unwrap();
    assert_eq!(line.trim(), "any on fail {");
}

#[test]
fn smtp_bindings_and_conditions_are_typed() {
    let (_, spec) = check_smtp();
    let first = &state_transitions(&spec, "session_initiation")[1];
    assert_eq!(first.binding.as_deref(), Some("res"));
    let when = first.when.as_ref().unwrap();
    assert_eq!(when.ty, Type::Bool);
    // res.responses[0].code == "220": the left side is a string.
    let protoc_compiler::ir::ExprKind::Binary(_, left, _) = &when.kind else {
        panic!("{when:?}")
    };
    assert_eq!(left.ty, Type::Str);
    // "unavailable service: {res.responses[0].code}" interpolates a string.
    let fallback = &state_transitions(&spec, "session_initiation")[2];
    let Action::Alert { description, .. } = &fallback.actions[0] else {
        panic!()
    };
    assert!(
        matches!(&description.parts[..], [TemplatePart::Text(t), TemplatePart::Expr(e)]
        if t == "unavailable service: " && e.ty == Type::Str)
    );
}

#[test]
fn smtp_record_fields_are_flattened_and_typed() {
    let (_, spec) = check_smtp();
    let fields = |name: &str| {
        spec.record(spec.record_by_name(name).unwrap())
            .fields
            .clone()
    };
    assert_eq!(fields("param"), [field("parameter", Type::Str)]);
    assert_eq!(
        fields("smtp_command"),
        [
            field("command", Type::Str),
            field("parameter", Type::Optional(Box::new(Type::Str)))
        ]
    );
    assert_eq!(
        fields("smtp_response"),
        [
            field("code", Type::Str),
            field("sep", Type::Str),
            field("parameter", Type::Str)
        ]
    );
    assert_eq!(
        fields("smtp_responses"),
        [field(
            "responses",
            Type::List(Box::new(Type::Record("smtp_response".into())))
        )]
    );
    assert_eq!(fields("smtp_data"), [], "chunked bytes keep no field");
}

#[test]
fn smtp_command_branches_on_the_cmd_table() {
    let (_, spec) = check_smtp();
    let record = spec.record(spec.record_by_name("smtp_command").unwrap());
    let Element::Branch {
        key,
        cases,
        default,
    } = &record.items[1]
    else {
        panic!("{:?}", record.items[1])
    };
    assert!(
        matches!(&key.kind, protoc_compiler::ir::ExprKind::Lookup { table, .. } if table == "CMD")
    );
    let keys: Vec<&str> = cases.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["required", "optional", "none"]);
    assert!(matches!(default.as_deref(), Some(Element::Fail(m)) if m == "unknown command"));
    assert!(matches!(&cases[1].1, Element::Optional { cond, .. } if cond.ty == Type::Bool));
}

#[test]
fn smtp_events_carry_their_records() {
    let (_, spec) = check_smtp();
    let payload = |name: &str| {
        let event = spec.events.iter().find(|e| e.name == name).unwrap();
        (
            event.streamed,
            event.payload.map(|r| spec.record(r).name.clone()),
        )
    };
    assert_eq!(payload("command"), (false, Some("smtp_command".into())));
    assert_eq!(payload("response"), (false, Some("smtp_responses".into())));
    assert_eq!(payload("mail_content"), (true, None));
}

#[test]
fn smtp_tokens_have_their_longest_match() {
    let (_, spec) = check_smtp();
    let max = |name: &str| {
        spec.grammar
            .tokens
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .max_len
    };
    assert_eq!(max("CRLF"), Some(2));
    assert_eq!(max("CODE"), Some(3));
    assert_eq!(max("DATA_END"), Some(5));
    assert_eq!(max("MESSAGE"), None);
    let data = spec.record(spec.record_by_name("smtp_data").unwrap());
    let Element::Field { name, element } = &data.items[0] else {
        panic!()
    };
    assert_eq!(name, "data");
    let Element::BytesUntil {
        token,
        chunked,
        transform,
    } = element.as_ref()
    else {
        panic!()
    };
    assert_eq!(spec.token(*token).name, "DATA_END");
    assert_eq!(spec.event(chunked.unwrap()).name, "mail_content");
    assert_eq!(*transform, Some(Transform::Unstuff));
}
