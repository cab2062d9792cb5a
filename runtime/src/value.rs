//! `Value`: the dynamic form of a parsed message.
//!
//! Generated dissectors parse into typed Rust structs; when a message becomes an
//! event it is converted once into a `Value`, which the outputs (JSON, text) and
//! the run-time rules read. Field names are the spec's names.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A field name: static for generated records, owned for values built at run time.
pub type Name = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An absent optional field, or an out-of-range index.
    Null,
    Bool(bool),
    Int(i64),
    /// Text matched by a token (invalid UTF-8 replaced by U+FFFD).
    Str(String),
    /// Raw bytes (from `bytes` fields that are not streamed).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// A record: its fields in spec order. Absent optional fields are omitted.
    Record(Vec<(Name, Value)>),
}

impl Value {
    /// The field `name` of a record, or `Null`.
    pub fn field(&self, name: &str) -> &Value {
        match self {
            Value::Record(fields) => fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    /// Element `i` of a list, or `Null`.
    #[allow(clippy::should_implement_trait)] // by value and total, unlike `Index`
    pub fn index(&self, i: i64) -> &Value {
        match self {
            Value::List(items) if i >= 0 => items.get(i as usize).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Record(_) => true,
        }
    }

    /// Appends this value as compact JSON to `out`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => write_json_string(s, out),
            Value::Bytes(b) => write_json_string(&String::from_utf8_lossy(b), out),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Record(fields) => {
                out.push('{');
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(name, out);
                    out.push(':');
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }

    /// Text form used in alert descriptions and `{field}` interpolation:
    /// strings without quotes, everything else as JSON.
    pub fn to_display(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_json(),
        }
    }
}

/// Appends `s` as a JSON string literal (RFC 8259 escaping) to `out`. Runs
/// of bytes that need no escape are copied at once.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut run_start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so `run_start..i` lies on char boundaries.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}

/// Conversion of generated records (and their field types) into `Value`.
pub trait ToValue {
    fn to_value(&self) -> Value;
}

/// [`ToValue`] by move: the strings and vectors become the value's, with no
/// copy. Generated state machines use it for a message's last use in a
/// transition (`trigger response(responses: res.responses)` when nothing
/// after it reads `res`).
pub trait IntoValue {
    fn into_value(self) -> Value;
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Str(self)
    }
}

impl IntoValue for Vec<u8> {
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Str(self.clone())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl<T: ToValue> ToValue for Vec<T> {
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(ToValue::to_value).collect())
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_control_characters_and_quotes() {
        let v = Value::Record(vec![
            ("a".into(), Value::Str("x\"y\r\n\u{1}".into())),
            ("b".into(), Value::List(vec![Value::Int(-3), Value::Null])),
        ]);
        assert_eq!(v.to_json(), r#"{"a":"x\"y\r\n\u0001","b":[-3,null]}"#);
    }

    #[test]
    fn missing_fields_and_indexes_are_null() {
        let v = Value::Record(vec![("l".into(), Value::List(vec![Value::Int(1)]))]);
        assert_eq!(v.field("l").index(0), &Value::Int(1));
        assert_eq!(v.field("l").index(1), &Value::Null);
        assert_eq!(v.field("nope").field("deeper"), &Value::Null);
    }
}
