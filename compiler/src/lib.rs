//! # protoc-compiler
//!
//! Turns a `.proto` spec into a checked IR, then into Rust dissector code or
//! Graphviz graphs. Data flows through separate stages, each a module with a
//! typed hand-off:
//!
//! ```text
//! source text ──parse──▶ ast::SpecFile ──check──▶ ir::Spec ──┬─ codegen ──▶ Rust source
//!   (syntax.pest)          (spans kept)    (diagnostics)     └─ graph   ──▶ DOT
//! ```
//!
//! - [`parse`]: pest grammar (`syntax.pest`) to [`ast`], syntax errors as diagnostics;
//! - [`check`]: name resolution, typing, reachability; produces [`ir::Spec`] and
//!   every error and warning at once ([`diagnostic`]);
//! - [`codegen`]: pure `generate(&ir::Spec) -> String`;
//! - [`graph`]: state-machine and grammar graphs (petgraph) as DOT.

pub mod ir;
pub mod rules;
