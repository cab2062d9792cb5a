//! Golden rules diagnostics: each `tests/rules_diagnostics/NAME.rules` is a
//! small rules file with one mistake (or none, `ok.rules`), beside
//! `NAME.stderr`, the exact text `protoc-rs check-rules
//! tests/rules_diagnostics/NAME.rules` prints from the workspace root when
//! checking against `specs/smtp.proto`. The goldens are reviewed by hand;
//! `BLESS=1 cargo test -p protoc-compiler --test rules_diagnostics` rewrites
//! them after a deliberate change.

use std::fs;
use std::path::{Path, PathBuf};

use protoc_compiler::rules::schema::Schema;
use protoc_compiler::rules::{check_rule_sources, RulesCheckResult};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cases_dir() -> PathBuf {
    repo().join("tests/rules_diagnostics")
}

/// The `.rules` cases, sorted by name.
fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cases_dir())
        .expect("tests/rules_diagnostics exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rules").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

fn smtp_schema() -> Schema {
    let checked = protoc_compiler::check_file(repo().join("specs/smtp.proto")).expect("spec");
    Schema::from_specs(&[checked.spec.expect("specs/smtp.proto is valid")])
}

/// What `check-rules` reports for a case.
fn run(name: &str, schema: &Schema) -> RulesCheckResult {
    let source = fs::read_to_string(cases_dir().join(format!("{name}.rules"))).expect("readable");
    let file = format!("tests/rules_diagnostics/{name}.rules");
    check_rule_sources(&[(file, source)], schema)
        .pop()
        .expect("one result per file")
}

#[test]
fn every_case_prints_exactly_its_golden_stderr() {
    let bless = std::env::var_os("BLESS").is_some();
    let schema = smtp_schema();
    let cases = cases();
    assert!(
        cases.len() >= 7,
        "expected the full set of cases, found {cases:?}"
    );
    let mut mismatches = Vec::new();
    for name in &cases {
        let actual = run(name, &schema).report();
        let golden = cases_dir().join(format!("{name}.stderr"));
        if bless {
            fs::write(&golden, &actual).expect("golden writable");
            continue;
        }
        match fs::read_to_string(&golden) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => mismatches.push(format!(
                "--- {name}.stderr (expected)\n{expected}+++ actual\n{actual}"
            )),
            Err(_) => mismatches.push(format!("--- {name}.stderr is missing; actual:\n{actual}")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn every_broken_case_has_exactly_one_error_and_ok_has_none() {
    let schema = smtp_schema();
    for name in cases() {
        let result = run(&name, &schema);
        if name == "ok" {
            assert_eq!(result.error_count(), 0, "{}", result.render());
            assert_eq!(result.rules.len(), 3);
        } else {
            assert_eq!(result.error_count(), 1, "{name}:\n{}", result.render());
            assert!(
                result.rules.is_empty(),
                "{name}: a file with an error yields no rule"
            );
        }
    }
}

#[test]
fn every_golden_has_its_case() {
    let cases = cases();
    for entry in fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "stderr") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                cases.contains(&stem),
                "{} has no .rules beside it",
                path.display()
            );
        }
    }
}
