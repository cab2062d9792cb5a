//! Pass 3: lower the grammar (tokens and records) to IR.
//!
//! Each record's items are lowered in order; an expression in an item sees
//! the fields and message variables parsed before that item (plus `elem` in
//! an array's `until`), also inside `sequence`, `union` and `try` blocks.
//! Also checked here: converters, `at` (a record), array elements (what the
//! parser can repeat), integer and string branch keys, blocks whose
//! alternatives would stream (a stream cannot be taken back), bit fields
//! that leave a record or a byte-level element off a byte boundary, and
//! records that contain themselves other than through `at`.
//! Inline regexes become tokens named `_token_N` (one per distinct pattern,
//! numbered from 1 in order of appearance). Invariant: every name an element
//! uses is resolved here or reported here, once; a lowered element that could
//! not be resolved is a placeholder, and the spec is then rejected.

use std::collections::HashMap;

use super::expr::{a, ExprEnv};
use super::fields::Yields;
use super::{Checker, GrammarName};
use crate::ast::{self, ArrayEnd, BytesEnd, CaseKey, ElementKind, Span, TokenRef};
use crate::diagnostic::did_you_mean;
use crate::ir::{self, Element, Expr, ExprKind, FieldDef, Type};
use protoc_runtime::value::Value;

/// Whether an element (or one inside it) streams chunks to an event.
fn streams(element: &Element) -> bool {
    let mut found = false;
    visit(element, &mut |e| {
        found |= matches!(
            e,
            Element::BytesUntil {
                chunked: Some(_),
                ..
            } | Element::BytesRest { chunked: Some(_) }
        ) || matches!(e, Element::BytesCount(count) if count.chunked.is_some());
    });
    found
}

/// The records an element parses inside its record's parser (not through `at`).
fn contained_records(items: &[Element], out: &mut Vec<ir::RecordId>) {
    for item in items {
        visit(item, &mut |e| {
            if let Element::Record(id) = e {
                out.push(*id);
            }
        });
    }
}

/// Calls `f` on `element` and every element inside it (not through `at`).
fn visit(element: &Element, f: &mut dyn FnMut(&Element)) {
    f(element);
    match element {
        Element::Field { element, .. }
        | Element::Hidden { element, .. }
        | Element::Convert { element, .. }
        | Element::Optional { element, .. }
        | Element::Array { element, .. }
        | Element::ArrayCount { element, .. }
        | Element::ArrayWhile { element, .. } => visit(element, f),
        Element::Branch { cases, default, .. } => {
            for (_, case) in cases {
                visit(case, f);
            }
            if let Some(d) = default {
                visit(d, f);
            }
        }
        Element::Sequence(items) | Element::Union(items) | Element::Try(items) => {
            for item in items {
                visit(item, f);
            }
        }
        _ => {}
    }
}

/// The generic transforms a chunked `bytes` may name.
const TRANSFORMS: &[(&str, ir::Transform)] = &[("unstuff", ir::Transform::Unstuff)];

/// Stands for an expression that failed to check (the spec is rejected).
fn placeholder() -> Expr {
    Expr {
        kind: ExprKind::Lit(Value::Bool(true)),
        ty: Type::Bool,
    }
}

impl Checker<'_> {
    pub(super) fn lower_grammar(&mut self) -> ir::Grammar {
        let records: Vec<ir::Record> = (0..self.records.len())
            .map(|i| self.lower_record(ir::RecordId(i)))
            .collect();
        self.check_recursion(&records);
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
        self.current_hidden = shape.hidden.clone();
        for (i, item) in decl.items.iter().enumerate() {
            items.push(self.lower_item(item, &in_scope));
            in_scope.extend(
                shape
                    .per_item
                    .get(i)
                    .into_iter()
                    .flatten()
                    .map(|n| n.def.clone()),
            );
        }
        self.check_alignment(decl);
        ir::Record {
            name: decl.name.name.clone(),
            items,
            fields: shape.fields,
        }
    }

    /// One item: `name: element [as C]`, `element`, `let`/`var`, `verify`.
    fn lower_item(&mut self, item: &ast::Item, in_scope: &[FieldDef]) -> Element {
        let element = match &item.element.kind {
            ElementKind::Let { value, ty } => self.lower_let(value, ty.as_ref(), in_scope),
            _ => self.lower_element(&item.element, in_scope),
        };
        let convertible = matches!(
            &item.element.kind,
            ElementKind::Ref(_)
                | ElementKind::Regex(_)
                | ElementKind::Number(_)
                | ElementKind::Flag
                | ElementKind::At { .. }
                | ElementKind::Bytes { chunked: None, .. }
        );
        if let (Some(convert), false) = (&item.convert, convertible) {
            self.error(
                convert.span,
                "only a token, record, number, flag, `bytes` or `at` can be converted",
                "cannot convert this element",
            )
            .set_hint("parse into a `var`, then compute the field: `let name = f(var);`");
        }
        let element = match (&item.convert, &item.name) {
            (Some(_), _) if !convertible => element,
            (Some(convert), Some(_)) => match self.yields(&item.element) {
                Yields::Value(ty) => match self.convert(convert, &ty, in_scope) {
                    Some((value, _)) => Element::Convert {
                        element: Box::new(element),
                        value,
                        written: self.converter_text(convert),
                    },
                    None => element,
                },
                Yields::Nothing => {
                    self.error(
                        convert.span,
                        "nothing to convert",
                        "this element yields no value",
                    );
                    element
                }
                Yields::Invalid => element,
            },
            (Some(convert), None) => {
                self.error(
                    convert.span,
                    "a converted value needs a name",
                    "converted, then dropped",
                )
                .set_hint("name the field: `name: ELEMENT as CONVERTER;`");
                element
            }
            (None, _) => element,
        };
        let Some(name) = &item.name else {
            return element;
        };
        if matches!(
            item.element.kind,
            ElementKind::Sequence(_) | ElementKind::Union(_) | ElementKind::Try(_)
        ) {
            self.error(
                name.span,
                format!("a block cannot be named (`{}`)", name.name),
                "the block's items name its fields",
            )
            .set_hint("name the items inside the block, or make it a record");
        }
        if item.hidden {
            let ty = self
                .current_hidden
                .iter()
                .find(|f| f.name == name.name)
                .map_or(Type::Bool, |f| f.ty.clone());
            Element::Hidden {
                name: name.name.clone(),
                ty,
                element: Box::new(element),
            }
        } else {
            Element::Field {
                name: name.name.clone(),
                element: Box::new(element),
            }
        }
    }

    /// A converter as written: `mult(4)`, `ip`.
    fn converter_text(&self, convert: &ast::Converter) -> String {
        let text = self
            .source
            .get(convert.span.start..convert.span.end)
            .unwrap_or_default();
        let text = text.strip_prefix("as").unwrap_or(text).trim();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// `let NAME [: TYPE] = EXPR`: the expression, of the type written if any.
    fn lower_let(
        &mut self,
        value: &ast::Expr,
        written: Option<&ast::TypeName>,
        in_scope: &[FieldDef],
    ) -> Element {
        let typed = self.type_expr(value, &self.grammar_scope(in_scope, None));
        let written_ty = written.and_then(|w| self.let_type_name(w));
        match (typed, written_ty) {
            (Some(expr), Some(want)) if expr.ty.inner() != want.inner() => {
                self.error(
                    value.span,
                    format!(
                        "this is {}, but the type written is {}",
                        a(&expr.ty),
                        a(&want)
                    ),
                    "types disagree",
                );
                Element::Let(placeholder())
            }
            (Some(expr), _) => Element::Let(expr),
            (None, _) => Element::Let(placeholder()),
        }
    }

    /// The items of a block, each seeing the names of the items before it.
    fn lower_items(&mut self, items: &[ast::Item], in_scope: &[FieldDef]) -> Vec<Element> {
        let mut scope = in_scope.to_vec();
        let mut lowered = Vec::new();
        for item in items {
            let names = self.quietly(|c| c.item_fields(item, &scope));
            lowered.push(self.lower_item(item, &scope));
            scope.extend(names.into_iter().map(|n| n.def));
        }
        lowered
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
                let cond = self.condition(cond, &self.grammar_scope(in_scope, None));
                Element::Optional {
                    element: Box::new(self.lower_element(element, in_scope)),
                    cond: cond.unwrap_or_else(placeholder),
                }
            }
            ElementKind::Optional {
                element,
                cond: None,
            } => self.lower_try(element),
            ElementKind::Array { element, end } => {
                let elem = match self.yields(element) {
                    Yields::Value(ty) => Some(ty),
                    Yields::Nothing | Yields::Invalid => None,
                };
                let lowered = self.lower_element(element, in_scope);
                self.check_array_element(element, &lowered);
                let element = Box::new(lowered);
                match end {
                    ArrayEnd::Until(until) => {
                        let until = self.condition(until, &self.grammar_scope(in_scope, elem));
                        Element::Array {
                            element,
                            until: until.unwrap_or_else(placeholder),
                        }
                    }
                    ArrayEnd::While(cond) => {
                        let cond = self.condition(cond, &self.grammar_scope(in_scope, None));
                        Element::ArrayWhile {
                            element,
                            cond: cond.unwrap_or_else(placeholder),
                        }
                    }
                    ArrayEnd::Count(count) => Element::ArrayCount {
                        element,
                        count: self
                            .integer(count, in_scope, "an element count")
                            .unwrap_or_else(placeholder),
                    },
                }
            }
            ElementKind::Continue => Element::Empty,
            ElementKind::Number(number) => {
                Element::Number(self.number_format(number, element.span))
            }
            ElementKind::Flag => Element::Flag,
            ElementKind::Padding { bits, align } => {
                if *bits == 0 || (*align && bits % 8 != 0) {
                    self.error(
                        element.span,
                        format!("invalid padding of {bits} bits"),
                        "not a padding",
                    )
                    .set_hint("`padding N` skips N bits (N > 0); `padding align N` aligns on N bits, a multiple of 8");
                }
                Element::Padding {
                    bits: *bits,
                    align: *align,
                }
            }
            ElementKind::Verify { cond, message } => {
                let cond = self.condition(cond, &self.grammar_scope(in_scope, None));
                Element::Verify {
                    cond: cond.unwrap_or_else(placeholder),
                    message: message.value.clone(),
                }
            }
            ElementKind::Let { value, ty } => self.lower_let(value, ty.as_ref(), in_scope),
            ElementKind::Sequence(items) => Element::Sequence(self.lower_items(items, in_scope)),
            ElementKind::Union(items) | ElementKind::Try(items) => {
                let is_try = matches!(element.kind, ElementKind::Try(_));
                let alternatives: Vec<Element> = items
                    .iter()
                    .map(|item| self.lower_item(item, in_scope))
                    .collect();
                let keyword = if is_try { "try" } else { "union" };
                if alternatives.is_empty() {
                    self.error(
                        element.span,
                        format!("an empty `{keyword}`"),
                        "nothing inside",
                    )
                    .set_hint("list the alternatives, one item each");
                }
                if alternatives.iter().any(streams) {
                    self.error(
                        element.span,
                        format!("a `{keyword}` cannot stream chunks"),
                        "an alternative has a chunked field",
                    )
                    .set_hint(
                        "chunks sent to an event cannot be taken back when the input is read again",
                    );
                }
                if is_try {
                    Element::Try(alternatives)
                } else {
                    Element::Union(alternatives)
                }
            }
            ElementKind::At {
                offset,
                element: target,
            } => {
                let offset = self.integer(offset, in_scope, "a position");
                let record = match &target.kind {
                    ElementKind::Ref(name) => match self.grammar_index.get(&name.name).copied() {
                        Some(GrammarName::Record(id)) => Some(id),
                        Some(GrammarName::Token(_)) => {
                            self.error(
                                name.span,
                                format!("`{}` is a token; `at` parses a record", name.name),
                                "a token",
                            );
                            None
                        }
                        None => {
                            self.lower_element(target, in_scope);
                            None
                        }
                    },
                    _ => {
                        self.error(target.span, "`at` parses a record", "not a record name")
                            .set_hint(
                                "`at OFFSET RECORD`: put what is at that position in a record",
                            );
                        None
                    }
                };
                match (offset, record) {
                    (Some(offset), Some(record)) => Element::At { offset, record },
                    _ => Element::Empty,
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
            ElementKind::Bytes {
                end: BytesEnd::Rest,
                chunked,
                ends,
                transform,
            } => {
                if let Some(ends) = ends {
                    self.error(
                        ends.span,
                        "`ends if` applies to `bytes count` fields only",
                        "the rest of a direction ends with it",
                    );
                }
                if let Some(name) = transform {
                    self.error(
                        name.span,
                        "`bytes rest` takes no transform",
                        "not supported here",
                    );
                }
                let chunked_event = chunked.as_ref().and_then(|event| self.chunked_event(event));
                let stream_tcp = matches!(
                    self.transport.and_then(|t| t.tcp()),
                    Some(ir::TcpMode::Stream)
                );
                if chunked.is_none() && stream_tcp {
                    self.error(
                        element.span,
                        "`bytes rest` needs whole messages",
                        "a TCP stream has no end of message",
                    )
                    .set_hint("stream it to the end of the direction: `bytes rest chunked -> EVENT`; or read whole datagrams (`transport udp;`) or frames (`transport tcp framed u16be;`)");
                }
                Element::BytesRest {
                    chunked: chunked_event,
                }
            }
            ElementKind::Branch { key, cases } => self.lower_branch(key, cases, in_scope),
        }
    }

    /// An integer expression over the fields parsed so far (`what`: for
    /// the message).
    fn integer(&mut self, expr: &ast::Expr, in_scope: &[FieldDef], what: &str) -> Option<Expr> {
        let typed = self.type_expr(expr, &self.grammar_scope(in_scope, None))?;
        if typed.ty.inner() == &Type::Int {
            return Some(typed);
        }
        self.error(
            expr.span,
            format!("{what} is an integer, found {}", a(&typed.ty)),
            "not an integer",
        )
        .set_hint("convert text with `number(field)`");
        None
    }

    /// `uN`/`iN` with a byte order: 1 to 64 bits; `le` whole bytes only.
    fn number_format(&mut self, number: &ast::NumberType, span: Span) -> ir::NumberFormat {
        if number.bits == 0 || number.bits > 64 {
            self.error(
                span,
                format!("a number of {} bits", number.bits),
                "not 1 to 64 bits",
            )
            .set_hint("numbers are 1 to 64 bits wide: `u1` to `u64`");
        } else if number.little_endian && !number.bits.is_multiple_of(8) {
            self.error(
                span,
                format!("a little-endian number of {} bits", number.bits),
                "not whole bytes",
            )
            .set_hint("byte order applies to whole bytes: `u16le`, `u32le`…; bit fields are read most significant bit first");
        }
        ir::NumberFormat {
            bits: number.bits.clamp(1, 64),
            little_endian: number.little_endian,
            signed: number.signed,
        }
    }

    /// Reports an array element the parser cannot repeat in one step.
    fn check_array_element(&mut self, element: &ast::Element, lowered: &Element) {
        let repeatable = match lowered {
            Element::Token(_)
            | Element::Record(_)
            | Element::Number(_)
            | Element::Flag
            | Element::At { .. } => true,
            Element::BytesUntil { chunked, .. } => chunked.is_none(),
            Element::BytesCount(count) => count.chunked.is_none(),
            Element::BytesRest { chunked } => chunked.is_none(),
            // Undefined names were reported already.
            Element::Empty => matches!(element.kind, ElementKind::Ref(_)),
            _ => false,
        };
        if !repeatable {
            self.error(
                element.span,
                "this element cannot be repeated by an array",
                "not a token, record, number, flag or bytes",
            )
            .set_hint("put it in a record and make an array of that record");
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
        let scope = self.grammar_scope(in_scope, None);
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
        let key_typed = self.type_expr(key, &self.grammar_scope(in_scope, None));
        let int_key = key_typed
            .as_ref()
            .is_some_and(|k| k.ty.inner() == &Type::Int);
        if let Some(k) = &key_typed {
            if !matches!(k.ty.inner(), Type::Str | Type::Int) {
                self.error(
                    key.span,
                    format!(
                        "a branch key must be a string or an integer, found {}",
                        a(&k.ty)
                    ),
                    "not a string or an integer",
                )
                .set_hint("cases are matched against strings or integers");
            }
        }
        let table = match key_typed.as_ref().map(|k| &k.kind) {
            Some(ExprKind::Lookup { table, .. }) => self.const_index.get(table).copied(),
            _ => None,
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut seen_ints: HashMap<i64, Span> = HashMap::new();
        let mut default_span: Option<Span> = None;
        let mut lowered_cases = Vec::new();
        let mut default = None;
        for case in cases {
            let element = self.lower_element(&case.element, in_scope);
            match &case.key {
                CaseKey::Value(value) if int_key => {
                    self.error(
                        value.span,
                        "a string case for an integer key",
                        "never matches",
                    )
                    .set_hint("write the case as a number: `1 => …`");
                }
                CaseKey::Int(value, span) if !int_key => {
                    if key_typed.is_some() {
                        self.error(
                            *span,
                            format!("an integer case ({value}) for a string key"),
                            "never matches",
                        )
                        .set_hint(format!("write the case as a string: `\"{value}\" => …`"));
                    }
                }
                CaseKey::Int(value, span) => {
                    let text = value.to_string();
                    if let Some(first) = seen_ints.get(value).copied() {
                        self.duplicate(&format!("case {value}"), *span, first);
                        continue;
                    }
                    seen_ints.insert(*value, *span);
                    lowered_cases.push((text, element));
                }
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

    /// Reports records that contain themselves other than through `at`
    /// (their parsers would nest without end). Records whose anonymous
    /// inclusion cycle was reported already are skipped.
    pub(super) fn check_recursion(&mut self, records: &[ir::Record]) {
        let children = |record: &ir::Record| {
            let mut found = Vec::new();
            contained_records(&record.items, &mut found);
            found
        };
        for (i, record) in records.iter().enumerate() {
            if self.merged_into_self.contains(&i) {
                continue;
            }
            let mut stack: Vec<ir::RecordId> = children(record);
            let mut seen: Vec<ir::RecordId> = Vec::new();
            while let Some(id) = stack.pop() {
                if id.0 == i {
                    if seen.iter().any(|s| self.merged_into_self.contains(&s.0)) {
                        break;
                    }
                    let span = self.records[i].name.span;
                    self.error(
                        span,
                        format!("record `{}` contains itself", record.name),
                        "its parse would never end",
                    )
                    .set_hint("only `at OFFSET RECORD` may reach a record from inside itself");
                    break;
                }
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
                if let Some(child) = records.get(id.0) {
                    stack.extend(children(child));
                }
            }
        }
    }

    /// Reports bit fields that leave a byte-level element, or the end of
    /// the record, off a byte boundary (`u4; u8;`), and little-endian
    /// numbers that do not start on one.
    fn check_alignment(&mut self, record: &ast::RecordDecl) {
        let end = self.align_items(&record.items, 0);
        if let Some(bits) = end.filter(|b| *b != 0) {
            let s = if bits == 1 { "" } else { "s" };
            self.error(
                record.name.span,
                format!(
                    "record `{}` ends {bits} bit{s} into a byte",
                    record.name.name
                ),
                "bit fields do not fill whole bytes",
            )
            .set_hint("add bit fields or `padding N` to reach a byte boundary");
        }
    }

    /// The bit position (modulo 8) after `items` starting at `start`, or
    /// `None` when unknown (reported).
    fn align_items(&mut self, items: &[ast::Item], start: u64) -> Option<u64> {
        let mut at = start;
        for item in items {
            at = self.align_element(&item.element, at)?;
        }
        Some(at)
    }

    fn align_element(&mut self, element: &ast::Element, at: u64) -> Option<u64> {
        let byte_level = |this: &mut Self, what: &str| {
            if at != 0 {
                this.error(
                    element.span,
                    format!(
                        "{what} starts {at} bit{} into a byte",
                        if at == 1 { "" } else { "s" }
                    ),
                    "not on a byte boundary",
                )
                .set_hint(
                    "bit fields before it must fill whole bytes: add bit fields or `padding N`",
                );
                return None;
            }
            Some(0)
        };
        match &element.kind {
            ElementKind::Number(number) => {
                if number.little_endian && at != 0 {
                    return byte_level(self, "a little-endian number");
                }
                // A width out of range is reported on its own.
                Some((at + u64::from(number.bits.clamp(1, 64))) % 8)
            }
            ElementKind::Flag => Some((at + 1) % 8),
            ElementKind::Padding { bits, align: false } => Some((at + bits) % 8),
            ElementKind::Padding { align: true, .. } => Some(0),
            ElementKind::Empty
            | ElementKind::Continue
            | ElementKind::Fail(_)
            | ElementKind::Verify { .. }
            | ElementKind::Let { .. } => Some(at),
            ElementKind::Sequence(items) => self.align_items(items, at),
            ElementKind::Branch { cases, .. } => {
                let mut end: Option<u64> = None;
                for case in cases
                    .iter()
                    .filter(|c| !matches!(c.element.kind, ElementKind::Fail(_)))
                {
                    let after = self.align_element(&case.element, at)?;
                    match end {
                        Some(other) if other != after => {
                            self.error(
                                case.element.span,
                                format!("this case ends {after} bits into a byte, another {other}"),
                                "cases disagree on the bit position",
                            )
                            .set_hint(
                                "every case must leave the same number of bits of its last byte",
                            );
                            return None;
                        }
                        _ => end = Some(after),
                    }
                }
                Some(end.unwrap_or(at))
            }
            ElementKind::Optional { element: inner, .. } => {
                let after = self.align_element(inner, at)?;
                if after != at {
                    self.error(
                        element.span,
                        "an optional element that moves the bit position",
                        "present or not, the bits after it differ",
                    )
                    .set_hint("an optional bit field must cover whole bytes");
                    return None;
                }
                Some(at)
            }
            ElementKind::Union(items) | ElementKind::Try(items) => {
                byte_level(self, "a block of alternatives")?;
                for item in items {
                    if self.align_element(&item.element, 0)? != 0 {
                        self.error(
                            item.element.span,
                            "this alternative ends off a byte boundary",
                            "not whole bytes",
                        );
                        return None;
                    }
                }
                Some(0)
            }
            ElementKind::Ref(name) => byte_level(self, &format!("`{}`", name.name)),
            ElementKind::Regex(_) => byte_level(self, "a token"),
            ElementKind::Bytes { .. } => byte_level(self, "`bytes`"),
            ElementKind::Array { .. } => byte_level(self, "an array"),
            ElementKind::At { .. } => byte_level(self, "`at`"),
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
