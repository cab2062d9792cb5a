//! Rust names for spec names: `smtp_command` → `SmtpCommand` (types),
//! `session_initiation` → `SessionInitiation` (enum variants), `CRLF` → `CRLF`
//! (statics), and field names that are Rust keywords escaped as raw idents.
//!
//! Invariant: every function returns a valid Rust identifier for any spec
//! identifier (`[A-Za-z_][A-Za-z0-9_]*`), and distinct spec names of one kind
//! map to distinct Rust names as long as they differ other than by case or
//! underscores (the checker keeps names unique).

/// `smtp_command` → `SmtpCommand`.
pub fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper_next = true;
    for c in name.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'X');
    }
    out
}

/// `CRLF` → `CRLF`, `_token_3` → `TOKEN_3`: a name for a `static`.
pub fn upper_snake(name: &str) -> String {
    let trimmed = name.trim_start_matches('_');
    let out = trimmed.to_ascii_uppercase();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("T_{out}")
    } else {
        out
    }
}

/// `smtp_command` → `smtp_command`, `HELO` → `helo`: a name for a field,
/// variable or function.
pub fn snake(name: &str) -> String {
    field(&name.to_ascii_lowercase())
}

/// A field name as a Rust identifier (keywords become raw identifiers).
pub fn field(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type",
        "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
        "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
    ];
    match name {
        "self" | "Self" | "super" | "crate" => format!("{name}_"),
        _ if KEYWORDS.contains(&name) => format!("r#{name}"),
        _ => name.to_string(),
    }
}

/// A Rust string literal for `text` (valid for any text).
pub fn str_lit(text: &str) -> String {
    format!("{text:?}")
}

/// Type names the generated module defines itself.
const RESERVED_TYPES: &[&str] = &[
    "State",
    "Message",
    "Machine",
    "Parsers",
    "Channel",
    "Value",
    "Input",
    "Site",
    "Step",
    "Bits",
    "NumberFormat",
    "Deframer",
    "FrameFormat",
    "Transport",
    "Stop",
];

/// The struct of record `name`: `smtp_command` → `SmtpCommand` (suffixed with
/// `Record` when that would clash with a type of the generated module).
pub fn record_type(name: &str) -> String {
    let pascal = pascal(name);
    if RESERVED_TYPES.contains(&pascal.as_str())
        || pascal.ends_with("Parser")
        || pascal.ends_with("Dissector")
    {
        format!("{pascal}Record")
    } else {
        pascal
    }
}

/// The static of token `name`: `CRLF` → `CRLF` (prefixed with `TOKEN_` when it
/// would clash with another static of the generated module).
pub fn token_static(name: &str) -> String {
    let upper = upper_snake(name);
    let clashes = matches!(upper.as_str(), "SOURCE" | "SPEC")
        || upper.starts_with("UNTIL_")
        || upper.starts_with("PATTERN_")
        || upper.starts_with("FIELDS_");
    if clashes {
        format!("TOKEN_{upper}")
    } else {
        upper
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_spec_names() {
        assert_eq!(pascal("smtp_command"), "SmtpCommand");
        assert_eq!(pascal("session_initiation"), "SessionInitiation");
        assert_eq!(upper_snake("_token_3"), "TOKEN_3");
        assert_eq!(field("type"), "r#type");
        assert_eq!(str_lit("a\"\r\n"), r#""a\"\r\n""#);
    }
}
