//! Parsing a `.rules` file into its [`RulesFile`] syntax tree.
//!
//! Runs the spec parser from its `rules_file` start rule (`rules.pest`) and
//! reuses the spec front end's tree walker ([`crate::parse`]) for names,
//! strings, expressions, templates and the `alert`/`drop`/`log` actions, so
//! rules and specs read and report the same way. Invariants: a pest failure
//! becomes exactly one diagnostic; the walk never panics (an unexpected tree
//! shape is an internal-error diagnostic).

use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

use super::ast::{RuleActionDecl, RuleActionKind, RuleDecl, RulesFile};
use crate::ast::{ActionKind, Span};
use crate::diagnostic::Diagnostic;
use crate::parse::{span_of, syntax_error, Builder, Built};
use crate::syntax::{Rule, SpecParser};

/// The syntax tree (if the syntax is valid) and every problem found on the way.
pub struct ParsedRules {
    pub file: Option<RulesFile>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses the rules text `source`, read from `file` (used in diagnostics).
pub fn parse_rules(file: &str, source: &str) -> ParsedRules {
    pest::set_error_detail(true);
    let pairs = match SpecParser::parse(Rule::rules_file, source) {
        Ok(pairs) => pairs,
        Err(error) => {
            return ParsedRules {
                file: None,
                diagnostics: vec![rules_syntax_error(file, source, &error)],
            }
        }
    };
    let mut builder = Builder {
        file,
        diagnostics: Vec::new(),
    };
    let parsed = rules_file(&mut builder, pairs);
    let mut diagnostics = builder.diagnostics;
    let file = match parsed {
        Ok(rules) => Some(rules),
        Err(internal) => {
            diagnostics.push(*internal);
            None
        }
    };
    ParsedRules { file, diagnostics }
}

/// The spec parser's syntax error, made clearer where only rules can go
/// wrong: a spec name with no `.EVENT` after it (the generic message would
/// ask for "an operator", `.` being one in expressions).
fn rules_syntax_error(file: &str, source: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    let mut diagnostic = syntax_error(file, source, error);
    let before = source.get(..diagnostic.span.start).unwrap_or_default();
    let words: Vec<&str> = before.split_whitespace().rev().take(2).collect();
    let after_spec_name = matches!(
        words.as_slice(),
        [spec, "on"] if spec.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    );
    if after_spec_name {
        let found = source
            .get(diagnostic.span.start..diagnostic.span.end)
            .filter(|f| !f.is_empty())
            .map_or("end of file".to_string(), |f| format!("`{f}`"));
        diagnostic.message = format!("syntax error: expected `.`, found {found}");
        if let Some(spec) = words.first() {
            diagnostic.hint = Some(format!(
                "a rule hooks one event of one spec: `on {spec}.EVENT`"
            ));
        }
    }
    diagnostic
}

fn rules_file(builder: &mut Builder<'_>, mut pairs: Pairs<'_, Rule>) -> Built<RulesFile> {
    let file = builder.next_rule(&mut pairs, Span::default(), Rule::rules_file)?;
    let mut rules = Vec::new();
    for pair in file.into_inner() {
        if pair.as_rule() == Rule::EOI {
            break;
        }
        rules.push(rule_decl(builder, pair)?);
    }
    Ok(RulesFile { rules })
}

fn rule_decl(builder: &mut Builder<'_>, pair: Pair<'_, Rule>) -> Built<RuleDecl> {
    let span = span_of(&pair);
    if pair.as_rule() != Rule::rule_decl {
        return Err(builder.internal(span, &format!("rule {:?}", pair.as_rule())));
    }
    let mut children = pair.into_inner();
    builder.next_rule(&mut children, span, Rule::kw_rule)?;
    let name = builder.next_ident(&mut children, span)?;
    builder.next_rule(&mut children, span, Rule::kw_on)?;
    let path = builder.next_rule(&mut children, span, Rule::event_path)?;
    let path_span = span_of(&path);
    let mut parts = path.into_inner();
    let spec = builder.next_ident(&mut parts, path_span)?;
    let event = builder.next_ident(&mut parts, path_span)?;
    let mut when = None;
    let mut actions = Vec::new();
    for child in children {
        let child_span = span_of(&child);
        match child.as_rule() {
            Rule::when => {
                let mut parts = child.into_inner();
                builder.next_rule(&mut parts, child_span, Rule::kw_when)?;
                let cond = builder.next_rule(&mut parts, child_span, Rule::expr)?;
                when = Some(builder.expr(cond)?);
            }
            Rule::extract => {
                let mut parts = child.into_inner();
                builder.next_rule(&mut parts, child_span, Rule::kw_extract)?;
                let label = builder.next_rule(&mut parts, child_span, Rule::string)?;
                actions.push(RuleActionDecl {
                    kind: RuleActionKind::Extract(builder.string(label)),
                    span: child_span,
                });
            }
            _ => {
                let action = builder.action(child)?;
                let kind = match action.kind {
                    ActionKind::Alert {
                        severity,
                        description,
                    } => RuleActionKind::Alert {
                        severity,
                        description,
                    },
                    ActionKind::Drop => RuleActionKind::Drop,
                    ActionKind::Log(template) => RuleActionKind::Log(template),
                    ActionKind::Trigger { .. }
                    | ActionKind::TriggerNamed { .. }
                    | ActionKind::Jump(_)
                    | ActionKind::Set { .. }
                    | ActionKind::Push { .. }
                    | ActionKind::Pop(_)
                    | ActionKind::Clear(_)
                    | ActionKind::Stop
                    | ActionKind::Handover(_)
                    | ActionKind::Resync { .. }
                    | ActionKind::Close(_) => {
                        return Err(builder.internal(action.span, "state-machine action in a rule"))
                    }
                };
                actions.push(RuleActionDecl {
                    kind,
                    span: action.span,
                });
            }
        }
    }
    Ok(RuleDecl {
        name,
        spec,
        event,
        when,
        actions,
        span,
    })
}
