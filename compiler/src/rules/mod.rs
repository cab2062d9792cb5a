//! Security rules files (`.rules`): parsed and checked against the specs'
//! events into a [`protoc_runtime::rules::RuleSet`].

pub mod schema;
