//! Spec expressions → Rust expressions, with the `Null` semantics of
//! `protoc_runtime::expr` (a missing field or index is `None`; `==` between
//! `None` and a value is false, `!=` true; ordering with `None` is false).
//!
//! Every translated expression is a [`RustValue`]: Rust code plus what the
//! code evaluates to: the spec type, whether it may be absent (`nullable`,
//! then the code is an `Option`), and its [`Form`] (a place such as
//! `res.command`, a reference, a canonical borrowed value such as `&str`, or
//! an owned temporary such as `String`). Consumers ask for the form they need
//! ([`borrowed`]), so the generated code stays close to what one would write
//! by hand: `res.responses.get(0).is_some_and(|v| v.code == "220")`.
//!
//! Invariant: for the same inputs, a translated expression evaluates to what
//! `protoc_runtime::expr::eval` gives (tested against it in
//! `tests/codegen_exprs.rs`, through generated code).

use protoc_runtime::expr::{BinOp, Expr, ExprKind, Func, Type, UnOp};
use protoc_runtime::value::Value;

use super::names;
use crate::ir::Spec;

/// How the code of a [`RustValue`] holds its value (with `S` the stored Rust
/// type: `String`, `Vec<T>`, a record struct, `i64`, `bool`, `Vec<u8>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A place of type `S` (`Option<S>` if nullable): `self.result.command`.
    Place,
    /// A reference `&S` (`Option<&S>`): `res`, `list.get(0)`.
    Ref,
    /// The canonical borrowed value: `&str`, `&[T]`, `&Record`, `i64`, `bool`
    /// (or an `Option` of it).
    Borrowed,
    /// An owned temporary: `String` (or `Option<String>`).
    Owned,
}

/// How tightly the code binds, to add parentheses only where needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prec {
    /// Paths, literals, calls, method calls, parenthesized code.
    Atom,
    /// `&x`, `!x`, `*x`.
    Unary,
    /// `x as i64`.
    Cast,
    /// `a == b`, `a < b`.
    Compare,
    And,
    Or,
}

/// Translated code and what it evaluates to.
#[derive(Debug, Clone)]
pub struct RustValue {
    pub code: String,
    /// The spec type, `Optional` peeled off (see `nullable`).
    pub ty: Type,
    pub nullable: bool,
    pub form: Form,
    pub prec: Prec,
    /// For a nullable value `base.map(|var| inner)`: the parts, so that a
    /// comparison can read `base.is_some_and(|var| inner == x)`.
    lifted: Option<Box<Lifted>>,
    /// For `upper(x)`/`lower(x)` of a definite `x`: the function and `x`, so
    /// that `upper(x) == "EHLO"` reads `x.eq_ignore_ascii_case("EHLO")`.
    cased: Option<Box<(Func, RustValue)>>,
}

#[derive(Debug, Clone)]
struct Lifted {
    base: String,
    var: String,
    inner: RustValue,
}

impl RustValue {
    pub fn new(code: impl Into<String>, ty: Type, nullable: bool, form: Form) -> RustValue {
        let (ty, nullable) = match ty {
            Type::Optional(inner) => (*inner, true),
            ty => (ty, nullable),
        };
        RustValue {
            code: code.into(),
            ty,
            nullable,
            form,
            prec: Prec::Atom,
            lifted: None,
            cased: None,
        }
    }

    fn with_prec(mut self, prec: Prec) -> RustValue {
        self.prec = prec;
        self
    }

    /// The code, parenthesized unless it binds at least as tight as `prec`.
    pub fn at(&self, prec: Prec) -> String {
        if self.prec <= prec {
            self.code.clone()
        } else {
            format!("({})", self.code)
        }
    }

    /// The code as a method receiver.
    pub fn recv(&self) -> String {
        self.at(Prec::Atom)
    }
}

/// The same value in [`Form::Borrowed`].
pub fn borrowed(v: &RustValue) -> RustValue {
    let r = v.recv();
    let (code, prec) = match (v.form, &v.ty, v.nullable) {
        (Form::Borrowed, ..) => return v.clone(),
        (Form::Place | Form::Owned, Type::Str, false) => (format!("{r}.as_str()"), Prec::Atom),
        (Form::Place | Form::Owned, Type::Bytes | Type::List(_), false) => {
            (format!("{r}.as_slice()"), Prec::Atom)
        }
        (Form::Place | Form::Owned, Type::Str | Type::Bytes | Type::List(_), true) => {
            (format!("{r}.as_deref()"), Prec::Atom)
        }
        (Form::Place | Form::Owned, Type::Record(_), false) => (format!("&{r}"), Prec::Unary),
        (Form::Place | Form::Owned, Type::Record(_), true) => (format!("{r}.as_ref()"), Prec::Atom),
        (Form::Ref, Type::Str, false) => (format!("{r}.as_str()"), Prec::Atom),
        (Form::Ref, Type::Str, true) => (format!("{r}.map(String::as_str)"), Prec::Atom),
        (Form::Ref, Type::Bytes | Type::List(_), false) => (format!("{r}.as_slice()"), Prec::Atom),
        (Form::Ref, Type::Bytes | Type::List(_), true) => {
            (format!("{r}.map(Vec::as_slice)"), Prec::Atom)
        }
        (Form::Ref, Type::Int | Type::Bool, false) => (format!("*{r}"), Prec::Unary),
        (Form::Ref, Type::Int | Type::Bool, true) => (format!("{r}.copied()"), Prec::Atom),
        _ => (v.code.clone(), v.prec),
    };
    RustValue {
        code,
        ty: v.ty.clone(),
        nullable: v.nullable,
        form: Form::Borrowed,
        prec,
        lifted: None,
        cased: None,
    }
}

/// A Rust expression that is true when `v` is truthy (`Value::truthy`).
pub fn truthy(v: &RustValue) -> RustValue {
    let b = borrowed(v);
    let r = b.recv();
    let (code, prec) = match (&v.ty, v.nullable) {
        (Type::Bool, false) => (b.code.clone(), b.prec),
        (Type::Bool, true) => (
            format!("{} == Some(true)", b.at(Prec::Compare)),
            Prec::Compare,
        ),
        (Type::Int, false) => (format!("{} != 0", b.at(Prec::Unary)), Prec::Compare),
        (Type::Int, true) => (format!("{r}.is_some_and(|v| v != 0)"), Prec::Atom),
        (Type::Record(_), false) => ("true".to_string(), Prec::Atom),
        (Type::Record(_), true) => (format!("{r}.is_some()"), Prec::Atom),
        (_, false) => (format!("!{r}.is_empty()"), Prec::Unary),
        (_, true) => (format!("{r}.is_some_and(|v| !v.is_empty())"), Prec::Atom),
    };
    RustValue::new(code, Type::Bool, false, Form::Borrowed).with_prec(prec)
}

/// Code that formats `v` as `Value::to_display` does (for `{expr}` in alert
/// and log templates): a `Display` expression.
pub fn display(v: &RustValue) -> String {
    match (&v.ty, v.nullable) {
        (Type::Str | Type::Int | Type::Bool, false) => v.code.clone(),
        (Type::Str, true) if v.form == Form::Owned => format!("{}.unwrap_or_default()", v.recv()),
        (Type::Str, true) => format!("{}.unwrap_or_default()", borrowed(v).recv()),
        (Type::Int | Type::Bool, true) => {
            format!(
                "{}.map(|v| v.to_string()).unwrap_or_default()",
                borrowed(v).recv()
            )
        }
        (_, false) if v.form != Form::Borrowed => format!("{}.to_value().to_display()", v.recv()),
        (_, false) => format!("{}.to_vec().to_value().to_display()", v.recv()),
        (Type::Record(_), true) => {
            format!(
                "{}.map(|v| v.to_value().to_display()).unwrap_or_default()",
                borrowed(v).recv()
            )
        }
        (_, true) => format!(
            "{}.map(|v| v.to_vec().to_value().to_display()).unwrap_or_default()",
            borrowed(v).recv()
        ),
    }
}

/// Code of `v`'s owned Rust type (`String`, `i64`, `Vec<T>`, a record
/// struct, or an `Option` of one): what a field is assigned.
pub fn owned(v: &RustValue) -> String {
    let r = v.recv();
    let copy = matches!(v.ty, Type::Int | Type::Bool);
    match (v.form, v.nullable) {
        (Form::Owned, _) => v.code.clone(),
        (Form::Place, _) if copy => v.code.clone(),
        (Form::Place, _) => format!("{r}.clone()"),
        (Form::Ref, false) if copy => format!("*{r}"),
        (Form::Ref, false) => format!("{r}.clone()"),
        (Form::Ref, true) if copy => format!("{r}.copied()"),
        (Form::Ref, true) => format!("{r}.cloned()"),
        (Form::Borrowed, false) => match v.ty {
            Type::Str => format!("{r}.to_string()"),
            Type::Bytes | Type::List(_) => format!("{r}.to_vec()"),
            Type::Record(_) => format!("{r}.clone()"),
            _ => v.code.clone(),
        },
        (Form::Borrowed, true) => match v.ty {
            Type::Str => format!("{r}.map(str::to_string)"),
            Type::Bytes | Type::List(_) => format!("{r}.map(<[_]>::to_vec)"),
            Type::Record(_) => format!("{r}.cloned()"),
            _ => v.code.clone(),
        },
    }
}

/// Code of type `protoc_runtime::value::Value` for `v`.
pub fn value(v: &RustValue) -> String {
    match (v.form, v.nullable) {
        (Form::Place | Form::Ref | Form::Owned, false) => format!("{}.to_value()", v.recv()),
        (Form::Borrowed, false) => match v.ty {
            Type::Str => format!("Value::Str({}.to_string())", v.recv()),
            Type::Int => format!("Value::Int({})", v.code),
            Type::Bool => format!("Value::Bool({})", v.code),
            _ => format!("{}.to_vec().to_value()", v.recv()),
        },
        (_, true) => {
            let b = borrowed(v);
            let inner = value(&RustValue::new("v", v.ty.clone(), false, Form::Borrowed));
            match inner.strip_suffix("(v)") {
                // `Value::Int(v)`: the constructor itself is the function.
                Some(constructor) if !constructor.contains('(') => {
                    format!("{}.map_or(Value::Null, {constructor})", b.recv())
                }
                _ => format!("{}.map_or(Value::Null, |v| {inner})", b.recv()),
            }
        }
    }
}

/// Translates spec expressions in one scope (the names it can see).
pub struct Translator<'a> {
    spec: &'a Spec,
    vars: Vec<(String, RustValue)>,
    /// Patterns of `~` matches, shared by the whole module: `PATTERN_i` is
    /// the static for `patterns[i]`.
    patterns: &'a mut Vec<String>,
    closures: usize,
}

impl<'a> Translator<'a> {
    pub fn new(spec: &'a Spec, patterns: &'a mut Vec<String>) -> Translator<'a> {
        Translator {
            spec,
            vars: Vec::new(),
            patterns,
            closures: 0,
        }
    }

    /// Makes `name` visible as `value`.
    pub fn bind(&mut self, name: &str, value: RustValue) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_string(), value));
    }

    /// A fresh closure parameter name.
    fn fresh(&mut self) -> String {
        self.closures += 1;
        if self.closures == 1 {
            "v".to_string()
        } else {
            format!("v{}", self.closures)
        }
    }

    /// Translates `expr` and returns the code of a `bool` condition.
    pub fn condition(&mut self, expr: &Expr) -> String {
        truthy(&self.translate(expr)).code
    }

    pub fn translate(&mut self, expr: &Expr) -> RustValue {
        match &expr.kind {
            ExprKind::Lit(value) => literal(value, &expr.ty),
            ExprKind::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => unsupported(&format!("unknown name `{name}`"), &expr.ty),
            },
            ExprKind::Field(base, name) => {
                let base = self.translate(base);
                self.field(&base, name, &expr.ty)
            }
            ExprKind::Index(base, index) => {
                let base = self.translate(base);
                let index = self.translate(index);
                self.index(&base, &index, &expr.ty)
            }
            ExprKind::Lookup { table, key } => {
                let key = self.translate(key);
                let func = lookup_fn(table);
                let code = match (key.nullable, key.form) {
                    (false, Form::Owned | Form::Place) => format!("{func}(&{})", key.code),
                    (false, _) => format!("{func}({})", borrowed(&key).code),
                    (true, _) => format!("{}.and_then({func})", borrowed(&key).recv()),
                };
                RustValue::new(code, Type::Str, true, Form::Borrowed)
            }
            ExprKind::Call(func, args) => self.call(*func, args, &expr.ty),
            ExprKind::Unary(UnOp::Not, e) => {
                // `!(a == b)` is `a != b` (and back) under the Null rules too.
                if let ExprKind::Binary(op @ (BinOp::Eq | BinOp::Ne), a, b) = &e.kind {
                    let flipped = if *op == BinOp::Eq {
                        BinOp::Ne
                    } else {
                        BinOp::Eq
                    };
                    let negated = Expr {
                        kind: ExprKind::Binary(flipped, a.clone(), b.clone()),
                        ty: Type::Bool,
                    };
                    return self.translate(&negated);
                }
                // `!(a < b)` is `a >= b` when neither side can be Null (a
                // comparison with Null is false, and so is its opposite).
                if let ExprKind::Binary(
                    op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                    a,
                    b,
                ) = &e.kind
                {
                    let lookahead_char =
                        |e: &Expr| matches!(e.kind, ExprKind::Call(Func::Lookahead, _));
                    let a_v = self.operand(a, lookahead_char(b));
                    let b_v = self.operand(b, lookahead_char(a));
                    let opposite = match op {
                        BinOp::Lt => BinOp::Ge,
                        BinOp::Le => BinOp::Gt,
                        BinOp::Gt => BinOp::Le,
                        _ => BinOp::Lt,
                    };
                    if !a_v.nullable && !b_v.nullable {
                        return self.compare(opposite, &a_v, &b_v);
                    }
                    // One side may be Null: true when it is, else the
                    // opposite comparison (`x.is_none_or(|v| v >= 3)`, as
                    // clippy would have `!x.is_some_and(|v| v < 3)` read).
                    if a_v.nullable != b_v.nullable {
                        let code = self.unless_null(opposite, &a_v, &b_v, "is_none_or");
                        return RustValue::new(code, Type::Bool, false, Form::Borrowed);
                    }
                    let t = truthy(&self.compare(*op, &a_v, &b_v));
                    return RustValue::new(
                        format!("!{}", t.at(Prec::Atom)),
                        Type::Bool,
                        false,
                        Form::Borrowed,
                    )
                    .with_prec(Prec::Unary);
                }
                let t = truthy(&self.translate(e));
                RustValue::new(
                    format!("!{}", t.at(Prec::Atom)),
                    Type::Bool,
                    false,
                    Form::Borrowed,
                )
                .with_prec(Prec::Unary)
            }
            ExprKind::Unary(UnOp::Neg, e) => {
                let v = borrowed(&self.translate(e));
                let code = if v.nullable {
                    format!("{}.map(i64::wrapping_neg)", v.recv())
                } else {
                    format!("{}.wrapping_neg()", v.recv())
                };
                RustValue::new(code, Type::Int, v.nullable, Form::Borrowed)
            }
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
                let prec = if *op == BinOp::And {
                    Prec::And
                } else {
                    Prec::Or
                };
                let a = truthy(&self.translate(a));
                let b = truthy(&self.translate(b));
                let code = format!("{} {} {}", a.at(prec), op.symbol(), b.at(prec));
                RustValue::new(code, Type::Bool, false, Form::Borrowed).with_prec(prec)
            }
            ExprKind::Binary(op, a, b) if op.is_arithmetic() => self.arithmetic(*op, a, b),
            ExprKind::Binary(op, a, b) => {
                let lookahead_char =
                    |e: &Expr| matches!(e.kind, ExprKind::Call(Func::Lookahead, _));
                let (a_is_la, b_is_la) = (lookahead_char(a), lookahead_char(b));
                let a_v = self.operand(a, b_is_la);
                let b_v = self.operand(b, a_is_la);
                self.compare(*op, &a_v, &b_v)
            }
            ExprKind::Match(subject, pattern) => {
                let subject = borrowed(&self.translate(subject));
                let index = match self.patterns.iter().position(|p| p == pattern) {
                    Some(i) => i,
                    None => {
                        self.patterns.push(pattern.clone());
                        self.patterns.len() - 1
                    }
                };
                let code = if subject.nullable {
                    let v = self.fresh();
                    format!(
                        "{}.is_some_and(|{v}| PATTERN_{index}.is_match({v}))",
                        subject.recv()
                    )
                } else {
                    format!("PATTERN_{index}.is_match({})", subject.code)
                };
                RustValue::new(code, Type::Bool, false, Form::Borrowed)
            }
        }
    }

    /// A comparison operand; an integer literal compared with `lookahead()`
    /// is written as the byte it stands for (`i64::from(b'\r')`).
    fn operand(&mut self, e: &Expr, against_lookahead: bool) -> RustValue {
        if let (true, ExprKind::Lit(Value::Int(n))) = (against_lookahead, &e.kind) {
            if let Ok(byte) = u8::try_from(*n) {
                if byte.is_ascii() {
                    let lit = format!("i64::from(b'{}')", byte.escape_ascii());
                    return RustValue::new(lit, Type::Int, false, Form::Borrowed);
                }
            }
        }
        self.translate(e)
    }

    /// The declared type of field `name` of record type `base` (the
    /// expression's own type may be optional only because its base is).
    fn field_type(&self, base: &Type, name: &str, fallback: &Type) -> Type {
        let Type::Record(record) = base.inner() else {
            return fallback.clone();
        };
        self.spec
            .record_by_name(record)
            .and_then(|id| self.spec.record(id).fields.iter().find(|f| f.name == name))
            .map_or_else(|| fallback.clone(), |f| f.ty.clone())
    }

    fn field(&mut self, base: &RustValue, name: &str, ty: &Type) -> RustValue {
        let field = names::field(name);
        if let Type::List(element) = &base.ty {
            // `list.field`: the field of every element.
            let field_ty = self.field_type(element, name, ty);
            let var = self.fresh();
            let inner = RustValue::new(
                format!("{var}.{field}"),
                field_ty.clone(),
                false,
                Form::Place,
            );
            let each = format!("iter().map(|{var}| {}).collect::<Vec<_>>()", owned(&inner));
            let b = borrowed(base);
            let code = if base.nullable {
                format!("{}.map(|list| list.{each})", b.recv())
            } else {
                format!("{}.{each}", b.recv())
            };
            return RustValue::new(
                code,
                Type::List(Box::new(field_ty)),
                base.nullable,
                Form::Owned,
            );
        }
        let ty = self.field_type(&base.ty, name, ty);
        if !base.nullable {
            return RustValue::new(format!("{}.{field}", base.recv()), ty, false, Form::Place);
        }
        let b = borrowed(base);
        let var = self.fresh();
        let inner = RustValue::new(format!("{var}.{field}"), ty.clone(), false, Form::Place);
        let inner_b = borrowed(&inner);
        let code = if inner.nullable {
            format!("{}.and_then(|{var}| {})", b.recv(), inner_b.code)
        } else {
            format!("{}.map(|{var}| {})", b.recv(), inner_b.code)
        };
        let mut v = RustValue::new(code, ty, true, Form::Borrowed);
        if !inner.nullable {
            v.lifted = Some(Box::new(Lifted {
                base: b.recv(),
                var,
                inner,
            }));
        }
        v
    }

    fn index(&mut self, base: &RustValue, index: &RustValue, ty: &Type) -> RustValue {
        let literal = match (&index.form, index.code.parse::<u64>()) {
            (Form::Borrowed, Ok(n)) if !index.nullable => Some(n),
            _ => None,
        };
        let get = |list: &str, this: &mut Translator<'_>| match literal {
            Some(0) => format!("{list}.first()"),
            Some(n) => format!("{list}.get({n})"),
            None if !index.nullable => {
                let i = this.fresh();
                format!(
                    "usize::try_from({}).ok().and_then(|{i}| {list}.get({i}))",
                    index.code
                )
            }
            None => {
                let i = this.fresh();
                format!(
                    "{}.and_then(|{i}| usize::try_from({i}).ok()).and_then(|{i}| {list}.get({i}))",
                    borrowed(index).recv()
                )
            }
        };
        let code = if base.nullable {
            let list = self.fresh();
            let inner = get(&list, self);
            format!("{}.and_then(|{list}| {inner})", borrowed(base).recv())
        } else {
            get(&base.recv(), self)
        };
        let elem = match base.ty.inner() {
            Type::List(elem) => (**elem).clone(),
            _ => ty.clone(),
        };
        RustValue::new(code, elem, true, Form::Ref)
    }

    /// `a + b`, `a * b`…: wrapping integer arithmetic, `/` and `%` absent
    /// by zero, `+` of strings a concatenation; absent operands give absent.
    fn arithmetic(&mut self, op: BinOp, a: &Expr, b: &Expr) -> RustValue {
        let a = borrowed(&self.translate(a));
        let b = borrowed(&self.translate(b));
        let optional = |v: &RustValue| {
            if v.nullable {
                v.recv()
            } else {
                format!("Some({})", v.code)
            }
        };
        if a.ty == Type::Str {
            if !a.nullable && !b.nullable {
                let code = format!("format!(\"{{}}{{}}\", {}, {})", a.code, b.code);
                return RustValue::new(code, Type::Str, false, Form::Owned);
            }
            let code = format!(
                "{}.zip({}).map(|(x, y)| format!(\"{{x}}{{y}}\"))",
                optional(&a),
                optional(&b)
            );
            return RustValue::new(code, Type::Str, true, Form::Owned);
        }
        let (method, checked) = match op {
            BinOp::Add => ("wrapping_add", false),
            BinOp::Sub => ("wrapping_sub", false),
            BinOp::Mul => ("wrapping_mul", false),
            BinOp::Div => ("checked_div", true),
            _ => ("checked_rem", true),
        };
        if !a.nullable && !b.nullable {
            // An integer literal as a receiver needs its type spelled out.
            let receiver = match a.code.parse::<i64>() {
                Ok(n) if n < 0 => format!("({n}_i64)"),
                Ok(n) => format!("{n}_i64"),
                Err(_) => a.recv(),
            };
            let code = format!("{receiver}.{method}({})", b.code);
            return RustValue::new(code, Type::Int, checked, Form::Borrowed);
        }
        let map = if checked { "and_then" } else { "map" };
        let code = format!(
            "{}.zip({}).{map}(|(x, y)| x.{method}(y))",
            optional(&a),
            optional(&b)
        );
        RustValue::new(code, Type::Int, true, Form::Borrowed)
    }

    fn call(&mut self, func: Func, args: &[Expr], ty: &Type) -> RustValue {
        if func == Func::Lookahead {
            return RustValue::new("lookahead", Type::Int, false, Form::Borrowed);
        }
        if func == Func::Offset {
            // Only in grammar steps, which have `input`.
            return RustValue::new(
                "input.message_offset() as i64",
                Type::Int,
                false,
                Form::Borrowed,
            )
            .with_prec(Prec::Cast);
        }
        if func == Func::Find {
            let (Some(list), Some(wanted)) = (args.first(), args.get(1)) else {
                return unsupported("find() needs a list and a value", ty);
            };
            let list = borrowed(&self.translate(list));
            let wanted = borrowed(&self.translate(wanted));
            let search = |list: &str, wanted: &str| {
                format!("{list}.iter().position(|v| *v == {wanted}).map(|i| i as i64)")
            };
            let code = match (list.nullable, wanted.nullable) {
                (false, false) => search(&list.recv(), &wanted.code),
                (true, false) => format!(
                    "{}.and_then(|list| {})",
                    list.recv(),
                    search("list", &wanted.code)
                ),
                (false, true) => format!(
                    "{}.and_then(|wanted| {})",
                    wanted.recv(),
                    search(&list.recv(), "wanted")
                ),
                (true, true) => format!(
                    "{}.zip({}).and_then(|(list, wanted)| {})",
                    list.recv(),
                    wanted.recv(),
                    search("list", "wanted")
                ),
            };
            return RustValue::new(code, Type::Int, true, Form::Borrowed);
        }
        if func == Func::Join {
            let (Some(list), Some(sep)) = (args.first(), args.get(1)) else {
                return unsupported("join() needs a list and a separator", ty);
            };
            let list = borrowed(&self.translate(list));
            let sep = borrowed(&self.translate(sep));
            let code = match (list.nullable, sep.nullable) {
                (false, false) => format!("join_text({}, {})", list.code, sep.code),
                _ => format!(
                    "{}.zip({}).map(|(list, sep)| join_text(list, sep))",
                    if list.nullable {
                        list.recv()
                    } else {
                        format!("Some({})", list.code)
                    },
                    if sep.nullable {
                        sep.recv()
                    } else {
                        format!("Some({})", sep.code)
                    },
                ),
            };
            let nullable = list.nullable || sep.nullable;
            return RustValue::new(code, Type::Str, nullable, Form::Owned);
        }
        if func == Func::Direction {
            // Only in state machines, whose handlers know `self.dir`.
            return RustValue::new("self.dir.name()", Type::Str, false, Form::Borrowed);
        }
        if func == Func::Extract {
            return self.extract(args, ty);
        }
        let Some(arg) = args.first() else {
            return unsupported(&format!("{}() needs an argument", func.name()), ty);
        };
        let arg = self.translate(arg);
        match func {
            Func::Upper | Func::Lower if matches!(arg.ty, Type::List(_)) => {
                let method = if func == Func::Upper {
                    "to_ascii_uppercase"
                } else {
                    "to_ascii_lowercase"
                };
                let each = format!("iter().map(|s| s.{method}()).collect::<Vec<_>>()");
                let b = borrowed(&arg);
                let code = if arg.nullable {
                    format!("{}.map(|list| list.{each})", b.recv())
                } else {
                    format!("{}.{each}", b.recv())
                };
                RustValue::new(code, arg.ty.clone(), arg.nullable, Form::Owned)
            }
            Func::Upper | Func::Lower => {
                let method = if func == Func::Upper {
                    "to_ascii_uppercase"
                } else {
                    "to_ascii_lowercase"
                };
                if arg.nullable {
                    let code = format!("{}.map(str::{method})", borrowed(&arg).recv());
                    RustValue::new(code, Type::Str, true, Form::Owned)
                } else {
                    let mut v = RustValue::new(
                        format!("{}.{method}()", arg.recv()),
                        Type::Str,
                        false,
                        Form::Owned,
                    );
                    v.cased = Some(Box::new((func, arg)));
                    v
                }
            }
            Func::Len => {
                if arg.nullable {
                    let v = self.fresh();
                    let code = format!("{}.map(|{v}| {v}.len() as i64)", borrowed(&arg).recv());
                    RustValue::new(code, Type::Int, true, Form::Borrowed)
                } else {
                    RustValue::new(
                        format!("{}.len() as i64", arg.recv()),
                        Type::Int,
                        false,
                        Form::Borrowed,
                    )
                    .with_prec(Prec::Cast)
                }
            }
            Func::Number if args.len() == 2 => {
                let b = borrowed(&arg);
                let base = args
                    .get(1)
                    .map(|base| self.translate(base).code)
                    .unwrap_or_else(|| "10".into());
                let code = if arg.nullable {
                    format!("{}.and_then(|s| parse_number_in(s, {base}))", b.recv())
                } else {
                    format!("parse_number_in({}, {base})", b.code)
                };
                RustValue::new(code, Type::Int, true, Form::Borrowed)
            }
            Func::Number => {
                let b = borrowed(&arg);
                let code = if arg.nullable {
                    format!("{}.and_then(parse_number)", b.recv())
                } else {
                    format!("parse_number({})", b.code)
                };
                RustValue::new(code, Type::Int, true, Form::Borrowed)
            }
            Func::Text => {
                let b = borrowed(&arg);
                let each = match arg.ty {
                    Type::Str => return arg,
                    Type::Int => "|v| v.to_string()",
                    _ => "bytes_text",
                };
                let code = match (arg.nullable, &arg.ty) {
                    (false, Type::Int) => format!("{}.to_string()", b.recv()),
                    (false, _) => format!("bytes_text({})", b.code),
                    (true, _) => format!("{}.map({each})", b.recv()),
                };
                RustValue::new(code, Type::Str, arg.nullable, Form::Owned)
            }
            Func::Hex => {
                let b = borrowed(&arg);
                let code = if arg.nullable {
                    format!("{}.map(hex_text)", b.recv())
                } else {
                    format!("hex_text({})", b.code)
                };
                RustValue::new(code, Type::Str, arg.nullable, Form::Owned)
            }
            Func::Ip => {
                let b = borrowed(&arg);
                let code = if arg.nullable {
                    format!("{}.and_then(ip_text)", b.recv())
                } else {
                    format!("ip_text({})", b.code)
                };
                RustValue::new(code, Type::Str, true, Form::Owned)
            }
            Func::Lookahead
            | Func::Direction
            | Func::Extract
            | Func::Offset
            | Func::Join
            | Func::Find => unsupported(func.name(), ty),
        }
    }

    /// `extract(text, "re")`: `PATTERN_i.extract(text)`, an `Option<&str>`.
    fn extract(&mut self, args: &[Expr], ty: &Type) -> RustValue {
        let (
            Some(text),
            Some(Expr {
                kind: ExprKind::Lit(Value::Str(pattern)),
                ..
            }),
        ) = (args.first(), args.get(1))
        else {
            return unsupported("extract() needs a text and a literal regex", ty);
        };
        let index = self.pattern_index(pattern);
        let text = borrowed(&self.translate(text));
        let code = if text.nullable {
            format!("{}.and_then(|v| PATTERN_{index}.extract(v))", text.recv())
        } else {
            format!("PATTERN_{index}.extract({})", text.code)
        };
        RustValue::new(code, Type::Str, true, Form::Borrowed)
    }

    /// The index of `pattern` among the module's `PATTERN_i` statics.
    fn pattern_index(&mut self, pattern: &str) -> usize {
        match self.patterns.iter().position(|p| p == pattern) {
            Some(i) => i,
            None => {
                self.patterns.push(pattern.to_string());
                self.patterns.len() - 1
            }
        }
    }

    fn compare(&mut self, op: BinOp, a: &RustValue, b: &RustValue) -> RustValue {
        let sym = op.symbol();
        let is_eq = matches!(op, BinOp::Eq | BinOp::Ne);
        let infix = |a: &RustValue, b: &RustValue| {
            (
                format!("{} {sym} {}", a.at(Prec::Unary), b.at(Prec::Unary)),
                Prec::Compare,
            )
        };
        if let Some(code) = ignore_case_eq(op, a, b).or_else(|| ignore_case_eq(op, b, a)) {
            return RustValue::new(code, Type::Bool, false, Form::Borrowed).with_prec(Prec::Unary);
        }
        // `x == null` / `x != null`: whether `x` is absent.
        let is_null = |v: &RustValue| v.code.starts_with("None::<");
        if is_eq && (is_null(a) || is_null(b)) {
            let other = if is_null(a) { b } else { a };
            let code = match (other.nullable, op) {
                (false, BinOp::Eq) => "false".to_string(),
                (false, _) => "true".to_string(),
                (true, BinOp::Eq) => format!("{}.is_none()", borrowed(other).recv()),
                (true, _) => format!("{}.is_some()", borrowed(other).recv()),
            };
            return RustValue::new(code, Type::Bool, false, Form::Borrowed);
        }
        let (code, prec) = match (a.nullable, b.nullable) {
            (false, false) if is_eq && a.ty == Type::Str => infix(&eq_side(a), &eq_side(b)),
            (false, false) => infix(&borrowed(a), &borrowed(b)),
            (true, false) | (false, true) => {
                let (opt, val) = if a.nullable { (a, b) } else { (b, a) };
                match (op, &opt.lifted) {
                    (BinOp::Eq, Some(lifted)) => {
                        // `base.is_some_and(|v| v.field == value)`
                        let inner = self.compare(BinOp::Eq, &lifted.inner, val);
                        (
                            format!(
                                "{}.is_some_and(|{}| {})",
                                lifted.base, lifted.var, inner.code
                            ),
                            Prec::Atom,
                        )
                    }
                    _ if is_eq => {
                        let (opt, val) = (borrowed(opt), borrowed(val));
                        (
                            format!("{} {sym} Some({})", opt.at(Prec::Unary), val.code),
                            Prec::Compare,
                        )
                    }
                    _ => (self.unless_null(op, a, b, "is_some_and"), Prec::Atom),
                }
            }
            (true, true) if is_eq => infix(&borrowed(a), &borrowed(b)),
            (true, true) => {
                let (a, b) = (borrowed(a), borrowed(b));
                (
                    format!(
                        "matches!(({}, {}), (Some(x), Some(y)) if x {sym} y)",
                        a.code, b.code
                    ),
                    Prec::Atom,
                )
            }
        };
        RustValue::new(code, Type::Bool, false, Form::Borrowed).with_prec(prec)
    }

    /// `a op b` where exactly one side may be Null, through that side's
    /// Option `method` (`is_some_and`: false when Null; `is_none_or`: true).
    fn unless_null(&mut self, op: BinOp, a: &RustValue, b: &RustValue, method: &str) -> String {
        let (opt, val, flipped) = if a.nullable {
            (a, b, false)
        } else {
            (b, a, true)
        };
        let (opt, val) = (borrowed(opt), borrowed(val));
        let v = self.fresh();
        let (l, r) = if flipped {
            (val.at(Prec::Unary), v.clone())
        } else {
            (v.clone(), val.at(Prec::Unary))
        };
        format!("{}.{method}(|{v}| {l} {} {r})", opt.recv(), op.symbol())
    }

    /// The spec this translator reads records from.
    pub fn spec(&self) -> &Spec {
        self.spec
    }
}

/// `upper(x) == "EHLO"` as `x.eq_ignore_ascii_case("EHLO")` (no allocation),
/// when the literal is already in the case the function produces (otherwise
/// the comparison is not equivalent and is left alone).
fn ignore_case_eq(op: BinOp, cased: &RustValue, other: &RustValue) -> Option<String> {
    let (func, arg) = cased.cased.as_deref()?;
    let literal: String = syn::parse_str::<syn::LitStr>(&other.code).ok()?.value();
    let same_case = match func {
        Func::Upper => literal == literal.to_ascii_uppercase(),
        _ => literal == literal.to_ascii_lowercase(),
    };
    let negate = match op {
        BinOp::Eq => "",
        BinOp::Ne => "!",
        _ => return None,
    };
    same_case.then(|| {
        format!(
            "{negate}{}.eq_ignore_ascii_case({})",
            arg.recv(),
            other.code
        )
    })
}

/// A definite string as one side of `==`: places and owned strings compare
/// with `&str` directly (`res.command == "EHLO"`), references are borrowed.
fn eq_side(v: &RustValue) -> RustValue {
    match v.form {
        Form::Ref => borrowed(v),
        _ => v.clone(),
    }
}

fn literal(value: &Value, ty: &Type) -> RustValue {
    match value {
        Value::Str(s) => RustValue::new(names::str_lit(s), Type::Str, false, Form::Borrowed),
        Value::Int(i) => RustValue::new(i.to_string(), Type::Int, false, Form::Borrowed),
        Value::Bool(b) => RustValue::new(b.to_string(), Type::Bool, false, Form::Borrowed),
        Value::Null => {
            let inner = ty.inner().clone();
            let rust = match inner {
                Type::Str => "&str",
                Type::Int => "i64",
                Type::Bool => "bool",
                _ => "&()",
            };
            RustValue::new(format!("None::<{rust}>"), inner, true, Form::Borrowed)
        }
        other => unsupported(&format!("literal {other:?}"), ty),
    }
}

/// The name of the generated lookup function of const table `table`.
pub fn lookup_fn(table: &str) -> String {
    format!("lookup_{}", names::snake(table))
}

/// Code that fails to compile with a clear message: for constructs the
/// checker should have rejected.
fn unsupported(what: &str, ty: &Type) -> RustValue {
    let msg = names::str_lit(&format!(
        "protoc-rs codegen: unsupported expression: {what}"
    ));
    RustValue::new(
        format!("compile_error!({msg})"),
        ty.clone(),
        false,
        Form::Borrowed,
    )
}

/// An expression written back in spec syntax (for traces and comments):
/// `res.responses[0].code == "220"`.
pub fn source(expr: &Expr) -> String {
    source_at(expr, 0, false)
}

/// `parent` is the binding strength of the enclosing operator (0: none,
/// 1: `||`, 2: `&&`, 3: comparison, 4: postfix); `as_char` writes an integer
/// literal as a character (it is compared with `lookahead()`).
fn source_at(expr: &Expr, parent: u8, as_char: bool) -> String {
    match &expr.kind {
        ExprKind::Lit(Value::Str(s)) => names::str_lit(s),
        ExprKind::Lit(Value::Int(i)) => match u8::try_from(*i) {
            Ok(b)
                if as_char
                    && (b == b'\r'
                        || b == b'\n'
                        || b == b'\t'
                        || b == b' '
                        || b.is_ascii_graphic()) =>
            {
                format!("'{}'", b.escape_ascii())
            }
            _ => i.to_string(),
        },
        ExprKind::Lit(Value::Bool(b)) => b.to_string(),
        ExprKind::Lit(_) => "null".to_string(),
        ExprKind::Var(name) => name.clone(),
        ExprKind::Field(base, name) => format!("{}.{name}", source_at(base, 4, false)),
        ExprKind::Index(base, index) => format!(
            "{}[{}]",
            source_at(base, 4, false),
            source_at(index, 0, false)
        ),
        ExprKind::Lookup { table, key } => format!("{table}[{}]", source_at(key, 0, false)),
        ExprKind::Call(func, args) => {
            let args: Vec<String> = args.iter().map(|a| source_at(a, 0, false)).collect();
            format!("{}({})", func.name(), args.join(", "))
        }
        ExprKind::Unary(op, e) => {
            let sym = if *op == UnOp::Not { "!" } else { "-" };
            format!("{sym}{}", source_at(e, 4, false))
        }
        ExprKind::Binary(op, a, b) => {
            let prec = match op {
                BinOp::Or => 1,
                BinOp::And => 2,
                _ => 3,
            };
            let la = |e: &Expr| matches!(e.kind, ExprKind::Call(Func::Lookahead, _));
            // Operands of a comparison bind tighter than it; `&&`/`||` chain.
            let operand = if prec == 3 { 4 } else { prec };
            let text = format!(
                "{} {} {}",
                source_at(a, operand, la(b)),
                op.symbol(),
                source_at(b, operand, la(a))
            );
            if prec < parent {
                format!("({text})")
            } else {
                text
            }
        }
        ExprKind::Match(subject, pattern) => {
            format!("{} ~ /{pattern}/", source_at(subject, 4, false))
        }
    }
}
