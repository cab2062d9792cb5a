//! Both graphs of the hand-built SMTP IR go through the real Graphviz:
//! `dot -Tsvg` and `dot -Tpdf` succeed without warnings, and the SVG shows
//! every state, transition, record, token and branch case.

mod fixtures;

use fixtures::graphviz::{assert_contains_all, render, svg_text};
use protoc_compiler::graph::{grammar_dot, states_dot};

#[test]
fn state_graph_renders_to_svg_and_pdf_with_every_state_and_transition() {
    let spec = fixtures::smtp();
    let dot = states_dot(&spec);
    assert!(render(&dot, "pdf").starts_with(b"%PDF"));
    let svg = svg_text(&dot);
    assert_contains_all(&svg, spec.machine.states.iter().map(|s| s.name.as_str()));
    assert_contains_all(
        &svg,
        [
            ">fail<",
            ">finish<",
            ">any<",
            "down: smtp_responses",
            "up: smtp_data",
            "parse_error(err)",
            "missing_grammar(dir)",
            "when dir == \"up\"",
            "when res.responses[0].code == \"220\"",
            "when res.responses[0].code == \"354\"",
            "when res.responses[0].code == \"221\"",
            "when upper(res.command) == \"EHLO\" || upper(res.command) == \"HELO\"",
            "trigger response",
            "trigger command",
            "alert high",
            "alert low",
            "drop",
        ],
    );
}

#[test]
fn grammar_graph_renders_to_svg_and_pdf_with_every_record_token_and_case() {
    let spec = fixtures::smtp();
    let dot = grammar_dot(&spec);
    assert!(render(&dot, "pdf").starts_with(b"%PDF"));
    let svg = svg_text(&dot);
    assert_contains_all(&svg, spec.grammar.records.iter().map(|r| r.name.as_str()));
    assert_contains_all(&svg, spec.grammar.tokens.iter().map(|t| t.name.as_str()));
    assert_contains_all(
        &svg,
        [
            "\"required\"",
            "\"optional\"",
            "\"none\"",
            "default",
            "CMD[upper(command)]",
            "optional if lookahead() != '\\r' && lookahead() != '\\n'",
            "array until elem.sep == \" \"",
            "bytes until DATA_END",
            "chunked -> mail_content",
            "/\\r?\\n\\.\\r?\\n/",
            "\"unknown command\"",
            "parameter: string?",
        ],
    );
}

#[test]
fn hostile_labels_still_render() {
    let mut spec = fixtures::smtp();
    spec.grammar.tokens[0].pattern = "a\"b\\\nc\\N\\G{}|<>".into();
    spec.machine.states[0].name = "quote\"back\\slash".into();
    let grammar = svg_text(&grammar_dot(&spec));
    assert_contains_all(&grammar, ["/a\"b\\", "c\\N\\G{}|<>/"]);
    let states = svg_text(&states_dot(&spec));
    assert_contains_all(&states, ["quote\"back\\slash"]);
}
