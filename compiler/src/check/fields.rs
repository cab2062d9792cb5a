//! Pass 2: the result fields of each record, flattened and typed.
//!
//! Rules (the IR's `Record::fields`): `name: element` makes a field typed by
//! what the element yields (a token: string; a record: that record; `array
//! e`: list of e's type; non-chunked `bytes`: bytes; `optional e`: optional;
//! a branch: its cases' common type). Anonymous sub-records merge their
//! fields in; `optional` makes merged fields optional; a branch merges the
//! fields of its cases, optional unless every case that can succeed sets
//! them (a `fail` case never yields a result, so it does not count).
//! Chunked bytes, `empty` and `fail` yield nothing.
//!
//! Invariants: each record's shape is computed once (memoized), so each
//! problem (a field defined twice, cases that disagree on a field's type, a
//! record that includes itself) is reported once. Undefined names are left
//! to the grammar pass, which reports them.

use super::expr::a;
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
    pub(super) fn compute_all_fields(&mut self) {
        for i in 0..self.records.len() {
            self.shape(ir::RecordId(i));
        }
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
        for item in &record.items {
            let fields = self.item_fields(item);
            for field in &fields {
                if shape.fields.iter().any(|f| f.name == field.name) {
                    let span = item.name.as_ref().map_or(item.element.span, |n| n.span);
                    let label = match &item.name {
                        Some(_) => "defined again here".to_string(),
                        None => format!("`{}` set again by this element", field.name),
                    };
                    self.error(
                        span,
                        format!(
                            "field `{}` is defined twice in record `{}`",
                            field.name, record.name.name
                        ),
                        label,
                    );
                } else {
                    shape.fields.push(field.clone());
                }
            }
            shape.per_item.push(fields);
        }
        self.shapes[id.0] = Shape::Done(shape.clone());
        Some(shape)
    }

    /// The fields one record item adds to its record's result.
    fn item_fields(&mut self, item: &ast::Item) -> Vec<FieldDef> {
        match &item.name {
            Some(name) => match self.yields(&item.element) {
                Yields::Value(ty) => vec![FieldDef {
                    name: name.name.clone(),
                    ty,
                }],
                Yields::Nothing | Yields::Invalid => Vec::new(),
            },
            None => self.merged_fields(&item.element),
        }
    }

    /// The fields an anonymous element merges into the enclosing record.
    fn merged_fields(&mut self, element: &ast::Element) -> Vec<FieldDef> {
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
                        return Vec::new();
                    }
                    self.shape(id).map(|s| s.fields).unwrap_or_default()
                }
                _ => Vec::new(),
            },
            ElementKind::Optional { element, .. } => self
                .merged_fields(element)
                .into_iter()
                .map(|f| FieldDef {
                    name: f.name,
                    ty: optional(f.ty),
                })
                .collect(),
            ElementKind::Branch { cases, .. } => {
                let mut live = Vec::new();
                for case in cases.iter().filter(|c| !is_fail(&c.element)) {
                    live.push(self.merged_fields(&case.element));
                }
                self.merge_cases(&live, element.span)
            }
            _ => Vec::new(),
        }
    }

    /// Merges the fields set by the cases of a branch that can succeed.
    fn merge_cases(&mut self, cases: &[Vec<FieldDef>], span: Span) -> Vec<FieldDef> {
        let mut merged: Vec<FieldDef> = Vec::new();
        for field in cases.iter().flatten() {
            if merged.iter().any(|m| m.name == field.name) {
                continue;
            }
            let types: Vec<&Type> = cases
                .iter()
                .filter_map(|case| case.iter().find(|f| f.name == field.name).map(|f| &f.ty))
                .collect();
            if let Some(other) = types.iter().find(|t| t.inner() != field.ty.inner()) {
                self.error(
                    span,
                    format!(
                        "field `{}` is {} in one case of this branch and {} in another",
                        field.name,
                        a(field.ty.inner()),
                        a(other.inner())
                    ),
                    "cases disagree",
                );
            }
            let always =
                types.len() == cases.len() && types.iter().all(|t| !matches!(t, Type::Optional(_)));
            let ty = if always {
                field.ty.clone()
            } else {
                optional(field.ty.clone())
            };
            merged.push(FieldDef {
                name: field.name.clone(),
                ty,
            });
        }
        merged
    }

    /// What an element yields when stored under a field name.
    pub(super) fn yields(&mut self, element: &ast::Element) -> Yields {
        match &element.kind {
            ElementKind::Ref(name) => match self.grammar_index.get(&name.name) {
                Some(GrammarName::Token(_)) => Yields::Value(Type::Str),
                Some(GrammarName::Record(_)) => Yields::Value(Type::Record(name.name.clone())),
                None => Yields::Invalid,
            },
            ElementKind::Regex(_) => Yields::Value(Type::Str),
            ElementKind::Empty | ElementKind::Fail(_) => Yields::Nothing,
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
}
