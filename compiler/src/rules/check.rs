//! Checking a parsed rules file against a [`Schema`]: names resolved, every
//! expression typed, every action validated, into run-time [`Rule`]s.
//!
//! Expressions are typed by the spec checker's own rules
//! ([`ExprEnv`]), with the hooked event's fields as the names in scope and
//! the spec's records for `a.b` and `list[i].b`. On top of them, this module
//! reports what only rules can get wrong: an unknown spec or event, a field
//! the event does not carry, `extract` on an event that is not streamed, a
//! duplicate rule name (across all the files of one load), a bad label.
//!
//! Invariants: a problem is reported once, where it is written, and checking
//! goes on so one run reports them all; a rule is returned only when it has
//! no error, and then satisfies the [`RuleSet`](protoc_runtime::rules::RuleSet)
//! invariants.

use std::collections::HashMap;
use std::path::PathBuf;

use protoc_runtime::rules::{Rule, RuleAction, RuleOrigin};

use super::ast::{RuleActionKind, RuleDecl, RulesFile};
use super::schema::{EventSchema, FieldType, Schema, SpecSchema};
use crate::ast::{self, ExprKind as A, Ident, RegexLit, Span, StrLit};
use crate::check::expr::{ExprEnv, Scope};
use crate::check::names::regex_max_len;
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::FieldDef;

/// Rule names already defined by earlier rules of one load, across files.
#[derive(Debug, Default)]
pub struct RuleNames {
    first: HashMap<String, FirstDefinition>,
}

#[derive(Debug, Clone)]
struct FirstDefinition {
    file: String,
    span: Span,
    /// `FILE:LINE:COL`, for a hint from another file.
    location: String,
}

/// Checks every rule of `parsed` (read from `file`, whose text is `source`),
/// registering their names in `names`. Returns the rules without error and
/// every diagnostic.
pub fn check_rules(
    file: &str,
    source: &str,
    parsed: &RulesFile,
    schema: &Schema,
    names: &mut RuleNames,
) -> (Vec<Rule>, Vec<Diagnostic>) {
    let mut checker = RulesChecker {
        file,
        source,
        schema,
        spec: None,
        diagnostics: Vec::new(),
    };
    let mut rules = Vec::new();
    for decl in &parsed.rules {
        let unique = checker.register_name(&decl.name, names);
        if let Some(rule) = checker.rule(decl) {
            if unique {
                rules.push(rule);
            }
        }
    }
    (rules, checker.diagnostics)
}

struct RulesChecker<'a> {
    file: &'a str,
    source: &'a str,
    schema: &'a Schema,
    /// The spec of the rule being checked (for record fields).
    spec: Option<&'a SpecSchema>,
    diagnostics: Vec<Diagnostic>,
}

impl ExprEnv for RulesChecker<'_> {
    fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic::error(self.file, span, message, label))
    }

    fn is_const_table(&self, _name: &str) -> bool {
        false
    }

    fn record_fields(&mut self, name: &str) -> Vec<FieldDef> {
        self.spec
            .and_then(|spec| spec.record(name))
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| match &f.ty {
                        FieldType::Known(ty) => Some(FieldDef {
                            name: f.name.clone(),
                            ty: ty.clone(),
                        }),
                        FieldType::Unknown(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn regex_is_valid(&mut self, regex: &RegexLit) -> bool {
        match regex_max_len(self.file, regex) {
            Ok(_) => true,
            Err(diagnostic) => {
                self.push(*diagnostic);
                false
            }
        }
    }
}

impl<'a> RulesChecker<'a> {
    fn push(&mut self, diagnostic: Diagnostic) -> &mut Diagnostic {
        self.diagnostics.push(diagnostic);
        let last = self.diagnostics.len() - 1;
        &mut self.diagnostics[last]
    }

    fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// 1-based line and column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let prefix = self.source.get(..offset).unwrap_or(self.source);
        let line = prefix.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
        let column = prefix
            .get(line_start..)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// Records a rule's name; reports it and returns false if taken.
    fn register_name(&mut self, name: &Ident, names: &mut RuleNames) -> bool {
        if let Some(first) = names.first.get(&name.name).cloned() {
            let same_file = first.file == self.file;
            let diagnostic = self.error(
                name.span,
                format!("duplicate rule `{}`", name.name),
                "defined again here",
            );
            let unique = "rule names are unique across all the rules files of a run";
            if same_file {
                diagnostic.add_note(first.span, "first defined here");
                diagnostic.set_hint(unique);
            } else {
                diagnostic.set_hint(format!("first defined at {}; {unique}", first.location));
            }
            return false;
        }
        let (line, column) = self.line_col(name.span.start);
        names.first.insert(
            name.name.clone(),
            FirstDefinition {
                file: self.file.to_string(),
                span: name.span,
                location: format!("{}:{line}:{column}", self.file),
            },
        );
        true
    }

    /// Checks one rule; `None` if anything in it is wrong (reported).
    fn rule(&mut self, decl: &RuleDecl) -> Option<Rule> {
        let errors_before = self.errors();
        let (spec, event) = self.resolve_event(decl)?;
        self.spec = Some(spec);
        let scope = self.scope_of(spec, event, decl);
        let when = decl
            .when
            .as_ref()
            .and_then(|cond| self.condition(cond, &scope));
        let mut actions = Vec::new();
        for action in &decl.actions {
            if let Some(action) = self.action(&action.kind, action.span, spec, event, &scope) {
                actions.push(action);
            }
        }
        if decl.actions.is_empty() {
            self.push(
                Diagnostic::warning(
                    self.file,
                    decl.name.span,
                    format!("rule `{}` does nothing", decl.name.name),
                    "no action",
                )
                .with_hint("give it `alert`, `drop`, `log` or `extract` actions"),
            );
        }
        self.spec = None;
        if self.errors() > errors_before {
            return None;
        }
        if decl.when.is_some() && when.is_none() {
            // Typing failed without a diagnostic: only on a field whose type
            // the spec descriptor spells in a way this checker cannot read.
            self.error(
                decl.when.as_ref().map_or(decl.span, |w| w.span),
                "condition uses a field of unknown type",
                "cannot be typed",
            )
            .set_hint("the compiled spec describes a field type this version does not know");
            return None;
        }
        let (line, _) = self.line_col(decl.span.start);
        Some(Rule {
            name: decl.name.name.clone(),
            spec: spec.name.clone(),
            event: event.name.clone(),
            when,
            actions,
            origin: RuleOrigin {
                file: PathBuf::from(self.file),
                line,
            },
        })
    }

    /// The spec and event a rule hooks; reports an unknown one.
    fn resolve_event(&mut self, decl: &RuleDecl) -> Option<(&'a SpecSchema, &'a EventSchema)> {
        let schema = self.schema;
        let Some(spec) = schema.spec(&decl.spec.name) else {
            let names: Vec<&str> = schema.specs.iter().map(|s| s.name.as_str()).collect();
            let hint = did_you_mean(&decl.spec.name, names.iter().copied()).unwrap_or_else(|| {
                if names.is_empty() {
                    "no spec is available to check rules against".to_string()
                } else {
                    format!("the specs are {}", list(names.iter().copied()))
                }
            });
            self.error(
                decl.spec.span,
                format!("unknown spec `{}`", decl.spec.name),
                "no such spec",
            )
            .set_hint(hint);
            return None;
        };
        let Some(event) = spec.event(&decl.event.name) else {
            let names = spec.events.iter().map(|e| e.name.as_str());
            let all = format!("the events of `{}` are {}", spec.name, list(names.clone()));
            let hint = match did_you_mean(&decl.event.name, names) {
                Some(guess) => format!("{guess} {all}"),
                None => all,
            };
            self.error(
                decl.event.span,
                format!("spec `{}` has no event `{}`", spec.name, decl.event.name),
                "no such event",
            )
            .set_hint(hint);
            return None;
        };
        Some((spec, event))
    }

    /// The names a rule's expressions see: its event's fields. Names used
    /// that the event does not carry are reported here, with the event's
    /// fields, and poisoned so the typer stays silent about them.
    fn scope_of(&mut self, spec: &SpecSchema, event: &EventSchema, decl: &RuleDecl) -> Scope {
        let mut scope = Scope {
            vars: Vec::new(),
            grammar: false,
            poisoned: Vec::new(),
            hint: "a rule sees the fields of its event",
        };
        for field in &event.fields {
            match &field.ty {
                FieldType::Known(ty) => scope.vars.push((field.name.clone(), ty.clone())),
                FieldType::Unknown(_) => scope.poisoned.push(field.name.clone()),
            }
        }
        let mut names = Vec::new();
        if let Some(cond) = &decl.when {
            names_in(cond, &mut names);
        }
        for action in &decl.actions {
            if let RuleActionKind::Alert {
                description: template,
                ..
            }
            | RuleActionKind::Log(template) = &action.kind
            {
                for part in &template.parts {
                    if let ast::TemplatePart::Expr(e) = part {
                        names_in(e, &mut names);
                    }
                }
            }
        }
        let field_names: Vec<&str> = event.fields.iter().map(|f| f.name.as_str()).collect();
        for name in names {
            if field_names.contains(&name.name.as_str()) || scope.poisoned.contains(&name.name) {
                continue;
            }
            let hint = if event.streamed {
                format!(
                    "`{}.{}` is a streamed event: it carries content, not fields",
                    spec.name, event.name
                )
            } else {
                let all = if field_names.is_empty() {
                    format!("`{}.{}` carries no fields", spec.name, event.name)
                } else {
                    format!(
                        "the fields of `{}.{}` are {}",
                        spec.name,
                        event.name,
                        list(field_names.iter().copied())
                    )
                };
                match did_you_mean(&name.name, field_names.iter().copied()) {
                    Some(guess) => format!("{guess} {all}"),
                    None => all,
                }
            };
            self.error(
                name.span,
                format!(
                    "event `{}.{}` has no field `{}`",
                    spec.name, event.name, name.name
                ),
                "no such field",
            )
            .set_hint(hint);
            scope.poisoned.push(name.name.clone());
        }
        scope
    }

    fn action(
        &mut self,
        kind: &RuleActionKind,
        span: Span,
        spec: &SpecSchema,
        event: &EventSchema,
        scope: &Scope,
    ) -> Option<RuleAction> {
        match kind {
            RuleActionKind::Alert {
                severity,
                description,
            } => {
                let severity = self.severity(severity);
                let description = self.template(description, scope);
                Some(RuleAction::Alert {
                    severity: severity?,
                    description: description?,
                })
            }
            RuleActionKind::Drop => Some(RuleAction::Drop),
            RuleActionKind::Log(template) => self.template(template, scope).map(RuleAction::Log),
            RuleActionKind::Extract(label) => {
                let streamed_ok = self.extract_target(span, spec, event);
                let label_ok = self.extract_label(label);
                (streamed_ok && label_ok).then(|| RuleAction::Extract {
                    label: label.value.clone(),
                })
            }
        }
    }

    /// `extract` needs a streamed event.
    fn extract_target(&mut self, span: Span, spec: &SpecSchema, event: &EventSchema) -> bool {
        if event.streamed {
            return true;
        }
        let streamed: Vec<&str> = spec
            .events
            .iter()
            .filter(|e| e.streamed)
            .map(|e| e.name.as_str())
            .collect();
        let hint = if streamed.is_empty() {
            format!("`{}` has no streamed event", spec.name)
        } else {
            format!(
                "the streamed events of `{}` are {}",
                spec.name,
                list(streamed.iter().copied())
            )
        };
        self.error(
            span,
            "`extract` needs a streamed event",
            format!("`{}.{}` is not streamed", spec.name, event.name),
        )
        .set_hint(hint);
        false
    }

    /// A label names files and text-dump lines: it needs a letter or digit,
    /// and no control character.
    fn extract_label(&mut self, label: &StrLit) -> bool {
        let problem = if label.value.chars().any(char::is_control) {
            Some("an extract label cannot hold control characters")
        } else if !label.value.chars().any(|c| c.is_ascii_alphanumeric()) {
            Some("an extract label needs a letter or a digit")
        } else {
            None
        };
        let Some(message) = problem else {
            return true;
        };
        self.error(label.span, message, "bad label").set_hint(
            "the label names the extracted files (`<flow>-<n>.<label>`), e.g. \"content\"",
        );
        false
    }
}

/// Every name an expression refers to as a variable (not function names,
/// not field names after a dot).
fn names_in<'e>(expr: &'e ast::Expr, out: &mut Vec<&'e Ident>) {
    match &expr.kind {
        A::Str(_) | A::Int(_) | A::Bool(_) | A::Null => {}
        A::Name(name) => out.push(name),
        A::Field(base, _) => names_in(base, out),
        A::Index(base, index) => {
            names_in(base, out);
            names_in(index, out);
        }
        A::Call(_, args) => args.iter().for_each(|a| names_in(a, out)),
        A::Unary(_, operand) => names_in(operand, out),
        A::Binary(_, left, right) => {
            names_in(left, out);
            names_in(right, out);
        }
        A::Match(subject, _) => names_in(subject, out),
    }
}

/// "`a`, `b` and `c`".
fn list<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
