//! Pretty-printing IR pieces back to spec source text.
//!
//! One job: turn checked expressions, templates, types and transition heads
//! into the text a spec author would write, for graphs, generated-code
//! comments and messages. Invariants:
//! - printing inserts parentheses exactly where the tree's shape differs from
//!   what precedence and left-associativity would give, so re-parsing the text
//!   yields the same tree (`a || b && c`, `(a || b) && c`, `!(a == b)`);
//! - a byte compared with `lookahead()` prints as a char literal (`'\r'`), the
//!   way the spec writes it; every other integer prints in decimal;
//! - string and char literals are escaped (`\"`, `\\`, `\r`, `\n`, `\t`), so
//!   the output never contains a raw control character from a literal;
//!   template text doubles its braces (`{{`), regexes escape a bare `/`.

use protoc_runtime::value::Value;

use crate::ir::{
    Action, BinOp, Expr, ExprKind, Func, HandoverTo, Spec, Template, TemplatePart, Transition,
    TransitionEvent, Type, UnOp,
};

/// Binding strength, loosest first. Operands of an operator bind at least as
/// tightly as the operator itself (comparisons do not chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Compare,
    /// `+`, `-`.
    Add,
    /// `*`, `/`, `%`.
    Mul,
    Unary,
    Postfix,
}

fn prec(expr: &Expr) -> Prec {
    match &expr.kind {
        ExprKind::Binary(op, _, _) => binop_prec(*op),
        ExprKind::Match(_, _) => Prec::Compare,
        ExprKind::Unary(_, _) => Prec::Unary,
        _ => Prec::Postfix,
    }
}

fn binop_prec(op: BinOp) -> Prec {
    match op {
        BinOp::Or => Prec::Or,
        BinOp::And => Prec::And,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Prec::Compare,
        BinOp::Add | BinOp::Sub => Prec::Add,
        BinOp::Mul | BinOp::Div | BinOp::Rem => Prec::Mul,
    }
}

/// An expression as spec source text: `res.responses[0].code == "220"`.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn write_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Lit(value) => out.push_str(&literal(value)),
        ExprKind::Var(name) => out.push_str(name),
        ExprKind::Field(base, name) => {
            write_operand(out, base, Prec::Postfix);
            out.push('.');
            out.push_str(name);
        }
        ExprKind::Index(base, index) => {
            write_operand(out, base, Prec::Postfix);
            out.push('[');
            write_expr(out, index);
            out.push(']');
        }
        ExprKind::Lookup { table, key } => {
            out.push_str(table);
            out.push('[');
            write_expr(out, key);
            out.push(']');
        }
        ExprKind::Call(func, args) => {
            out.push_str(func.name());
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg);
            }
            out.push(')');
        }
        ExprKind::Unary(op, operand) => {
            out.push(match op {
                UnOp::Not => '!',
                UnOp::Neg => '-',
            });
            write_operand(out, operand, Prec::Unary);
        }
        ExprKind::Binary(op, left, right) => {
            let own = binop_prec(*op);
            // Left-associative: the left operand may be at the same level,
            // except for comparisons, which do not chain.
            let left_min = if own == Prec::Compare { Prec::Add } else { own };
            let right_min = next_tighter(own);
            write_side(out, left, right, left_min);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_side(out, right, left, right_min);
        }
        ExprKind::Match(subject, pattern) => {
            write_operand(out, subject, Prec::Add);
            out.push_str(" ~ ");
            out.push_str(&regex_literal(pattern));
        }
    }
}

fn next_tighter(p: Prec) -> Prec {
    match p {
        Prec::Or => Prec::And,
        Prec::And => Prec::Compare,
        Prec::Compare => Prec::Add,
        Prec::Add => Prec::Mul,
        Prec::Mul => Prec::Unary,
        Prec::Unary | Prec::Postfix => Prec::Postfix,
    }
}

/// Writes `e` in parentheses when it binds more loosely than `min`.
fn write_operand(out: &mut String, e: &Expr, min: Prec) {
    if prec(e) < min {
        out.push('(');
        write_expr(out, e);
        out.push(')');
    } else {
        write_expr(out, e);
    }
}

/// One side of a binary operator: like [`write_operand`], but a byte compared
/// with `lookahead()` prints as a char literal.
fn write_side(out: &mut String, side: &Expr, other: &Expr, min: Prec) {
    let other_is_lookahead = matches!(other.kind, ExprKind::Call(Func::Lookahead, _));
    match (&side.kind, other_is_lookahead) {
        (ExprKind::Lit(Value::Int(byte)), true) => match char_literal(*byte) {
            Some(text) => out.push_str(&text),
            None => write_operand(out, side, min),
        },
        _ => write_operand(out, side, min),
    }
}

/// `/pattern/`, with any `/` the pattern holds unescaped written `\/`.
pub fn regex_literal(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    out.push('/');
    let mut escaped = false;
    for c in pattern.chars() {
        if c == '/' && !escaped {
            out.push('\\');
        }
        out.push(c);
        escaped = c == '\\' && !escaped;
    }
    out.push('/');
    out
}

/// A literal value as source text.
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => string_literal(s),
        Value::Bytes(b) => string_literal(&String::from_utf8_lossy(b)),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Record(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(n, v)| format!("{n}: {}", literal(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

/// `"text"` with quotes, backslashes and control characters escaped.
pub fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `'\r'` for a byte that has a readable char literal, else `None`.
fn char_literal(byte: i64) -> Option<String> {
    let c = char::from(u8::try_from(byte).ok().filter(u8::is_ascii)?);
    if c.is_ascii_control() && !matches!(c, '\r' | '\n' | '\t' | '\0') {
        return None;
    }
    let mut out = String::from('\'');
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    Some(out)
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        c => out.push(c),
    }
}

/// A template as a string literal: `"invalid smtp response {err}"`; literal
/// braces in its text are doubled.
pub fn template(t: &Template) -> String {
    let mut out = String::from('"');
    for part in &t.parts {
        match part {
            TemplatePart::Text(text) => {
                for c in text.chars() {
                    match c {
                        '{' => out.push_str("{{"),
                        '}' => out.push_str("}}"),
                        c => push_escaped(&mut out, c, '"'),
                    }
                }
            }
            TemplatePart::Expr(e) => {
                out.push('{');
                write_expr(&mut out, e);
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

/// A type, briefly: `string`, `list<smtp_response>`, `string?`.
pub fn ty(t: &Type) -> String {
    match t {
        Type::Str => "string".into(),
        Type::Int => "int".into(),
        Type::Bool => "bool".into(),
        Type::Bytes => "bytes".into(),
        Type::List(item) => format!("list<{}>", ty(item)),
        Type::Record(name) => name.clone(),
        Type::Optional(inner) => format!("{}?", ty(inner)),
    }
}

/// A transition's event as written after `on`: `down(res)`, `timeout(30)`,
/// `fail`.
pub fn transition_event(t: &Transition) -> String {
    let name = t.on.name();
    match (t.on, &t.binding) {
        (TransitionEvent::Timeout(seconds), _) => format!("{name}({seconds})"),
        (_, Some(binding)) => format!("{name}({binding})"),
        (_, None) => name.to_string(),
    }
}

/// An action as a statement: `trigger response(res);`, `alert high "…";`.
pub fn action(spec: &Spec, a: &Action) -> String {
    match a {
        Action::Trigger { event, arg } => {
            let name = event_name(spec, *event);
            match arg {
                Some(arg) => format!("trigger {name}({});", expr(arg)),
                None => format!("trigger {name};"),
            }
        }
        Action::Alert {
            severity,
            description,
        } => {
            format!("alert {} {};", severity.name(), template(description))
        }
        Action::Drop => "drop;".into(),
        Action::Log(text) => format!("log {};", template(text)),
        Action::TriggerFields { event, fields } => {
            let values: Vec<String> = fields
                .iter()
                .map(|(name, value)| format!("{name}: {}", expr(value)))
                .collect();
            format!(
                "trigger {}({});",
                event_name(spec, *event),
                values.join(", ")
            )
        }
        Action::Set { var, value } => format!("set {var} = {};", expr(value)),
        Action::Push { var, value } => format!("push {var}({});", expr(value)),
        Action::Pop(var) => format!("pop {var};"),
        Action::Clear(var) => format!("clear {var};"),
        Action::Close(event) => format!("close {};", event_name(spec, *event)),
        Action::Resync { token, unless } => match unless {
            Some(other) => format!(
                "resync {} unless {};",
                token_name(spec, *token),
                token_name(spec, *other)
            ),
            None => format!("resync {};", token_name(spec, *token)),
        },
        Action::Stop => "stop;".into(),
        Action::Handover(HandoverTo::Spec(name)) => format!("handover {name};"),
        Action::Handover(HandoverTo::Port(port)) => format!("handover port {};", expr(port)),
    }
}

/// The token's name; a dangling id prints as `token#N`.
fn token_name(spec: &Spec, id: crate::ir::TokenId) -> String {
    spec.grammar
        .tokens
        .get(id.0)
        .map_or_else(|| format!("token#{}", id.0), |t| t.name.clone())
}

/// An action in a few words, without its arguments: `trigger response`,
/// `alert high`, `drop`, `log`.
pub fn action_summary(spec: &Spec, a: &Action) -> String {
    match a {
        Action::Trigger { event, .. } => format!("trigger {}", event_name(spec, *event)),
        Action::Alert { severity, .. } => format!("alert {}", severity.name()),
        Action::Drop => "drop".into(),
        Action::Log(_) => "log".into(),
        Action::TriggerFields { event, .. } => format!("trigger {}", event_name(spec, *event)),
        Action::Set { var, .. } => format!("set {var}"),
        Action::Push { var, .. } => format!("push {var}"),
        Action::Pop(var) => format!("pop {var}"),
        Action::Clear(var) => format!("clear {var}"),
        Action::Close(event) => format!("close {}", event_name(spec, *event)),
        Action::Resync { token, .. } => format!("resync {}", token_name(spec, *token)),
        Action::Stop => "stop".into(),
        Action::Handover(HandoverTo::Spec(name)) => format!("handover {name}"),
        Action::Handover(HandoverTo::Port(_)) => "handover port".into(),
    }
}

/// The event's name; a dangling id (never produced by the checker) prints as
/// `event#N` instead of panicking.
pub fn event_name(spec: &Spec, id: crate::ir::EventId) -> String {
    spec.events
        .get(id.0)
        .map_or_else(|| format!("event#{}", id.0), |e| e.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: ExprKind) -> Expr {
        Expr {
            kind,
            ty: Type::Bool,
        }
    }
    fn var(name: &str) -> Expr {
        e(ExprKind::Var(name.into()))
    }
    fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        e(ExprKind::Binary(op, Box::new(a), Box::new(b)))
    }

    #[test]
    fn parenthesizes_only_where_the_tree_differs_from_precedence() {
        let (a, b, c) = (var("a"), var("b"), var("c"));
        let or_then_and = bin(BinOp::Or, a.clone(), bin(BinOp::And, b.clone(), c.clone()));
        assert_eq!(expr(&or_then_and), "a || b && c");
        let and_of_or = bin(BinOp::And, bin(BinOp::Or, a.clone(), b.clone()), c.clone());
        assert_eq!(expr(&and_of_or), "(a || b) && c");
        let left_chain = bin(BinOp::Or, bin(BinOp::Or, a.clone(), b.clone()), c.clone());
        assert_eq!(expr(&left_chain), "a || b || c");
        let right_chain = bin(BinOp::Or, a.clone(), bin(BinOp::Or, b.clone(), c.clone()));
        assert_eq!(expr(&right_chain), "a || (b || c)");
        let not_eq = e(ExprKind::Unary(
            UnOp::Not,
            Box::new(bin(BinOp::Eq, a.clone(), b.clone())),
        ));
        assert_eq!(expr(&not_eq), "!(a == b)");
        let nested_compare = bin(BinOp::Eq, bin(BinOp::Lt, a, b), c);
        assert_eq!(expr(&nested_compare), "(a < b) == c");
    }

    #[test]
    fn bytes_compared_with_lookahead_print_as_char_literals() {
        let look = e(ExprKind::Call(Func::Lookahead, vec![]));
        let cr = e(ExprKind::Lit(Value::Int(13)));
        assert_eq!(
            expr(&bin(BinOp::Ne, look.clone(), cr.clone())),
            "lookahead() != '\\r'"
        );
        assert_eq!(expr(&bin(BinOp::Ne, var("n"), cr)), "n != 13");
        let quote = e(ExprKind::Lit(Value::Int(39)));
        assert_eq!(expr(&bin(BinOp::Eq, look, quote)), "lookahead() == '\\''");
    }

    #[test]
    fn templates_double_literal_braces_and_interpolate_expressions() {
        let t = Template {
            parts: vec![
                TemplatePart::Text("set {a} \"q\": ".into()),
                TemplatePart::Expr(e(ExprKind::Field(Box::new(var("res")), "code".into()))),
            ],
        };
        assert_eq!(template(&t), r#""set {{a}} \"q\": {res.code}""#);
    }

    #[test]
    fn regex_literals_escape_bare_slashes_only() {
        assert_eq!(regex_literal("a/b"), "/a\\/b/");
        assert_eq!(regex_literal("a\\/b"), "/a\\/b/");
        assert_eq!(regex_literal("a\\\\/b"), "/a\\\\\\/b/");
        let m = e(ExprKind::Match(Box::new(var("p")), "@x\\.org".into()));
        assert_eq!(expr(&m), "p ~ /@x\\.org/");
    }

    #[test]
    fn string_literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(string_literal("a\"b\\c\r\n"), r#""a\"b\\c\r\n""#);
        assert_eq!(string_literal("\u{1}"), r#""\u{1}""#);
    }
}
