//! Pass 1: collect every declaration into the checker's tables.
//!
//! Invariants after this pass: each table (consts, events, tokens, records,
//! states) holds one entry per distinct name, in declaration order, with an
//! index from name to entry; tokens and records share one namespace (record
//! items name both); every duplicate, unsupported transport, bad port,
//! invalid token regex and bad export has been reported. Later passes look
//! names up here and never re-report these problems.

use std::collections::HashMap;

use super::{Checker, ConstInfo, EventInfo, GrammarName, Shape};
use crate::ast::{self, Declaration, GrammarDecl, Span, StatesItem};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::ir;

/// Names a state cannot take: they mean something in transitions.
const RESERVED_STATE_NAMES: &[&str] = &["any", "fail", "finish"];

/// Names a token or record cannot take: a record item would read them as
/// the element keyword.
const ELEMENT_KEYWORDS: &[&str] = &[
    "empty", "fail", "optional", "array", "bytes", "branch", "continue", "flag", "padding",
    "sequence", "union", "try", "at",
];

/// Whether `name` reads as a number type (`u8`, `i16le`): it cannot name a
/// token or record.
fn is_number_type(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('u').or_else(|| name.strip_prefix('i')) else {
        return false;
    };
    let digits = rest
        .strip_suffix("be")
        .or_else(|| rest.strip_suffix("le"))
        .unwrap_or(rest);
    (1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

impl<'a> Checker<'a> {
    pub(super) fn collect_names(&mut self) {
        let protocol = self.protocol;
        let mut transport_spans: Vec<(String, Span)> = Vec::new();
        let mut port_spans: HashMap<u16, Span> = HashMap::new();
        let mut export_lists: Vec<&'a [ast::Ident]> = Vec::new();
        for declaration in &protocol.declarations {
            match declaration {
                Declaration::Transport(decl) => self.transport_decl(decl, &mut transport_spans),
                Declaration::Ports(ports) => {
                    for port in ports {
                        self.port(port, &mut port_spans);
                    }
                }
                Declaration::Const(decl) => self.const_decl(decl),
                Declaration::Event(decl) => self.event_decl(decl),
                Declaration::Grammar(block) => {
                    for decl in &block.declarations {
                        match decl {
                            GrammarDecl::Token(token) => self.token_decl(token),
                            GrammarDecl::Record(record) => self.record_decl(record),
                            GrammarDecl::Export(names) => export_lists.push(names),
                        }
                    }
                }
                Declaration::States(block) => self.states_block(block),
            }
        }
        if transport_spans.is_empty() {
            self.error(
                protocol.name.span,
                format!("protocol `{}` declares no transport", protocol.name.name),
                "no `transport` declaration",
            )
            .hint = Some("add `transport tcp;`".into());
        }
        for names in export_lists {
            for name in names {
                self.export(name);
            }
        }
    }

    /// `transport tcp;`, `transport udp;`, `transport tcp framed u16be;`:
    /// at most one declaration per transport.
    fn transport_decl(&mut self, decl: &ast::TransportDecl, seen: &mut Vec<(String, Span)>) {
        let name = &decl.name;
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name.name) {
            let first = *first;
            self.duplicate(
                &format!("`transport {}` declaration", name.name),
                name.span,
                first,
            );
            return;
        }
        seen.push((name.name.clone(), name.span));
        let (mut tcp, mut udp) = match self.transport {
            Some(transport) => (transport.tcp(), transport.udp()),
            None => (None, false),
        };
        match name.name.as_str() {
            "tcp" => {
                tcp = Some(match decl.framed {
                    Some((number, span)) => ir::TcpMode::Framed(self.frame_format(number, span)),
                    None => ir::TcpMode::Stream,
                })
            }
            "udp" => {
                udp = true;
                if let Some((_, span)) = decl.framed {
                    self.error(span, "UDP is not framed", "datagrams are messages already")
                        .set_hint("`framed` cuts a TCP stream into messages: `transport tcp framed u16be;`");
                }
            }
            _ => {
                self.error(
                    name.span,
                    format!("unsupported transport `{}`", name.name),
                    "not supported",
                )
                .hint = Some("the transports are `tcp` and `udp`".into());
                return;
            }
        }
        self.transport = Some(match (tcp, udp) {
            (Some(ir::TcpMode::Stream), false) => ir::Transport::Tcp,
            (tcp, udp) => ir::Transport::Carried { tcp, udp },
        });
    }

    /// The length prefix of `framed NUMBER`: whole bytes, 1 to 4 of them.
    fn frame_format(&mut self, number: ast::NumberType, span: Span) -> ir::FrameFormat {
        let valid =
            number.bits.is_multiple_of(8) && (8..=32).contains(&number.bits) && !number.signed;
        if !valid {
            self.error(
                span,
                format!("a frame length prefix of {} bits", number.bits),
                "not a length prefix",
            )
            .set_hint("a length prefix is unsigned and 1 to 4 bytes: `u8`, `u16be`, `u32le`…");
        }
        ir::FrameFormat {
            bytes: u8::try_from(number.bits / 8).unwrap_or(2).clamp(1, 4),
            little_endian: number.little_endian,
        }
    }

    fn port(&mut self, port: &ast::Port, seen: &mut HashMap<u16, Span>) {
        let Some(number) = u16::try_from(port.value).ok().filter(|p| *p != 0) else {
            self.error(
                port.span,
                format!("invalid port {}", port.value),
                "not in 1..=65535",
            );
            return;
        };
        if let Some(first) = seen.get(&number).copied() {
            self.duplicate(&format!("port {number}"), port.span, first);
            return;
        }
        seen.insert(number, port.span);
        self.ports.push(number);
    }

    fn const_decl(&mut self, decl: &'a ast::ConstDecl) {
        if let Some(&i) = self.const_index.get(&decl.name.name) {
            let first = self.consts[i].span;
            self.duplicate(
                &format!("const `{}`", decl.name.name),
                decl.name.span,
                first,
            );
            return;
        }
        let mut keys: HashMap<&str, Span> = HashMap::new();
        let mut entries = Vec::new();
        for (key, value) in &decl.entries {
            if let Some(first) = keys.get(key.value.as_str()).copied() {
                self.duplicate(
                    &format!("key \"{}\" in const `{}`", key.value, decl.name.name),
                    key.span,
                    first,
                );
                continue;
            }
            keys.insert(&key.value, key.span);
            entries.push((key.value.clone(), value.value.clone()));
        }
        self.const_index
            .insert(decl.name.name.clone(), self.consts.len());
        self.consts.push(ConstInfo {
            table: ir::ConstTable {
                name: decl.name.name.clone(),
                entries,
            },
            span: decl.name.span,
        });
    }

    fn event_decl(&mut self, decl: &'a ast::EventDecl) {
        if let Some(&i) = self.event_index.get(&decl.name.name) {
            let first = self.events[i].decl.name.span;
            self.duplicate(
                &format!("event `{}`", decl.name.name),
                decl.name.span,
                first,
            );
            return;
        }
        self.event_index
            .insert(decl.name.name.clone(), self.events.len());
        self.events.push(EventInfo {
            decl,
            payload: None,
            named: None,
        });
    }

    /// Reports `name` if it is an element keyword or the grammar namespace
    /// already has it.
    fn grammar_name_taken(&mut self, name: &ast::Ident) -> bool {
        if ELEMENT_KEYWORDS.contains(&name.name.as_str()) || is_number_type(&name.name) {
            self.error(
                name.span,
                format!("`{}` cannot name a token or record", name.name),
                "a keyword",
            )
            .set_hint(
                "element keywords (`empty`, `fail`, `optional`, `array`, `bytes`, `branch`, `flag`, `padding`, `sequence`, `union`, `try`, `at`, `continue`) and number types (`u8`, `i16le`…) are reserved",
            );
            return true;
        }
        let Some(existing) = self.grammar_index.get(&name.name).copied() else {
            return false;
        };
        let (kind, first) = match existing {
            GrammarName::Token(id) => (
                "token",
                self.token_spans.get(id.0).copied().unwrap_or_default(),
            ),
            GrammarName::Record(id) => (
                "record",
                self.records
                    .get(id.0)
                    .map(|r| r.name.span)
                    .unwrap_or_default(),
            ),
        };
        self.error(
            name.span,
            format!("duplicate name `{}`", name.name),
            "defined again here",
        )
        .add_note(first, format!("first defined here, as a {kind}"));
        true
    }

    fn token_decl(&mut self, decl: &ast::TokenDecl) {
        if self.grammar_name_taken(&decl.name) {
            return;
        }
        let max_len = self.validate_regex(&decl.regex).unwrap_or(None);
        let id = ir::TokenId(self.tokens.len());
        self.grammar_index
            .insert(decl.name.name.clone(), GrammarName::Token(id));
        self.tokens.push(ir::Token {
            name: decl.name.name.clone(),
            pattern: decl.regex.pattern.clone(),
            max_len,
        });
        self.token_spans.push(decl.name.span);
    }

    fn record_decl(&mut self, decl: &'a ast::RecordDecl) {
        if decl.name.name == ir::STREAM_RECORD {
            self.error(
                decl.name.span,
                format!("`{}` cannot name a record", decl.name.name),
                "reserved name",
            )
            .set_hint(
                "`stream` is the type of a streamed event's tally (`EVENT.size`, `EVENT.sha256`)",
            );
            return;
        }
        if self.grammar_name_taken(&decl.name) {
            return;
        }
        let id = ir::RecordId(self.records.len());
        self.grammar_index
            .insert(decl.name.name.clone(), GrammarName::Record(id));
        self.records.push(decl);
        self.shapes.push(Shape::NotComputed);
    }

    fn export(&mut self, name: &ast::Ident) {
        match self.grammar_index.get(&name.name).copied() {
            Some(GrammarName::Record(id)) => {
                if let Some(&(_, first)) = self.exports.iter().find(|(e, _)| *e == id) {
                    self.duplicate(&format!("export of `{}`", name.name), name.span, first);
                } else {
                    self.exports.push((id, name.span));
                }
            }
            Some(GrammarName::Token(_)) => {
                self.error(
                    name.span,
                    format!("`{}` is a token, not a record", name.name),
                    "a token",
                )
                .hint = Some("only records can be exported as a state's grammar".into());
            }
            None => {
                let records = self.record_names();
                self.undefined("record", name, records);
            }
        }
    }

    fn states_block(&mut self, block: &'a ast::StatesBlock) {
        if let Some(first) = self.states_block {
            self.duplicate("`states` block", block.kind.span, first.kind.span);
            return;
        }
        self.states_block = Some(block);
        if block.kind.name != "bidirectional" {
            let hint = did_you_mean(&block.kind.name, ["bidirectional"])
                .unwrap_or_else(|| "the only kind so far is `states bidirectional`".into());
            self.error(
                block.kind.span,
                format!("unknown kind of state machine `{}`", block.kind.name),
                "unknown kind",
            )
            .hint = Some(hint);
        }
        for item in &block.items {
            match item {
                StatesItem::State(state) => self.state_decl(state),
                StatesItem::Var(var) => self.var_decl(var),
                _ => {}
            }
        }
    }

    /// `var NAME: TYPE;`: a per-flow variable, unique among variables and
    /// not named like an event (streamed events are names in expressions).
    fn var_decl(&mut self, decl: &ast::VarDecl) {
        let Some(ty) = self.type_name(&decl.ty) else {
            return;
        };
        if let Some((_, first)) = self.vars.iter().find(|(v, _)| v.name == decl.name.name) {
            let first = *first;
            self.duplicate(
                &format!("variable `{}`", decl.name.name),
                decl.name.span,
                first,
            );
            return;
        }
        if let Some(&i) = self.event_index.get(&decl.name.name) {
            let declared = self.events[i].decl.name.span;
            self.error(
                decl.name.span,
                format!("variable `{}` has the name of an event", decl.name.name),
                "an event's name",
            )
            .add_note(declared, "the event is declared here")
            .set_hint(
                "a streamed event's name stands for its tally in expressions; rename the variable",
            );
            return;
        }
        self.vars.push((
            ir::Var {
                name: decl.name.name.clone(),
                ty,
            },
            decl.name.span,
        ));
    }

    /// A variable's type: `string`, `integer`, `boolean`, `bytes` or `list of TYPE`.
    pub(super) fn type_name(&mut self, ty: &ast::TypeName) -> Option<ir::Type> {
        const TYPES: &[(&str, ir::Type)] = &[
            ("string", ir::Type::Str),
            ("integer", ir::Type::Int),
            ("boolean", ir::Type::Bool),
            ("bytes", ir::Type::Bytes),
        ];
        match ty {
            ast::TypeName::List(element, _) => {
                Some(ir::Type::List(Box::new(self.type_name(element)?)))
            }
            ast::TypeName::Named(name) => {
                if let Some((_, t)) = TYPES.iter().find(|(n, _)| *n == name.name) {
                    return Some(t.clone());
                }
                let hint =
                    did_you_mean(&name.name, TYPES.iter().map(|(n, _)| *n)).unwrap_or_else(|| {
                        "types are `string`, `integer`, `boolean`, `bytes` and `list of TYPE`"
                            .into()
                    });
                self.error(
                    name.span,
                    format!("unknown type `{}`", name.name),
                    "no such type",
                )
                .hint = Some(hint);
                None
            }
        }
    }

    fn state_decl(&mut self, state: &'a ast::StateDecl) {
        let name = &state.name;
        if RESERVED_STATE_NAMES.contains(&name.name.as_str()) {
            self.error(
                name.span,
                format!("`{}` cannot name a state", name.name),
                "reserved name",
            )
            .hint = Some(
                "`any`, `fail` and `finish` have a meaning of their own in transitions".into(),
            );
            return;
        }
        if let Some(&i) = self.state_index.get(&name.name) {
            let first = self.states[i].name.span;
            self.duplicate(&format!("state `{}`", name.name), name.span, first);
            return;
        }
        self.state_index
            .insert(name.name.clone(), self.states.len());
        self.states.push(state);
    }

    /// "duplicate WHAT", pointing at both places.
    pub(super) fn duplicate(&mut self, what: &str, span: Span, first: Span) {
        self.error(span, format!("duplicate {what}"), "defined again here")
            .add_note(first, "first defined here");
    }

    /// Checks a regex literal with `regex-syntax` and `regex`; returns the
    /// longest match it can make (`Some(None)` when unbounded), or `None`
    /// (reported) when invalid.
    pub(super) fn validate_regex(&mut self, regex: &ast::RegexLit) -> Option<Option<usize>> {
        match regex_max_len(self.file, regex) {
            Ok(max_len) => Some(max_len),
            Err(diagnostic) => {
                self.push(*diagnostic);
                None
            }
        }
    }
}

/// Checks a regex literal (in `file`) with `regex-syntax` and `regex`:
/// the longest match it can make (`None` when unbounded), or the diagnostic
/// pointing into the pattern where it is wrong.
pub(crate) fn regex_max_len(
    file: &str,
    regex: &ast::RegexLit,
) -> Result<Option<usize>, Box<Diagnostic>> {
    let hir = match regex_syntax::Parser::new().parse(&regex.pattern) {
        Ok(hir) => hir,
        Err(error) => {
            let (kind, span) = match &error {
                regex_syntax::Error::Parse(e) => (e.kind().to_string(), *e.span()),
                regex_syntax::Error::Translate(e) => (e.kind().to_string(), *e.span()),
                other => (
                    other.to_string(),
                    regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1)),
                ),
            };
            let start = regex.span.start + span.start.offset;
            let end = (regex.span.start + span.end.offset)
                .max(start + 1)
                .min(regex.span.end.max(start + 1));
            return Err(Box::new(Diagnostic::error(
                file,
                Span::new(start, end),
                format!("invalid regular expression: {kind}"),
                kind,
            )));
        }
    };
    if let Err(error) = regex::Regex::new(&regex.pattern) {
        let message = error
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        return Err(Box::new(Diagnostic::error(
            file,
            regex.span,
            format!("invalid regular expression: {message}"),
            "rejected by the regex engine",
        )));
    }
    Ok(hir.properties().maximum_len())
}
