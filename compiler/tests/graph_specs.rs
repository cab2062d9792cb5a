//! Graphs of the shipped specs, checked by the real front end: the hand-built
//! fixture mirrors the seed's SMTP spec (`tests/fixtures/specs/smtp_seed.proto`)
//! exactly (same DOT), and every shipped spec renders with Graphviz without
//! warnings.

mod fixtures;

use std::path::Path;

use fixtures::graphviz::{assert_contains_all, render, svg_text};
use protoc_compiler::graph::{grammar_dot, states_dot};
use protoc_compiler::ir::Spec;

/// Checks `<relative>` (from the repository root) with the front end, named as the CLI would name it.
fn checked(relative: &str) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let result = protoc_compiler::check_file(&path).expect("spec readable");
    let diagnostics = result.render();
    let mut spec = result
        .spec
        .unwrap_or_else(|| panic!("{relative} checks:\n{diagnostics}"));
    spec.source_path = relative.to_string();
    spec
}

#[test]
fn checker_and_fixture_give_the_same_graphs_for_smtp() {
    let spec = checked("tests/fixtures/specs/smtp_seed.proto");
    let fixture = fixtures::smtp();
    assert_eq!(states_dot(&spec), states_dot(&fixture));
    assert_eq!(grammar_dot(&spec), grammar_dot(&fixture));
}

#[test]
fn every_shipped_spec_renders_both_graphs() {
    for relative in ["specs/smtp.proto", "specs/tutorial/smtp_partial.proto"] {
        let spec = checked(relative);
        for dot in [states_dot(&spec), grammar_dot(&spec)] {
            assert!(render(&dot, "pdf").starts_with(b"%PDF"), "{relative}");
            svg_text(&dot);
        }
        let states = svg_text(&states_dot(&spec));
        assert_contains_all(&states, spec.machine.states.iter().map(|s| s.name.as_str()));
        let grammar = svg_text(&grammar_dot(&spec));
        assert_contains_all(
            &grammar,
            spec.grammar.records.iter().map(|r| r.name.as_str()),
        );
        assert_contains_all(
            &grammar,
            spec.grammar.tokens.iter().map(|t| t.name.as_str()),
        );
        assert_contains_all(&grammar, branch_cases(&spec).iter().map(String::as_str));
    }
}

/// Every branch case of the spec's records, quoted as the graph shows them.
fn branch_cases(spec: &Spec) -> Vec<String> {
    use protoc_compiler::ir::Element;
    fn visit(element: &Element, out: &mut Vec<String>) {
        match element {
            Element::Branch { cases, default, .. } => {
                for (case, element) in cases {
                    out.push(format!("\"{case}\""));
                    visit(element, out);
                }
                if let Some(element) = default {
                    visit(element, out);
                }
            }
            Element::Field { element, .. }
            | Element::Optional { element, .. }
            | Element::Array { element, .. } => visit(element, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for record in &spec.grammar.records {
        for item in &record.items {
            visit(item, &mut out);
        }
    }
    assert!(!out.is_empty(), "{} has branches", spec.name);
    out
}
