//! The rules checker against hand-built spec descriptors (what a binary has
//! compiled in), and end to end: rules text → `load_rules` → `RulesSink`.

use std::fs;
use std::path::{Path, PathBuf};

use protoc_compiler::rules::schema::Schema;
use protoc_compiler::rules::{check_rule_sources, load_rules, RulesError};
use protoc_runtime::dissector::{
    Direction, Dissector, EventSchema, EventSink, FieldSchema, FlowInfo, SpecDescriptor, Verdict,
};
use protoc_runtime::output::{Format, OutputSink};
use protoc_runtime::rules::{RuleAction, RulesSink};
use protoc_runtime::value::Value;

// ---- an SMTP-like descriptor, as generated code would export it ----

const COMMAND_FIELDS: &[FieldSchema] = &[
    FieldSchema {
        name: "command",
        ty: "string",
    },
    FieldSchema {
        name: "parameter",
        ty: "optional string",
    },
];
const RESPONSES_FIELDS: &[FieldSchema] = &[FieldSchema {
    name: "responses",
    ty: "list of record `smtp_response`",
}];
const RESPONSE_FIELDS: &[FieldSchema] = &[
    FieldSchema {
        name: "code",
        ty: "string",
    },
    FieldSchema {
        name: "sep",
        ty: "string",
    },
    FieldSchema {
        name: "parameter",
        ty: "string",
    },
];

fn no_dissector() -> Box<dyn Dissector> {
    unreachable!("rules checking never makes a dissector")
}

static SMTP: SpecDescriptor = SpecDescriptor {
    name: "smtp",
    ports: &[25],
    transports: &[protoc_runtime::dissector::Transport::Tcp],
    events: &[
        EventSchema {
            name: "command",
            streamed: false,
            fields: COMMAND_FIELDS,
        },
        EventSchema {
            name: "response",
            streamed: false,
            fields: RESPONSES_FIELDS,
        },
        EventSchema {
            name: "mail_content",
            streamed: true,
            fields: &[],
        },
    ],
    new_dissector: no_dissector,
    records: &[
        ("smtp_command", COMMAND_FIELDS),
        ("smtp_responses", RESPONSES_FIELDS),
        ("smtp_response", RESPONSE_FIELDS),
    ],
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn invalid_report(result: Result<impl std::fmt::Debug, RulesError>) -> (String, usize) {
    match result {
        Err(RulesError::Invalid { report, errors }) => (report, errors),
        other => panic!("expected invalid rules, got {other:?}"),
    }
}

// ---- the schema ----

#[test]
fn descriptors_and_the_checked_spec_give_the_same_events() {
    // The descriptor above mirrors the seed's SMTP spec.
    let checked =
        protoc_compiler::check_file(repo().join("tests/fixtures/specs/smtp_seed.proto")).unwrap();
    let from_spec = Schema::from_specs(&[checked.spec.unwrap()]);
    let from_descriptor = Schema::from_descriptors(&[&SMTP]);
    assert_eq!(
        from_spec.spec("smtp").unwrap().events,
        from_descriptor.spec("smtp").unwrap().events
    );
}

// ---- loading the shipped rules ----

#[test]
fn the_shipped_rules_load_against_the_descriptor() {
    let paths = [
        repo().join("rules/spam_filter.rules"),
        repo().join("rules/mail_content.rules"),
    ];
    let loaded = load_rules(&paths, &[&SMTP]).unwrap();
    assert_eq!(loaded.warnings, "");
    let rules = &loaded.rules.rules;
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["forbidden_domain", "dump_mail"]);
    assert_eq!(
        (rules[0].spec.as_str(), rules[0].event.as_str()),
        ("smtp", "command")
    );
    assert!(rules[0].when.is_some());
    assert!(matches!(
        rules[0].actions[..],
        [RuleAction::Alert { .. }, RuleAction::Drop]
    ));
    assert_eq!(rules[0].origin.line, 8);
    assert!(matches!(
        &rules[1].actions[..],
        [RuleAction::Extract { label }] if label == "Mail Content"
    ));
}

#[test]
fn loaded_rules_alert_and_drop_in_the_sink() {
    let paths = [repo().join("rules/spam_filter.rules")];
    let loaded = load_rules(&paths, &[&SMTP]).unwrap();
    let mut sink = RulesSink::new(loaded.rules, OutputSink::new(Vec::new(), Format::Json));
    sink.set_proto(1, "smtp");
    let flow = FlowInfo {
        id: 1,
        src: "10.0.0.1:4000".parse().unwrap(),
        dst: "10.0.0.2:25".parse().unwrap(),
    };
    let command = |cmd: &str, parameter: &str| {
        Value::Record(vec![
            ("command".into(), Value::Str(cmd.into())),
            ("parameter".into(), Value::Str(parameter.into())),
        ])
    };
    let cases = [
        ("HELO", "suspicious.org", Verdict::Continue),
        ("MAIL", "FROM:<a@example.org>", Verdict::Continue),
        ("Mail", "FROM:<spam@suspicious.org>", Verdict::Drop),
    ];
    for (cmd, parameter, expected) in cases {
        let verdict = sink.event(
            &flow,
            Direction::Up,
            1.0,
            "command",
            &command(cmd, parameter),
        );
        assert_eq!(verdict, expected, "{cmd} {parameter}");
    }
    assert_eq!(sink.counts().alerts, 1);
    let out = String::from_utf8(sink.into_output().into_inner()).unwrap();
    let alert = out.lines().last().unwrap();
    assert!(alert.contains(r#""event":"alert""#), "{alert}");
    assert!(alert.contains(r#""rule":"forbidden_domain""#), "{alert}");
    assert!(
        alert.contains(r#""description":"forbidden mail domain""#),
        "{alert}"
    );
}

// ---- rejected files ----

#[test]
fn a_bad_file_is_rejected_with_file_line_column_caret_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.rules",
        "# comment\nrule r on smtp.command when comand == \"x\" { drop; }\n",
    );
    let (report, errors) = invalid_report(load_rules(std::slice::from_ref(&path), &[&SMTP]));
    assert_eq!(errors, 1);
    assert!(
        report.contains(&format!("--> {}:2:29", path.display())),
        "{report}"
    );
    assert!(report.contains("^^^^^^ no such field"), "{report}");
    assert!(report.contains("hint: did you mean `command`?"), "{report}");
    assert!(report.ends_with(&format!("{}: 1 error, 0 warnings\n", path.display())));
}

#[test]
fn every_file_is_checked_and_only_bad_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.rules",
        "rule a on smtp.command { drop; }\n",
    );
    let bad = write(dir.path(), "bad.rules", "rule b on smtp.nope { drop; }\n");
    let worse = write(
        dir.path(),
        "worse.rules",
        "rule c on smpt.command { drop; }\n",
    );
    let (report, errors) = invalid_report(load_rules(&[good.clone(), bad, worse], &[&SMTP]));
    assert_eq!(errors, 2);
    assert!(!report.contains("good.rules"), "{report}");
    assert!(
        report.contains("spec `smtp` has no event `nope`"),
        "{report}"
    );
    assert!(report.contains("unknown spec `smpt`"), "{report}");
    assert!(report.contains("did you mean `smtp`?"), "{report}");
}

#[test]
fn a_duplicate_name_in_another_file_points_at_the_first() {
    let files = [
        (
            "a.rules".to_string(),
            "rule same on smtp.command { drop; }\n".to_string(),
        ),
        (
            "b.rules".to_string(),
            "\n  rule same on smtp.response { drop; }\n".to_string(),
        ),
    ];
    let results = check_rule_sources(&files, &Schema::from_descriptors(&[&SMTP]));
    assert!(!results[0].has_errors());
    assert_eq!(results[1].error_count(), 1);
    let report = results[1].render();
    assert!(report.contains("duplicate rule `same`"), "{report}");
    assert!(report.contains("--> b.rules:2:8"), "{report}");
    assert!(report.contains("first defined at a.rules:1:6"), "{report}");
    assert!(results[1].rules.is_empty());
}

#[test]
fn type_errors_and_non_boolean_conditions_are_reported() {
    let schema = Schema::from_descriptors(&[&SMTP]);
    let cases = [
        (
            "rule r on smtp.response when responses[0].code == 220 { drop; }",
            "cannot compare a string with an integer using `==`",
        ),
        (
            "rule r on smtp.command when command { drop; }",
            "condition is not boolean",
        ),
        (
            "rule r on smtp.command when upper(responses) == \"X\" { drop; }",
            "event `smtp.command` has no field `responses`",
        ),
        (
            "rule r on smtp.response when len(responses) > 1 && responses ~ /x/ { drop; }",
            "`~` matches strings",
        ),
        (
            "rule r on smtp.command { alert urgent \"x\"; }",
            "unknown severity `urgent`",
        ),
        (
            "rule r on smtp.mail_content when size > 3 { drop; }",
            "is a streamed event",
        ),
        (
            "rule r on smtp.command { extract \"x\"; }",
            "`extract` needs a streamed event",
        ),
        (
            "rule r on smtp.mail_content { extract \"a\\nb\"; }",
            "control characters",
        ),
        (
            "rule r on smtp.command when lookahead() == 1 { drop; }",
            "only available in grammar",
        ),
    ];
    for (text, expected) in cases {
        let results = check_rule_sources(&[("t.rules".into(), text.into())], &schema);
        let report = results[0].render();
        assert_eq!(results[0].error_count(), 1, "{text}\n{report}");
        assert!(report.contains(expected), "{text}\n{report}");
    }
}

#[test]
fn nested_fields_and_templates_type_check() {
    let schema = Schema::from_descriptors(&[&SMTP]);
    let text = r#"
        rule slow on smtp.response when responses[0].code == "421" || len(responses) > 3 {
            log "reply {responses[0].code}: {responses[0].parameter}";
            alert medium "server busy ({len(responses)} lines)";
        }
    "#;
    let results = check_rule_sources(&[("t.rules".into(), text.into())], &schema);
    assert!(!results[0].has_errors(), "{}", results[0].render());
    assert_eq!(results[0].rules.len(), 1);
    assert_eq!(results[0].summary(), "t.rules: ok (1 rule)");
}

#[test]
fn a_rule_without_actions_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "w.rules", "rule idle on smtp.command { }\n");
    let loaded = load_rules(&[path], &[&SMTP]).unwrap();
    assert_eq!(loaded.rules.len(), 1);
    assert!(
        loaded
            .warnings
            .contains("warning: rule `idle` does nothing"),
        "{}",
        loaded.warnings
    );
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = load_rules(&[PathBuf::from("/nonexistent/x.rules")], &[&SMTP]).unwrap_err();
    assert!(matches!(err, RulesError::Read(_)));
    assert!(err
        .to_string()
        .contains("cannot read rules file `/nonexistent/x.rules`"));
}

#[test]
fn without_any_spec_the_hint_says_so() {
    let results = check_rule_sources(
        &[("t.rules".into(), "rule r on smtp.command { drop; }".into())],
        &Schema::default(),
    );
    assert!(results[0].render().contains("no spec is available"));
}
