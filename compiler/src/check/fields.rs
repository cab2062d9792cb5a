//! Pass 2: the result fields of each record, flattened and typed, and its
//! message variables (`var`).
//!
//! Rules (the IR's `Record::fields`): `name: element` makes a field typed by
//! what the element yields (a token: string; a record: that record; `array
//! e`: list of e's type; non-chunked `bytes`: bytes; a number: integer; a
//! `flag`: boolean; `optional e`: optional; a branch: its cases' common type;
//! `at OFFSET RECORD`: that record), converted by `as CONVERTER` if one
//! follows; `let name = expr` makes a field of the expression's type.
//! `var name …` makes a message variable the same way: in scope for the
//! items after it, but not part of the result. Anonymous sub-records merge
//! their fields in (not their variables); `optional` makes merged fields
//! optional; a branch (and a `try`) merges the fields of its cases, optional
//! unless every case that can succeed sets them (a `fail` case never yields
//! a result, so it does not count); a `sequence` and a `union` merge all
//! their items. A message variable is never absent: until an item sets it
//! (or where a branch case does not), it holds its type's default. Chunked
//! bytes, `empty`, `continue`, `fail`, `padding` and `verify` yield nothing.
//!
//! Invariants: each record's shape is computed once (memoized), so each
//! problem (a field defined twice, cases that disagree on a field's type, a
//! record that includes itself) is reported once; what is computed again
//! later (the scope inside a block) is computed quietly. Undefined names and
//! bad expressions are left to the grammar pass, which reports them.

use super::expr::{a, ExprEnv, Scope};
use super::{Checker, GrammarName, RecordShape, Shape};
use crate::ast::{self, ElementKind, Span};
use crate::ir::{self, FieldDef, Type};

/// What an element yields as a value.
pub(super) enum Yields {
    Value(Type),
    Nothing,
    /// Unknown because of an error (reported elsewhere).
    Invalid,
}

/// A name an item adds to its record: a result field, or a message
/// variable (`hidden`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Named {
    pub def: FieldDef,
    pub hidden: bool,
}

/// `t` made optional (once).
pub(super) fn optional(t: Type) -> Type {
    match t {
        Type::Optional(_) => t,
        t => Type::Optional(Box::new(t)),
    }
}

fn is_fail(element: &ast::Element) -> bool {
    matches!(element.kind, ElementKind::Fail(_))
}

impl Checker<'_> {
    /// The scope of a grammar expression: the state machine's variables
    /// (read-only, as they are when read), then `names` (the fields and
    /// variables parsed before it, which hide flow variables of the same
    /// name), plus `elem` when given.
    pub(super) fn grammar_scope(&self, names: &[FieldDef], elem: Option<Type>) -> Scope {
        let mut vars: Vec<(String, Type)> = self
            .vars
            .iter()
            .map(|(v, _)| (v.name.clone(), v.ty.clone()))
            .collect();
        vars.extend(names.iter().map(|f| (f.name.clone(), f.ty.clone())));
        let hint = if elem.is_some() {
            "`elem` is the element just parsed; the record's earlier fields are in scope too"
        } else {
            "a grammar expression sees the fields and variables parsed before it in the same record, and the state machine's variables"
        };
        vars.extend(elem.map(|ty| ("elem".to_string(), ty)));
        Scope {
            vars,
            grammar: true,
            poisoned: Vec::new(),
            hint,
        }
    }
}

impl Checker<'_> {
    pub(super) fn compute_all_fields(&mut self) {
        for i in 0..self.records.len() {
            self.shape(ir::RecordId(i));
        }
    }

    /// Runs `f` and forgets the diagnostics it reported (for what is
    /// computed a second time and was reported the first).
    pub(super) fn quietly<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.diagnostics.len();
        let result = f(self);
        self.diagnostics.truncate(before);
        result
    }

    /// The shape of a record, computed on first use; `None` if it includes
    /// itself (reported by the caller) or failed.
    pub(super) fn shape(&mut self, id: ir::RecordId) -> Option<RecordShape> {
        match self.shapes.get(id.0) {
            Some(Shape::Done(shape)) => return Some(shape.clone()),
            Some(Shape::NotComputed) => {}
            _ => return None,
        }
        self.shapes[id.0] = Shape::InProgress;
        let record = self.records[id.0];
        let mut shape = RecordShape::default();
        let mut in_scope: Vec<FieldDef> = Vec::new();
        for item in &record.items {
            let names = self.item_fields(item, &in_scope);
            for named in &names {
                let taken = shape
                    .fields
                    .iter()
                    .chain(&shape.hidden)
                    .any(|f| f.name == named.def.name);
                if taken {
                    let span = item.name.as_ref().map_or(item.element.span, |n| n.span);
                    let label = match &item.name {
                        Some(_) => "defined again here".to_string(),
                        None => format!("`{}` set again by this element", named.def.name),
                    };
                    self.error(
                        span,
                        format!(
                            "field `{}` is defined twice in record `{}`",
                            named.def.name, record.name.name
                        ),
                        label,
                    );
                } else if named.hidden {
                    shape.hidden.push(named.def.clone());
                } else {
                    shape.fields.push(named.def.clone());
                }
            }
            in_scope.extend(names.iter().map(|n| n.def.clone()));
            shape.per_item.push(names);
        }
        self.shapes[id.0] = Shape::Done(shape.clone());
        Some(shape)
    }

    /// The names one record item adds to its record, given the names
    /// parsed before it (`in_scope`, for typing `let` expressions).
    pub(super) fn item_fields(&mut self, item: &ast::Item, in_scope: &[FieldDef]) -> Vec<Named> {
        let Some(name) = &item.name else {
            return self.merged_fields(&item.element, in_scope);
        };
        let ty = match &item.element.kind {
            ElementKind::Let { value, ty } => self.let_type(value, ty.as_ref(), in_scope),
            _ => match self.yields(&item.element) {
                Yields::Value(ty) => match &item.convert {
                    Some(convert) => self
                        .quietly(|c| c.convert(convert, &ty, in_scope))
                        .map(|(_, ty)| ty),
                    None => Some(ty),
                },
                Yields::Nothing | Yields::Invalid => None,
            },
        };
        ty.map(|ty| Named {
            def: FieldDef {
                name: name.name.clone(),
                ty,
            },
            hidden: item.hidden,
        })
        .into_iter()
        .collect()
    }

    /// The type of `let NAME [: TYPE] = EXPR`: the type written, else the
    /// expression's (typed quietly; the grammar pass reports its errors).
    fn let_type(
        &mut self,
        value: &ast::Expr,
        written: Option<&ast::TypeName>,
        in_scope: &[FieldDef],
    ) -> Option<Type> {
        if let Some(written) = written {
            return self.quietly(|c| c.let_type_name(written));
        }
        let scope = self.grammar_scope(in_scope, None);
        self.quietly(|c| c.type_expr(value, &scope)).map(|e| e.ty)
    }

    /// The type written for a `let`: a variable type, or a record's name.
    pub(super) fn let_type_name(&mut self, written: &ast::TypeName) -> Option<Type> {
        if let ast::TypeName::Named(name) = written {
            if let Some(GrammarName::Record(_)) = self.grammar_index.get(&name.name) {
                return Some(Type::Record(name.name.clone()));
            }
        }
        self.type_name(written)
    }

    /// The names an anonymous element merges into the enclosing record.
    fn merged_fields(&mut self, element: &ast::Element, in_scope: &[FieldDef]) -> Vec<Named> {
        match &element.kind {
            ElementKind::Ref(name) => match self.grammar_index.get(&name.name).copied() {
                Some(GrammarName::Record(id)) => {
                    if matches!(self.shapes.get(id.0), Some(Shape::InProgress)) {
                        self.error(
                            name.span,
                            format!("record `{}` includes itself", name.name),
                            "included here without a field name",
                        )
                        .set_hint("an anonymous record is merged into the one that uses it, which cannot be itself");
                        self.shapes[id.0] = Shape::Failed;
                        self.merged_into_self.push(id.0);
                        return Vec::new();
                    }
                    self.shape(id)
                        .map(|s| {
                            s.fields
                                .into_iter()
                                .map(|def| Named { def, hidden: false })
                                .collect()
                        })
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            },
            ElementKind::Optional { element, .. } => self
                .merged_fields(element, in_scope)
                .into_iter()
                .map(|n| Named {
                    def: FieldDef {
                        name: n.def.name,
                        ty: optional(n.def.ty),
                    },
                    hidden: n.hidden,
                })
                .collect(),
            ElementKind::Branch { cases, .. } => {
                let mut live = Vec::new();
                for case in cases.iter().filter(|c| !is_fail(&c.element)) {
                    live.push(self.merged_fields(&case.element, in_scope));
                }
                self.merge_cases(&live, element.span)
            }
            ElementKind::Try(items) => {
                let mut live = Vec::new();
                for item in items.iter().filter(|i| !is_fail(&i.element)) {
                    live.push(self.item_fields(item, in_scope));
                }
                self.merge_cases(&live, element.span)
            }
            ElementKind::Sequence(items) | ElementKind::Union(items) => {
                let mut scope = in_scope.to_vec();
                let mut all: Vec<Named> = Vec::new();
                for item in items {
                    let names = self.item_fields(item, &scope);
                    scope.extend(names.iter().map(|n| n.def.clone()));
                    all.extend(names);
                }
                all
            }
            _ => Vec::new(),
        }
    }

    /// Merges the names set by the cases of a branch (or the alternatives
    /// of a `try`) that can succeed.
    fn merge_cases(&mut self, cases: &[Vec<Named>], span: Span) -> Vec<Named> {
        let mut merged: Vec<Named> = Vec::new();
        for named in cases.iter().flatten() {
            if merged.iter().any(|m| m.def.name == named.def.name) {
                continue;
            }
            let found: Vec<&Named> = cases
                .iter()
                .filter_map(|case| case.iter().find(|n| n.def.name == named.def.name))
                .collect();
            if let Some(other) = found
                .iter()
                .find(|n| n.def.ty.inner() != named.def.ty.inner())
            {
                self.error(
                    span,
                    format!(
                        "field `{}` is {} in one case of this branch and {} in another",
                        named.def.name,
                        a(named.def.ty.inner()),
                        a(other.def.ty.inner())
                    ),
                    "cases disagree",
                );
            }
            if found.iter().any(|n| n.hidden != named.hidden) {
                self.error(
                    span,
                    format!(
                        "`{}` is a field in one case of this branch and a `var` in another",
                        named.def.name
                    ),
                    "cases disagree",
                );
            }
            // A message variable is never absent: where no case sets it, it
            // keeps its type's default.
            let always = (named.hidden || found.len() == cases.len())
                && found.iter().all(|n| !matches!(n.def.ty, Type::Optional(_)));
            let ty = if always {
                named.def.ty.clone()
            } else {
                optional(named.def.ty.clone())
            };
            merged.push(Named {
                def: FieldDef {
                    name: named.def.name.clone(),
                    ty,
                },
                hidden: named.hidden,
            });
        }
        merged
    }

    /// What an element yields when stored under a field name (before any
    /// converter).
    pub(super) fn yields(&mut self, element: &ast::Element) -> Yields {
        match &element.kind {
            ElementKind::Ref(name) => match self.grammar_index.get(&name.name) {
                Some(GrammarName::Token(_)) => Yields::Value(Type::Str),
                Some(GrammarName::Record(_)) => Yields::Value(Type::Record(name.name.clone())),
                None => Yields::Invalid,
            },
            ElementKind::Regex(_) => Yields::Value(Type::Str),
            ElementKind::Number(_) => Yields::Value(Type::Int),
            ElementKind::Flag => Yields::Value(Type::Bool),
            ElementKind::Empty
            | ElementKind::Continue
            | ElementKind::Fail(_)
            | ElementKind::Padding { .. }
            | ElementKind::Verify { .. }
            | ElementKind::Sequence(_)
            | ElementKind::Union(_)
            | ElementKind::Try(_) => Yields::Nothing,
            // Typed with its scope by `item_fields`.
            ElementKind::Let { .. } => Yields::Invalid,
            ElementKind::At { element, .. } => self.yields(element),
            ElementKind::Optional { element, .. } => match self.yields(element) {
                Yields::Value(ty) => Yields::Value(optional(ty)),
                other => other,
            },
            ElementKind::Array { element, .. } => match self.yields(element) {
                Yields::Value(ty) => Yields::Value(Type::List(Box::new(ty))),
                other => other,
            },
            ElementKind::Bytes {
                chunked: Some(_), ..
            } => Yields::Nothing,
            ElementKind::Bytes { chunked: None, .. } => Yields::Value(Type::Bytes),
            ElementKind::Branch { cases, .. } => self.branch_yields(cases, element.span),
        }
    }

    fn branch_yields(&mut self, cases: &[ast::BranchCase], span: Span) -> Yields {
        let mut value: Option<Type> = None;
        let mut sometimes_nothing = false;
        for case in cases.iter().filter(|c| !is_fail(&c.element)) {
            match self.yields(&case.element) {
                Yields::Invalid => return Yields::Invalid,
                Yields::Nothing => sometimes_nothing = true,
                Yields::Value(ty) => match &value {
                    None => value = Some(ty),
                    Some(first) if first.inner() == ty.inner() => {
                        if matches!(ty, Type::Optional(_)) {
                            value = Some(ty);
                        }
                    }
                    Some(first) => {
                        self.error(
                            case.element.span,
                            format!(
                                "this case yields {} but an earlier one yields {}",
                                a(&ty),
                                a(first)
                            ),
                            "cases disagree",
                        )
                        .add_note(span, "in this branch");
                        return Yields::Invalid;
                    }
                },
            }
        }
        match value {
            Some(ty) if sometimes_nothing => Yields::Value(optional(ty)),
            Some(ty) => Yields::Value(ty),
            None => Yields::Nothing,
        }
    }

    /// `as CONVERTER` applied to a value of type `input`: the expression
    /// computing the converted value (over [`ir::CONVERTED`]) and its type.
    pub(super) fn convert(
        &mut self,
        convert: &ast::Converter,
        input: &Type,
        in_scope: &[FieldDef],
    ) -> Option<(ir::Expr, Type)> {
        use crate::ir::{BinOp, Expr, ExprKind, Func};
        use protoc_runtime::value::Value;
        let value = Expr {
            kind: ExprKind::Var(ir::CONVERTED.to_string()),
            ty: input.clone(),
        };
        let name = convert.name.name.as_str();
        let takes_arg = name == "mult";
        match (&convert.arg, takes_arg) {
            (Some(arg), false) => {
                self.error(
                    arg.span,
                    format!("converter `{name}` takes no argument"),
                    "not expected",
                );
                return None;
            }
            (None, true) => {
                self.error(
                    convert.span,
                    format!("converter `{name}` takes an argument"),
                    "argument missing",
                )
                .set_hint("write `as mult(4)`");
                return None;
            }
            _ => {}
        }
        let arg = match &convert.arg {
            Some(arg) => Some(self.type_expr(arg, &self.grammar_scope(in_scope, None))?),
            None => None,
        };
        let wants = |want: &[Type]| want.iter().any(|w| w == input.inner());
        let (expr, ok, needs): (Option<Expr>, bool, &str) = match name {
            "mult" => {
                let factor = arg?;
                if factor.ty.inner() != &Type::Int {
                    self.error(
                        convert.span,
                        format!("`mult` multiplies by an integer, found {}", a(&factor.ty)),
                        "not an integer",
                    );
                    return None;
                }
                let ty = if matches!(input, Type::Optional(_))
                    || matches!(factor.ty, Type::Optional(_))
                {
                    optional(Type::Int)
                } else {
                    Type::Int
                };
                let expr = Expr {
                    kind: ExprKind::Binary(BinOp::Mul, Box::new(value), Box::new(factor)),
                    ty,
                };
                (Some(expr), wants(&[Type::Int]), "an integer")
            }
            "bool" => {
                let zero = Expr {
                    kind: ExprKind::Lit(Value::Int(0)),
                    ty: Type::Int,
                };
                let expr = Expr {
                    kind: ExprKind::Binary(BinOp::Ne, Box::new(value), Box::new(zero)),
                    ty: Type::Bool,
                };
                (Some(expr), wants(&[Type::Int]), "an integer")
            }
            "number" | "text" | "hex" | "ip" => {
                let (func, result, accepted, needs): (Func, Type, Vec<Type>, &str) = match name {
                    "number" => (
                        Func::Number,
                        optional(Type::Int),
                        vec![Type::Str],
                        "a string",
                    ),
                    "text" => (
                        Func::Text,
                        Type::Str,
                        vec![Type::Bytes, Type::Int, Type::Str],
                        "bytes, an integer or a string",
                    ),
                    "hex" => (Func::Hex, Type::Str, vec![Type::Bytes], "bytes"),
                    _ => (Func::Ip, optional(Type::Str), vec![Type::Bytes], "bytes"),
                };
                let ty = if matches!(input, Type::Optional(_)) {
                    optional(result)
                } else {
                    result
                };
                let mut args = vec![value];
                args.extend(arg);
                let expr = Expr {
                    kind: ExprKind::Call(func, args),
                    ty,
                };
                let ok = accepted.iter().any(|t| t == input.inner());
                (Some(expr), ok, needs)
            }
            _ => {
                let known = ["mult", "bool", "number", "text", "hex", "ip"];
                let hint = crate::diagnostic::did_you_mean(name, known).unwrap_or_else(|| {
                    "the converters are `mult(N)`, `bool`, `number`, `text`, `hex` and `ip`".into()
                });
                self.error(
                    convert.name.span,
                    format!("unknown converter `{name}`"),
                    "no such converter",
                )
                .hint = Some(hint);
                return None;
            }
        };
        if !ok {
            self.error(
                convert.span,
                format!("converter `{name}` needs {needs}, found {}", a(input)),
                "cannot convert this",
            );
            return None;
        }
        expr.map(|e| {
            let ty = e.ty.clone();
            (e, ty)
        })
    }
}
