//! Typing of expressions: AST expressions to typed `ir::Expr`.
//!
//! An expression sees the names of its [`Scope`] (a transition's binding,
//! `elem` in an array's `until`, the fields already parsed in a record) and
//! the `const` tables, which it may only index (`CMD[key]`, lowered to
//! `ExprKind::Lookup`). Types follow the runtime's semantics
//! (`protoc_runtime::expr`): a field of an optional value or an element of
//! a list may be absent, which compares unequal to everything, so `==`
//! accepts an optional operand of the other's type.
//!
//! The typing rules are the provided methods of [`ExprEnv`], so that the
//! spec checker ([`Checker`]) and the rules checker (`crate::rules`) share
//! them; each provides the few facts typing needs (records' fields, const
//! tables, where errors go).
//!
//! Invariant: a returned expression is fully typed and refers only to names
//! in scope; on any problem the error is reported once, at the innermost
//! culprit, and `None` is returned (the enclosing expressions stay silent).

use super::fields::optional;
use super::Checker;
use crate::ast::{self, ExprKind as A, Span};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir::{
    BinOp, Expr, ExprKind, FieldDef, Func, Severity, Template, TemplatePart, Type, UnOp,
};
use protoc_runtime::value::Value;

/// The names an expression may use.
pub(crate) struct Scope {
    pub vars: Vec<(String, Type)>,
    /// Whether `lookahead()` is available (grammar expressions only).
    pub grammar: bool,
    /// Names that exist but whose type could not be known (an error was
    /// reported where they were bound): using them reports nothing more.
    pub poisoned: Vec<String>,
    /// Said when a name is not found and nothing is close: what is in scope.
    pub hint: &'static str,
}

const FUNCTIONS: &[(&str, Func)] = &[
    ("upper", Func::Upper),
    ("lower", Func::Lower),
    ("len", Func::Len),
    ("lookahead", Func::Lookahead),
    ("number", Func::Number),
    ("direction", Func::Direction),
    ("extract", Func::Extract),
    ("offset", Func::Offset),
    ("text", Func::Text),
    ("hex", Func::Hex),
    ("ip", Func::Ip),
    ("join", Func::Join),
    ("find", Func::Find),
];

fn typed(kind: ExprKind, ty: Type) -> Option<Expr> {
    Some(Expr { kind, ty })
}

/// A type with its article, for messages: "a string", "an optional integer".
pub(crate) fn a(ty: &Type) -> String {
    match ty {
        Type::Str => "a string".into(),
        Type::Int => "an integer".into(),
        Type::Bool => "a boolean".into(),
        Type::Bytes => "bytes".into(),
        Type::List(element) => format!("a list of {}", element.describe()),
        Type::Record(name) => format!("a `{name}` record"),
        Type::Optional(inner) => format!("an optional {}", inner.describe()),
    }
}

/// `ty` optional if `base` was.
fn like(base: &Type, ty: Type) -> Type {
    if matches!(base, Type::Optional(_)) {
        optional(ty)
    } else {
        ty
    }
}

/// What typing an expression needs from the checker running it. The
/// provided methods are the typing rules themselves.
pub(crate) trait ExprEnv {
    /// Reports an error at `span`; returns it so a hint or note can be added.
    fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic;

    /// Whether `name` is a `const` table (only specs have them).
    fn is_const_table(&self, name: &str) -> bool;

    /// The result fields of the record `name` (empty if unknown).
    fn record_fields(&mut self, name: &str) -> Vec<FieldDef>;

    /// Whether a regex literal is valid; reports it when not.
    fn regex_is_valid(&mut self, regex: &ast::RegexLit) -> bool;

    /// Types a condition: it must be boolean.
    fn condition(&mut self, expr: &ast::Expr, scope: &Scope) -> Option<Expr> {
        let typed = self.type_expr(expr, scope)?;
        if typed.ty.inner() != &Type::Bool {
            self.error(
                expr.span,
                "condition is not boolean",
                format!("this is {}", a(&typed.ty)),
            )
            .set_hint("compare it with something, e.g. `x == \"value\"`");
            return None;
        }
        Some(typed)
    }

    fn type_expr(&mut self, expr: &ast::Expr, scope: &Scope) -> Option<Expr> {
        match &expr.kind {
            A::Str(s) => typed(ExprKind::Lit(Value::Str(s.clone())), Type::Str),
            A::Int(i) => typed(ExprKind::Lit(Value::Int(*i)), Type::Int),
            A::Bool(b) => typed(ExprKind::Lit(Value::Bool(*b)), Type::Bool),
            // Typed by what it is compared with (see `binary`); alone, an absent string.
            A::Null => typed(
                ExprKind::Lit(Value::Null),
                Type::Optional(Box::new(Type::Str)),
            ),
            A::Name(name) => self.name(name, scope),
            A::Field(base, field) => {
                let base = self.type_expr(base, scope)?;
                // `list.field`: the field of every element.
                if let Type::List(element) = base.ty.inner() {
                    if let Type::Record(record) = element.inner() {
                        let fields = self.record_fields(record);
                        if let Some(def) = fields.iter().find(|f| f.name == field.name) {
                            let ty = like(
                                &base.ty,
                                Type::List(Box::new(like(element, def.ty.clone()))),
                            );
                            return typed(ExprKind::Field(Box::new(base), field.name.clone()), ty);
                        }
                    }
                }
                let Type::Record(record) = base.ty.inner().clone() else {
                    self.error(
                        field.span,
                        format!("no field `{}` on {}", field.name, a(&base.ty)),
                        "only records have fields",
                    );
                    return None;
                };
                let fields = self.record_fields(&record);
                let Some(def) = fields.iter().find(|f| f.name == field.name) else {
                    let hint = did_you_mean(&field.name, fields.iter().map(|f| f.name.as_str()));
                    let known = fields
                        .iter()
                        .map(|f| format!("`{}`", f.name))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let diagnostic = self.error(
                        field.span,
                        format!("record `{record}` has no field `{}`", field.name),
                        "unknown field",
                    );
                    diagnostic.hint = hint
                        .or_else(|| (!known.is_empty()).then(|| format!("its fields are {known}")));
                    return None;
                };
                let ty = like(&base.ty, def.ty.clone());
                typed(ExprKind::Field(Box::new(base), field.name.clone()), ty)
            }
            A::Index(base, index) => self.index(base, index, scope),
            A::Call(name, args) => self.call(expr.span, name, args, scope),
            A::Unary(op, operand) => {
                let operand_span = operand.span;
                let operand = self.type_expr(operand, scope)?;
                let (want, symbol) = match op {
                    UnOp::Not => (Type::Bool, "!"),
                    UnOp::Neg => (Type::Int, "-"),
                };
                if operand.ty.inner() != &want {
                    self.error(
                        operand_span,
                        format!("`{symbol}` needs {}, found {}", a(&want), a(&operand.ty)),
                        format!("this is {}", a(&operand.ty)),
                    );
                    return None;
                }
                let ty = like(&operand.ty, want);
                typed(ExprKind::Unary(*op, Box::new(operand)), ty)
            }
            A::Binary(op, left, right) => self.binary(expr.span, *op, left, right, scope),
            A::Match(subject, regex) => {
                let subject_span = subject.span;
                let subject = self.type_expr(subject, scope);
                let valid = self.regex_is_valid(regex);
                let subject = subject?;
                if subject.ty.inner() != &Type::Str {
                    self.error(
                        subject_span,
                        format!("`~` matches strings, found {}", a(&subject.ty)),
                        "not a string",
                    );
                    return None;
                }
                if !valid {
                    return None;
                }
                typed(
                    ExprKind::Match(Box::new(subject), regex.pattern.clone()),
                    Type::Bool,
                )
            }
        }
    }

    fn name(&mut self, name: &ast::Ident, scope: &Scope) -> Option<Expr> {
        if let Some((_, ty)) = scope.vars.iter().rev().find(|(n, _)| *n == name.name) {
            return typed(ExprKind::Var(name.name.clone()), ty.clone());
        }
        if scope.poisoned.contains(&name.name) {
            return None;
        }
        if self.is_const_table(&name.name) {
            self.error(
                name.span,
                format!("const table `{}` used as a value", name.name),
                "a table",
            )
            .set_hint(format!("look a key up: `{}[key]`", name.name));
            return None;
        }
        let hint = did_you_mean(&name.name, scope.vars.iter().map(|(n, _)| n.as_str()));
        self.error(
            name.span,
            format!("undefined name `{}`", name.name),
            "not in scope",
        )
        .hint = Some(hint.unwrap_or_else(|| scope.hint.to_string()));
        None
    }

    fn index(&mut self, base: &ast::Expr, index: &ast::Expr, scope: &Scope) -> Option<Expr> {
        // `TABLE[key]` on a const table, unless a variable hides the table.
        if let A::Name(table) = &base.kind {
            let shadowed = scope.vars.iter().any(|(n, _)| *n == table.name);
            if !shadowed && self.is_const_table(&table.name) {
                let key = self.type_expr(index, scope)?;
                if key.ty.inner() != &Type::Str {
                    self.error(
                        index.span,
                        format!("const table keys are strings, found {}", a(&key.ty)),
                        "not a string",
                    );
                    return None;
                }
                let kind = ExprKind::Lookup {
                    table: table.name.clone(),
                    key: Box::new(key),
                };
                return typed(kind, Type::Optional(Box::new(Type::Str)));
            }
        }
        let base_typed = self.type_expr(base, scope);
        let index_typed = self.type_expr(index, scope);
        let (base_typed, index_typed) = (base_typed?, index_typed?);
        let Type::List(element) = base_typed.ty.inner().clone() else {
            self.error(
                base.span,
                format!("cannot index {}", a(&base_typed.ty)),
                "not a list",
            );
            return None;
        };
        if index_typed.ty.inner() != &Type::Int {
            self.error(
                index.span,
                format!(
                    "list index must be an integer, found {}",
                    a(&index_typed.ty)
                ),
                "not an integer",
            );
            return None;
        }
        let ty = like(&base_typed.ty, *element);
        typed(
            ExprKind::Index(Box::new(base_typed), Box::new(index_typed)),
            ty,
        )
    }

    fn call(
        &mut self,
        span: Span,
        name: &ast::Ident,
        args: &[ast::Expr],
        scope: &Scope,
    ) -> Option<Expr> {
        let Some(&(_, func)) = FUNCTIONS.iter().find(|(n, _)| *n == name.name) else {
            let hint =
                did_you_mean(&name.name, FUNCTIONS.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                    "the functions are `upper`, `lower`, `len`, `number`, `extract`, `text`, `hex`, `ip`, `join`, `lookahead`, `offset` and `direction`".into()
                });
            self.error(
                name.span,
                format!("unknown function `{}`", name.name),
                "no such function",
            )
            .hint = Some(hint);
            return None;
        };
        let arity = match func {
            Func::Lookahead | Func::Direction | Func::Offset => 0,
            Func::Extract | Func::Join | Func::Find => 2,
            // `number(s)` or `number(s, base)`.
            Func::Number if args.len() == 2 => 2,
            _ => 1,
        };
        if args.len() != arity {
            let s = if arity == 1 { "" } else { "s" };
            self.error(
                span,
                format!(
                    "`{}` takes {arity} argument{s}, found {}",
                    name.name,
                    args.len()
                ),
                "wrong number of arguments",
            );
            return None;
        }
        if func == Func::Lookahead {
            if !scope.grammar {
                self.error(
                    span,
                    "`lookahead()` is only available in grammar conditions",
                    "not in a record",
                )
                .set_hint("it peeks at the next unread byte while a record is parsed");
                return None;
            }
            return typed(ExprKind::Call(func, Vec::new()), Type::Int);
        }
        if func == Func::Offset {
            if !scope.grammar {
                self.error(
                    span,
                    "`offset()` is only available in grammar expressions",
                    "not in a record",
                )
                .set_hint("it is the position in the message being parsed");
                return None;
            }
            return typed(ExprKind::Call(func, Vec::new()), Type::Int);
        }
        if func == Func::Join {
            return self.join_call(args, scope);
        }
        if func == Func::Find {
            return self.find_call(args, scope);
        }
        if func == Func::Number && args.len() == 2 {
            return self.number_in_call(args, scope);
        }
        if func == Func::Direction {
            if scope.grammar {
                self.error(
                    span,
                    "`direction()` is only available in state machines",
                    "in a record",
                )
                .set_hint("a record is parsed in one direction; the state machine handles both");
                return None;
            }
            return typed(ExprKind::Call(func, Vec::new()), Type::Str);
        }
        if func == Func::Extract {
            return self.extract_call(args, scope);
        }
        let arg_span = args.first().map_or(span, |a| a.span);
        let arg = self.type_expr(args.first()?, scope)?;
        let result = match (func, arg.ty.inner()) {
            (Func::Upper | Func::Lower, Type::Str) => like(&arg.ty, Type::Str),
            (Func::Upper | Func::Lower, Type::List(e)) if e.as_ref() == &Type::Str => {
                like(&arg.ty, Type::List(Box::new(Type::Str)))
            }
            (Func::Len, Type::Str | Type::Bytes | Type::List(_)) => like(&arg.ty, Type::Int),
            // Absent when the text is not a number.
            (Func::Number, Type::Str) => Type::Optional(Box::new(Type::Int)),
            (Func::Text, Type::Str | Type::Int | Type::Bytes) => like(&arg.ty, Type::Str),
            (Func::Hex, Type::Bytes) => like(&arg.ty, Type::Str),
            // Absent unless 4 or 16 bytes.
            (Func::Ip, Type::Bytes) => Type::Optional(Box::new(Type::Str)),
            (_, found) => {
                let wants = match func {
                    Func::Len => "a string, bytes or a list",
                    Func::Text => "bytes, an integer or a string",
                    Func::Hex | Func::Ip => "bytes",
                    _ => "a string",
                };
                let found = a(found);
                self.error(
                    arg_span,
                    format!("`{}` needs {wants}, found {found}", name.name),
                    format!("this is {found}"),
                );
                return None;
            }
        };
        typed(ExprKind::Call(func, vec![arg]), result)
    }

    /// `find(list, x)`: a list of strings, integers or booleans, and a value
    /// of its elements' type; the index, optional.
    fn find_call(&mut self, args: &[ast::Expr], scope: &Scope) -> Option<Expr> {
        let (list, wanted) = (args.first()?, args.get(1)?);
        let list_typed = self.type_expr(list, scope);
        let wanted_typed = self.type_expr(wanted, scope);
        let (list_typed, wanted_typed) = (list_typed?, wanted_typed?);
        let element = match list_typed.ty.inner() {
            Type::List(e) if matches!(e.as_ref(), Type::Str | Type::Int | Type::Bool) => {
                e.as_ref().clone()
            }
            _ => {
                self.error(
                    list.span,
                    format!(
                        "`find` searches a list of strings, integers or booleans, found {}",
                        a(&list_typed.ty)
                    ),
                    "not such a list",
                );
                return None;
            }
        };
        if wanted_typed.ty.inner() != &element {
            self.error(
                wanted.span,
                format!(
                    "`find` looks for {} in this list, found {}",
                    a(&element),
                    a(&wanted_typed.ty)
                ),
                "not the elements' type",
            );
            return None;
        }
        typed(
            ExprKind::Call(Func::Find, vec![list_typed, wanted_typed]),
            optional(Type::Int),
        )
    }

    /// `number(s, base)`: text and a base from 2 to 36, written as a number.
    fn number_in_call(&mut self, args: &[ast::Expr], scope: &Scope) -> Option<Expr> {
        let (text, base) = (args.first()?, args.get(1)?);
        let text_typed = self.type_expr(text, scope)?;
        if text_typed.ty.inner() != &Type::Str {
            self.error(
                text.span,
                format!("`number` needs a string, found {}", a(&text_typed.ty)),
                "not a string",
            );
            return None;
        }
        let A::Int(radix) = base.kind else {
            self.error(
                base.span,
                "the base of `number` is written as a number",
                "not a literal",
            )
            .set_hint("`number(size, 16)`");
            return None;
        };
        if !(2..=36).contains(&radix) {
            self.error(base.span, format!("a base of {radix}"), "not 2 to 36");
            return None;
        }
        let base = Expr {
            kind: ExprKind::Lit(Value::Int(radix)),
            ty: Type::Int,
        };
        typed(
            ExprKind::Call(Func::Number, vec![text_typed, base]),
            optional(Type::Int),
        )
    }

    /// `join(list, sep)`: a list of strings (optional ones too) and a string.
    fn join_call(&mut self, args: &[ast::Expr], scope: &Scope) -> Option<Expr> {
        let (list, sep) = (args.first()?, args.get(1)?);
        let list_typed = self.type_expr(list, scope);
        let sep_typed = self.type_expr(sep, scope);
        let (list_typed, sep_typed) = (list_typed?, sep_typed?);
        let is_strings = matches!(list_typed.ty.inner(), Type::List(e) if e.inner() == &Type::Str);
        if !is_strings {
            self.error(
                list.span,
                format!(
                    "`join` needs a list of strings, found {}",
                    a(&list_typed.ty)
                ),
                "not a list of strings",
            );
            return None;
        }
        if sep_typed.ty.inner() != &Type::Str {
            self.error(
                sep.span,
                format!("`join` separates with a string, found {}", a(&sep_typed.ty)),
                "not a string",
            );
            return None;
        }
        let ty = if matches!(list_typed.ty, Type::Optional(_))
            || matches!(sep_typed.ty, Type::Optional(_))
        {
            optional(Type::Str)
        } else {
            Type::Str
        };
        typed(ExprKind::Call(Func::Join, vec![list_typed, sep_typed]), ty)
    }

    /// `extract(text, "regex")`: the regex is a string literal, checked here.
    fn extract_call(&mut self, args: &[ast::Expr], scope: &Scope) -> Option<Expr> {
        let (text, pattern) = (args.first()?, args.get(1)?);
        let typed_text = self.type_expr(text, scope);
        let A::Str(regex) = &pattern.kind else {
            self.error(
                pattern.span,
                "`extract` takes its regex as a string literal",
                "not a string literal",
            )
            .set_hint("write the pattern in quotes: `extract(x, \"<([^>]*)>\")`");
            return None;
        };
        if let Err(err) = regex::Regex::new(regex) {
            let first_line = err
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
            self.error(pattern.span, format!("invalid regex: {first_line}"), "here");
            return None;
        }
        let text = typed_text?;
        if text.ty.inner() != &Type::Str {
            self.error(
                args.first().map_or(pattern.span, |a| a.span),
                format!("`extract` needs a string, found {}", a(&text.ty)),
                "not a string",
            );
            return None;
        }
        let pattern = Expr {
            kind: ExprKind::Lit(Value::Str(regex.clone())),
            ty: Type::Str,
        };
        typed(
            ExprKind::Call(Func::Extract, vec![text, pattern]),
            Type::Optional(Box::new(Type::Str)),
        )
    }

    fn binary(
        &mut self,
        span: Span,
        op: BinOp,
        left: &ast::Expr,
        right: &ast::Expr,
        scope: &Scope,
    ) -> Option<Expr> {
        let left_typed = self.type_expr(left, scope);
        let right_typed = self.type_expr(right, scope);
        let (mut l, mut r) = (left_typed?, right_typed?);
        // `x == null`: the literal takes the other side's type, made optional.
        let is_null = |e: &Expr| matches!(e.kind, ExprKind::Lit(Value::Null));
        if is_null(&r) && !is_null(&l) {
            r.ty = optional(l.ty.inner().clone());
        } else if is_null(&l) && !is_null(&r) {
            l.ty = optional(r.ty.inner().clone());
        }
        if op.is_arithmetic() {
            let (lt, rt) = (l.ty.inner().clone(), r.ty.inner().clone());
            let result = match (op, &lt, &rt) {
                (BinOp::Add, Type::Str, Type::Str) => Some(Type::Str),
                (BinOp::Div | BinOp::Rem, Type::Int, Type::Int) => {
                    // Absent when dividing by zero.
                    return typed(
                        ExprKind::Binary(op, Box::new(l), Box::new(r)),
                        optional(Type::Int),
                    );
                }
                (_, Type::Int, Type::Int) => Some(Type::Int),
                _ => None,
            };
            let Some(result) = result else {
                let (ld, rd) = (a(&l.ty), a(&r.ty));
                let wants = if op == BinOp::Add {
                    "integers or strings"
                } else {
                    "integers"
                };
                self.error(
                    span,
                    format!("`{}` needs {wants}, found {ld} and {rd}", op.symbol()),
                    format!("{} `{}` {}", lt.describe(), op.symbol(), rt.describe()),
                );
                return None;
            };
            let nullable = matches!(l.ty, Type::Optional(_)) || matches!(r.ty, Type::Optional(_));
            let ty = if nullable { optional(result) } else { result };
            return typed(ExprKind::Binary(op, Box::new(l), Box::new(r)), ty);
        }
        match op {
            BinOp::And | BinOp::Or => {
                for (side, side_span) in [(&l, left.span), (&r, right.span)] {
                    if side.ty.inner() != &Type::Bool {
                        self.error(
                            side_span,
                            format!("`{}` needs booleans, found {}", op.symbol(), a(&side.ty)),
                            "not a boolean",
                        );
                        return None;
                    }
                }
            }
            _ => {
                let (lt, rt) = (l.ty.inner(), r.ty.inner());
                let comparable = lt == rt && !matches!(lt, Type::List(_) | Type::Record(_));
                let ordered = matches!(lt, Type::Int | Type::Str | Type::Bytes);
                let equality = matches!(op, BinOp::Eq | BinOp::Ne);
                if !comparable || !(equality || ordered) {
                    let (ld, rd) = (a(&l.ty), a(&r.ty));
                    let diagnostic = self.error(
                        span,
                        format!("cannot compare {ld} with {rd} using `{}`", op.symbol()),
                        format!("{} `{}` {}", lt.describe(), op.symbol(), rt.describe()),
                    );
                    if matches!((lt, rt), (Type::Int, Type::Str) | (Type::Str, Type::Int)) {
                        diagnostic.set_hint(
                            "write a number as a string (\"220\") to compare it with text",
                        );
                    }
                    return None;
                }
            }
        }
        typed(ExprKind::Binary(op, Box::new(l), Box::new(r)), Type::Bool)
    }

    /// Types the expressions of a `"text {expr}"` template (any type renders).
    fn template(&mut self, template: &ast::Template, scope: &Scope) -> Option<Template> {
        let mut parts = Vec::new();
        let mut ok = true;
        for part in &template.parts {
            match part {
                ast::TemplatePart::Text(text) => parts.push(TemplatePart::Text(text.clone())),
                ast::TemplatePart::Expr(expr) => match self.type_expr(expr, scope) {
                    Some(e) => parts.push(TemplatePart::Expr(e)),
                    None => ok = false,
                },
            }
        }
        ok.then_some(Template { parts })
    }

    /// An alert's severity: `low`, `medium` or `high`.
    fn severity(&mut self, name: &ast::Ident) -> Option<Severity> {
        let severity = Severity::parse(&name.name);
        if severity.is_none() {
            let hint = did_you_mean(&name.name, ["low", "medium", "high"])
                .unwrap_or_else(|| "severities are `low`, `medium` and `high`".into());
            self.error(
                name.span,
                format!("unknown severity `{}`", name.name),
                "no such severity",
            )
            .hint = Some(hint);
        }
        severity
    }
}

impl ExprEnv for Checker<'_> {
    fn error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        Checker::error(self, span, message, label)
    }

    fn is_const_table(&self, name: &str) -> bool {
        self.const_index.contains_key(name)
    }

    fn record_fields(&mut self, name: &str) -> Vec<FieldDef> {
        if name == crate::ir::STREAM_RECORD {
            return crate::ir::stream_fields();
        }
        self.record_by_name(name)
            .and_then(|id| self.shape(id))
            .map(|s| s.fields)
            .unwrap_or_default()
    }

    fn regex_is_valid(&mut self, regex: &ast::RegexLit) -> bool {
        self.validate_regex(regex).is_some()
    }
}
