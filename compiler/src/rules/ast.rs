//! The syntax tree of a `.rules` file: what the file says, before any spec,
//! event or field name is resolved.
//!
//! Built by [`super::parse`], consumed by [`super::check`]. Expressions and
//! templates are the spec language's own ([`crate::ast`]). Invariant: every
//! node carries the [`Span`] of its text, so each diagnostic can point at it.

use crate::ast::{Expr, Ident, Span, StrLit, Template};

/// A whole rules file: its rules in order.
#[derive(Debug, Clone)]
pub struct RulesFile {
    pub rules: Vec<RuleDecl>,
}

/// `rule NAME on SPEC.EVENT [when COND] { ACTION; … }`.
#[derive(Debug, Clone)]
pub struct RuleDecl {
    pub name: Ident,
    pub spec: Ident,
    pub event: Ident,
    pub when: Option<Expr>,
    pub actions: Vec<RuleActionDecl>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RuleActionDecl {
    pub kind: RuleActionKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum RuleActionKind {
    /// `alert SEVERITY "text"`
    Alert {
        severity: Ident,
        description: Template,
    },
    /// `drop`
    Drop,
    /// `log "text"`
    Log(Template),
    /// `extract "LABEL"`
    Extract(StrLit),
}
