//! Security rules files (`.rules`): parsed and checked against the specs'
//! events into a run-time [`RuleSet`], before any packet is read.
//!
//! ```text
//! FILE.rules ──parse──▶ ast::RulesFile ──check (against a Schema)──▶ Vec<Rule> ──▶ RuleSet
//!   (rules.pest on the spec parser)     (diagnostics: FILE:LINE:COL, caret, hint)
//! ```
//!
//! - [`schema`]: what rules are checked against, from the spec descriptors
//!   compiled into a binary or from checked `.proto` specs;
//! - [`parse`]: text to [`ast`], with the spec front end's tree walker;
//! - [`check`]: names, types and actions, with the spec checker's typing.
//!
//! The one call `protoc-rs pcap --rules` needs is [`load_rules`]; `protoc-rs
//! check-rules` uses [`check_rule_files`] to report per file. Invariants: a
//! file's rules come out only when the file has no error; across the files of
//! one call, rules keep file order and names are unique.

pub mod ast;
pub mod check;
pub mod parse;
pub mod schema;

use std::path::PathBuf;

use protoc_runtime::dissector::SpecDescriptor;
use protoc_runtime::rules::{Rule, RuleSet};

use crate::diagnostic::{self, Diagnostic, Level};
use check::RuleNames;
use schema::Schema;

/// What the checker made of one rules file.
#[derive(Debug, Clone)]
pub struct RulesCheckResult {
    /// The file's rules; empty when the file has any error.
    pub rules: Vec<Rule>,
    /// Every error and warning, in display order.
    pub diagnostics: Vec<Diagnostic>,
    /// The file, as given.
    pub file: String,
    /// Its text (needed to render diagnostics).
    pub source: String,
}

impl RulesCheckResult {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.count(Level::Error)
    }

    pub fn warning_count(&self) -> usize {
        self.count(Level::Warning)
    }

    fn count(&self, level: Level) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == level)
            .count()
    }

    /// `rules/x.rules: ok (2 rules)` or `rules/x.rules: 1 error, 0 warnings`.
    pub fn summary(&self) -> String {
        let (errors, warnings) = (self.error_count(), self.warning_count());
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if errors == 0 && warnings == 0 {
            return format!("{}: ok ({})", self.file, plural(self.rules.len(), "rule"));
        }
        format!(
            "{}: {}, {}",
            self.file,
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }

    /// All diagnostics as rustc-style text (no colour).
    pub fn render(&self) -> String {
        diagnostic::render(&self.diagnostics, &self.file, &self.source)
    }

    /// The diagnostics, then the summary line: what `check-rules` prints.
    pub fn report(&self) -> String {
        format!("{}{}\n", self.render(), self.summary())
    }
}

/// Parses and checks rules files given as (name, text), in order: rule
/// names must be unique across all of them.
pub fn check_rule_sources(files: &[(String, String)], schema: &Schema) -> Vec<RulesCheckResult> {
    let mut names = RuleNames::default();
    files
        .iter()
        .map(|(file, source)| check_one(file, source, schema, &mut names))
        .collect()
}

fn check_one(file: &str, source: &str, schema: &Schema, names: &mut RuleNames) -> RulesCheckResult {
    let parsed = parse::parse_rules(file, source);
    let mut diagnostics = parsed.diagnostics;
    let mut rules = Vec::new();
    if let Some(ast) = &parsed.file {
        let (checked, found) = check::check_rules(file, source, ast, schema, names);
        rules = checked;
        diagnostics.extend(found);
    }
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        rules.clear();
    }
    RulesCheckResult {
        rules,
        diagnostics,
        file: file.to_string(),
        source: source.to_string(),
    }
}

/// Reading a rules file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read rules file `{path}`: {source}")]
pub struct RulesReadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Reads, parses and checks rules files in order (paths shown as given).
pub fn check_rule_files(
    paths: &[PathBuf],
    schema: &Schema,
) -> Result<Vec<RulesCheckResult>, RulesReadError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|source| RulesReadError {
            path: shown.clone(),
            source,
        })?;
        files.push((shown, source));
    }
    Ok(check_rule_sources(&files, schema))
}

/// Rules ready to run.
#[derive(Debug, Clone)]
pub struct LoadedRules {
    /// Every rule of every file, in order.
    pub rules: RuleSet,
    /// Warnings, rendered (empty when there are none): print them to stderr.
    pub warnings: String,
}

/// Loading rules failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Read(#[from] RulesReadError),
    /// Some file has errors. `report` is every file's diagnostics and
    /// summary, rendered: print it as it is (it names files, lines, columns).
    #[error("{report}")]
    Invalid { report: String, errors: usize },
}

/// Loads the rules files `paths` for a run, checked against the specs
/// compiled into the binary. Either every rule of every file, or the
/// rendered diagnostics of everything wrong (nothing runs then).
pub fn load_rules(paths: &[PathBuf], specs: &[&SpecDescriptor]) -> Result<LoadedRules, RulesError> {
    let schema = Schema::from_descriptors(specs);
    let results = check_rule_files(paths, &schema)?;
    let errors: usize = results.iter().map(RulesCheckResult::error_count).sum();
    if errors > 0 {
        let report = results
            .iter()
            .filter(|r| r.has_errors() || r.warning_count() > 0)
            .map(RulesCheckResult::report)
            .collect();
        return Err(RulesError::Invalid { report, errors });
    }
    let warnings = results
        .iter()
        .filter(|r| r.warning_count() > 0)
        .map(RulesCheckResult::render)
        .collect();
    let rules = results.into_iter().flat_map(|r| r.rules).collect();
    Ok(LoadedRules {
        rules: RuleSet { rules },
        warnings,
    })
}
