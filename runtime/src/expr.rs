//! The expression language shared by specs (`when`, `branch`, `optional`,
//! `until`, alert descriptions) and run-time rules.
//!
//! The compiler's checker builds these trees with every node's [`Type`] filled
//! in; code generation turns them into Rust, and [`eval`] interprets them over
//! [`Value`]s for rules loaded at run time. Both follow the same semantics:
//!
//! - a field or index that does not exist yields `Null` (never an error);
//! - `==` between `Null` and anything but `Null` is false, `!=` true;
//!   ordering comparisons with `Null` are false;
//! - `&&` and `||` short-circuit; `!` negates truthiness;
//! - `upper`/`lower` are ASCII case mappings; `len` counts bytes, characters'
//!   bytes or list elements;
//! - `s ~ /re/` is true when the regex matches anywhere in `s`;
//! - `lookahead()` is the next unread byte as an integer (grammar only);
//! - `number(s)` is the integer `s` spells in ASCII digits (no sign, no
//!   blanks), or `Null` when `s` is not such a number or exceeds `i64`;
//! - `direction()` is `"up"` or `"down"`: where the event being handled came
//!   from (state machines only; `Null` elsewhere);
//! - `extract(s, "re")` is the text of the first capture group of the first
//!   match of the regex `re` in `s` (the whole match if it has no group), or
//!   `Null` when it does not match;
//! - `+`, `-`, `*` on integers wrap around on overflow; `/` and `%` by zero
//!   are `Null`; `+` on two strings concatenates them; any arithmetic with
//!   `Null` is `Null`;
//! - `x.f` on a list of records is the list of each element's `f`;
//! - `offset()` is the position in the message being parsed (grammar only);
//! - `text(x)` is an integer in decimal, bytes as text (invalid UTF-8
//!   replaced), a string as is; `hex(b)` is bytes in lowercase hex; `ip(b)`
//!   is 4 or 16 bytes as an IP address (`Null` for other lengths);
//!   `join(list, sep)` is the list's non-empty strings separated by `sep`
//!   (see [`crate::parse::convert`]);
//! - `upper`/`lower` of a list of strings map over it; `find(list, x)` is
//!   the index of the first element equal to `x` (`Null` if none);
//!   `number(s, base)` reads digits of `base` (2 to 36).

use crate::parse::convert;
use crate::value::Value;

/// The static type of an expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Str,
    Int,
    Bool,
    Bytes,
    List(Box<Type>),
    /// A record of the spec, by name.
    Record(String),
    /// A value that may be absent (a field present in some branch cases only).
    Optional(Box<Type>),
}

impl Type {
    /// The type once `Optional` is peeled off.
    pub fn inner(&self) -> &Type {
        match self {
            Type::Optional(t) => t.inner(),
            t => t,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Type::Str => "string".into(),
            Type::Int => "integer".into(),
            Type::Bool => "boolean".into(),
            Type::Bytes => "bytes".into(),
            Type::List(t) => format!("list of {}", t.describe()),
            Type::Record(r) => format!("record `{r}`"),
            Type::Optional(t) => format!("optional {}", t.describe()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// Whether this is an arithmetic operator (`+ - * / %`).
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem
        )
    }
}

/// Built-in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Upper,
    Lower,
    Len,
    /// The next unread byte of the input (grammar expressions only).
    Lookahead,
    /// The integer a string of ASCII digits spells, or `Null`.
    Number,
    /// The direction of the event being handled (state machines only).
    Direction,
    /// The first capture group (or match) of a regex in a string, or `Null`.
    Extract,
    /// The position in the message being parsed (grammar expressions only).
    Offset,
    /// An integer in decimal, bytes as text, a string as is.
    Text,
    /// Bytes in lowercase hex.
    Hex,
    /// 4 or 16 bytes as an IP address, or `Null`.
    Ip,
    /// The non-empty strings of a list, separated.
    Join,
    /// The index of the first element of a list equal to a value, or `Null`.
    Find,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Len => "len",
            Func::Lookahead => "lookahead",
            Func::Number => "number",
            Func::Direction => "direction",
            Func::Extract => "extract",
            Func::Offset => "offset",
            Func::Text => "text",
            Func::Hex => "hex",
            Func::Ip => "ip",
            Func::Join => "join",
            Func::Find => "find",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal: string, integer (a char literal `'\r'` is its byte value) or boolean.
    Lit(Value),
    /// A name in scope: a transition's binding (`res`, `err`, `dir`), `elem` in
    /// an array's `until`, or a field already parsed in the enclosing record.
    Var(String),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    /// `TABLE[key]` on a `const` table: the entry's value, or `Null`.
    Lookup {
        table: String,
        key: Box<Expr>,
    },
    Call(Func, Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `subject ~ /pattern/`.
    Match(Box<Expr>, String),
}

/// A checked expression: its kind and its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
}

/// A string with `{expr}` interpolations (alert descriptions, `log`).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// Renders the template: text as is, each expression's value in its
    /// display form (strings unquoted).
    pub fn render(&self, scope: &dyn Scope) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Expr(e) => out.push_str(&eval(e, scope).to_display()),
            }
        }
        out
    }
}

/// What an expression can see when it is evaluated.
pub trait Scope {
    /// The value of a variable (binding or field), or `Null`.
    fn var(&self, name: &str) -> Value;
    /// `TABLE[key]`, or `Null`.
    fn lookup(&self, _table: &str, _key: &str) -> Value {
        Value::Null
    }
    /// The next unread byte, if known.
    fn lookahead(&self) -> Option<u8> {
        None
    }
    /// The direction of the event being handled (`"up"`/`"down"`), if any.
    fn direction(&self) -> Option<&'static str> {
        None
    }
    /// The position in the message being parsed, if any.
    fn offset(&self) -> Option<u64> {
        None
    }
    /// A compiled regex for `pattern` (scopes cache them); `None` if invalid.
    fn regex(&self, pattern: &str) -> Option<regex::Regex> {
        regex::Regex::new(pattern).ok()
    }
    /// Whether `pattern` matches anywhere in `text` (false if it is invalid).
    /// Scopes that keep compiled regexes override this to match without
    /// cloning one (a cloned `Regex` starts with an empty match cache).
    fn regex_match(&self, pattern: &str, text: &str) -> bool {
        self.regex(pattern).is_some_and(|re| re.is_match(text))
    }
}

/// Evaluates `expr` in `scope`, following the semantics in the module doc.
pub fn eval(expr: &Expr, scope: &dyn Scope) -> Value {
    match &expr.kind {
        ExprKind::Lit(v) => v.clone(),
        ExprKind::Var(name) => scope.var(name),
        ExprKind::Field(base, name) => match eval(base, scope) {
            Value::List(items) => {
                Value::List(items.iter().map(|item| item.field(name).clone()).collect())
            }
            record => record.field(name).clone(),
        },
        ExprKind::Index(base, index) => match eval(index, scope) {
            Value::Int(i) => eval(base, scope).index(i).clone(),
            _ => Value::Null,
        },
        ExprKind::Lookup { table, key } => match eval(key, scope) {
            Value::Str(k) => scope.lookup(table, &k),
            _ => Value::Null,
        },
        ExprKind::Call(Func::Extract, args) => {
            let subject = args.first().map(|a| eval(a, scope));
            let pattern = args.get(1).map(|a| eval(a, scope));
            match (subject, pattern) {
                (Some(Value::Str(s)), Some(Value::Str(p))) => scope
                    .regex(&p)
                    .and_then(|re| extract(&re, &s).map(str::to_string))
                    .map_or(Value::Null, Value::Str),
                _ => Value::Null,
            }
        }
        ExprKind::Call(Func::Find, args) => {
            let list = args.first().map(|a| eval(a, scope));
            let wanted = args.get(1).map(|a| eval(a, scope)).unwrap_or(Value::Null);
            match list {
                Some(Value::List(items)) => items
                    .iter()
                    .position(|item| compare(BinOp::Eq, item, &wanted))
                    .and_then(|i| i64::try_from(i).ok())
                    .map_or(Value::Null, Value::Int),
                _ => Value::Null,
            }
        }
        ExprKind::Call(Func::Number, args) if args.len() == 2 => {
            let text = args.first().map(|a| eval(a, scope));
            let base = args.get(1).map(|a| eval(a, scope));
            match (text, base) {
                (Some(Value::Str(s)), Some(Value::Int(base))) => u32::try_from(base)
                    .ok()
                    .and_then(|base| parse_number_in(&s, base))
                    .map_or(Value::Null, Value::Int),
                _ => Value::Null,
            }
        }
        ExprKind::Call(Func::Join, args) => {
            let list = args.first().map(|a| eval(a, scope));
            let sep = args.get(1).map(|a| eval(a, scope));
            match (list, sep) {
                (Some(Value::List(items)), Some(Value::Str(sep))) => {
                    let parts: Vec<Option<&str>> = items.iter().map(Value::as_str).collect();
                    Value::Str(convert::join_text(&parts, &sep))
                }
                _ => Value::Null,
            }
        }
        ExprKind::Call(func, args) => {
            let arg = args.first().map(|a| eval(a, scope)).unwrap_or(Value::Null);
            match (func, arg) {
                (Func::Upper, Value::Str(s)) => Value::Str(s.to_ascii_uppercase()),
                (Func::Upper | Func::Lower, Value::List(items)) => Value::List(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::Str(s) if *func == Func::Upper => {
                                Value::Str(s.to_ascii_uppercase())
                            }
                            Value::Str(s) => Value::Str(s.to_ascii_lowercase()),
                            _ => Value::Null,
                        })
                        .collect(),
                ),
                (Func::Lower, Value::Str(s)) => Value::Str(s.to_ascii_lowercase()),
                (Func::Len, Value::Str(s)) => Value::Int(s.len() as i64),
                (Func::Len, Value::Bytes(b)) => Value::Int(b.len() as i64),
                (Func::Len, Value::List(l)) => Value::Int(l.len() as i64),
                (Func::Lookahead, _) => scope
                    .lookahead()
                    .map_or(Value::Null, |b| Value::Int(i64::from(b))),
                (Func::Number, Value::Str(s)) => parse_number(&s).map_or(Value::Null, Value::Int),
                (Func::Direction, _) => scope
                    .direction()
                    .map_or(Value::Null, |d| Value::Str(d.to_string())),
                (Func::Offset, _) => scope
                    .offset()
                    .and_then(|o| i64::try_from(o).ok())
                    .map_or(Value::Null, Value::Int),
                (Func::Text, Value::Int(i)) => Value::Str(i.to_string()),
                (Func::Text, Value::Bytes(b)) => Value::Str(convert::bytes_text(&b)),
                (Func::Text, Value::Str(s)) => Value::Str(s),
                (Func::Hex, Value::Bytes(b)) => Value::Str(convert::hex_text(&b)),
                (Func::Ip, Value::Bytes(b)) => convert::ip_text(&b).map_or(Value::Null, Value::Str),
                _ => Value::Null,
            }
        }
        ExprKind::Unary(UnOp::Not, e) => Value::Bool(!eval(e, scope).truthy()),
        ExprKind::Unary(UnOp::Neg, e) => match eval(e, scope) {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            _ => Value::Null,
        },
        ExprKind::Binary(BinOp::And, a, b) => {
            Value::Bool(eval(a, scope).truthy() && eval(b, scope).truthy())
        }
        ExprKind::Binary(BinOp::Or, a, b) => {
            Value::Bool(eval(a, scope).truthy() || eval(b, scope).truthy())
        }
        ExprKind::Binary(op, a, b) if op.is_arithmetic() => {
            arithmetic(*op, &eval(a, scope), &eval(b, scope))
        }
        ExprKind::Binary(op, a, b) => Value::Bool(compare(*op, &eval(a, scope), &eval(b, scope))),
        ExprKind::Match(subject, pattern) => match eval(subject, scope) {
            Value::Str(s) => Value::Bool(scope.regex_match(pattern, &s)),
            _ => Value::Bool(false),
        },
    }
}

/// `extract(s, re)`: the first capture group of `re`'s first match in `s`
/// (the whole match when `re` has no group), if it matches.
pub fn extract<'s>(re: &regex::Regex, s: &'s str) -> Option<&'s str> {
    let captures = re.captures(s)?;
    captures
        .get(1)
        .or_else(|| captures.get(0))
        .map(|m| m.as_str())
}

/// `number(s)`: the integer `s` spells in ASCII digits (at least one, no
/// sign, no blanks), or `None` if it spells none or exceeds `i64::MAX`.
pub fn parse_number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// `a op b` for an arithmetic operator, under the module's rules.
pub fn arithmetic(op: BinOp, a: &Value, b: &Value) -> Value {
    match (op, a, b) {
        (BinOp::Add, Value::Str(x), Value::Str(y)) => Value::Str(format!("{x}{y}")),
        (_, Value::Int(x), Value::Int(y)) => {
            int_arithmetic(op, *x, *y).map_or(Value::Null, Value::Int)
        }
        _ => Value::Null,
    }
}

/// Integer arithmetic: wrapping `+ - *`; `/` and `%` are `None` by zero (and
/// for `i64::MIN / -1`, which does not fit).
pub fn int_arithmetic(op: BinOp, x: i64, y: i64) -> Option<i64> {
    match op {
        BinOp::Add => Some(x.wrapping_add(y)),
        BinOp::Sub => Some(x.wrapping_sub(y)),
        BinOp::Mul => Some(x.wrapping_mul(y)),
        BinOp::Div => x.checked_div(y),
        BinOp::Rem => x.checked_rem(y),
        _ => None,
    }
}

/// `number(s, base)`: the integer `s` spells in digits of `base` (2 to 36;
/// letters in either case), or `None` if it spells none or exceeds `i64::MAX`.
pub fn parse_number_in(s: &str, base: u32) -> Option<i64> {
    if !(2..=36).contains(&base) || s.is_empty() || !s.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    i64::from_str_radix(s, base).ok()
}

/// A comparison under the module's `Null` rules.
pub fn compare(op: BinOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (x, y) => (x == y).then_some(Ordering::Equal),
    };
    match op {
        BinOp::Eq => ordering == Some(Ordering::Equal),
        BinOp::Ne => ordering != Some(Ordering::Equal),
        BinOp::Lt => ordering == Some(Ordering::Less),
        BinOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        BinOp::Gt => ordering == Some(Ordering::Greater),
        BinOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Res(Value);
    impl Scope for Res {
        fn var(&self, name: &str) -> Value {
            if name == "res" {
                self.0.clone()
            } else {
                Value::Null
            }
        }
    }

    fn e(kind: ExprKind, ty: Type) -> Expr {
        Expr { kind, ty }
    }

    #[test]
    fn indexing_past_the_end_compares_unequal_instead_of_failing() {
        let res = Value::Record(vec![(
            "responses".into(),
            Value::List(vec![Value::Record(vec![(
                "code".into(),
                Value::Str("220".into()),
            )])]),
        )]);
        let code_of = |i: i64| {
            let var = e(ExprKind::Var("res".into()), Type::Record("r".into()));
            let list = e(
                ExprKind::Field(Box::new(var), "responses".into()),
                Type::List(Box::new(Type::Record("x".into()))),
            );
            let idx = e(ExprKind::Lit(Value::Int(i)), Type::Int);
            let elem = e(
                ExprKind::Index(Box::new(list), Box::new(idx)),
                Type::Record("x".into()),
            );
            e(ExprKind::Field(Box::new(elem), "code".into()), Type::Str)
        };
        let lit = || e(ExprKind::Lit(Value::Str("220".into())), Type::Str);
        let eq = |i| {
            e(
                ExprKind::Binary(BinOp::Eq, Box::new(code_of(i)), Box::new(lit())),
                Type::Bool,
            )
        };
        assert_eq!(eval(&eq(0), &Res(res.clone())), Value::Bool(true));
        assert_eq!(eval(&eq(1), &Res(res)), Value::Bool(false));
    }

    #[test]
    fn number_reads_plain_decimal_digits_only() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("0086"), Some(86));
        assert_eq!(parse_number("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1a",
            "9223372036854775808",
            "184467440737095516150",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn null_ordering_is_false_both_ways() {
        assert!(!compare(BinOp::Lt, &Value::Null, &Value::Int(1)));
        assert!(!compare(BinOp::Ge, &Value::Null, &Value::Int(1)));
        assert!(compare(BinOp::Ne, &Value::Null, &Value::Int(1)));
    }
}
