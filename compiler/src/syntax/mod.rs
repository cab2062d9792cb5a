//! The pest parser for specs: one parser struct generated from two grammar
//! files, `expr.pest` (the expression language, reusable by any other
//! grammar that wants expressions) and `spec.pest` (the spec language).
//!
//! This module only produces pest's concrete parse tree; [`crate::parse`]
//! turns it into the [`crate::ast`]. Invariant: every rule the AST builder
//! matches on is defined in one of the two files, so a renamed rule fails to
//! compile instead of silently falling through.

use pest_derive::Parser;

/// The parser for `.proto` specs (start rule: [`Rule::spec_file`]) and for
/// security rules files (`rules.pest`, start rule: [`Rule::rules_file`]),
/// which share the expression language and the spec's `alert`, `drop` and
/// `log` actions. One parser rather than two: pest gives each parser its own
/// `Rule` enum, and one enum lets [`crate::parse`]'s builder serve both.
#[derive(Parser)]
#[grammar = "syntax/expr.pest"]
#[grammar = "syntax/spec.pest"]
#[grammar = "syntax/rules.pest"]
pub struct SpecParser;
