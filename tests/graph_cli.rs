//! `protoc-rs graph` end to end: the shipped specs become DOT that the real
//! Graphviz renders (SVG and PDF, no warnings) and that shows every state,
//! transition, record, token and branch case; bad invocations fail cleanly.

#[path = "../compiler/tests/fixtures/graphviz.rs"]
mod graphviz;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use graphviz::{assert_contains_all, render, svg_text};

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn protoc_rs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("protoc-rs runs")
}

/// Runs `protoc-rs graph SPEC FLAG`, asserts success, returns the DOT text.
fn graph(spec: &str, flag: &str) -> String {
    let output = protoc_rs(&["graph", spec, flag]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "graph {spec} {flag} failed: {stderr}"
    );
    String::from_utf8(output.stdout).expect("DOT is UTF-8")
}

/// Every state and transition event of `spec` (checked in-process) appears
/// in the rendered state graph, which Graphviz turns into a PDF too.
fn assert_state_graph_complete(spec_path: &str) -> String {
    let spec = protoc_compiler::check_file(repo_path(spec_path))
        .expect("spec readable")
        .spec
        .expect("spec checks");
    let dot = graph(spec_path, "--states");
    assert!(render(&dot, "pdf").starts_with(b"%PDF"));
    let svg = svg_text(&dot);
    assert_contains_all(&svg, spec.machine.states.iter().map(|s| s.name.as_str()));
    let transitions = spec
        .machine
        .states
        .iter()
        .flat_map(|s| &s.transitions)
        .chain(&spec.machine.any);
    let events: Vec<&str> = transitions.map(|t| t.on.name()).collect();
    assert_contains_all(&svg, events);
    svg
}

/// Every record and token of `spec` appears in the rendered grammar graph.
fn assert_grammar_graph_complete(spec_path: &str) -> String {
    let spec = protoc_compiler::check_file(repo_path(spec_path))
        .expect("spec readable")
        .spec
        .expect("spec checks");
    let dot = graph(spec_path, "--grammar");
    assert!(render(&dot, "pdf").starts_with(b"%PDF"));
    let svg = svg_text(&dot);
    assert_contains_all(&svg, spec.grammar.records.iter().map(|r| r.name.as_str()));
    assert_contains_all(&svg, spec.grammar.tokens.iter().map(|t| t.name.as_str()));
    svg
}

#[test]
fn smtp_state_graph() {
    let svg = assert_state_graph_complete("specs/smtp.proto");
    assert_contains_all(
        &svg,
        [
            ">stop<",
            ">finish<",
            "parse_error(err)",
            "gap(len)",
            "when res.responses[0].code == \"220\"",
            "trigger response",
            "trigger transaction",
            "trigger starttls",
            "push pending",
            "pop pending",
            "set mail_from",
            "clear rcpt_to",
            "close mail_content",
            "resync CRLF",
            "resync DATA_END",
            "alert high",
            "stop",
        ],
    );
}

#[test]
fn smtp_grammar_graph() {
    let svg = assert_grammar_graph_complete("specs/smtp.proto");
    assert_contains_all(
        &svg,
        [
            "\"BDAT\"",
            "default",
            "array until elem.sep != \"-\"",
            "chunked -> mail_content",
            "bytes count number(size)",
            "ends if last != null",
            "optional (if it matches)",
            "optional if empty == null",
        ],
    );
}

#[test]
fn tutorial_state_graph() {
    assert_state_graph_complete("specs/tutorial/smtp_partial.proto");
}

#[test]
fn tutorial_grammar_graph() {
    let svg = assert_grammar_graph_complete("specs/tutorial/smtp_partial.proto");
    assert_contains_all(&svg, ["\"required\"", "\"optional\"", "\"none\""]);
}

#[test]
fn a_graph_kind_is_required() {
    let output = protoc_rs(&["graph", "specs/smtp.proto"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--states"));
    let both = protoc_rs(&["graph", "specs/smtp.proto", "--states", "--grammar"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn a_spec_with_errors_prints_diagnostics_and_no_graph() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.proto");
    std::fs::write(
        &path,
        "protocol broken { transport tcp; states bidirectional { initial nowhere; } }",
    )
    .expect("write spec");
    let output = protoc_rs(&["graph", path.to_str().expect("UTF-8 path"), "--states"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken.proto"));
}

#[test]
fn a_missing_spec_is_an_error() {
    let output = protoc_rs(&["graph", "specs/no_such.proto", "--grammar"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no_such.proto"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(["graph", "specs/smtp.proto", "--states"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc-rs runs");
    // Close the read end before protoc-rs has checked the spec and written.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("protoc-rs exits");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `.proto` under `specs/`, recursively.
fn shipped_specs(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("specs directory readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            shipped_specs(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
}

/// Every spec the project ships checks without errors (the protocols of
/// `specs/` without warnings either; the tutorial's partial SMTP spec keeps
/// the seed's two unreachable states), and both of its graphs render with
/// every state, transition event, record and token in them.
#[test]
fn every_shipped_spec_checks_and_renders() {
    let mut specs = Vec::new();
    shipped_specs(&repo_path("specs"), &mut specs);
    specs.sort();
    let names: Vec<String> = specs
        .iter()
        .map(|p| {
            p.strip_prefix(repo_path(""))
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    for name in ["specs/smtp.proto", "specs/http.proto", "specs/dns.proto"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    for name in &names {
        let checked = protoc_compiler::check_file(repo_path(name)).expect("spec readable");
        assert_eq!(checked.error_count(), 0, "{name}: {}", checked.summary());
        if !name.starts_with("specs/tutorial/") {
            assert_eq!(checked.warning_count(), 0, "{name}: {}", checked.summary());
        }
        assert_state_graph_complete(name);
        assert_grammar_graph_complete(name);
    }
}

/// A reader of stderr that goes away (`protoc-rs pcap … 2>&1 | head -1`
/// after the reader quits) costs the warnings and the stats line, never the
/// run: no panic, exit status 0, every event written.
#[test]
fn a_closed_stderr_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(["pcap", "samples/smtp.pcap", "--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc-rs runs");
    drop(child.stderr.take());
    let output = child.wait_with_output().expect("protoc-rs exits");
    assert!(output.status.success(), "{:?}", output.status);
    let events = String::from_utf8_lossy(&output.stdout).lines().count();
    assert!(events >= 12, "{events} events");
}
