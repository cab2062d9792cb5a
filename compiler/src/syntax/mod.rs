//! The pest parser for specs: one parser struct generated from two grammar
//! files, `expr.pest` (the expression language, reusable by any other
//! grammar that wants expressions) and `spec.pest` (the spec language).
//!
//! This module only produces pest's concrete parse tree; [`crate::parse`]
//! turns it into the [`crate::ast`]. Invariant: every rule the AST builder
//! matches on is defined in one of the two files, so a renamed rule fails to
//! compile instead of silently falling through.

use pest_derive::Parser;

/// The parser for `.proto` specs. Start rule: [`Rule::spec_file`].
#[derive(Parser)]
#[grammar = "syntax/expr.pest"]
#[grammar = "syntax/spec.pest"]
pub struct SpecParser;
