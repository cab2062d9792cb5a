//! Records → a result struct and a resumable parser ("one function per
//! grammar rule").
//!
//! Each record's elements are compiled into numbered steps of a
//! `loop { match self.step { … } }`. A step calls one primitive or child
//! parser with `?`: when the input runs out the `?` returns `NeedMore` and
//! `self.step` still names the step, whose primitive state (token text, DFA
//! state, chosen branch, array so far) lives in the parser struct. Control
//! flow between steps goes through symbolic labels, resolved to step numbers
//! once every step is emitted.
//!
//! Invariants of the generated parser:
//! - a step either completes (sets `self.step` to its successor) or returns;
//!   it never repeats work already done for the current message;
//! - after `Done` the parser is fresh (`std::mem::take(self)`), after `Error`
//!   the caller resets it: one parser object parses message after message;
//! - one `TokenState`, one `UntilState` and one slot per child record are
//!   enough, because a record runs its elements one at a time.

use std::collections::BTreeSet;

use protoc_runtime::expr::{Func, Type};

use super::expr::{owned, Form, RustValue, Translator};
use super::names;
use crate::ir::{Element, Expr, FieldDef, Record, RecordId, Spec, Transform, CONVERTED};

/// What the template needs to render one record.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// The spec name (`smtp_command`).
    pub name: String,
    /// The struct (`SmtpCommand`).
    pub type_name: String,
    /// The parser struct (`SmtpCommandParser`).
    pub parser_name: String,
    pub fields: Vec<FieldPlan>,
    /// The parser's state besides `step` and `result`: `(name, type)`.
    pub slots: Vec<(String, String)>,
    /// The parser's steps; the step after the last is "done".
    pub steps: Vec<StepPlan>,
    /// The body of `ToValue::to_value`.
    pub to_value_body: String,
    /// The body of `IntoValue::into_value`.
    pub into_value_body: String,
    /// Statements of `end_streams` (empty: nothing to close).
    pub end_streams: Vec<String>,
    /// Arms of `absorb_gap`'s `match self.step` (empty: no counted stream).
    pub absorb_arms: Vec<String>,
    /// Whether some step jumps to another (else every step returns and
    /// `run` needs no loop).
    pub loops: bool,
    /// Whether `run` reads its `input` / `cx` parameters.
    pub uses_input: bool,
    pub uses_cx: bool,
    /// Arms of `backtrack`'s `match self.step` (empty: no `try`).
    pub backtrack_arms: Vec<String>,
    /// Statements of `reset_slots` (what a failed `try` alternative left).
    pub reset_slots: Vec<String>,
    /// The `retry_N` methods, one per `try`.
    pub retry_methods: Vec<String>,
    /// Whether the record needs the message journaled (`at`, `try`, `union`).
    pub journals: bool,
    /// Whether its steps read the state machine's variables (`vars`).
    pub uses_vars: bool,
}

/// One step of a record parser.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub number: usize,
    pub body: String,
    /// The element the step parses, in spec syntax.
    pub comment: String,
}

/// One field of a record's result struct.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// The spec name, as `Value::Record` and events show it.
    pub name: String,
    /// The Rust field name.
    pub ident: String,
    pub rust_type: String,
    /// Absent when `None` (omitted from the `Value::Record`).
    pub optional: bool,
    /// A message variable (`var`): kept while parsing, not in the value.
    pub hidden: bool,
}

/// A `bytes until` search the module needs as a static: `(name, token name, transform)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UntilPlan {
    pub static_name: String,
    pub token_static: String,
    pub first_bytes: String,
    pub unstuff: bool,
    /// A DFA static to declare for the token, when its own static is a
    /// byte class: `(static name, token name, pattern)`.
    pub dfa: Option<(String, String, String)>,
}

impl UntilPlan {
    /// The declaration of the token's DFA twin, if it needs one.
    pub fn dfa_decl(&self) -> String {
        match &self.dfa {
            Some((static_name, name, pattern)) => format!(
                "/// `token {name}` as a DFA, for searching.\npub static {static_name}: TokenDfa = TokenDfa::new({}, {});",
                names::str_lit(name),
                super::raw_lit(pattern)
            ),
            None => String::new(),
        }
    }
}

/// A `TokenDfa` static matching `token`: its own static, or its DFA twin
/// when it is a byte class (registered in `untils`).
pub fn dfa_static(
    spec: &Spec,
    untils: &mut BTreeSet<UntilPlan>,
    token: crate::ir::TokenId,
) -> String {
    let name = &spec.token(token).name;
    match super::tokens::matcher(&spec.token(token).pattern) {
        super::tokens::Matcher::Dfa => names::token_static(name),
        super::tokens::Matcher::Class { .. } => {
            until_static(spec, untils, token, None);
            format!("{}_DFA", names::token_static(name))
        }
    }
}

/// The `UntilToken` static searching for `token` (and its transform),
/// registered in `untils`; a byte-class token gets a DFA twin for the search.
pub fn until_static(
    spec: &Spec,
    untils: &mut BTreeSet<UntilPlan>,
    token: crate::ir::TokenId,
    transform: Option<Transform>,
) -> String {
    let token = spec.token(token);
    let own_static = names::token_static(&token.name);
    let (token_static, dfa) = match super::tokens::matcher(&token.pattern) {
        super::tokens::Matcher::Dfa => (own_static.clone(), None),
        super::tokens::Matcher::Class { .. } => {
            let dfa_static = format!("{own_static}_DFA");
            (
                dfa_static.clone(),
                Some((dfa_static, token.name.clone(), token.pattern.clone())),
            )
        }
    };
    let unstuff = transform == Some(Transform::Unstuff);
    let static_name = if unstuff {
        format!("UNTIL_{own_static}_UNSTUFFED")
    } else {
        format!("UNTIL_{own_static}")
    };
    untils.insert(UntilPlan {
        static_name: static_name.clone(),
        token_static,
        first_bytes: super::tokens::first_bytes_code(&token.pattern),
        unstuff,
        dfa,
    });
    static_name
}

/// The Rust type of a spec type.
pub fn rust_type(ty: &Type) -> String {
    match ty {
        Type::Str => "String".into(),
        Type::Int => "i64".into(),
        Type::Bool => "bool".into(),
        Type::Bytes => "Vec<u8>".into(),
        Type::List(t) => format!("Vec<{}>", rust_type(t)),
        Type::Record(r) => names::record_type(r),
        Type::Optional(t) => format!("Option<{}>", rust_type(t)),
    }
}

pub fn parser_name(record: &str) -> String {
    format!("{}Parser", names::record_type(record))
}

fn slot_name(record: &str) -> String {
    format!("{}_parser", names::snake(record))
}

/// Plans every record of `spec`; `untils` and `patterns` collect the statics
/// the records need.
pub fn plan_records(
    spec: &Spec,
    untils: &mut BTreeSet<UntilPlan>,
    patterns: &mut Vec<String>,
) -> Vec<RecordPlan> {
    let streams = streaming_records(spec, false);
    let absorbing = streaming_records(spec, true);
    spec.grammar
        .records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let mut builder = Builder::new(spec, record, untils, patterns);
            builder.compile_seq(&record.items, Dest::Merge, Label::DONE);
            builder.finish(&streams, &absorbing, RecordId(i))
        })
        .collect()
}

/// Records that contain a chunked field (`counted_only`: a chunked `bytes
/// count` field, which can absorb a gap), directly or through children.
pub fn streaming_records(spec: &Spec, counted_only: bool) -> BTreeSet<RecordId> {
    let mut streaming = BTreeSet::new();
    loop {
        let before = streaming.len();
        for (i, record) in spec.grammar.records.iter().enumerate() {
            let mut found = false;
            visit(&record.items, &mut |e| match e {
                Element::BytesUntil {
                    chunked: Some(_), ..
                } if !counted_only => found = true,
                Element::BytesCount(count) if count.chunked.is_some() => found = true,
                Element::BytesRest { chunked: Some(_) } if !counted_only => found = true,
                Element::Record(r) if streaming.contains(r) => found = true,
                _ => {}
            });
            if found {
                streaming.insert(RecordId(i));
            }
        }
        if streaming.len() == before {
            return streaming;
        }
    }
}

/// Calls `f` on every element, nested ones included.
pub fn visit<'e>(items: &'e [Element], f: &mut dyn FnMut(&'e Element)) {
    for item in items {
        visit_one(item, f);
    }
}

fn visit_one<'e>(e: &'e Element, f: &mut dyn FnMut(&'e Element)) {
    f(e);
    match e {
        Element::Field { element, .. }
        | Element::Hidden { element, .. }
        | Element::Convert { element, .. }
        | Element::Optional { element, .. }
        | Element::Array { element, .. }
        | Element::ArrayCount { element, .. }
        | Element::ArrayWhile { element, .. } => visit_one(element, f),
        Element::Sequence(items) | Element::Union(items) | Element::Try(items) => {
            for item in items {
                visit_one(item, f);
            }
        }
        Element::Branch { cases, default, .. } => {
            for (_, case) in cases {
                visit_one(case, f);
            }
            if let Some(d) = default {
                visit_one(d, f);
            }
        }
        _ => {}
    }
}

/// A jump target, resolved to a step number when every step is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

impl Label {
    /// The "record complete" step, after every other.
    const DONE: Label = Label(0);
}

/// Step text with jumps still symbolic.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Goto(Label),
}

/// Where an element's value goes.
#[derive(Debug, Clone)]
enum Dest {
    /// Into a field (or message variable) of the result (`name: element`).
    Field(String),
    /// Into a field, through a converter: `value` is an expression over
    /// [`CONVERTED`] (`name: element as CONVERTER`).
    Converted(String, Expr),
    /// An unnamed record's fields merge into the result; other values are dropped.
    Merge,
}

impl Dest {
    /// The field the value goes to, if any.
    fn field(&self) -> Option<&str> {
        match self {
            Dest::Field(name) | Dest::Converted(name, _) => Some(name),
            Dest::Merge => None,
        }
    }

    /// The field's name, or `fallback` for error sites.
    fn site_name(&self, fallback: &str) -> String {
        self.field().unwrap_or(fallback).to_string()
    }
}

struct Builder<'a> {
    spec: &'a Spec,
    record: &'a Record,
    untils: &'a mut BTreeSet<UntilPlan>,
    patterns: &'a mut Vec<String>,
    steps: Vec<(Vec<Piece>, String)>,
    /// What the element being compiled is, in spec syntax (the next step's comment).
    describing: String,
    /// Step number of each label (`None` until placed); label 0 is DONE.
    labels: Vec<Option<usize>>,
    uses_token: bool,
    uses_until: bool,
    uses_input: bool,
    uses_cx: bool,
    children: BTreeSet<RecordId>,
    /// Steps that run a child record's parser: (step, child).
    child_steps: Vec<(usize, RecordId)>,
    uses_count: bool,
    /// Chunked fields: (step, statement closing the stream); one
    /// `UntilState` and one `CountState` serve them all.
    stream_steps: Vec<(usize, String)>,
    /// Chunked counted fields: (step, event), which can absorb a gap.
    count_steps: Vec<(usize, String)>,
    /// Labels of elements that emitted no step, and where they lead instead.
    aliases: Vec<(Label, Label)>,
    /// The record's message variables (`var`), in the result struct but not
    /// in its value.
    hidden: Vec<FieldDef>,
    /// Whether a `Bits` slot reads numbers, a count array keeps its
    /// remaining count, a `while` array its element start.
    uses_bits: bool,
    uses_counted: bool,
    uses_element_at: bool,
    /// Slots of `try` and `union` blocks: (name, type).
    block_slots: Vec<(String, String)>,
    /// Arms of `backtrack`: a failed `try` alternative's steps, and what to do.
    backtrack_arms: Vec<(usize, usize, Vec<Piece>)>,
    /// One `retry_N` method per `try`, rendered.
    retry_methods: Vec<String>,
    /// Whether the spec's messages must be journaled (`at`, `try`, `union`).
    journals: bool,
}

impl<'a> Builder<'a> {
    fn new(
        spec: &'a Spec,
        record: &'a Record,
        untils: &'a mut BTreeSet<UntilPlan>,
        patterns: &'a mut Vec<String>,
    ) -> Builder<'a> {
        Builder {
            spec,
            record,
            untils,
            patterns,
            steps: Vec::new(),
            describing: String::new(),
            labels: vec![None],
            uses_token: false,
            uses_until: false,
            uses_input: false,
            uses_cx: false,
            children: BTreeSet::new(),
            child_steps: Vec::new(),
            uses_count: false,
            stream_steps: Vec::new(),
            count_steps: Vec::new(),
            aliases: Vec::new(),
            hidden: hidden_vars(record),
            uses_bits: false,
            uses_counted: false,
            uses_element_at: false,
            block_slots: Vec::new(),
            backtrack_arms: Vec::new(),
            retry_methods: Vec::new(),
            journals: false,
        }
    }

    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The next emitted step is `label`'s target.
    fn place(&mut self, label: Label) {
        if let Some(slot) = self.labels.get_mut(label.0) {
            *slot = Some(self.steps.len());
        }
    }

    fn emit(&mut self, pieces: Vec<Piece>) {
        self.steps.push((pieces, self.describing.clone()));
    }

    fn site(&self, field: &str) -> String {
        format!(
            "Site::new({}, {})",
            names::str_lit(&self.record.name),
            names::str_lit(field)
        )
    }

    /// The declared type of a result field or message variable.
    fn field_type(&self, name: &str) -> Option<&Type> {
        self.record
            .fields
            .iter()
            .chain(&self.hidden)
            .find(|f| f.name == name)
            .map(|f| &f.ty)
    }

    /// The statement that stores `read` (code of type `ty`) where `dest`
    /// says: a field, a converted field, or nowhere (`read;`).
    fn store(&mut self, dest: &Dest, read: &str, ty: &Type) -> String {
        match dest {
            Dest::Field(name) => self.assign(name, read, ty),
            Dest::Merge => format!("{read};"),
            Dest::Converted(name, value) => {
                let mut t = self.translator();
                t.bind(
                    CONVERTED,
                    RustValue::new("value", ty.clone(), false, Form::Place),
                );
                let converted = t.translate(value);
                let ty = as_translated(&converted);
                let assign = self.assign(name, &owned(&converted), &ty);
                format!("let value = {read};\n{assign}")
            }
        }
    }

    /// `self.result.NAME = value;` with `Some(…)` where the field is optional.
    fn assign(&self, name: &str, value: &str, value_ty: &Type) -> String {
        let target = format!("self.result.{}", names::field(name));
        match self.field_type(name) {
            Some(Type::Optional(_)) if !matches!(value_ty, Type::Optional(_)) => {
                format!("{target} = Some({value});")
            }
            Some(Type::Optional(_)) | Some(_)
                if !matches!(value_ty, Type::Optional(_)) || self.is_optional(name) =>
            {
                format!("{target} = {value};")
            }
            Some(_) => format!("if let Some(value) = {value} {{ {target} = value; }}"),
            None => format!(
                "compile_error!({});",
                names::str_lit(&format!(
                    "protoc-rs codegen: record `{}` has no field `{name}`",
                    self.record.name
                ))
            ),
        }
    }

    fn is_optional(&self, name: &str) -> bool {
        matches!(self.field_type(name), Some(Type::Optional(_)))
    }

    /// A translator that sees the fields parsed so far as `self.result.…`.
    fn translator(&mut self) -> Translator<'_> {
        let mut t = Translator::new(self.spec, self.patterns);
        // The state machine's variables, read through `vars` (fields and
        // message variables of the same name hide them).
        for var in &self.spec.machine.vars {
            let code = format!("vars.{}", names::field(&var.name));
            t.bind(
                &var.name,
                RustValue::new(code, var.ty.clone(), false, Form::Place),
            );
        }
        for field in self.record.fields.iter().chain(&self.hidden) {
            let code = format!("self.result.{}", names::field(&field.name));
            t.bind(
                &field.name,
                RustValue::new(code, field.ty.clone(), false, Form::Place),
            );
        }
        t
    }

    fn compile_seq(&mut self, items: &[Element], dest: Dest, next: Label) {
        for (i, item) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let after = if last { next } else { self.new_label() };
            self.compile(item, dest.clone(), after);
            if !last {
                self.place(after);
            }
        }
    }

    fn compile(&mut self, element: &Element, dest: Dest, next: Label) {
        let text = |s: String| Piece::Text(s);
        if !matches!(element, Element::Field { .. }) {
            let described = describe(self.spec, element);
            self.describing = match dest.field() {
                Some(name) => format!("{name}: {described}"),
                None => described,
            };
        }
        match element {
            Element::Field { name, element } | Element::Hidden { name, element, .. } => {
                self.compile(element, Dest::Field(name.clone()), next)
            }
            Element::Convert { element, value, .. } => {
                let dest = match dest.field() {
                    Some(name) => Dest::Converted(name.to_string(), value.clone()),
                    None => dest,
                };
                self.compile(element, dest, next)
            }
            Element::Token(id) => {
                self.uses_token = true;
                self.uses_input = true;
                self.uses_cx = true;
                let token = self.spec.token(*id);
                let stat = names::token_static(&token.name);
                let body = match dest.field() {
                    Some(name) => {
                        let site = self.site(name);
                        let read = format!("{stat}.read(&mut self.token, input, cx, {site})?");
                        self.store(&dest, &read, &Type::Str)
                    }
                    None => {
                        let site = self.site(&token.name);
                        format!("{stat}.skip(&mut self.token, input, cx, {site})?;")
                    }
                };
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Record(id) => {
                self.uses_input = true;
                self.uses_cx = true;
                self.children.insert(*id);
                self.child_steps.push((self.steps.len(), *id));
                let child = self.spec.record(*id);
                let run = format!("self.{}.run(input, cx)?", slot_name(&child.name));
                let body = match &dest {
                    Dest::Field(_) | Dest::Converted(..) => {
                        self.store(&dest, &run, &Type::Record(child.name.clone()))
                    }
                    Dest::Merge if child.fields.is_empty() => format!("{run};"),
                    Dest::Merge => {
                        let var = names::snake(&child.name);
                        let mut body = format!("let {var} = {run};\n");
                        for f in &child.fields {
                            let value = format!("{var}.{}", names::field(&f.name));
                            body.push_str(&self.assign(&f.name, &value, &f.ty));
                            body.push('\n');
                        }
                        body
                    }
                };
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Branch {
                key,
                cases,
                default,
            } => {
                let mut t = self.translator();
                let key = t.translate(key);
                let field = dest.site_name("branch");
                let int_key = key.ty == Type::Int;
                let scrutinee = match (key.nullable, key.form) {
                    (true, _) => super::expr::borrowed(&key).code,
                    (false, _) if int_key => super::expr::borrowed(&key).code,
                    (false, Form::Borrowed) => key.code.clone(),
                    (false, _) => format!("{}.as_str()", key.code),
                };
                let labels: Vec<Label> = cases.iter().map(|_| self.new_label()).collect();
                let default_label = default.as_ref().map(|_| self.new_label());
                let mut pieces = vec![text(format!("self.step = match {scrutinee} {{\n"))];
                for ((case, _), label) in cases.iter().zip(&labels) {
                    let literal = if int_key {
                        case.clone()
                    } else {
                        names::str_lit(case)
                    };
                    let pat = if key.nullable {
                        format!("Some({literal})")
                    } else {
                        literal
                    };
                    pieces.extend([
                        text(format!("{pat} => ")),
                        Piece::Goto(*label),
                        text(",\n".into()),
                    ]);
                }
                match default_label {
                    Some(label) => pieces.extend([
                        text("_ => ".into()),
                        Piece::Goto(label),
                        text(",\n".into()),
                    ]),
                    None => {
                        self.uses_input = true;
                        self.uses_cx = true;
                        let site = self.site(&field);
                        pieces.push(text(format!(
                            "_ => return Err(cx.error(input, {site}, \"no case of the branch matches\")),\n"
                        )));
                    }
                }
                pieces.push(text("};".into()));
                self.emit(pieces);
                for ((_, case), label) in cases.iter().zip(labels) {
                    self.place(label);
                    self.compile(case, dest.clone(), next);
                    self.alias_if_empty(label, next);
                }
                if let (Some(d), Some(label)) = (default, default_label) {
                    self.place(label);
                    self.compile(d, dest.clone(), next);
                    self.alias_if_empty(label, next);
                }
            }
            Element::Optional { element, cond } => {
                let uses_lookahead = expr_calls(cond, Func::Lookahead);
                let cond = self.translator().condition(cond);
                let taken = self.new_label();
                let mut pieces = Vec::new();
                if uses_lookahead {
                    self.uses_input = true;
                    pieces.push(text("let lookahead = input.lookahead()?;\n".into()));
                }
                pieces.extend([
                    text(format!("self.step = if {cond} {{ ")),
                    Piece::Goto(taken),
                    text(" } else { ".into()),
                    Piece::Goto(next),
                    text(" };".into()),
                ]);
                self.emit(pieces);
                self.place(taken);
                self.compile(element, dest, next);
                self.alias_if_empty(taken, next);
            }
            Element::Empty => {}
            Element::BytesRest {
                chunked: Some(event),
            } => {
                self.uses_input = true;
                self.uses_cx = true;
                let event = names::str_lit(&self.spec.event(*event).name);
                self.stream_steps
                    .push((self.steps.len(), format!("cx.stream({event}, &[], true)?")));
                self.emit(vec![
                    text(format!("stream_rest(input, cx, {event})?;\n")),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Number(_)
            | Element::Flag
            | Element::At { .. }
            | Element::BytesRest { chunked: None } => {
                let site = self.site(&dest.site_name("number"));
                let Some((read, ty)) = self.single(element, &site) else {
                    return;
                };
                let body = self.store(&dest, &read, &ty);
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Padding { bits, align } => {
                self.uses_bits = true;
                self.uses_input = true;
                let body = if *align {
                    self.uses_cx = true;
                    let site = self.site("padding");
                    format!("self.bits.align({bits}, input, cx, {site})?;")
                } else {
                    format!("self.bits.skip({bits}, input)?;")
                };
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Verify { cond, message } => {
                self.uses_input = true;
                self.uses_cx = true;
                let site = self.site("verify");
                let lookahead = if expr_calls(cond, Func::Lookahead) {
                    "let lookahead = input.lookahead()?;\n"
                } else {
                    ""
                };
                let failed = self.translator().condition(&not(cond));
                let body = format!(
                    "{lookahead}if {failed} {{\nreturn Err(cx.error(input, {site}, {}));\n}}\n",
                    names::str_lit(message)
                );
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Let(value) => {
                let lookahead = if expr_calls(value, Func::Lookahead) {
                    self.uses_input = true;
                    "let lookahead = input.lookahead()?;\n"
                } else {
                    ""
                };
                let translated = self.translator().translate(value);
                let (code, ty) = (owned(&translated), as_translated(&translated));
                let body = match dest.field() {
                    Some(name) => {
                        let name = name.to_string();
                        format!("{lookahead}{}", self.assign(&name, &code, &ty))
                    }
                    None => String::new(),
                };
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
            Element::Sequence(items) => self.compile_seq(items, Dest::Merge, next),
            Element::Try(alternatives) => self.compile_try_block(alternatives, next),
            Element::Union(members) => self.compile_union(members, next),
            Element::ArrayCount { element, count } => {
                self.compile_array_count(element, count, &dest, next)
            }
            Element::ArrayWhile { element, cond } => {
                self.compile_array_while(element, cond, &dest, next)
            }
            Element::TryToken(id) => self.compile_try(*id, &dest, next),
            Element::BytesCount(count) => self.compile_count(count, &dest, next),
            Element::Fail(reason) => {
                self.uses_input = true;
                self.uses_cx = true;
                let field = dest.site_name("<unknown>");
                let site = self.site(&field);
                self.emit(vec![text(format!(
                    "return Err(cx.error(input, {site}, {}));",
                    names::str_lit(reason)
                ))]);
            }
            Element::Array { element, until } => self.compile_array(element, until, &dest, next),
            Element::BytesUntil {
                token,
                chunked,
                transform,
            } => {
                self.uses_until = true;
                self.uses_input = true;
                self.uses_cx = true;
                let until = self.until_static(*token, *transform);
                let field = dest.site_name(&self.spec.token(*token).name);
                let site = self.site(&field);
                let body = match (chunked, &dest) {
                    (Some(event), _) => {
                        let event = &self.spec.event(*event).name;
                        self.stream_steps.push((
                            self.steps.len(),
                            format!(
                                "{until}.end_stream(&mut self.until, cx, {})?",
                                names::str_lit(event)
                            ),
                        ));
                        format!(
                            "{until}.stream(&mut self.until, input, cx, {site}, {})?;",
                            names::str_lit(event)
                        )
                    }
                    (None, _) => self.store(
                        &dest,
                        &format!("{until}.collect(&mut self.until, input, cx, {site})?"),
                        &Type::Bytes,
                    ),
                };
                self.emit(vec![
                    text(body),
                    text("self.step = ".into()),
                    Piece::Goto(next),
                    text(";".into()),
                ]);
            }
        }
    }

    /// `try { A; B; … }`: a first step notes where the block starts (and
    /// the result so far); each alternative but the last gets a
    /// `backtrack` arm that rewinds there and tries the next one.
    fn compile_try_block(&mut self, alternatives: &[Element], next: Label) {
        self.journals = true;
        self.uses_input = true;
        self.uses_cx = true;
        let number = self.block_slots.len() + 1;
        let slot = format!("try_{number}");
        let result_type = names::record_type(&self.record.name);
        self.retry_methods.push(format!(
            "/// An alternative of `try` number {number} failed: back to where the\n\
             /// `try` started, with the fields it had then, and on to `next`.\n\
             fn retry_{number}(&mut self, input: &mut Input<'_>, cx: &mut ParseCx<'_>, next: u32) -> Step<bool> {{\n\
             let Some((start, saved)) = self.{slot}.take() else {{\n\
             return Ok(false);\n\
             }};\n\
             if !input.rewind_to(start) {{\n\
             return Err(cx.error(input, {site}, \"too many bytes to read again\"));\n\
             }}\n\
             self.reset_slots();\n\
             self.result = saved.clone();\n\
             self.{slot} = Some((start, saved));\n\
             self.step = next;\n\
             Ok(true)\n\
             }}",
            site = self.site("try"),
        ));
        self.block_slots
            .push((slot.clone(), format!("Option<(u64, {result_type})>")));
        let labels: Vec<Label> = alternatives.iter().map(|_| self.new_label()).collect();
        let join = self.new_label();
        let Some(&first) = labels.first() else {
            return;
        };
        self.describing = "try: note where it starts".into();
        self.emit(vec![
            Piece::Text(format!(
                "self.{slot} = Some((input.message_offset(), self.result.clone()));\nself.step = "
            )),
            Piece::Goto(first),
            Piece::Text(";".into()),
        ]);
        for (i, alternative) in alternatives.iter().enumerate() {
            let label = labels[i];
            self.place(label);
            let start = self.steps.len();
            self.compile(alternative, Dest::Merge, join);
            self.alias_if_empty(label, join);
            let end = self.steps.len();
            if let (Some(&retry), true) = (labels.get(i + 1), end > start) {
                let arm = vec![
                    Piece::Text(format!("self.retry_{number}(input, cx, ")),
                    Piece::Goto(retry),
                    Piece::Text(")".into()),
                ];
                self.backtrack_arms.push((start, end - 1, arm));
            }
        }
        self.place(join);
        self.describing = "try: an alternative parsed".into();
        self.emit(vec![
            Piece::Text(format!("self.{slot} = None;\nself.step = ")),
            Piece::Goto(next),
            Piece::Text(";".into()),
        ]);
    }

    /// `union { A; B; … }`: each member from the block's start; parsing
    /// goes on after the member that read the most.
    fn compile_union(&mut self, members: &[Element], next: Label) {
        self.journals = true;
        self.uses_input = true;
        self.uses_cx = true;
        let slot = format!("union_{}", self.block_slots.len() + 1);
        self.block_slots
            .push((slot.clone(), "Option<(u64, u64)>".to_string()));
        let site = self.site("union");
        let labels: Vec<Label> = members.iter().map(|_| self.new_label()).collect();
        let Some(&first) = labels.first() else {
            return;
        };
        self.describing = "union: note where it starts".into();
        self.emit(vec![
            Piece::Text(format!(
                "let start = input.message_offset();\nself.{slot} = Some((start, start));\nself.step = "
            )),
            Piece::Goto(first),
            Piece::Text(";".into()),
        ]);
        for (i, member) in members.iter().enumerate() {
            self.place(labels[i]);
            let after = self.new_label();
            self.compile(member, Dest::Merge, after);
            self.alias_if_empty(labels[i], after);
            self.place(after);
            let last = i + 1 == members.len();
            self.describing = if last {
                "union: go on after the longest member".into()
            } else {
                "union: back to the start for the next member".into()
            };
            let target = labels.get(i + 1).copied().unwrap_or(next);
            let finish = if last {
                "input.skip_exactly(end - start);\nself.".to_string() + &slot + " = None;\n"
            } else {
                format!("self.{slot} = Some((start, end));\n")
            };
            self.emit(vec![
                Piece::Text(format!(
                    "let (start, end) = self.{slot}.unwrap_or_default();\n\
                     let end = end.max(input.message_offset());\n\
                     if !input.rewind_to(start) {{\n\
                     return Err(cx.error(input, {site}, \"too many bytes to read again\"));\n\
                     }}\n\
                     {finish}self.step = "
                )),
                Piece::Goto(target),
                Piece::Text(";".into()),
            ]);
        }
    }

    /// `optional TOKEN`: the token if it matches here.
    fn compile_try(&mut self, id: crate::ir::TokenId, dest: &Dest, next: Label) {
        self.uses_token = true;
        self.uses_input = true;
        self.uses_cx = true;
        let token = self.spec.token(id);
        let stat = names::token_static(&token.name);
        let site = self.site(&dest.site_name(&token.name));
        let read = format!("{stat}.try_read(&mut self.token, input, cx, {site})?");
        let body = self.store(dest, &read, &Type::Optional(Box::new(Type::Str)));
        self.emit(vec![
            Piece::Text(body),
            Piece::Text("self.step = ".into()),
            Piece::Goto(next),
            Piece::Text(";".into()),
        ]);
    }

    /// `bytes count EXPR …`: the count (and `ends`) are computed first,
    /// from fields parsed before.
    fn compile_count(&mut self, count: &crate::ir::BytesCount, dest: &Dest, next: Label) {
        self.uses_count = true;
        self.uses_input = true;
        self.uses_cx = true;
        let mut t = self.translator();
        let n = super::expr::borrowed(&t.translate(&count.count));
        let ends = count.ends.as_ref().map(|c| t.condition(c));
        let n = if n.nullable {
            n.code
        } else {
            format!("Some({})", n.code)
        };
        let transform = match count.transform {
            Some(Transform::Unstuff) => "Some(Transform::Unstuff)",
            None => "None",
        };
        let site = self.site(&dest.site_name("bytes"));
        let mut body = format!("let count = {n};\n");
        match (count.chunked, dest) {
            (Some(event), _) => {
                let event = names::str_lit(&self.spec.event(event).name);
                let step = self.steps.len();
                self.stream_steps
                    .push((step, format!("self.count.end_stream(cx, {event})?")));
                self.count_steps.push((step, event.clone()));
                body.push_str(&format!(
                    "let ends = {};\n",
                    ends.as_deref().unwrap_or("true")
                ));
                body.push_str(&format!(
                    "self.count.stream(count, input, cx, {site}, {event}, {transform}, ends)?;"
                ));
            }
            (None, _) => {
                let collect = format!("self.count.collect(count, input, cx, {site}, {transform})?");
                body.push_str(&self.store(dest, &collect, &Type::Bytes));
            }
        }
        self.emit(vec![
            Piece::Text(body),
            Piece::Text("self.step = ".into()),
            Piece::Goto(next),
            Piece::Text(";".into()),
        ]);
    }

    /// A case that emitted no step (`empty`) jumps straight to `next`.
    fn alias_if_empty(&mut self, label: Label, next: Label) {
        let placed = self.labels.get(label.0).copied().flatten();
        if placed == Some(self.steps.len()) {
            // Nothing was emitted after placing `label`: point it at `next`
            // lazily by recording an alias (resolved in `resolve`).
            if let Some(slot) = self.labels.get_mut(label.0) {
                *slot = None;
            }
            self.aliases.push((label, next));
        }
    }

    fn until_static(&mut self, token: crate::ir::TokenId, transform: Option<Transform>) -> String {
        until_static(self.spec, self.untils, token, transform)
    }

    /// The code parsing one element of an array (or an `at` target), and
    /// its type; `None` (after emitting a `compile_error!`) for what the
    /// checker should have rejected.
    fn single(&mut self, element: &Element, site: &str) -> Option<(String, Type)> {
        self.uses_input = true;
        self.uses_cx = true;
        Some(match element {
            Element::Token(id) => {
                self.uses_token = true;
                let stat = names::token_static(&self.spec.token(*id).name);
                (
                    format!("{stat}.read(&mut self.token, input, cx, {site})?"),
                    Type::Str,
                )
            }
            Element::Record(id) => {
                self.children.insert(*id);
                self.child_steps.push((self.steps.len(), *id));
                let child = &self.spec.record(*id).name;
                (
                    format!("self.{}.run(input, cx)?", slot_name(child)),
                    Type::Record(child.clone()),
                )
            }
            Element::BytesUntil {
                token,
                chunked: None,
                transform,
            } => {
                self.uses_until = true;
                let until = self.until_static(*token, *transform);
                (
                    format!("{until}.collect(&mut self.until, input, cx, {site})?"),
                    Type::Bytes,
                )
            }
            Element::BytesCount(count) if count.chunked.is_none() => {
                self.uses_count = true;
                let n = super::expr::borrowed(&self.translator().translate(&count.count));
                let n = if n.nullable {
                    n.code
                } else {
                    format!("Some({})", n.code)
                };
                (
                    format!("self.count.collect({n}, input, cx, {site}, None)?"),
                    Type::Bytes,
                )
            }
            Element::Number(format) => {
                self.uses_bits = true;
                (
                    format!(
                        "self.bits.read({}, input, cx, {site})?",
                        number_format(format)
                    ),
                    Type::Int,
                )
            }
            Element::Flag => {
                self.uses_bits = true;
                (format!("self.bits.flag(input, cx, {site})?"), Type::Bool)
            }
            Element::BytesRest { chunked: None } => {
                (format!("read_rest(input, cx, {site})?"), Type::Bytes)
            }
            Element::At { offset, record } => {
                self.journals = true;
                let offset = super::expr::borrowed(&self.translator().translate(offset));
                let offset = if offset.nullable {
                    offset.code
                } else {
                    format!("Some({})", offset.code)
                };
                let child = &self.spec.record(*record).name;
                (
                    format!(
                        "parse_at({offset}, input, cx, {site}, |input, cx| {}::default().run(input, cx))?",
                        parser_name(child)
                    ),
                    Type::Record(child.clone()),
                )
            }
            other => {
                let msg = format!("protoc-rs codegen: unsupported element {other:?}");
                self.emit(vec![Piece::Text(format!(
                    "compile_error!({});",
                    names::str_lit(&msg)
                ))]);
                return None;
            }
        })
    }

    /// The statement adding `elem` to the array's field (nothing when unnamed).
    fn array_push(&self, dest: &Dest) -> String {
        match dest.field() {
            Some(name) if self.is_optional(name) => format!(
                "self.result.{}.get_or_insert_with(Vec::new).push(elem);\n",
                names::field(name)
            ),
            Some(name) => format!("self.result.{}.push(elem);\n", names::field(name)),
            None => String::new(),
        }
    }

    fn compile_array(
        &mut self,
        element: &Element,
        until: &crate::ir::Expr,
        dest: &Dest,
        next: Label,
    ) {
        let site = self.site(&dest.site_name("array"));
        let Some((parse, elem_ty)) = self.single(element, &site) else {
            return;
        };
        let mut t = self.translator();
        t.bind("elem", RustValue::new("elem", elem_ty, false, Form::Place));
        let done = t.condition(until);
        let push = self.array_push(dest);
        let body = format!("let elem = {parse};\nlet done = {done};\n{push}cx.check_message_len(input, {site})?;\nif done {{ self.step = ");
        self.emit(vec![
            Piece::Text(body),
            Piece::Goto(next),
            Piece::Text("; }".into()),
        ]);
    }

    /// `array ELEMENT count EXPR`: the count is evaluated once, before the
    /// first element; then one element per pass of the step.
    fn compile_array_count(
        &mut self,
        element: &Element,
        count: &crate::ir::Expr,
        dest: &Dest,
        next: Label,
    ) {
        let site = self.site(&dest.site_name("array"));
        let Some((parse, _)) = self.single(element, &site) else {
            return;
        };
        self.uses_counted = true;
        let n = super::expr::borrowed(&self.translator().translate(count));
        let n = if n.nullable {
            n.code
        } else {
            format!("Some({})", n.code)
        };
        let push = self.array_push(dest);
        let body = format!(
            "let left = match self.counted {{\n\
             Some(left) => left,\n\
             None => match {n}.and_then(|n| u64::try_from(n).ok()) {{\n\
             Some(n) if n <= cx.limits.max_message_len => n,\n\
             _ => return Err(cx.error(input, {site}, \"invalid element count\")),\n\
             }},\n\
             }};\n\
             self.counted = Some(left);\n\
             if left == 0 {{\n\
             self.counted = None;\n\
             self.step = "
        );
        let rest = format!(
            ";\n}} else {{\n\
             let elem = {parse};\n\
             {push}\
             self.counted = Some(left - 1);\n\
             cx.check_message_len(input, {site})?;\n\
             }}"
        );
        self.emit(vec![
            Piece::Text(body),
            Piece::Goto(next),
            Piece::Text(rest),
        ]);
    }

    /// `array ELEMENT while COND`: `COND` before each element; an element
    /// that reads no byte is an error (the array would never end).
    fn compile_array_while(
        &mut self,
        element: &Element,
        cond: &crate::ir::Expr,
        dest: &Dest,
        next: Label,
    ) {
        let site = self.site(&dest.site_name("array"));
        let Some((parse, _)) = self.single(element, &site) else {
            return;
        };
        self.uses_element_at = true;
        let lookahead = if expr_calls(cond, Func::Lookahead) {
            "let lookahead = input.lookahead()?;\n"
        } else {
            ""
        };
        let over = self.translator().condition(&not(cond));
        let push = self.array_push(dest);
        let body = format!(
            "if self.element_at.is_none() {{\n\
             {lookahead}\
             if {over} {{\n\
             self.step = "
        );
        let rest = format!(
            ";\n\
             continue;\n\
             }}\n\
             self.element_at = Some(input.message_offset());\n\
             }}\n\
             let elem = {parse};\n\
             {push}\
             if self.element_at.take() == Some(input.message_offset()) {{\n\
             return Err(cx.error(input, {site}, \"an array element read no byte\"));\n\
             }}\n\
             cx.check_message_len(input, {site})?;"
        );
        self.emit(vec![
            Piece::Text(body),
            Piece::Goto(next),
            Piece::Text(rest),
        ]);
    }

    fn finish(
        mut self,
        streaming: &BTreeSet<RecordId>,
        absorbing: &BTreeSet<RecordId>,
        _id: RecordId,
    ) -> RecordPlan {
        let done = self.steps.len();
        if let Some(slot) = self.labels.get_mut(Label::DONE.0) {
            *slot = Some(done);
        }
        let steps: Vec<StepPlan> = self
            .steps
            .iter()
            .enumerate()
            .map(|(number, (pieces, comment))| {
                let body = pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Text(s) => s.clone(),
                        Piece::Goto(label) => self.resolve(*label).to_string(),
                    })
                    .collect();
                StepPlan {
                    number,
                    body,
                    comment: comment.clone(),
                }
            })
            .collect();
        let mut slots = Vec::new();
        if self.uses_token {
            slots.push(("token".to_string(), "TokenState".to_string()));
        }
        if self.uses_until {
            slots.push(("until".to_string(), "UntilState".to_string()));
        }
        if self.uses_count {
            slots.push(("count".to_string(), "CountState".to_string()));
        }
        if self.uses_bits {
            slots.push(("bits".to_string(), "Bits".to_string()));
        }
        if self.uses_counted {
            slots.push(("counted".to_string(), "Option<u64>".to_string()));
        }
        if self.uses_element_at {
            slots.push(("element_at".to_string(), "Option<u64>".to_string()));
        }
        let mut end_streams = Vec::new();
        match self.stream_steps.as_slice() {
            [] => {}
            [(step, close)] => end_streams.push(format!("if self.step == {step} {{\n{close};\n}}")),
            several => {
                let arms: String = several
                    .iter()
                    .map(|(step, close)| format!("{step} => {close},\n"))
                    .collect();
                end_streams.push(format!("match self.step {{\n{arms}_ => {{}}\n}}"));
            }
        }
        let mut absorb_arms: Vec<String> = self
            .count_steps
            .iter()
            .map(|(step, event)| format!("{step} => self.count.absorb_gap(len, cx, {event}),"))
            .collect();
        for (step, child) in &self.child_steps {
            if absorbing.contains(child) {
                let slot = slot_name(&self.spec.record(*child).name);
                absorb_arms.push(format!("{step} => self.{slot}.absorb_gap(len, cx),"));
            }
        }
        for child in &self.children {
            let name = &self.spec.record(*child).name;
            slots.push((slot_name(name), parser_name(name)));
            if streaming.contains(child) {
                end_streams.push(format!("self.{}.end_streams(cx)?;", slot_name(name)));
            }
        }
        let reset_slots: Vec<String> = if self.backtrack_arms.is_empty() {
            Vec::new()
        } else {
            slots
                .iter()
                .map(|(name, _)| format!("self.{name} = Default::default();"))
                .collect()
        };
        slots.extend(self.block_slots.iter().cloned());
        let backtrack_arms: Vec<String> = self
            .backtrack_arms
            .iter()
            .map(|(first, last, pieces)| {
                let body: String = pieces
                    .iter()
                    .map(|piece| match piece {
                        Piece::Text(s) => s.clone(),
                        Piece::Goto(label) => self.resolve(*label).to_string(),
                    })
                    .collect();
                format!("{first}..={last} => {body},")
            })
            .collect();
        let loops = self
            .steps
            .iter()
            .any(|(pieces, _)| pieces.iter().any(|p| matches!(p, Piece::Goto(_))));
        let mut steps = steps;
        if !loops {
            // Without a loop, each step is a `match` arm whose value is the
            // result: `return X;` becomes `X`.
            for step in &mut steps {
                if let Some(value) = step
                    .body
                    .trim()
                    .strip_prefix("return ")
                    .and_then(|b| b.strip_suffix(';'))
                {
                    step.body = value.to_string();
                }
            }
        }
        let to_value_body = value_body(self.record, ValueBy::Ref);
        let into_value_body = value_body(self.record, ValueBy::Move);
        let fields = self
            .record
            .fields
            .iter()
            .map(|f| (f, false))
            .chain(self.hidden.iter().map(|f| (f, true)))
            .map(|(f, hidden)| FieldPlan {
                name: f.name.clone(),
                ident: names::field(&f.name),
                rust_type: rust_type(&f.ty),
                optional: matches!(f.ty, Type::Optional(_)),
                hidden,
            })
            .collect();
        let bodies: String = steps.iter().map(|s| s.body.as_str()).collect();
        let uses_vars = mentions(&bodies, "vars");
        let uses_input = self.uses_input || mentions(&bodies, "input");
        let uses_cx = self.uses_cx || uses_vars || mentions(&bodies, "cx");
        RecordPlan {
            name: self.record.name.clone(),
            type_name: names::record_type(&self.record.name),
            parser_name: parser_name(&self.record.name),
            fields,
            slots,
            steps,
            to_value_body,
            into_value_body,
            loops,
            end_streams,
            absorb_arms,
            uses_input: uses_input || !backtrack_arms.is_empty(),
            uses_cx: uses_cx || !backtrack_arms.is_empty(),
            backtrack_arms,
            reset_slots,
            retry_methods: self.retry_methods,
            journals: self.journals,
            uses_vars,
        }
    }

    /// The step number of `label`, following aliases.
    fn resolve(&self, label: Label) -> usize {
        let mut label = label;
        for _ in 0..=self.aliases.len() {
            if let Some(Some(step)) = self.labels.get(label.0) {
                return *step;
            }
            match self.aliases.iter().find(|(from, _)| *from == label) {
                Some((_, to)) => label = *to,
                None => break,
            }
        }
        self.steps.len()
    }
}

/// The type of a translated value as Rust holds it: optional when the code
/// is an `Option` (a field the record keeps optional, even where the
/// checker knows it is set).
fn as_translated(value: &RustValue) -> Type {
    if value.nullable {
        Type::Optional(Box::new(value.ty.clone()))
    } else {
        value.ty.clone()
    }
}

/// `!cond`, for the translator to write as simply as it can (`a != b`).
fn not(cond: &Expr) -> Expr {
    Expr {
        kind: protoc_runtime::expr::ExprKind::Unary(
            protoc_runtime::expr::UnOp::Not,
            Box::new(cond.clone()),
        ),
        ty: Type::Bool,
    }
}

/// Whether `code` mentions the identifier `name`.
fn mentions(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code.get(..at).and_then(|s| s.chars().next_back());
        let after = code.get(at + name.len()..).and_then(|s| s.chars().next());
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after) && before != Some('.')
    })
}

/// The record's message variables (`var`), first declaration of each name.
fn hidden_vars(record: &Record) -> Vec<FieldDef> {
    let mut found: Vec<FieldDef> = Vec::new();
    visit(&record.items, &mut |e| {
        if let Element::Hidden { name, ty, .. } = e {
            if !found.iter().any(|f| &f.name == name) {
                found.push(FieldDef {
                    name: name.clone(),
                    ty: ty.clone(),
                });
            }
        }
    });
    found
}

/// A number type as a spec writes it: `u16be`, `i8`, `u4`, `u32le`.
pub fn number_name(format: &crate::ir::NumberFormat) -> String {
    let sign = if format.signed { "i" } else { "u" };
    let order = match (
        format.little_endian,
        format.bits.is_multiple_of(8) && format.bits > 8,
    ) {
        (true, _) => "le",
        (false, true) => "be",
        (false, false) => "",
    };
    format!("{sign}{}{order}", format.bits)
}

/// `NumberFormat::big(16, false)`: the runtime's description of a number.
fn number_format(format: &crate::ir::NumberFormat) -> String {
    let order = if format.little_endian {
        "little"
    } else {
        "big"
    };
    format!("NumberFormat::{order}({}, {})", format.bits, format.signed)
}

/// Whether `expr` calls `func` anywhere.
pub fn expr_calls(expr: &crate::ir::Expr, func: Func) -> bool {
    use protoc_runtime::expr::ExprKind;
    match &expr.kind {
        ExprKind::Call(f, args) => *f == func || args.iter().any(|a| expr_calls(a, func)),
        ExprKind::Lit(_) | ExprKind::Var(_) => false,
        ExprKind::Field(e, _) | ExprKind::Unary(_, e) | ExprKind::Match(e, _) => {
            expr_calls(e, func)
        }
        ExprKind::Lookup { key, .. } => expr_calls(key, func),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            expr_calls(a, func) || expr_calls(b, func)
        }
    }
}

/// An element in spec syntax, one line (nested records by name).
pub fn describe(spec: &Spec, element: &Element) -> String {
    match element {
        Element::Field { name, element } => format!("{name}: {}", describe(spec, element)),
        Element::Hidden { name, element, .. } => {
            format!("var {name}: {}", describe(spec, element))
        }
        Element::Convert {
            element, written, ..
        } => format!("{} as {written}", describe(spec, element)),
        Element::Number(format) => number_name(format),
        Element::Flag => "flag".into(),
        Element::BytesRest { chunked: None } => "bytes rest".into(),
        Element::BytesRest {
            chunked: Some(event),
        } => format!("bytes rest chunked -> {}", spec.event(*event).name),
        Element::Padding { bits, align: false } => format!("padding {bits}"),
        Element::Padding { bits, align: true } => format!("padding align {bits}"),
        Element::Verify { cond, message } => format!(
            "verify {} {}",
            super::expr::source(cond),
            names::str_lit(message)
        ),
        Element::Let(value) => format!("= {}", super::expr::source(value)),
        Element::Sequence(_) => "sequence".into(),
        Element::Union(_) => "union".into(),
        Element::Try(_) => "try".into(),
        Element::At { offset, record } => format!(
            "at {} {}",
            super::expr::source(offset),
            spec.record(*record).name
        ),
        Element::ArrayCount { element, count } => format!(
            "array {} count {}",
            describe(spec, element),
            super::expr::source(count)
        ),
        Element::ArrayWhile { element, cond } => format!(
            "array {} while {}",
            describe(spec, element),
            super::expr::source(cond)
        ),
        Element::Token(id) => spec.token(*id).name.clone(),
        Element::Record(id) => spec.record(*id).name.clone(),
        Element::Branch { key, .. } => format!("branch {}", super::expr::source(key)),
        Element::Optional { element, cond } => {
            format!(
                "optional {} if {}",
                describe(spec, element),
                super::expr::source(cond)
            )
        }
        Element::Empty => "empty".into(),
        Element::Fail(reason) => format!("fail {}", names::str_lit(reason)),
        Element::TryToken(id) => format!("optional {}", spec.token(*id).name),
        Element::BytesCount(count) => {
            let mut text = format!("bytes count {}", super::expr::source(&count.count));
            if let Some(event) = count.chunked {
                text.push_str(&format!(" chunked -> {}", spec.event(event).name));
            }
            if let Some(ends) = &count.ends {
                text.push_str(&format!(" ends if {}", super::expr::source(ends)));
            }
            if count.transform == Some(Transform::Unstuff) {
                text.push_str(" transform unstuff");
            }
            text
        }
        Element::Array { element, until } => {
            format!(
                "array {} until {}",
                describe(spec, element),
                super::expr::source(until)
            )
        }
        Element::BytesUntil {
            token,
            chunked,
            transform,
        } => {
            let mut text = format!("bytes until {}", spec.token(*token).name);
            if let Some(event) = chunked {
                text.push_str(&format!(" chunked -> {}", spec.event(*event).name));
            }
            if *transform == Some(Transform::Unstuff) {
                text.push_str(" transform unstuff");
            }
            text
        }
    }
}

/// How a record's value is made: from a reference (`ToValue::to_value`, the
/// fields cloned) or by move (`IntoValue::into_value`, the fields' strings
/// and vectors become the value's).
#[derive(Clone, Copy)]
enum ValueBy {
    Ref,
    Move,
}

/// The body of `to_value` or `into_value` of a record: fields in spec order,
/// absent optionals omitted.
fn value_body(record: &Record, by: ValueBy) -> String {
    let (convert, receiver) = match by {
        ValueBy::Ref => ("to_value", "&self"),
        ValueBy::Move => ("into_value", "self"),
    };
    let entry =
        |name: &str, value: &str| format!("({}.into(), {value}.{convert}())", names::str_lit(name));
    let leading: Vec<String> = record
        .fields
        .iter()
        .take_while(|f| !matches!(f.ty, Type::Optional(_)))
        .map(|f| entry(&f.name, &format!("self.{}", names::field(&f.name))))
        .collect();
    let rest = record.fields.get(leading.len()..).unwrap_or_default();
    if record.fields.is_empty() {
        return "Value::Record(Vec::new())".to_string();
    }
    if rest.is_empty() {
        return format!("Value::Record(Vec::from([{}]))", leading.join(", "));
    }
    // Made to measure: pushing the optional fields never grows the vector.
    let mut body = format!(
        "let mut fields = Vec::with_capacity({});\n",
        record.fields.len()
    );
    for entry in &leading {
        body.push_str(&format!("fields.push({entry});\n"));
    }
    for f in rest {
        let ident = names::field(&f.name);
        if matches!(f.ty, Type::Optional(_)) {
            body.push_str(&format!(
                "if let Some(value) = {receiver}.{ident} {{ fields.push({}); }}\n",
                entry(&f.name, "value")
            ));
        } else {
            body.push_str(&format!(
                "fields.push({});\n",
                entry(&f.name, &format!("self.{ident}"))
            ));
        }
    }
    body.push_str("Value::Record(fields)");
    body
}
