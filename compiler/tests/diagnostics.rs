//! Golden diagnostics: each `tests/diagnostics/NAME.proto` is a small spec
//! with one mistake (or none, `ok.proto`), beside `NAME.stderr`, the exact
//! text `protoc-rs check tests/diagnostics/NAME.proto` prints from the
//! workspace root. The goldens are reviewed by hand; `BLESS=1 cargo test -p
//! protoc-compiler --test diagnostics` rewrites them after a deliberate change.

use std::fs;
use std::path::{Path, PathBuf};

use protoc_compiler::check_source;

fn diagnostics_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/diagnostics")
}

/// The `.proto` cases, sorted by name.
fn cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(diagnostics_dir())
        .expect("tests/diagnostics exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "proto").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

/// What `protoc-rs check` prints for a case, and the check's result.
fn run(name: &str) -> (String, protoc_compiler::CheckResult) {
    let source =
        fs::read_to_string(diagnostics_dir().join(format!("{name}.proto"))).expect("readable case");
    let result = check_source(&format!("tests/diagnostics/{name}.proto"), &source);
    (format!("{}{}\n", result.render(), result.summary()), result)
}

#[test]
fn every_case_prints_exactly_its_golden_stderr() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut mismatches = Vec::new();
    let cases = cases();
    assert!(
        cases.len() >= 12,
        "expected the full set of cases, found {cases:?}"
    );
    for name in &cases {
        let (actual, _) = run(name);
        let golden = diagnostics_dir().join(format!("{name}.stderr"));
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
fn every_golden_has_its_case() {
    let cases = cases();
    for entry in fs::read_dir(diagnostics_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "stderr") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                cases.contains(&stem),
                "{} has no .proto beside it",
                path.display()
            );
        }
    }
}

#[test]
fn each_broken_case_has_exactly_one_problem_of_the_kind_its_name_says() {
    for name in cases() {
        let (_, result) = run(&name);
        if name == "ok" {
            assert!(
                result.diagnostics.is_empty(),
                "ok.proto: {}",
                result.render()
            );
            assert!(result.spec.is_some());
            continue;
        }
        assert_eq!(result.diagnostics.len(), 1, "{name}: {}", result.render());
        if name.starts_with("warning_") {
            assert!(
                !result.has_errors(),
                "{name} must only warn: {}",
                result.render()
            );
            assert!(result.spec.is_some(), "{name}: a warning keeps the spec");
        } else {
            assert!(
                result.has_errors(),
                "{name} must be an error: {}",
                result.render()
            );
            assert!(result.spec.is_none(), "{name}: an error drops the spec");
        }
    }
}
