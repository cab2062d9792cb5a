//! Parsing: spec source text to [`crate::ast::SpecFile`], with syntax errors as
//! [`Diagnostic`]s.
//!
//! Runs the pest parser of [`crate::syntax`], then walks its parse tree into
//! the AST, decoding escapes and numbers on the way. Invariants: a pest
//! failure becomes exactly one diagnostic at the farthest position pest
//! reached, saying what was expected there; problems inside well-formed
//! syntax (an unknown escape, an integer too large) are reported and parsing
//! goes on, so one run reports them all. The walk never panics: a parse tree
//! that does not have the shape the grammar promises is reported as an
//! internal error.

use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::syntax::{Rule, SpecParser};

/// The AST (if the syntax is valid) and every problem found on the way.
pub struct Parsed {
    pub spec: Option<SpecFile>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses the spec `source`, read from `file` (used in diagnostics).
pub fn parse_spec(file: &str, source: &str) -> Parsed {
    pest::set_error_detail(true);
    let pairs = match SpecParser::parse(Rule::spec_file, source) {
        Ok(pairs) => pairs,
        Err(error) => {
            return Parsed {
                spec: None,
                diagnostics: vec![syntax_error(file, source, &error)],
            }
        }
    };
    let mut builder = Builder {
        file,
        diagnostics: Vec::new(),
    };
    let spec = match builder.spec_file(pairs) {
        Ok(spec) => Some(spec),
        Err(internal) => {
            builder.diagnostics.push(*internal);
            None
        }
    };
    Parsed {
        spec,
        diagnostics: builder.diagnostics,
    }
}

// ---- syntax errors -----------------------------------------------------------

/// Turns pest's error into a diagnostic: "expected `;`, `}` or a name".
pub(crate) fn syntax_error(
    file: &str,
    source: &str,
    error: &pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let position = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    let mut position = position;
    if let Some(attempts) = error.parse_attempts() {
        position = attempts.max_position.max(position);
        // pest does not export its token type, only its `Display`: literal
        // text as is, character ranges as `a..z`, built-ins as `BUILTIN_RULE`.
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            let is_range = token.chars().count() == 4 && token.get(1..3) == Some("..");
            let is_noise =
                token.trim().is_empty() || token == "#" || token == "//" || token == "BUILTIN_RULE";
            if !is_range && !is_noise {
                expected.push(format!("`{token}`"));
            }
        }
        for stack in attempts.call_stacks() {
            if let Some(rule) = stack.deepest.get_rule() {
                expected.extend(describe_rule(*rule));
            }
        }
    }
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        expected.extend(positives.iter().filter_map(|rule| describe_rule(*rule)));
    }
    let expected = tidy_expected(expected);
    if expected.iter().any(|e| e == "`;`") {
        let previous_end = end_of_previous_code(source, position);
        let on_earlier_line = source
            .get(previous_end..position)
            .is_some_and(|gap| gap.contains('\n'));
        if on_earlier_line {
            return Diagnostic::error(
                file,
                Span::new(previous_end, previous_end),
                "syntax error: missing `;`",
                "expected `;` here",
            )
            .with_hint("items, declarations and actions end with `;`");
        }
    }
    let found = describe_found(source, position);
    let span = Span::new(position, next_char_end(source, position));
    let message = if expected.is_empty() {
        format!("syntax error: unexpected {found}")
    } else {
        format!(
            "syntax error: expected {}, found {found}",
            join_alternatives(&expected)
        )
    };
    let diagnostic = Diagnostic::error(file, span, message, "unexpected here");
    diagnostic.with_optional_hint(syntax_hint(&expected, &found))
}

/// Human words for the rules pest may report as expected.
fn describe_rule(rule: Rule) -> Option<String> {
    let text = match rule {
        Rule::ident => "a name",
        Rule::int => "an integer",
        Rule::number => "a number",
        Rule::string | Rule::template => "a string",
        Rule::regex => "a `/regex/`",
        // Deepest only inside a character literal: its closing quote is missing.
        Rule::char_lit => "`'`",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::cmp_expr
        | Rule::add_expr
        | Rule::mul_expr
        | Rule::unary
        | Rule::postfix => "an expression",
        Rule::op_cmp
        | Rule::op_match
        | Rule::op_and
        | Rule::op_or
        | Rule::op_add
        | Rule::op_mul => "an operator",
        Rule::num_type => "a number type",
        Rule::element => "a grammar element",
        Rule::item => "a record item",
        Rule::action => "an action",
        Rule::protocol => "`protocol`",
        rule => return keyword_of(rule).map(|kw| format!("`{kw}`")),
    };
    Some(text.to_string())
}

/// The keyword a `kw_*` rule matches.
fn keyword_of(rule: Rule) -> Option<&'static str> {
    let name = format!("{rule:?}");
    let keyword = name.strip_prefix("kw_")?;
    KEYWORDS.iter().copied().find(|k| *k == keyword)
}

/// Every keyword of the spec grammar (a `kw_*` rule each).
const KEYWORDS: &[&str] = &[
    "protocol",
    "transport",
    "port",
    "const",
    "streamed",
    "event",
    "grammar",
    "token",
    "record",
    "export",
    "empty",
    "fail",
    "optional",
    "if",
    "array",
    "until",
    "bytes",
    "chunked",
    "transform",
    "branch",
    "default",
    "states",
    "state",
    "initial",
    "any",
    "on",
    "when",
    "trigger",
    "alert",
    "drop",
    "log",
    "jump",
    "count",
    "ends",
    "var",
    "list",
    "of",
    "set",
    "push",
    "pop",
    "clear",
    "stop",
    "handover",
    "resync",
    "unless",
    "close",
    "framed",
    "let",
    "verify",
    "as",
    "continue",
    "while",
    "sequence",
    "union",
    "try",
    "at",
    "flag",
    "padding",
    "align",
    "rest",
    "null",
    // rules.pest
    "rule",
    "extract",
];

/// Sorts and deduplicates what pest expected, folding operators into "an
/// operator" and dropping the delimiters of a literal already named.
fn tidy_expected(expected: Vec<String>) -> Vec<String> {
    const OPERATORS: &[&str] = &[
        "`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`", "`&&`", "`||`", "`~`", "`.`", "`[`", "`+`",
        "`-`", "`*`", "`/`", "`%`",
    ];
    // What the first character of a literal or name stands for; `/` is
    // division where the other operators are expected too.
    let division = expected.iter().any(|e| e == "`*`");
    let stands_for = |e: &str| match e {
        "`\"`" => "a string".to_string(),
        "`/`" if division => "an operator".to_string(),
        "`/`" => "a `/regex/`".to_string(),
        "`_`" => "a name".to_string(),
        e if OPERATORS.contains(&e) => "an operator".to_string(),
        e => e.to_string(),
    };
    let mut tidy: Vec<String> = expected.iter().map(|e| stands_for(e)).collect();
    if tidy.iter().any(|e| e == "a grammar element") {
        // Its keywords, names and regexes are spelled out in the hint.
        return vec!["a grammar element".to_string()];
    }
    if tidy.iter().any(|e| e == "an operator" || e == "`'`") {
        tidy.retain(|e| e != "an expression");
    }
    tidy.sort_by_key(|e| (!e.starts_with('`'), e.clone()));
    tidy.dedup();
    tidy
}

/// The end of the last code before `position`, skipping whitespace and
/// comments (a `#` or `//` outside strings, characters and regexes).
fn end_of_previous_code(source: &str, position: usize) -> usize {
    let before = source.get(..position).unwrap_or(source);
    let mut line_end = before.len();
    loop {
        let line_start = before[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let line = &before[line_start..line_end];
        let code = line[..comment_start(line)].trim_end();
        if !code.is_empty() || line_start == 0 {
            return line_start + code.len();
        }
        line_end = line_start - 1;
    }
}

/// Where the comment of a line starts (its length if it has none).
fn comment_start(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'#' => return i,
            b'/' if bytes.get(i + 1) == Some(&b'/') => return i,
            b'"' | b'\'' | b'/' => {
                // Skip the literal, honouring backslash escapes.
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\\' {
                        i += 1;
                    } else if c == b {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    line.len()
}

fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn describe_found(source: &str, position: usize) -> String {
    match source.get(position..).and_then(|rest| rest.chars().next()) {
        None => "end of file".to_string(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String = source[position..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            format!("`{word}`")
        }
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(c) => format!("`{c}`"),
    }
}

fn next_char_end(source: &str, position: usize) -> usize {
    match source.get(position..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let rest = &source[position..];
            position
                + rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len())
        }
        Some(c) => position + c.len_utf8(),
        None => position,
    }
}

/// A hint for the most common slips.
fn syntax_hint(expected: &[String], found: &str) -> Option<String> {
    let wants = |what: &str| expected.iter().any(|e| e == what);
    if wants("`;`") {
        return Some("items, declarations and actions end with `;`".into());
    }
    if wants("`'`") {
        return Some("a character literal holds one character, like '\\r'".into());
    }
    if wants("an operator") && found == "`=`" {
        return Some("`==` compares; there is no assignment".into());
    }
    if wants("a grammar element") {
        return Some(
            "an element is a token or record name, `/regex/`, a number (`u8`, `u16be`, `u4`…), `flag`, `padding`, `empty`, `continue`, `fail \"...\"`, `optional`, `array`, `bytes`, `at`, `branch`, `sequence`, `union` or `try`"
                .into(),
        );
    }
    if wants("an action") || wants("`trigger`") {
        return Some(
            "actions are `trigger`, `alert`, `drop`, `log`, `set`, `push`, `pop`, `clear`, `close`, `resync`, `stop`, `handover` and `jump`, each ending with `;`".into(),
        );
    }
    None
}

/// `u16be`, `i8`, `u4le`: the width (as written), byte order and sign.
fn number_type(text: &str) -> NumberType {
    let signed = text.starts_with('i');
    let rest = text.get(1..).unwrap_or_default();
    let (digits, little_endian, explicit_order) = match rest.strip_suffix("le") {
        Some(digits) => (digits, true, true),
        None => match rest.strip_suffix("be") {
            Some(digits) => (digits, false, true),
            None => (rest, false, false),
        },
    };
    NumberType {
        bits: digits.parse().unwrap_or(0),
        little_endian,
        explicit_order,
        signed,
    }
}

// ---- parse tree to AST ---------------------------------------------------------

pub(crate) struct Builder<'f> {
    pub(crate) file: &'f str,
    /// Non-fatal problems (bad escapes, out-of-range numbers).
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// A walk step; the error is an internal-error diagnostic (boxed: it is rare).
pub(crate) type Built<T> = Result<T, Box<Diagnostic>>;

/// The span of a parse-tree node, without the trailing whitespace pest
/// includes when an optional suffix was tried and absent.
pub(crate) fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let start = pair.as_span().start();
    Span::new(start, start + pair.as_str().trim_end().len())
}

impl Builder<'_> {
    /// The parse tree does not have the shape the grammar promises: a bug in
    /// this module, reported rather than panicking.
    pub(crate) fn internal(&self, span: Span, what: &str) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(
                self.file,
                span,
                format!("internal error: unexpected parse tree ({what})"),
                "here",
            )
            .with_hint("this is a bug in protoc-rs; please report it with this spec"),
        )
    }

    /// The next child, which must exist.
    pub(crate) fn next<'i>(
        &self,
        children: &mut Pairs<'i, Rule>,
        parent: Span,
        what: &str,
    ) -> Built<Pair<'i, Rule>> {
        children.next().ok_or_else(|| self.internal(parent, what))
    }

    /// The next child, which must be `rule`.
    pub(crate) fn next_rule<'i>(
        &self,
        children: &mut Pairs<'i, Rule>,
        parent: Span,
        rule: Rule,
    ) -> Built<Pair<'i, Rule>> {
        let pair = self.next(children, parent, &format!("{rule:?}"))?;
        if pair.as_rule() == rule {
            Ok(pair)
        } else {
            Err(self.internal(
                span_of(&pair),
                &format!("expected {rule:?}, got {:?}", pair.as_rule()),
            ))
        }
    }

    pub(crate) fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: span_of(&pair),
        }
    }

    pub(crate) fn next_ident(&self, children: &mut Pairs<'_, Rule>, parent: Span) -> Built<Ident> {
        Ok(self.ident(self.next_rule(children, parent, Rule::ident)?))
    }

    fn spec_file(&mut self, mut pairs: Pairs<'_, Rule>) -> Built<SpecFile> {
        let file = self.next_rule(&mut pairs, Span::default(), Rule::spec_file)?;
        let span = span_of(&file);
        let mut children = file.into_inner();
        let protocol = self.next_rule(&mut children, span, Rule::protocol)?;
        Ok(SpecFile {
            protocol: self.protocol(protocol)?,
        })
    }

    fn protocol(&mut self, pair: Pair<'_, Rule>) -> Built<Protocol> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        self.next_rule(&mut children, span, Rule::kw_protocol)?;
        let name = self.next_ident(&mut children, span)?;
        let mut declarations = Vec::new();
        for decl in children {
            declarations.push(self.declaration(decl)?);
        }
        Ok(Protocol {
            name,
            declarations,
            span,
        })
    }

    fn declaration(&mut self, pair: Pair<'_, Rule>) -> Built<Declaration> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut children = pair.into_inner();
        match rule {
            Rule::transport_decl => {
                self.next_rule(&mut children, span, Rule::kw_transport)?;
                let name = self.next_ident(&mut children, span)?;
                let framed = match children.next() {
                    Some(framed) => {
                        let framed_span = span_of(&framed);
                        let mut parts = framed.into_inner();
                        self.next_rule(&mut parts, framed_span, Rule::kw_framed)?;
                        let number = self.next_rule(&mut parts, framed_span, Rule::num_type)?;
                        Some((number_type(number.as_str()), span_of(&number)))
                    }
                    None => None,
                };
                Ok(Declaration::Transport(TransportDecl { name, framed }))
            }
            Rule::port_decl => {
                self.next_rule(&mut children, span, Rule::kw_port)?;
                let ports = children
                    .map(|p| Port {
                        value: self.unsigned(&p),
                        span: span_of(&p),
                    })
                    .collect();
                Ok(Declaration::Ports(ports))
            }
            Rule::const_decl => {
                self.next_rule(&mut children, span, Rule::kw_const)?;
                let name = self.next_ident(&mut children, span)?;
                let mut entries = Vec::new();
                for entry in children {
                    let entry_span = span_of(&entry);
                    let mut kv = entry.into_inner();
                    let key = self.next_rule(&mut kv, entry_span, Rule::string)?;
                    let value = self.next_rule(&mut kv, entry_span, Rule::string)?;
                    entries.push((self.string(key), self.string(value)));
                }
                Ok(Declaration::Const(ConstDecl {
                    name,
                    entries,
                    span,
                }))
            }
            Rule::event_decl => {
                let first = self.next(&mut children, span, "event")?;
                let streamed = first.as_rule() == Rule::kw_streamed;
                if streamed {
                    self.next_rule(&mut children, span, Rule::kw_event)?;
                }
                let name = self.next_ident(&mut children, span)?;
                Ok(Declaration::Event(EventDecl {
                    name,
                    streamed,
                    span,
                }))
            }
            Rule::grammar_block => {
                self.next_rule(&mut children, span, Rule::kw_grammar)?;
                let mut declarations = Vec::new();
                for decl in children {
                    declarations.push(self.grammar_decl(decl)?);
                }
                Ok(Declaration::Grammar(GrammarBlock { declarations, span }))
            }
            Rule::states_block => {
                self.next_rule(&mut children, span, Rule::kw_states)?;
                let kind = self.next_ident(&mut children, span)?;
                let mut items = Vec::new();
                for item in children {
                    items.push(self.states_item(item)?);
                }
                Ok(Declaration::States(StatesBlock { kind, items, span }))
            }
            other => Err(self.internal(span, &format!("declaration {other:?}"))),
        }
    }

    fn grammar_decl(&mut self, pair: Pair<'_, Rule>) -> Built<GrammarDecl> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut children = pair.into_inner();
        match rule {
            Rule::token_decl => {
                self.next_rule(&mut children, span, Rule::kw_token)?;
                let name = self.next_ident(&mut children, span)?;
                let regex = self.next_rule(&mut children, span, Rule::regex)?;
                Ok(GrammarDecl::Token(TokenDecl {
                    name,
                    regex: self.regex(regex),
                }))
            }
            Rule::record_decl => {
                self.next_rule(&mut children, span, Rule::kw_record)?;
                let name = self.next_ident(&mut children, span)?;
                let mut items = Vec::new();
                for item in children {
                    items.push(self.item(item)?);
                }
                Ok(GrammarDecl::Record(RecordDecl { name, items, span }))
            }
            Rule::export_decl => {
                self.next_rule(&mut children, span, Rule::kw_export)?;
                Ok(GrammarDecl::Export(
                    children.map(|p| self.ident(p)).collect(),
                ))
            }
            other => Err(self.internal(span, &format!("grammar declaration {other:?}"))),
        }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Built<Item> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        let mut first = self.next(&mut children, span, "item")?;
        match first.as_rule() {
            Rule::let_item | Rule::var_item => return self.let_or_var(first),
            Rule::verify_item => {
                let verify_span = span_of(&first);
                let mut parts = first.into_inner();
                self.next_rule(&mut parts, verify_span, Rule::kw_verify)?;
                let cond = self.expr(self.next_rule(&mut parts, verify_span, Rule::expr)?)?;
                let message = self.string(self.next_rule(&mut parts, verify_span, Rule::string)?);
                return Ok(Item {
                    name: None,
                    hidden: false,
                    element: Element {
                        kind: ElementKind::Verify { cond, message },
                        span: verify_span,
                    },
                    convert: None,
                });
            }
            _ => {}
        }
        let mut name = None;
        if first.as_rule() == Rule::field_name {
            let field_span = span_of(&first);
            name = Some(self.next_ident(&mut first.into_inner(), field_span)?);
            first = self.next(&mut children, span, "item element")?;
        }
        let element = self.element_or_block(first)?;
        let convert = match children.next() {
            Some(convert) => Some(self.converter(convert)?),
            None => None,
        };
        Ok(Item {
            name,
            hidden: false,
            element,
            convert,
        })
    }

    /// `let NAME [: TYPE] = EXPR;`, `var NAME: ELEMENT [as C];`, `var NAME [: TYPE] = EXPR;`.
    fn let_or_var(&mut self, pair: Pair<'_, Rule>) -> Built<Item> {
        let span = span_of(&pair);
        let hidden = pair.as_rule() == Rule::var_item;
        let mut children = pair.into_inner();
        self.next(&mut children, span, "let or var keyword")?;
        let name = self.next_ident(&mut children, span)?;
        let mut ty = None;
        let mut element = None;
        let mut convert = None;
        let mut value = None;
        for child in children {
            match child.as_rule() {
                Rule::var_type => ty = Some(self.type_name(child)?),
                Rule::element => element = Some(self.element(child)?),
                Rule::convert => convert = Some(self.converter(child)?),
                Rule::expr => value = Some(self.expr(child)?),
                other => return Err(self.internal(span, &format!("let item {other:?}"))),
            }
        }
        let element = match (element, value) {
            (Some(element), _) => element,
            (None, Some(value)) => Element {
                span: value.span,
                kind: ElementKind::Let { value, ty },
            },
            (None, None) => return Err(self.internal(span, "let without a value")),
        };
        Ok(Item {
            name: Some(name),
            hidden,
            element,
            convert,
        })
    }

    fn converter(&mut self, pair: Pair<'_, Rule>) -> Built<Converter> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        self.next_rule(&mut children, span, Rule::kw_as)?;
        let name = self.next_ident(&mut children, span)?;
        let arg = match children.next() {
            Some(arg) => Some(self.expr(arg)?),
            None => None,
        };
        Ok(Converter { name, arg, span })
    }

    /// A block (`branch`, `sequence`, `union`, `try`) or an `element`.
    fn element_or_block(&mut self, pair: Pair<'_, Rule>) -> Built<Element> {
        match pair.as_rule() {
            Rule::branch => self.branch(pair),
            Rule::sequence | Rule::union | Rule::try_block => self.block(pair),
            _ => self.element(pair),
        }
    }

    /// `sequence { … }`, `union { … }`, `try { … }`.
    fn block(&mut self, pair: Pair<'_, Rule>) -> Built<Element> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut children = pair.into_inner();
        self.next(&mut children, span, "block keyword")?;
        let mut items = Vec::new();
        for item in children {
            items.push(self.item(item)?);
        }
        let kind = match rule {
            Rule::sequence => ElementKind::Sequence(items),
            Rule::union => ElementKind::Union(items),
            _ => ElementKind::Try(items),
        };
        Ok(Element { kind, span })
    }

    fn element(&mut self, pair: Pair<'_, Rule>) -> Built<Element> {
        let span = span_of(&pair);
        if pair.as_rule() != Rule::element {
            return Err(self.internal(span, &format!("element, got {:?}", pair.as_rule())));
        }
        let inner = self.next(&mut pair.into_inner(), span, "element")?;
        let rule = inner.as_rule();
        if matches!(
            rule,
            Rule::branch | Rule::sequence | Rule::union | Rule::try_block
        ) {
            return self.element_or_block(inner);
        }
        let mut children = inner.clone().into_inner();
        let kind = match rule {
            Rule::ident => ElementKind::Ref(self.ident(inner)),
            Rule::regex => ElementKind::Regex(self.regex(inner)),
            Rule::empty => ElementKind::Empty,
            Rule::continue_el => ElementKind::Continue,
            Rule::num_type => ElementKind::Number(number_type(inner.as_str())),
            Rule::flag => ElementKind::Flag,
            Rule::padding => {
                self.next_rule(&mut children, span, Rule::kw_padding)?;
                let mut next = self.next(&mut children, span, "padding size")?;
                let align = next.as_rule() == Rule::kw_align;
                if align {
                    next = self.next_rule(&mut children, span, Rule::int)?;
                }
                ElementKind::Padding {
                    bits: self.unsigned(&next),
                    align,
                }
            }
            Rule::at => {
                self.next_rule(&mut children, span, Rule::kw_at)?;
                let offset = self.expr(self.next_rule(&mut children, span, Rule::expr)?)?;
                let element = self.element(self.next(&mut children, span, "at element")?)?;
                ElementKind::At {
                    offset,
                    element: Box::new(element),
                }
            }
            Rule::fail => {
                self.next_rule(&mut children, span, Rule::kw_fail)?;
                ElementKind::Fail(self.string(self.next_rule(&mut children, span, Rule::string)?))
            }
            Rule::optional => {
                self.next_rule(&mut children, span, Rule::kw_optional)?;
                let element =
                    self.element(self.next(&mut children, span, "optional element")?)?;
                let cond = match children.next() {
                    Some(_kw_if) => {
                        Some(self.expr(self.next_rule(&mut children, span, Rule::expr)?)?)
                    }
                    None => None,
                };
                ElementKind::Optional {
                    element: Box::new(element),
                    cond,
                }
            }
            Rule::array => {
                self.next_rule(&mut children, span, Rule::kw_array)?;
                let element = self.element(self.next(&mut children, span, "array element")?)?;
                let keyword = self
                    .next(&mut children, span, "array end keyword")?
                    .as_rule();
                let expr = self.expr(self.next_rule(&mut children, span, Rule::expr)?)?;
                let end = match keyword {
                    Rule::kw_while => ArrayEnd::While(expr),
                    Rule::kw_count => ArrayEnd::Count(expr),
                    _ => ArrayEnd::Until(expr),
                };
                ElementKind::Array {
                    element: Box::new(element),
                    end,
                }
            }
            Rule::bytes => {
                self.next_rule(&mut children, span, Rule::kw_bytes)?;
                let end_pair = self.next(&mut children, span, "bytes end")?;
                let end_span = span_of(&end_pair);
                let end_rule = end_pair.as_rule();
                let mut end_parts = end_pair.into_inner();
                self.next(&mut end_parts, end_span, "bytes end keyword")?;
                let end = if end_rule == Rule::bytes_rest {
                    BytesEnd::Rest
                } else if end_rule == Rule::bytes_count {
                    BytesEnd::Count(self.expr(self.next_rule(
                        &mut end_parts,
                        end_span,
                        Rule::expr,
                    )?)?)
                } else {
                    BytesEnd::Until(self.token_ref(self.next(
                        &mut end_parts,
                        end_span,
                        "bytes token",
                    )?))
                };
                let mut chunked = None;
                let mut ends = None;
                let mut transform = None;
                for option in children {
                    let option_span = span_of(&option);
                    let is_chunked = option.as_rule() == Rule::chunked;
                    let mut parts = option.into_inner();
                    self.next(&mut parts, option_span, "bytes option keyword")?;
                    let name = self.next_ident(&mut parts, option_span)?;
                    if is_chunked {
                        chunked = Some(name);
                        if let Some(ends_pair) = parts.next() {
                            let ends_span = span_of(&ends_pair);
                            let mut ends_parts = ends_pair.into_inner();
                            self.next_rule(&mut ends_parts, ends_span, Rule::kw_ends)?;
                            self.next_rule(&mut ends_parts, ends_span, Rule::kw_if)?;
                            ends = Some(self.expr(self.next_rule(
                                &mut ends_parts,
                                ends_span,
                                Rule::expr,
                            )?)?);
                        }
                    } else {
                        transform = Some(name);
                    }
                }
                ElementKind::Bytes {
                    end,
                    chunked,
                    ends,
                    transform,
                }
            }
            other => return Err(self.internal(span, &format!("element {other:?}"))),
        };
        Ok(Element { kind, span })
    }

    /// A token named or written inline (`ident` or `regex`).
    fn token_ref(&self, pair: Pair<'_, Rule>) -> TokenRef {
        match pair.as_rule() {
            Rule::regex => TokenRef::Inline(self.regex(pair)),
            _ => TokenRef::Named(self.ident(pair)),
        }
    }

    /// `var_type`: `NAME` or `list of TYPE`.
    fn type_name(&self, pair: Pair<'_, Rule>) -> Built<TypeName> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        let first = self.next(&mut children, span, "type")?;
        if first.as_rule() == Rule::kw_list {
            self.next_rule(&mut children, span, Rule::kw_of)?;
            let element = self.type_name(self.next_rule(&mut children, span, Rule::var_type)?)?;
            return Ok(TypeName::List(Box::new(element), span));
        }
        Ok(TypeName::Named(self.ident(first)))
    }

    fn branch(&mut self, pair: Pair<'_, Rule>) -> Built<Element> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        self.next_rule(&mut children, span, Rule::kw_branch)?;
        let key = self.expr(self.next_rule(&mut children, span, Rule::expr)?)?;
        let mut cases = Vec::new();
        for case in children {
            let case_span = span_of(&case);
            let mut parts = case.into_inner();
            let key_pair = self.next(&mut parts, case_span, "case key")?;
            let key = match key_pair.as_rule() {
                Rule::string => CaseKey::Value(self.string(key_pair)),
                Rule::int => {
                    let key_span = span_of(&key_pair);
                    let value = i64::try_from(self.unsigned(&key_pair)).unwrap_or(i64::MAX);
                    CaseKey::Int(value, key_span)
                }
                Rule::char_lit => {
                    let key_span = span_of(&key_pair);
                    CaseKey::Int(self.char_value(key_pair)?, key_span)
                }
                _ => CaseKey::Default(span_of(&key_pair)),
            };
            let element =
                self.element_or_block(self.next(&mut parts, case_span, "case element")?)?;
            cases.push(BranchCase { key, element });
        }
        Ok(Element {
            kind: ElementKind::Branch { key, cases },
            span,
        })
    }

    fn states_item(&mut self, pair: Pair<'_, Rule>) -> Built<StatesItem> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut children = pair.into_inner();
        match rule {
            Rule::var_decl => {
                self.next_rule(&mut children, span, Rule::kw_var)?;
                let name = self.next_ident(&mut children, span)?;
                let ty = self.type_name(self.next_rule(&mut children, span, Rule::var_type)?)?;
                Ok(StatesItem::Var(VarDecl { name, ty, span }))
            }
            Rule::state_decl => {
                self.next_rule(&mut children, span, Rule::kw_state)?;
                let name = self.next_ident(&mut children, span)?;
                let mut grammars = Vec::new();
                for grammar in children {
                    let grammar_span = span_of(&grammar);
                    let mut parts = grammar.into_inner();
                    let direction = self.next_ident(&mut parts, grammar_span)?;
                    let record = self.next_ident(&mut parts, grammar_span)?;
                    grammars.push((direction, record));
                }
                Ok(StatesItem::State(StateDecl {
                    name,
                    grammars,
                    span,
                }))
            }
            Rule::initial_decl => {
                self.next_rule(&mut children, span, Rule::kw_initial)?;
                Ok(StatesItem::Initial(self.next_ident(&mut children, span)?))
            }
            Rule::transition => Ok(StatesItem::Transition(self.transition(span, children)?)),
            other => Err(self.internal(span, &format!("states item {other:?}"))),
        }
    }

    fn transition(&mut self, span: Span, mut children: Pairs<'_, Rule>) -> Built<TransitionDecl> {
        let subject_pair = self.next(&mut children, span, "transition subject")?;
        let subject = match subject_pair.as_rule() {
            Rule::kw_any => Subject::Any(span_of(&subject_pair)),
            _ => Subject::State(self.ident(subject_pair)),
        };
        self.next_rule(&mut children, span, Rule::kw_on)?;
        let event = self.next_ident(&mut children, span)?;
        let mut arg = None;
        let mut when = None;
        let mut actions = Vec::new();
        for child in children {
            let child_span = span_of(&child);
            match child.as_rule() {
                Rule::event_arg => {
                    let inner = self.next(&mut child.into_inner(), child_span, "event argument")?;
                    arg = Some(match inner.as_rule() {
                        Rule::number => EventArg::Number {
                            value: inner.as_str().parse().unwrap_or(f64::NAN),
                            span: span_of(&inner),
                        },
                        _ => EventArg::Binding(self.ident(inner)),
                    });
                }
                Rule::when => {
                    let mut parts = child.into_inner();
                    self.next_rule(&mut parts, child_span, Rule::kw_when)?;
                    when =
                        Some(self.expr(self.next_rule(&mut parts, child_span, Rule::expr)?)?);
                }
                _ => actions.push(self.action(child)?),
            }
        }
        Ok(TransitionDecl {
            subject,
            event,
            arg,
            when,
            actions,
            span,
        })
    }

    pub(crate) fn action(&mut self, pair: Pair<'_, Rule>) -> Built<Action> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut children = pair.into_inner();
        self.next(&mut children, span, "action keyword")?;
        let kind = match rule {
            Rule::trigger => {
                let event = self.next_ident(&mut children, span)?;
                match children.next() {
                    Some(named) if named.as_rule() == Rule::named_args => {
                        let mut fields = Vec::new();
                        for arg in named.into_inner() {
                            let arg_span = span_of(&arg);
                            let mut parts = arg.into_inner();
                            let name = self.next_ident(&mut parts, arg_span)?;
                            let value =
                                self.expr(self.next_rule(&mut parts, arg_span, Rule::expr)?)?;
                            fields.push((name, value));
                        }
                        ActionKind::TriggerNamed { event, fields }
                    }
                    Some(expr) => ActionKind::Trigger {
                        event,
                        arg: Some(self.expr(expr)?),
                    },
                    None => ActionKind::Trigger { event, arg: None },
                }
            }
            Rule::set | Rule::push => {
                let var = self.next_ident(&mut children, span)?;
                let value = self.expr(self.next_rule(&mut children, span, Rule::expr)?)?;
                if rule == Rule::set {
                    ActionKind::Set { var, value }
                } else {
                    ActionKind::Push { var, value }
                }
            }
            Rule::pop => ActionKind::Pop(self.next_ident(&mut children, span)?),
            Rule::clear => ActionKind::Clear(self.next_ident(&mut children, span)?),
            Rule::stop => ActionKind::Stop,
            Rule::handover => match children.next() {
                Some(name) if name.as_rule() == Rule::ident => {
                    ActionKind::Handover(HandoverTo::Spec(self.ident(name)))
                }
                Some(_kw_port) => {
                    let port = self.expr(self.next_rule(&mut children, span, Rule::expr)?)?;
                    ActionKind::Handover(HandoverTo::Port(port))
                }
                None => return Err(self.internal(span, "handover target")),
            },
            Rule::resync => {
                let token = self.token_ref(self.next(&mut children, span, "resync token")?);
                let unless = match children.next() {
                    Some(_kw_unless) => {
                        Some(self.token_ref(self.next(&mut children, span, "unless token")?))
                    }
                    None => None,
                };
                ActionKind::Resync { token, unless }
            }
            Rule::close => ActionKind::Close(self.next_ident(&mut children, span)?),
            Rule::alert => {
                let severity = self.next_ident(&mut children, span)?;
                let description =
                    self.template(self.next_rule(&mut children, span, Rule::template)?)?;
                ActionKind::Alert {
                    severity,
                    description,
                }
            }
            Rule::drop => ActionKind::Drop,
            Rule::log => ActionKind::Log(self.template(self.next_rule(
                &mut children,
                span,
                Rule::template,
            )?)?),
            Rule::jump => ActionKind::Jump(self.next_ident(&mut children, span)?),
            other => return Err(self.internal(span, &format!("action {other:?}"))),
        };
        Ok(Action { kind, span })
    }

    // ---- literals ----

    fn unsigned(&mut self, pair: &Pair<'_, Rule>) -> u64 {
        match pair.as_str().parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                self.diagnostics.push(Diagnostic::error(
                    self.file,
                    span_of(pair),
                    "integer too large",
                    "does not fit in 64 bits",
                ));
                0
            }
        }
    }

    fn regex(&self, pair: Pair<'_, Rule>) -> RegexLit {
        let span = span_of(&pair);
        let text = pair.as_str();
        let pattern = text
            .get(1..text.len().saturating_sub(1))
            .unwrap_or_default();
        RegexLit {
            pattern: pattern.to_string(),
            span: Span::new(
                span.start + 1,
                span.end.saturating_sub(1).max(span.start + 1),
            ),
        }
    }

    pub(crate) fn string(&mut self, pair: Pair<'_, Rule>) -> StrLit {
        let span = span_of(&pair);
        let mut value = String::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::escape => {
                    if let Some(c) = self.escape(&part) {
                        value.push(c);
                    }
                }
                _ => value.push_str(part.as_str()),
            }
        }
        StrLit { value, span }
    }

    /// Decodes `\r \n \t \0 \\ \" \'`; reports anything else.
    fn escape(&mut self, pair: &Pair<'_, Rule>) -> Option<char> {
        let decoded = match pair.as_str().get(1..) {
            Some("r") => '\r',
            Some("n") => '\n',
            Some("t") => '\t',
            Some("0") => '\0',
            Some("\\") => '\\',
            Some("\"") => '"',
            Some("'") => '\'',
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        self.file,
                        span_of(pair),
                        format!("unknown escape `{}`", pair.as_str()),
                        "not an escape",
                    )
                    .with_hint(r#"escapes are \r \n \t \0 \\ \" and \'"#),
                );
                return None;
            }
        };
        Some(decoded)
    }

    fn template(&mut self, pair: Pair<'_, Rule>) -> Built<Template> {
        let span = span_of(&pair);
        let mut parts: Vec<TemplatePart> = Vec::new();
        let mut text = String::new();
        for part in pair.into_inner() {
            let part_span = span_of(&part);
            match part.as_rule() {
                Rule::template_text => text.push_str(part.as_str()),
                Rule::template_brace => text.push_str(part.as_str().get(..1).unwrap_or_default()),
                Rule::escape => text.extend(self.escape(&part)),
                Rule::template_expr => {
                    if !text.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                    }
                    let expr = self.next_rule(&mut part.into_inner(), part_span, Rule::expr)?;
                    parts.push(TemplatePart::Expr(self.expr(expr)?));
                }
                other => return Err(self.internal(part_span, &format!("template part {other:?}"))),
            }
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        Ok(Template { parts, span })
    }

    // ---- expressions ----

    pub(crate) fn expr(&mut self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::paren => {
                let inner = self.next(&mut pair.into_inner(), span, "expression")?;
                let mut expr = self.expr(inner)?;
                expr.span = span;
                Ok(expr)
            }
            Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::mul_expr => {
                self.binary_chain(pair)
            }
            Rule::cmp_expr => {
                let mut children = pair.into_inner();
                let left = self.expr(self.next(&mut children, span, "operand")?)?;
                let Some(op) = children.next() else {
                    return Ok(left);
                };
                let right = self.next(&mut children, span, "right operand")?;
                let kind = if op.as_rule() == Rule::op_match {
                    ExprKind::Match(Box::new(left), self.regex(right))
                } else {
                    let op = self.binop(&op)?;
                    ExprKind::Binary(op, Box::new(left), Box::new(self.expr(right)?))
                };
                Ok(Expr { kind, span })
            }
            Rule::unary => {
                let mut ops = Vec::new();
                let mut operand = None;
                for child in pair.into_inner() {
                    if child.as_rule() == Rule::op_unary {
                        let op = if child.as_str() == "!" {
                            UnOp::Not
                        } else {
                            UnOp::Neg
                        };
                        ops.push((op, span_of(&child)));
                    } else {
                        operand = Some(self.expr(child)?);
                    }
                }
                let mut expr = operand.ok_or_else(|| self.internal(span, "unary operand"))?;
                for (op, op_span) in ops.into_iter().rev() {
                    let span = op_span.to(expr.span);
                    expr = Expr {
                        kind: ExprKind::Unary(op, Box::new(expr)),
                        span,
                    };
                }
                Ok(expr)
            }
            Rule::postfix => {
                let mut children = pair.into_inner();
                let mut expr = self.expr(self.next(&mut children, span, "primary")?)?;
                for suffix in children {
                    let suffix_span = span_of(&suffix);
                    let rule = suffix.as_rule();
                    let inner = self.next(&mut suffix.into_inner(), suffix_span, "suffix")?;
                    let whole = expr.span.to(suffix_span);
                    let kind = match rule {
                        Rule::field_access => ExprKind::Field(Box::new(expr), self.ident(inner)),
                        _ => ExprKind::Index(Box::new(expr), Box::new(self.expr(inner)?)),
                    };
                    expr = Expr { kind, span: whole };
                }
                Ok(expr)
            }
            Rule::call => {
                let mut children = pair.into_inner();
                let name = self.next_ident(&mut children, span)?;
                let mut args = Vec::new();
                for arg in children {
                    args.push(self.expr(arg)?);
                }
                Ok(Expr {
                    kind: ExprKind::Call(name, args),
                    span,
                })
            }
            Rule::ident => Ok(Expr {
                kind: ExprKind::Name(self.ident(pair)),
                span,
            }),
            Rule::string => Ok(Expr {
                kind: ExprKind::Str(self.string(pair).value),
                span,
            }),
            Rule::int => {
                let value = self.unsigned(&pair);
                let value = i64::try_from(value).unwrap_or_else(|_| {
                    self.diagnostics.push(Diagnostic::error(
                        self.file,
                        span,
                        "integer too large",
                        "does not fit in a signed 64-bit integer",
                    ));
                    0
                });
                Ok(Expr {
                    kind: ExprKind::Int(value),
                    span,
                })
            }
            Rule::char_lit => Ok(Expr {
                kind: ExprKind::Int(self.char_value(pair)?),
                span,
            }),
            Rule::kw_true | Rule::kw_false => Ok(Expr {
                kind: ExprKind::Bool(pair.as_rule() == Rule::kw_true),
                span,
            }),
            Rule::kw_null => Ok(Expr {
                kind: ExprKind::Null,
                span,
            }),
            other => Err(self.internal(span, &format!("expression {other:?}"))),
        }
    }

    /// `a op b op c`, folded to the left.
    fn binary_chain(&mut self, pair: Pair<'_, Rule>) -> Built<Expr> {
        let span = span_of(&pair);
        let mut children = pair.into_inner();
        let mut expr = self.expr(self.next(&mut children, span, "operand")?)?;
        while let Some(op) = children.next() {
            let op = self.binop(&op)?;
            let right = self.expr(self.next(&mut children, span, "right operand")?)?;
            let whole = expr.span.to(right.span);
            expr = Expr {
                kind: ExprKind::Binary(op, Box::new(expr), Box::new(right)),
                span: whole,
            };
        }
        Ok(expr)
    }

    fn binop(&self, pair: &Pair<'_, Rule>) -> Built<BinOp> {
        Ok(match pair.as_str() {
            "||" => BinOp::Or,
            "&&" => BinOp::And,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Rem,
            other => return Err(self.internal(span_of(pair), &format!("operator {other}"))),
        })
    }

    /// The byte value of `'c'` or `'\r'`; a character beyond one byte is an error.
    fn char_value(&mut self, pair: Pair<'_, Rule>) -> Built<i64> {
        let span = span_of(&pair);
        let inner = self.next(&mut pair.into_inner(), span, "character")?;
        let c = match inner.as_rule() {
            Rule::escape => self.escape(&inner),
            _ => inner.as_str().chars().next(),
        };
        let Some(c) = c else { return Ok(0) };
        match u8::try_from(u32::from(c)) {
            Ok(byte) if c.is_ascii() => Ok(i64::from(byte)),
            _ => {
                self.diagnostics.push(
                    Diagnostic::error(
                        self.file,
                        span,
                        format!("`{c}` is not a single byte"),
                        "not ASCII",
                    )
                    .with_hint(
                        "a character literal stands for one byte; write non-ASCII text as a string",
                    ),
                );
                Ok(0)
            }
        }
    }
}
