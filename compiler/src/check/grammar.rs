//! Pass 3: lower the grammar (tokens and records) to IR.
//!
//! Each record's items are lowered in order; an expression in an item sees
//! the fields parsed before that item (plus `elem` in an array's `until`).
//! Inline regexes become tokens named `_token_N` (one per distinct pattern,
//! numbered from 1 in order of appearance). Invariant: every name an element
//! uses is resolved here or reported here, once; a lowered element that could
//! not be resolved is a placeholder, and the spec is then rejected.

use std::collections::HashMap;

use super::expr::{a, ExprEnv, Scope};
use super::fields::Yields;
use super::{Checker, GrammarName};
use crate::ast::{self, BytesEnd, CaseKey, ElementKind, Span, TokenRef};
use crate::diagnostic::did_you_mean;
use crate::ir::{self, Element, Expr, ExprKind, FieldDef, Type};
use protoc_runtime::value::Value;

/// The generic transforms a chunked `bytes` may name.
const TRANSFORMS: &[(&str, ir::Transform)] = &[("unstuff", ir::Transform::Unstuff)];

/// Stands for an expression that failed to check (the spec is rejected).
fn placeholder() -> Expr {
    Expr {
        kind: ExprKind::Lit(Value::Bool(true)),
        ty: Type::Bool,
    }
}

fn grammar_scope(fields: &[FieldDef], elem: Option<Type>) -> Scope {
    let mut vars: Vec<(String, Type)> = fields
        .iter()
        .map(|f| (f.name.clone(), f.ty.clone()))
        .collect();
    let hint = if elem.is_some() {
        "`elem` is the element just parsed; the record's earlier fields are in scope too"
    } else {
        "a grammar expression sees the fields parsed before it in the same record"
    };
    vars.extend(elem.map(|ty| ("elem".to_string(), ty)));
    Scope {
        vars,
        grammar: true,
        poisoned: Vec::new(),
        hint,
    }
}

impl Checker<'_> {
    pub(super) fn lower_grammar(&mut self) -> ir::Grammar {
        let records = (0..self.records.len())
            .map(|i| self.lower_record(ir::RecordId(i)))
            .collect();
        ir::Grammar {
            tokens: self.tokens.clone(),
            records,
            exports: self.exports.iter().map(|(id, _)| *id).collect(),
        }
    }

    fn lower_record(&mut self, id: ir::RecordId) -> ir::Record {
        let decl = self.records[id.0];
        let shape = self.shape(id).unwrap_or_default();
        let mut in_scope: Vec<FieldDef> = Vec::new();
        let mut items = Vec::new();
        for (i, item) in decl.items.iter().enumerate() {
            let element = self.lower_element(&item.element, &in_scope);
            items.push(match &item.name {
                Some(name) => Element::Field {
                    name: name.name.clone(),
                    element: Box::new(element),
                },
                None => element,
            });
            in_scope.extend(shape.per_item.get(i).into_iter().flatten().cloned());
        }
        ir::Record {
            name: decl.name.name.clone(),
            items,
            fields: shape.fields,
        }
    }

    fn lower_element(&mut self, element: &ast::Element, in_scope: &[FieldDef]) -> Element {
        match &element.kind {
            ElementKind::Ref(name) => match self.grammar_index.get(&name.name).copied() {
                Some(GrammarName::Token(id)) => Element::Token(id),
                Some(GrammarName::Record(id)) => Element::Record(id),
                None => {
                    let mut candidates: Vec<&str> =
                        self.tokens.iter().map(|t| t.name.as_str()).collect();
                    candidates.extend(self.record_names());
                    let candidates: Vec<String> =
                        candidates.into_iter().map(String::from).collect();
                    self.undefined(
                        "token or record",
                        name,
                        candidates.iter().map(String::as_str),
                    );
                    Element::Empty
                }
            },
            ElementKind::Regex(regex) => self
                .inline_token(regex)
                .map_or(Element::Empty, Element::Token),
            ElementKind::Empty => Element::Empty,
            ElementKind::Fail(message) => Element::Fail(message.value.clone()),
            ElementKind::Optional {
                element,
                cond: Some(cond),
            } => {
                let cond = self.condition(cond, &grammar_scope(in_scope, None));
                Element::Optional {
                    element: Box::new(self.lower_element(element, in_scope)),
                    cond: cond.unwrap_or_else(placeholder),
                }
            }
            ElementKind::Optional {
                element,
                cond: None,
            } => self.lower_try(element),
            ElementKind::Array { element, until } => {
                let elem = match self.yields(element) {
                    Yields::Value(ty) => Some(ty),
                    Yields::Nothing | Yields::Invalid => None,
                };
                let lowered = self.lower_element(element, in_scope);
                let until = self.condition(until, &grammar_scope(in_scope, elem));
                Element::Array {
                    element: Box::new(lowered),
                    until: until.unwrap_or_else(placeholder),
                }
            }
            ElementKind::Bytes {
                end: BytesEnd::Until(until),
                chunked,
                ends,
                transform,
            } => {
                if let Some(ends) = ends {
                    self.error(
                        ends.span,
                        "`ends if` applies to `bytes count` fields only",
                        "a `bytes until` stream always ends with its field",
                    )
                    .set_hint("remove `ends if ...`");
                }
                self.lower_bytes(until, chunked.as_ref(), transform.as_ref())
            }
            ElementKind::Bytes {
                end: BytesEnd::Count(count),
                chunked,
                ends,
                transform,
            } => self.lower_count(
                count,
                chunked.as_ref(),
                ends.as_ref(),
                transform.as_ref(),
                in_scope,
            ),
            ElementKind::Branch { key, cases } => self.lower_branch(key, cases, in_scope),
        }
    }

    /// `optional X` with no condition: `X` must be a token, tried in place.
    fn lower_try(&mut self, element: &ast::Element) -> Element {
        let token = match &element.kind {
            ElementKind::Regex(regex) => self.inline_token(regex),
            ElementKind::Ref(name) => match self.grammar_index.get(&name.name).copied() {
                Some(GrammarName::Token(id)) => Some(id),
                Some(GrammarName::Record(_)) | None => None,
            },
            _ => None,
        };
        if let Some(id) = token {
            return Element::TryToken(id);
        }
        if let ElementKind::Ref(name) = &element.kind {
            if !self.grammar_index.contains_key(&name.name) {
                // Undefined: reported by the usual path.
                return self.lower_element(element, &[]);
            }
        }
        self.error(
            element.span,
            "`optional` without `if` needs a token",
            "not a token",
        )
        .set_hint(
            "a token that does not match consumes nothing, so it can be tried; other elements need a condition: `optional X if COND`",
        );
        Element::Empty
    }

    /// `bytes count EXPR [chunked -> EVENT [ends if COND]] [transform NAME]`.
    fn lower_count(
        &mut self,
        count: &ast::Expr,
        chunked: Option<&ast::Ident>,
        ends: Option<&ast::Expr>,
        transform: Option<&ast::Ident>,
        in_scope: &[FieldDef],
    ) -> Element {
        let scope = grammar_scope(in_scope, None);
        let typed = self.type_expr(count, &scope).and_then(|c| {
            if c.ty.inner() == &Type::Int {
                return Some(c);
            }
            self.error(
                count.span,
                format!("a byte count is an integer, found {}", a(&c.ty)),
                "not an integer",
            )
            .set_hint("convert text with `number(field)`");
            None
        });
        let chunked_event = chunked.and_then(|event| self.chunked_event(event));
        let ends = ends.and_then(|cond| {
            if chunked.is_none() {
                self.error(
                    cond.span,
                    "`ends if` applies to chunked bytes only",
                    "not chunked",
                )
                .set_hint("add `chunked -> EVENT` before `ends if`");
                return None;
            }
            self.condition(cond, &scope)
        });
        let transform = transform.and_then(|name| self.transform(name, chunked.is_some()));
        Element::BytesCount(Box::new(ir::BytesCount {
            count: typed.unwrap_or_else(placeholder),
            chunked: chunked_event,
            ends,
            transform,
        }))
    }

    /// A transform by name; it applies to chunked bytes only.
    fn transform(&mut self, name: &ast::Ident, chunked: bool) -> Option<ir::Transform> {
        let Some(&(_, t)) = TRANSFORMS.iter().find(|(n, _)| *n == name.name) else {
            let hint = did_you_mean(&name.name, TRANSFORMS.iter().map(|(n, _)| *n))
                .unwrap_or_else(|| "the only transform so far is `unstuff`".into());
            self.error(
                name.span,
                format!("unknown transform `{}`", name.name),
                "no such transform",
            )
            .hint = Some(hint);
            return None;
        };
        if !chunked {
            self.error(
                name.span,
                "`transform` applies to chunked bytes only",
                "not chunked",
            )
            .set_hint("add `chunked -> EVENT` before `transform`");
        }
        Some(t)
    }

    /// The token for an inline regex, made on first use of its pattern.
    pub(super) fn inline_token(&mut self, regex: &ast::RegexLit) -> Option<ir::TokenId> {
        if let Some(id) = self.inline_tokens.get(&regex.pattern) {
            return Some(*id);
        }
        let max_len = self.validate_regex(regex)?;
        let mut n = self.inline_tokens.len() + 1;
        while self.grammar_index.contains_key(&format!("_token_{n}")) {
            n += 1;
        }
        let id = ir::TokenId(self.tokens.len());
        self.tokens.push(ir::Token {
            name: format!("_token_{n}"),
            pattern: regex.pattern.clone(),
            max_len,
        });
        self.token_spans.push(regex.span);
        self.inline_tokens.insert(regex.pattern.clone(), id);
        Some(id)
    }

    fn lower_bytes(
        &mut self,
        until: &TokenRef,
        chunked: Option<&ast::Ident>,
        transform: Option<&ast::Ident>,
    ) -> Element {
        let token = match until {
            TokenRef::Inline(regex) => self.inline_token(regex),
            TokenRef::Named(name) => match self.grammar_index.get(&name.name).copied() {
                Some(GrammarName::Token(id)) => Some(id),
                Some(GrammarName::Record(_)) => {
                    self.error(
                        name.span,
                        format!("`{}` is a record, not a token", name.name),
                        "a record",
                    )
                    .set_hint("`bytes until` stops at a token or an inline `/regex/`");
                    None
                }
                None => {
                    let tokens: Vec<String> = self.tokens.iter().map(|t| t.name.clone()).collect();
                    self.undefined("token", name, tokens.iter().map(String::as_str));
                    None
                }
            },
        };
        let chunked_event = chunked.and_then(|event| self.chunked_event(event));
        let transform = transform.and_then(|name| self.transform(name, chunked.is_some()));
        Element::BytesUntil {
            token: token.unwrap_or(ir::TokenId(0)),
            chunked: chunked_event,
            transform,
        }
    }

    /// The streamed event named after `chunked ->`.
    fn chunked_event(&mut self, event: &ast::Ident) -> Option<ir::EventId> {
        let Some(&index) = self.event_index.get(&event.name) else {
            let events = self.event_names();
            self.undefined("event", event, events);
            return None;
        };
        if !self.events[index].decl.streamed {
            let declared = self.events[index].decl.span;
            self.error(
                event.span,
                format!("event `{}` is not streamed", event.name),
                "chunks need a streamed event",
            )
            .add_note(declared, "declared here")
            .set_hint(format!("declare it `streamed event {};`", event.name));
        }
        Some(ir::EventId(index))
    }

    fn lower_branch(
        &mut self,
        key: &ast::Expr,
        cases: &[ast::BranchCase],
        in_scope: &[FieldDef],
    ) -> Element {
        let key_typed = self.type_expr(key, &grammar_scope(in_scope, None));
        if let Some(k) = &key_typed {
            if k.ty.inner() != &Type::Str {
                self.error(
                    key.span,
                    format!("a branch key must be a string, found {}", a(&k.ty)),
                    "not a string",
                )
                .set_hint("cases are matched against strings");
            }
        }
        let table = match key_typed.as_ref().map(|k| &k.kind) {
            Some(ExprKind::Lookup { table, .. }) => self.const_index.get(table).copied(),
            _ => None,
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut default_span: Option<Span> = None;
        let mut lowered_cases = Vec::new();
        let mut default = None;
        for case in cases {
            let element = self.lower_element(&case.element, in_scope);
            match &case.key {
                CaseKey::Value(value) => {
                    if let Some(first) = seen.get(value.value.as_str()).copied() {
                        self.duplicate(&format!("case \"{}\"", value.value), value.span, first);
                        continue;
                    }
                    seen.insert(&value.value, value.span);
                    if let Some(table) = table {
                        self.check_case_in_table(value, table);
                    }
                    lowered_cases.push((value.value.clone(), element));
                }
                CaseKey::Default(span) => {
                    if let Some(first) = default_span {
                        self.duplicate("`default` case", *span, first);
                        continue;
                    }
                    default_span = Some(*span);
                    default = Some(Box::new(element));
                }
            }
        }
        Element::Branch {
            key: key_typed.unwrap_or_else(placeholder),
            cases: lowered_cases,
            default,
        }
    }

    /// Warns about a case no entry of the looked-up const table can produce.
    fn check_case_in_table(&mut self, value: &ast::StrLit, table: usize) {
        let Some(info) = self.consts.get(table) else {
            return;
        };
        if info.table.entries.iter().any(|(_, v)| *v == value.value) {
            return;
        }
        let mut values: Vec<String> = info.table.entries.iter().map(|(_, v)| v.clone()).collect();
        values.sort();
        values.dedup();
        let hint = did_you_mean(&value.value, values.iter().map(String::as_str));
        let name = info.table.name.clone();
        self.warning(
            value.span,
            format!("case \"{}\" never matches", value.value),
            format!("no entry of `{name}` has this value"),
        )
        .hint = hint;
    }
}
