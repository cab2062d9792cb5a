//! The checker: AST in, [`ir::Spec`] and every diagnostic out.
//!
//! Passes run in order, each in its own module, all on one [`Checker`] that
//! accumulates diagnostics (a problem never stops the check; later passes
//! skip what an earlier one could not resolve, so one mistake is reported
//! once):
//!
//! 1. [`names`]: collect every declaration (protocol header, consts, events,
//!    tokens, records, exports, states), reporting duplicates;
//! 2. [`fields`]: compute each record's flattened result fields and their
//!    types (anonymous sub-records, branches and optionals merged);
//! 3. [`grammar`]: lower tokens and records to IR, typing every grammar
//!    expression against the fields parsed before it;
//! 4. [`machine`]: lower variables, states and transitions, infer event
//!    payloads, then warn about unreachable states, shadowed transitions,
//!    unused exports.
//!
//! Expressions are typed by [`expr`]. The result carries a spec only when no
//! error was found; IR invariants (see [`crate::ir`]) then hold.

pub(crate) mod expr;
mod fields;
mod grammar;
mod machine;
pub(crate) mod names;

use std::collections::HashMap;

use crate::ast::{self, Span};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir;

/// The checker's output.
pub struct Checked {
    /// The IR, when there was no error.
    pub spec: Option<ir::Spec>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a parsed spec read from `file`, whose text is `source`.
pub fn check(file: &str, source: &str, spec: &ast::SpecFile) -> Checked {
    let mut checker = Checker::new(file, source, &spec.protocol);
    checker.collect_names();
    checker.compute_all_fields();
    let mut grammar = checker.lower_grammar();
    let machine = checker.lower_machine();
    // The machine may add inline tokens (`resync /regex/`).
    grammar.tokens = checker.tokens.clone();
    let spec = match (machine, checker.has_errors()) {
        (Some(machine), false) => Some(ir::Spec {
            name: spec.protocol.name.name.clone(),
            source_path: file.to_string(),
            transport: checker.transport.unwrap_or(ir::Transport::Tcp),
            ports: checker.ports.clone(),
            consts: checker.consts.iter().map(|c| c.table.clone()).collect(),
            events: checker.lowered_events(),
            grammar,
            machine,
        }),
        _ => None,
    };
    Checked {
        spec,
        diagnostics: checker.diagnostics,
    }
}

/// A `const` table and where it was declared.
struct ConstInfo {
    table: ir::ConstTable,
    span: Span,
}

/// An event and what the checker learned about it.
struct EventInfo<'a> {
    decl: &'a ast::EventDecl,
    /// The record `trigger` passes, with the first trigger that fixed it.
    payload: Option<(ir::RecordId, Span)>,
    /// The named values `trigger EVENT(name: expr, …)` passes, with the
    /// first trigger that fixed them.
    named: Option<(Vec<ir::FieldDef>, Span)>,
}

/// A name of the grammar namespace (tokens and records share it: both are
/// named by record items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrammarName {
    Token(ir::TokenId),
    Record(ir::RecordId),
}

/// Where the computation of a record's fields stands (see [`fields`]).
#[derive(Debug, Clone)]
enum Shape {
    NotComputed,
    /// Being computed: meeting it again means an inclusion cycle.
    InProgress,
    Done(RecordShape),
    /// Could not be computed (cycle); already reported.
    Failed,
}

/// A record's result fields and message variables: overall, and
/// contributed by each item.
#[derive(Debug, Clone, Default)]
struct RecordShape {
    fields: Vec<ir::FieldDef>,
    /// `var` items: in scope for later items, not part of the result.
    hidden: Vec<ir::FieldDef>,
    per_item: Vec<Vec<fields::Named>>,
}

struct Checker<'a> {
    file: &'a str,
    source: &'a str,
    protocol: &'a ast::Protocol,
    diagnostics: Vec<Diagnostic>,

    transport: Option<ir::Transport>,
    ports: Vec<u16>,
    consts: Vec<ConstInfo>,
    const_index: HashMap<String, usize>,
    events: Vec<EventInfo<'a>>,
    event_index: HashMap<String, usize>,

    /// Declared tokens first, then inline ones as records are lowered.
    tokens: Vec<ir::Token>,
    token_spans: Vec<Span>,
    inline_tokens: HashMap<String, ir::TokenId>,
    records: Vec<&'a ast::RecordDecl>,
    shapes: Vec<Shape>,
    grammar_index: HashMap<String, GrammarName>,
    exports: Vec<(ir::RecordId, Span)>,

    states_block: Option<&'a ast::StatesBlock>,
    states: Vec<&'a ast::StateDecl>,
    state_index: HashMap<String, usize>,
    /// Per-flow variables whose type resolved, with where they are declared.
    vars: Vec<(ir::Var, Span)>,
    /// Records reported for merging themselves in (not reported again as
    /// containing themselves).
    merged_into_self: Vec<usize>,
    /// The message variables of the record being lowered, with their types.
    current_hidden: Vec<ir::FieldDef>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str, source: &'a str, protocol: &'a ast::Protocol) -> Checker<'a> {
        Checker {
            file,
            source,
            protocol,
            diagnostics: Vec::new(),
            transport: None,
            ports: Vec::new(),
            consts: Vec::new(),
            const_index: HashMap::new(),
            events: Vec::new(),
            event_index: HashMap::new(),
            tokens: Vec::new(),
            token_spans: Vec::new(),
            inline_tokens: HashMap::new(),
            records: Vec::new(),
            shapes: Vec::new(),
            grammar_index: HashMap::new(),
            exports: Vec::new(),
            states_block: None,
            states: Vec::new(),
            state_index: HashMap::new(),
            vars: Vec::new(),
            merged_into_self: Vec::new(),
            current_hidden: Vec::new(),
        }
    }

    /// The 1-based line of a span's start.
    fn line(&self, span: Span) -> usize {
        let prefix = self.source.get(..span.start).unwrap_or(self.source);
        prefix.bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic::error(self.file, span, message, label))
    }

    fn warning(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic::warning(self.file, span, message, label))
    }

    fn push(&mut self, diagnostic: Diagnostic) -> &mut Diagnostic {
        self.diagnostics.push(diagnostic);
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    /// "undefined KIND `name`", with a did-you-mean among `candidates`.
    fn undefined<'c>(
        &mut self,
        kind: &str,
        name: &ast::Ident,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> &mut Diagnostic {
        let hint = did_you_mean(&name.name, candidates);
        let diagnostic = self.error(
            name.span,
            format!("undefined {kind} `{}`", name.name),
            format!("no such {kind}"),
        );
        diagnostic.hint = hint;
        diagnostic
    }

    fn record_name(&self, id: ir::RecordId) -> &'a str {
        self.records.get(id.0).map_or("?", |r| r.name.name.as_str())
    }

    fn record_by_name(&self, name: &str) -> Option<ir::RecordId> {
        match self.grammar_index.get(name) {
            Some(GrammarName::Record(id)) => Some(*id),
            _ => None,
        }
    }

    fn var(&self, name: &str) -> Option<&ir::Var> {
        self.vars.iter().map(|(v, _)| v).find(|v| v.name == name)
    }

    fn record_names(&self) -> Vec<&'a str> {
        self.records.iter().map(|r| r.name.name.as_str()).collect()
    }

    fn state_names(&self) -> Vec<&'a str> {
        self.states.iter().map(|s| s.name.name.as_str()).collect()
    }

    fn event_names(&self) -> Vec<&'a str> {
        self.events
            .iter()
            .map(|e| e.decl.name.name.as_str())
            .collect()
    }

    fn lowered_events(&self) -> Vec<ir::Event> {
        self.events
            .iter()
            .map(|e| ir::Event {
                name: e.decl.name.name.clone(),
                streamed: e.decl.streamed,
                payload: e.payload.map(|(id, _)| id),
                fields: e
                    .named
                    .as_ref()
                    .map(|(fields, _)| fields.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}
