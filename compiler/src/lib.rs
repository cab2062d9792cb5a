//! # protoc-compiler
//!
//! Turns a `.proto` spec into a checked IR, then into Rust dissector code or
//! Graphviz graphs. Data flows through separate stages, each a module with a
//! typed hand-off:
//!
//! ```text
//! source text ──parse──▶ ast::SpecFile ──check──▶ ir::Spec ──┬─ codegen ──▶ Rust source
//!  (syntax/*.pest)         (spans kept)    (diagnostics)     └─ graph   ──▶ DOT
//! ```
//!
//! - [`syntax`]: the pest grammars (`expr.pest`, `spec.pest`);
//! - [`parse`]: pest's tree to [`ast`], syntax errors as diagnostics;
//! - [`check`]: name resolution, typing, reachability; produces [`ir::Spec`] and
//!   every error and warning at once ([`diagnostic`]);
//! - [`codegen`]: pure `generate(&ir::Spec) -> String`;
//! - [`graph`]: state-machine and grammar graphs (petgraph) as DOT;
//! - [`build`]: the `build.rs` API ([`Config`]).
//!
//! The front end in one call:
//!
//! ```
//! let result = protoc_compiler::check_source("demo.proto", "protocol demo { }");
//! assert!(result.has_errors()); // no `states` block, so no `initial` state
//! print!("{}", result.render());
//! ```
//!
//! ## Dissectors in your own crate (`build.rs`)
//!
//! Depend on `protoc-runtime`, and on `protoc-compiler` as a build
//! dependency:
//!
//! ```toml
//! [dependencies]
//! protoc-runtime = "0.1"
//! [build-dependencies]
//! protoc-compiler = "0.1"
//! ```
//!
//! In `build.rs`, compile the specs into `OUT_DIR` (each spec becomes
//! `OUT_DIR/<file stem>.rs`; errors come back with their diagnostics):
//!
//! ```no_run
//! // build.rs, in `fn main()`:
//! if let Err(err) = protoc_compiler::Config::new().compile(&["specs/smtp.proto"]) {
//!     panic!("{err}"); // the error includes the spec's diagnostics
//! }
//! ```
//!
//! Then include the module and hand its dissector to the runtime:
//!
//! ```text
//! mod smtp {
//!     include!(concat!(env!("OUT_DIR"), "/smtp.rs"));
//! }
//!
//! let spec: &protoc_runtime::dissector::SpecDescriptor = &smtp::SPEC;
//! let mut dissector = (spec.new_dissector)(); // one per flow
//! // dissector.feed(Direction::Up, bytes, &mut cx); …
//! ```
//!
//! The module has a struct per record (`smtp::SmtpCommand`), a resumable
//! parser per record (`smtp::SmtpCommandParser`), the state machine
//! (`smtp::SmtpDissector`) and `smtp::SPEC`. [`Config::write_registry`]
//! writes one file that includes several such modules and lists their
//! `SPEC`s. `protoc-rs build SPEC -o DIR` writes the same module by hand.

// The stages' module docs are a code map for newcomers: they link to the
// private passes they run (`cargo doc --document-private-items` renders them).
#![allow(rustdoc::private_intra_doc_links)]

pub mod ast;
pub mod build;
pub mod check;
pub mod codegen;
pub mod diagnostic;
pub mod graph;
pub mod ir;
pub mod parse;
pub mod pretty;
pub mod rules;
pub mod syntax;

pub use build::{BuildError, Compiled, Config};

use std::path::Path;

use diagnostic::{Diagnostic, Level};

/// What the front end made of one spec.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The checked spec; `None` when there is any error.
    pub spec: Option<ir::Spec>,
    /// Every error and warning, in display order.
    pub diagnostics: Vec<Diagnostic>,
    /// The spec file as given.
    pub file: String,
    /// Its text (needed to render diagnostics).
    pub source: String,
}

impl CheckResult {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Level::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Level::Warning)
            .count()
    }

    /// One line: `FILE: ok`, or `FILE: N errors, M warnings`.
    pub fn summary(&self) -> String {
        let (errors, warnings) = (self.error_count(), self.warning_count());
        if errors == 0 && warnings == 0 {
            return format!("{}: ok", self.file);
        }
        let count = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}: {}, {}",
            self.file,
            count(errors, "error"),
            count(warnings, "warning")
        )
    }

    /// All diagnostics as rustc-style text (no colour).
    pub fn render(&self) -> String {
        diagnostic::render(&self.diagnostics, &self.file, &self.source)
    }
}

/// Parses and checks the spec text `source`, named `file_name` in diagnostics
/// and in `ir::Spec::source_path`.
pub fn check_source(file_name: &str, source: &str) -> CheckResult {
    let parsed = parse::parse_spec(file_name, source);
    let mut diagnostics = parsed.diagnostics;
    let mut spec = None;
    if let Some(ast) = parsed.spec {
        let checked = check::check(file_name, source, &ast);
        diagnostics.extend(checked.diagnostics);
        spec = checked.spec;
    }
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        spec = None;
    }
    CheckResult {
        spec,
        diagnostics,
        file: file_name.to_string(),
        source: source.to_string(),
    }
}

/// Reading a spec file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read spec `{path}`")]
pub struct ReadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Reads and checks the spec at `path` (kept as given in diagnostics and in
/// `ir::Spec::source_path`).
pub fn check_file(path: impl AsRef<Path>) -> Result<CheckResult, ReadError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|source| ReadError {
        path: shown.clone(),
        source,
    })?;
    Ok(check_source(&shown, &source))
}
