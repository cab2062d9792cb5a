//! What rules are checked against: the specs' events, each with the typed
//! fields of the record it carries, and the records those fields refer to.
//!
//! A [`Schema`] is built either from the spec descriptors compiled into a
//! binary ([`Schema::from_descriptors`], the run-time path) or from checked
//! specs ([`Schema::from_specs`], for checking rules against `.proto` files).
//! Invariants: spec, event and record names are unique within their scope
//! (the first one wins); every field's type is a [`Type`]; a field type the
//! descriptor spells in a way this module does not know is kept as
//! [`FieldType::Unknown`] with its text, so that a rule using it is reported
//! rather than the whole schema rejected.

use protoc_runtime::dissector::SpecDescriptor;
use protoc_runtime::expr::Type;

use crate::ir;

/// The specs rules may hook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub specs: Vec<SpecSchema>,
}

/// One spec: its events and records.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSchema {
    pub name: String,
    pub events: Vec<EventSchema>,
    /// Records by name, for typing `a.b` and `list[i].b`.
    pub records: Vec<(String, Vec<Field>)>,
}

/// One event of a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSchema {
    pub name: String,
    pub streamed: bool,
    /// The fields of the record the event carries (none for streamed events).
    pub fields: Vec<Field>,
}

/// One typed field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

/// A field's type, or the descriptor's text when it is not understood.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Known(Type),
    Unknown(String),
}

impl Schema {
    /// The schema of specs compiled into a binary.
    pub fn from_descriptors(specs: &[&SpecDescriptor]) -> Schema {
        let mut schema = Schema::default();
        for spec in specs {
            if schema.spec(spec.name).is_some() {
                continue;
            }
            let fields = |list: &[protoc_runtime::dissector::FieldSchema]| {
                list.iter()
                    .map(|f| Field {
                        name: f.name.to_string(),
                        ty: parse_type(f.ty)
                            .map_or_else(|| FieldType::Unknown(f.ty.to_string()), FieldType::Known),
                    })
                    .collect::<Vec<_>>()
            };
            schema.specs.push(SpecSchema {
                name: spec.name.to_string(),
                events: spec
                    .events
                    .iter()
                    .map(|e| EventSchema {
                        name: e.name.to_string(),
                        streamed: e.streamed,
                        fields: fields(e.fields),
                    })
                    .collect(),
                records: spec
                    .records
                    .iter()
                    .map(|(name, list)| (name.to_string(), fields(list)))
                    .collect(),
            });
        }
        schema
    }

    /// The schema of checked specs.
    pub fn from_specs(specs: &[ir::Spec]) -> Schema {
        let mut schema = Schema::default();
        for spec in specs {
            if schema.spec(&spec.name).is_some() {
                continue;
            }
            let fields = |defs: &[ir::FieldDef]| {
                defs.iter()
                    .map(|f| Field {
                        name: f.name.clone(),
                        ty: FieldType::Known(f.ty.clone()),
                    })
                    .collect::<Vec<_>>()
            };
            schema.specs.push(SpecSchema {
                name: spec.name.clone(),
                events: spec
                    .events
                    .iter()
                    .map(|e| EventSchema {
                        name: e.name.clone(),
                        streamed: e.streamed,
                        fields: match (e.streamed, e.payload) {
                            (false, Some(id)) => spec
                                .grammar
                                .records
                                .get(id.0)
                                .map(|r| fields(&r.fields))
                                .unwrap_or_default(),
                            (false, None) => fields(&e.fields),
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
                records: spec
                    .grammar
                    .records
                    .iter()
                    .map(|r| (r.name.clone(), fields(&r.fields)))
                    .collect(),
            });
        }
        schema
    }

    pub fn spec(&self, name: &str) -> Option<&SpecSchema> {
        self.specs.iter().find(|s| s.name == name)
    }
}

impl SpecSchema {
    pub fn event(&self, name: &str) -> Option<&EventSchema> {
        self.events.iter().find(|e| e.name == name)
    }

    /// The fields of record `name`, if the spec has it.
    pub fn record(&self, name: &str) -> Option<&[Field]> {
        self.records
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, fields)| fields.as_slice())
    }
}

/// Reads a type as [`Type::describe`] writes it (`string`, `integer`,
/// `boolean`, `bytes`, ``record `name` ``, `list of T`, `optional T`); the
/// record name may also come without backquotes, and `int`/`bool`/`str` are
/// accepted for the base types.
pub fn parse_type(text: &str) -> Option<Type> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("optional ") {
        return parse_type(rest).map(|t| Type::Optional(Box::new(t)));
    }
    if let Some(rest) = text.strip_prefix("list of ") {
        return parse_type(rest).map(|t| Type::List(Box::new(t)));
    }
    if let Some(rest) = text.strip_prefix("record ") {
        let name = rest.trim().trim_matches('`');
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return valid.then(|| Type::Record(name.to_string()));
    }
    match text {
        "string" | "str" => Some(Type::Str),
        "integer" | "int" => Some(Type::Int),
        "boolean" | "bool" => Some(Type::Bool),
        "bytes" => Some(Type::Bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_and_parse_type_agree() {
        let types = [
            Type::Str,
            Type::Int,
            Type::Bool,
            Type::Bytes,
            Type::Record("smtp_response".into()),
            Type::List(Box::new(Type::Record("smtp_response".into()))),
            Type::Optional(Box::new(Type::List(Box::new(Type::Str)))),
        ];
        for ty in types {
            assert_eq!(parse_type(&ty.describe()), Some(ty));
        }
    }

    #[test]
    fn record_names_may_come_without_backquotes() {
        assert_eq!(
            parse_type("list of record smtp_response"),
            Some(Type::List(Box::new(Type::Record("smtp_response".into()))))
        );
        assert_eq!(
            parse_type("optional string"),
            Some(Type::Optional(Box::new(Type::Str)))
        );
        assert_eq!(parse_type("list of"), None);
        assert_eq!(parse_type("record a b"), None);
        assert_eq!(parse_type("float"), None);
    }
}
