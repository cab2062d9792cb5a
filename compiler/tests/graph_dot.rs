//! The DOT text of both graphs for the hand-built SMTP IR: structure,
//! labels, escaping and determinism.

mod fixtures;

use fixtures::dot_text::{edges, nodes, Stmt};
use protoc_compiler::graph::{grammar_dot, states_dot};
use protoc_compiler::ir::{Action, State, Target, Template, TemplatePart, TransitionEvent};

fn node_labelled<'a>(nodes: &'a [Stmt], first_line: &str) -> &'a Stmt {
    nodes
        .iter()
        .find(|n| n.label().lines().next() == Some(first_line))
        .unwrap_or_else(|| panic!("no node labelled {first_line:?}"))
}

#[test]
fn one_edge_per_transition_plus_the_entry_edge() {
    let spec = fixtures::smtp();
    let transitions: usize = spec
        .machine
        .states
        .iter()
        .map(|s| s.transitions.len())
        .sum::<usize>()
        + spec.machine.any.len();
    let dot = states_dot(&spec);
    assert_eq!(edges(&dot).len(), transitions + 1);
}

#[test]
fn initial_state_has_the_entry_arrow_and_a_bold_border() {
    let dot = states_dot(&fixtures::smtp());
    let nodes = nodes(&dot);
    let point = nodes
        .iter()
        .find(|n| n.attr("shape") == Some("point"))
        .expect("an entry point");
    let initial = node_labelled(&nodes, "session_initiation");
    let entry: Vec<Stmt> = edges(&dot)
        .into_iter()
        .filter(|e| e.from == point.from)
        .collect();
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].to.as_deref(), Some(initial.from.as_str()));
    assert!(initial.attr("style").is_some_and(|s| s.contains("bold")));
    assert!(!node_labelled(&nodes, "command")
        .attr("style")
        .is_some_and(|s| s.contains("bold")));
}

#[test]
fn state_labels_show_their_grammars() {
    let nodes = nodes(&states_dot(&fixtures::smtp()));
    assert_eq!(
        node_labelled(&nodes, "session_initiation").label(),
        "session_initiation\ndown: smtp_responses"
    );
    assert_eq!(
        node_labelled(&nodes, "data_transmission").label(),
        "data_transmission\nup: smtp_data"
    );
}

#[test]
fn transition_labels_read_like_the_spec() {
    let dot = states_dot(&fixtures::smtp());
    let labels: Vec<String> = edges(&dot).iter().map(Stmt::label).collect();
    for expected in [
        "down(res)\nwhen res.responses[0].code == \"220\"\ntrigger response",
        "up(res)\nwhen upper(res.command) == \"EHLO\" || upper(res.command) == \"HELO\"\ntrigger command",
        "parse_error(err)\nalert high",
        "missing_grammar(dir)\nwhen dir == \"up\"\nalert low",
        "fail\ndrop",
        "up",
    ] {
        assert!(labels.iter().any(|l| l == expected), "no edge labelled {expected:?} in {labels:#?}");
    }
}

#[test]
fn tooltips_carry_the_whole_transition() {
    let dot = states_dot(&fixtures::smtp());
    let tooltips: Vec<String> = edges(&dot)
        .iter()
        .filter_map(|e| e.attr("tooltip").map(String::from))
        .collect();
    let source = include_str!("../../tests/fixtures/specs/smtp_seed.proto");
    let line = 1 + source
        .lines()
        .position(|l| {
            l.trim_start()
                .starts_with("session_initiation on parse_error")
        })
        .expect("the transition is in the spec");
    let expected = format!(
        "line {line}: session_initiation on parse_error(err) {{ alert high \"invalid smtp response {{err}}\"; jump fail; }}"
    );
    assert!(tooltips.contains(&expected), "{tooltips:#?}");
}

#[test]
fn any_transitions_leave_a_dashed_any_node_and_jumpless_ones_loop() {
    let dot = states_dot(&fixtures::smtp());
    let nodes = nodes(&dot);
    let any = node_labelled(&nodes, "any");
    assert!(any.attr("style").is_some_and(|s| s.contains("dashed")));
    let fail = node_labelled(&nodes, "fail");
    let from_any: Vec<Stmt> = edges(&dot)
        .into_iter()
        .filter(|e| e.from == any.from)
        .collect();
    assert_eq!(from_any.len(), 3);
    let on_fail = from_any
        .iter()
        .find(|e| e.label() == "fail\ndrop")
        .expect("any on fail");
    assert_eq!(
        on_fail.to.as_deref(),
        Some(any.from.as_str()),
        "a transition without jump is a self-loop"
    );
    let to_fail = from_any
        .iter()
        .filter(|e| e.to.as_deref() == Some(fail.from.as_str()))
        .count();
    assert_eq!(to_fail, 2);
}

#[test]
fn fail_and_finish_appear_only_when_targeted() {
    let mut spec = fixtures::smtp();
    let finish = states_dot(&spec);
    assert!(nodes(&finish)
        .iter()
        .any(|n| n.label() == "finish" && n.attr("shape") == Some("doublecircle")));
    for state in &mut spec.machine.states {
        for t in &mut state.transitions {
            if t.jump == Some(Target::Finish) {
                t.jump = None;
            }
        }
    }
    let dot = states_dot(&spec);
    assert!(!nodes(&dot).iter().any(|n| n.label() == "finish"));
    assert!(nodes(&dot).iter().any(|n| n.label() == "fail"));
}

#[test]
fn unreachable_states_are_greyed() {
    let mut spec = fixtures::smtp();
    spec.machine.states.push(State {
        name: "orphan".into(),
        up: None,
        down: None,
        transitions: vec![],
    });
    let nodes = nodes(&states_dot(&spec));
    let orphan = node_labelled(&nodes, "orphan");
    assert_eq!(orphan.label(), "orphan\n(unreachable)");
    assert_eq!(orphan.attr("color"), Some("gray"));
    assert_ne!(
        node_labelled(&nodes, "data_transmission").attr("color"),
        Some("gray")
    );
}

#[test]
fn quotes_backslashes_and_newlines_are_escaped() {
    let mut spec = fixtures::smtp();
    spec.grammar.tokens[0].pattern = "a\"b\\\nc".into();
    if let Some(Action::Alert { description, .. }) = spec.machine.any[1].actions.first_mut() {
        *description = Template {
            parts: vec![TemplatePart::Text("two\nlines \"quoted\"".into())],
        };
    }
    let grammar = grammar_dot(&spec);
    assert!(grammar.contains(r#"label="WS\n/a\"b\\\nc/""#), "{grammar}");
    let states = states_dot(&spec);
    assert!(
        states.contains(r#"alert low \"two\\nlines \\\"quoted\\\"\";"#),
        "{states}"
    );
}

#[test]
fn output_is_deterministic() {
    let spec = fixtures::smtp();
    assert_eq!(states_dot(&spec), states_dot(&fixtures::smtp()));
    assert_eq!(grammar_dot(&spec), grammar_dot(&fixtures::smtp()));
}

#[test]
fn grammar_has_a_node_per_token_and_record_and_exports_double_bordered() {
    let spec = fixtures::smtp();
    let nodes = nodes(&grammar_dot(&spec));
    for token in &spec.grammar.tokens {
        let node = node_labelled(&nodes, &token.name);
        assert_eq!(node.attr("shape"), Some("ellipse"));
        assert_eq!(node.label(), format!("{}\n/{}/", token.name, token.pattern));
    }
    for (i, record) in spec.grammar.records.iter().enumerate() {
        let node = node_labelled(&nodes, &record.name);
        let exported = spec.grammar.exports.iter().any(|e| e.0 == i);
        assert_eq!(
            node.attr("peripheries") == Some("2"),
            exported,
            "{}",
            record.name
        );
    }
    assert_eq!(
        node_labelled(&nodes, "smtp_command").label(),
        "smtp_command\ncommand: string\nparameter: string?"
    );
}

#[test]
fn grammar_edges_carry_fields_cases_options_and_arrays() {
    let dot = grammar_dot(&fixtures::smtp());
    let nodes = nodes(&dot);
    let edges = edges(&dot);
    let id = |first_line: &str| node_labelled(&nodes, first_line).from.clone();
    let edge = |from: &str, label: &str| {
        edges
            .iter()
            .find(|e| e.from == from && e.label() == label)
            .unwrap_or_else(|| panic!("no edge {label:?} from {from}"))
            .clone()
    };
    let branch = id("branch");
    assert_eq!(
        node_labelled(&nodes, "branch").label(),
        "branch\nCMD[upper(command)]"
    );
    assert_eq!(
        node_labelled(&nodes, "branch").attr("shape"),
        Some("diamond")
    );
    assert_eq!(edge(&id("smtp_command"), "command").to, Some(id("COMMAND")));
    assert_eq!(edge(&branch, "\"required\"").to, Some(id("param")));
    let optional = edge(
        &branch,
        "\"optional\"\noptional if lookahead() != '\\r' && lookahead() != '\\n'",
    );
    assert_eq!(optional.to, Some(id("param")));
    assert_eq!(optional.attr("style"), Some("dashed"));
    assert_eq!(edge(&branch, "\"none\"").to, Some(id("empty")));
    assert_eq!(edge(&branch, "default").to, Some(id("fail")));
    assert_eq!(
        node_labelled(&nodes, "fail").label(),
        "fail\n\"unknown command\""
    );
    let array = edge(
        &id("smtp_responses"),
        "responses\narray until elem.sep == \" \"",
    );
    assert_eq!(array.to, Some(id("smtp_response")));
    let bytes = edge(&id("smtp_data"), "data").to.expect("an edge");
    assert_eq!(
        node_labelled(&nodes, "bytes until DATA_END").label(),
        "bytes until DATA_END\nchunked -> mail_content\ntransform unstuff"
    );
    assert_eq!(edge(&bytes, "until").to, Some(id("DATA_END")));
    // One edge per record item (param, smtp_command, smtp_response,
    // smtp_responses, smtp_data), one per branch case, and bytes' `until`.
    let items = 2 + 3 + 4 + 1 + 2;
    let cases = 4;
    assert_eq!(edges.len(), items + cases + 1);
}

#[test]
fn timeouts_print_their_seconds() {
    let mut spec = fixtures::smtp();
    spec.machine.states[3].transitions[0].on = TransitionEvent::Timeout(30.0);
    spec.machine.states[3].transitions[0].binding = None;
    spec.machine.states[4].transitions[0].on = TransitionEvent::Timeout(2.5);
    spec.machine.states[4].transitions[0].binding = None;
    let labels: Vec<String> = edges(&states_dot(&spec)).iter().map(Stmt::label).collect();
    assert!(
        labels.iter().any(|l| l.starts_with("timeout(30)\n")),
        "{labels:#?}"
    );
    assert!(
        labels.iter().any(|l| l.starts_with("timeout(2.5)\n")),
        "{labels:#?}"
    );
}
