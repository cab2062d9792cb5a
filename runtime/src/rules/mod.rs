//! Security rules loaded at run time: their IR, and the sink that runs them.
//!
//! A `.rules` file is parsed and checked by the compiler crate
//! (`protoc_compiler::rules::load_rules`) against the specs compiled into the
//! binary; what comes out is a [`RuleSet`], and [`RulesSink`] runs it over the
//! events dissectors report. This module knows no protocol: rules name their
//! spec and event, and the sink matches them against the flow's protocol name.
//!
//! Invariants a [`RuleSet`] keeps (established by the checker, relied upon by
//! the sink only for meaningful results, never for safety):
//! - rule names are unique; rules are in file order (files in the order given);
//! - every `when` and template expression is typed and refers only to fields
//!   of the hooked event's record;
//! - `Extract` only appears in rules hooked on streamed events, and its label
//!   holds at least one ASCII letter or digit.
//!
//! How rules run:
//! - a plain event runs, in file order, every rule hooked on (flow's protocol,
//!   event name); the event's fields are the variables of `when` and of the
//!   templates;
//! - a streamed event runs its rules once per stream, at the stream's first
//!   chunk, with no fields in scope; `extract` then follows the stream to its
//!   last chunk (see the `extract` module for where the content goes);
//! - `drop` makes the event's verdict [`Verdict::Drop`](crate::dissector::Verdict):
//!   the remaining actions of that rule still run, later rules do not.

mod extract;
mod sink;

use std::fmt;
use std::path::PathBuf;

pub use extract::{file_suffix, DEFAULT_MAX_OPEN_FILES};
pub use sink::{RuleCounts, RulesSink};

use crate::dissector::Severity;
use crate::expr::{Expr, Template};

/// All the rules of one run, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }
}

/// `rule NAME on SPEC.EVENT [when COND] { ACTIONS }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// The protocol the rule applies to (`smtp`).
    pub spec: String,
    /// The event of that protocol it hooks (`command`, `mail_content`).
    pub event: String,
    /// Run the actions only when this holds (a boolean expression).
    pub when: Option<Expr>,
    /// What to do, in order.
    pub actions: Vec<RuleAction>,
    /// Where the rule was written, for messages.
    pub origin: RuleOrigin,
}

/// The file and 1-based line a rule starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOrigin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One action of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleAction {
    /// `alert SEVERITY "description with {field}";`: an alert naming the rule.
    Alert {
        severity: Severity,
        description: Template,
    },
    /// `drop;`: drop the flow.
    Drop,
    /// `extract "LABEL";` (streamed events only): the stream's content goes to
    /// a file `<flow>-<n>.<suffix>` in the extract directory, the suffix being
    /// [`file_suffix`]`(label)`; without a directory, text output prints it
    /// between `== LABEL ==` and `== End LABEL ==` lines, and JSON output
    /// records its size and hash.
    Extract { label: String },
    /// `log "text with {field}";`: a `log` record in the output.
    Log(Template),
}
