//! stub
use crate::{ast, diagnostic::Diagnostic, ir};
pub struct Checked { pub spec: Option<ir::Spec>, pub diagnostics: Vec<Diagnostic> }
pub fn check(_file: &str, _ast: &ast::SpecFile) -> Checked { Checked { spec: None, diagnostics: vec![] } }
