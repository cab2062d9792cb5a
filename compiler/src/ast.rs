//! The abstract syntax tree of a `.proto` spec: what the source says, before
//! any name is resolved or any type checked.
//!
//! Built by [`crate::parse`], consumed by [`crate::check`]. Invariants: every
//! name, element, expression, action and declaration carries the [`Span`] of
//! its source text (byte offsets into the file), so each later diagnostic can
//! point at it; escapes in strings are already decoded; nothing here has been
//! validated beyond syntax.

pub use protoc_runtime::expr::{BinOp, UnOp};

/// A byte range `[start, end)` of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A name as written, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal, escapes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// A `/regex/` literal; `pattern` is the text between the slashes as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexLit {
    pub pattern: String,
    /// The span of the pattern (inside the slashes).
    pub span: Span,
}

/// A whole spec file: one protocol.
#[derive(Debug, Clone)]
pub struct SpecFile {
    pub protocol: Protocol,
}

/// `protocol NAME { declarations }`.
#[derive(Debug, Clone)]
pub struct Protocol {
    pub name: Ident,
    pub declarations: Vec<Declaration>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Declaration {
    /// `transport tcp;`, `transport tcp framed u16be;`
    Transport(TransportDecl),
    /// `port 25, 587;`
    Ports(Vec<Port>),
    Const(ConstDecl),
    Event(EventDecl),
    Grammar(GrammarBlock),
    States(StatesBlock),
}

/// `transport NAME [framed NUMBER];`
#[derive(Debug, Clone)]
pub struct TransportDecl {
    pub name: Ident,
    /// `framed u16be`: the length prefix that cuts the stream into messages.
    pub framed: Option<(NumberType, Span)>,
}

/// A binary number type as written: `u16be`, `i8`, `u4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberType {
    /// Width in bits, as written (range checked by the checker).
    pub bits: u32,
    pub little_endian: bool,
    /// Whether the byte order was written (`be`/`le`).
    pub explicit_order: bool,
    pub signed: bool,
}

/// One port number as written (range checked by the checker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub value: u64,
    pub span: Span,
}

/// `const NAME = { "key": "value", … };`
#[derive(Debug, Clone)]
pub struct ConstDecl {
    pub name: Ident,
    pub entries: Vec<(StrLit, StrLit)>,
    pub span: Span,
}

/// `[streamed] event NAME;`
#[derive(Debug, Clone)]
pub struct EventDecl {
    pub name: Ident,
    pub streamed: bool,
    pub span: Span,
}

/// `grammar { tokens, records, exports }`
#[derive(Debug, Clone)]
pub struct GrammarBlock {
    pub declarations: Vec<GrammarDecl>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum GrammarDecl {
    Token(TokenDecl),
    Record(RecordDecl),
    /// `export a, b;`
    Export(Vec<Ident>),
}

/// `token NAME = /regex/;`
#[derive(Debug, Clone)]
pub struct TokenDecl {
    pub name: Ident,
    pub regex: RegexLit,
}

/// `record NAME { items }`
#[derive(Debug, Clone)]
pub struct RecordDecl {
    pub name: Ident,
    pub items: Vec<Item>,
    pub span: Span,
}

/// `name: element;`, `element;`, `let name = expr;`, `var name: element;`,
/// `var name = expr;` or `verify cond "message";`.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: Option<Ident>,
    /// `var`: the value is in scope for the rest of the record but not part
    /// of its result.
    pub hidden: bool,
    pub element: Element,
    /// `as CONVERTER` after the element.
    pub convert: Option<Converter>,
}

/// `as NAME` or `as NAME(arg)`.
#[derive(Debug, Clone)]
pub struct Converter {
    pub name: Ident,
    pub arg: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub kind: ElementKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ElementKind {
    /// A token or record, by name.
    Ref(Ident),
    /// An inline `/regex/` (an anonymous token).
    Regex(RegexLit),
    Empty,
    /// `fail "message"`
    Fail(StrLit),
    /// `optional element if cond`, or `optional TOKEN` (the token if it
    /// matches here, else nothing).
    Optional {
        element: Box<Element>,
        cond: Option<Expr>,
    },
    /// `array element until|while|count EXPR`
    Array {
        element: Box<Element>,
        end: ArrayEnd,
    },
    /// `continue` (nothing: a branch default that lets parsing go on).
    Continue,
    /// `u16be`, `i8`, `u4`…
    Number(NumberType),
    /// `flag`: one bit, a boolean.
    Flag,
    /// `padding N` (bits) or `padding align N`.
    Padding {
        bits: u64,
        align: bool,
    },
    /// `sequence { items }`: items of the enclosing record, grouped.
    Sequence(Vec<Item>),
    /// `union { items }`: each item parsed from the same position.
    Union(Vec<Item>),
    /// `try { items }`: the first item that parses.
    Try(Vec<Item>),
    /// `at OFFSET RECORD`
    At {
        offset: Expr,
        element: Box<Element>,
    },
    /// `let name = expr` / `var name = expr`: a computed value, with the
    /// type written for it, if any.
    Let {
        value: Expr,
        ty: Option<TypeName>,
    },
    /// `verify cond "message"`
    Verify {
        cond: Expr,
        message: StrLit,
    },
    /// `bytes until TOKEN | count EXPR [chunked -> EVENT [ends if COND]] [transform NAME]`
    Bytes {
        end: BytesEnd,
        chunked: Option<Ident>,
        /// `ends if COND` after the chunked event.
        ends: Option<Expr>,
        transform: Option<Ident>,
    },
    /// `branch key { "case" => element; … default => element; }`
    Branch {
        key: Expr,
        cases: Vec<BranchCase>,
    },
}

/// How an array ends.
#[derive(Debug, Clone)]
pub enum ArrayEnd {
    /// `until COND`: after an element for which `COND` holds (`elem` bound).
    Until(Expr),
    /// `while COND`: before an element, unless `COND` holds.
    While(Expr),
    /// `count EXPR`: after that many elements.
    Count(Expr),
}

/// Where a `bytes` element stops.
#[derive(Debug, Clone)]
pub enum BytesEnd {
    /// `until TOKEN`: before the token's first match.
    Until(TokenRef),
    /// `count EXPR`: after that many bytes.
    Count(Expr),
    /// `rest`: every byte left in a whole message (a datagram, a frame).
    Rest,
}

/// A token named or written inline.
#[derive(Debug, Clone)]
pub enum TokenRef {
    Named(Ident),
    Inline(RegexLit),
}

/// `"case" => element;` or `default => element;`
#[derive(Debug, Clone)]
pub struct BranchCase {
    pub key: CaseKey,
    pub element: Element,
}

#[derive(Debug, Clone)]
pub enum CaseKey {
    Value(StrLit),
    /// An integer (or character) case, for integer keys.
    Int(i64, Span),
    Default(Span),
}

/// `states KIND { states, initial, transitions }`
#[derive(Debug, Clone)]
pub struct StatesBlock {
    /// `bidirectional` (the only kind so far).
    pub kind: Ident,
    pub items: Vec<StatesItem>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum StatesItem {
    Var(VarDecl),
    State(StateDecl),
    /// `initial NAME;`
    Initial(Ident),
    Transition(TransitionDecl),
}

/// `var NAME: TYPE;`
#[derive(Debug, Clone)]
pub struct VarDecl {
    pub name: Ident,
    pub ty: TypeName,
    pub span: Span,
}

/// A type as written: `string`, `list of integer`.
#[derive(Debug, Clone)]
pub enum TypeName {
    Named(Ident),
    List(Box<TypeName>, Span),
}

impl TypeName {
    pub fn span(&self) -> Span {
        match self {
            TypeName::Named(name) => name.span,
            TypeName::List(_, span) => *span,
        }
    }
}

/// `state NAME { up: RECORD; down: RECORD; }`
#[derive(Debug, Clone)]
pub struct StateDecl {
    pub name: Ident,
    /// `(direction, record)` pairs as written.
    pub grammars: Vec<(Ident, Ident)>,
    pub span: Span,
}

/// `STATE|any on EVENT[(arg)] [when cond] { actions }`
#[derive(Debug, Clone)]
pub struct TransitionDecl {
    pub subject: Subject,
    pub event: Ident,
    pub arg: Option<EventArg>,
    pub when: Option<Expr>,
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Subject {
    /// `any`: the transition applies in every state.
    Any(Span),
    State(Ident),
}

/// What follows an event name in parentheses.
#[derive(Debug, Clone)]
pub enum EventArg {
    /// `on up(res)`: a name bound to the event's argument.
    Binding(Ident),
    /// `on timeout(30)`: seconds.
    Number { value: f64, span: Span },
}

#[derive(Debug, Clone)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ActionKind {
    /// `trigger EVENT[(expr)]`
    Trigger {
        event: Ident,
        arg: Option<Expr>,
    },
    /// `alert SEVERITY "text"`
    Alert {
        severity: Ident,
        description: Template,
    },
    Drop,
    /// `log "text"`
    Log(Template),
    /// `jump STATE|fail|finish`
    Jump(Ident),
    /// `trigger EVENT(name: expr, …)`
    TriggerNamed {
        event: Ident,
        fields: Vec<(Ident, Expr)>,
    },
    /// `set VAR = expr`
    Set {
        var: Ident,
        value: Expr,
    },
    /// `push LIST(expr)`
    Push {
        var: Ident,
        value: Expr,
    },
    /// `pop LIST`
    Pop(Ident),
    /// `clear VAR`
    Clear(Ident),
    /// `stop`
    Stop,
    /// `handover SPEC` / `handover port EXPR`
    Handover(HandoverTo),
    /// `resync TOKEN [unless TOKEN]`
    Resync {
        token: TokenRef,
        unless: Option<TokenRef>,
    },
    /// `close EVENT`
    Close(Ident),
}

/// Where `handover` sends the rest of a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoverTo {
    /// A spec by name (`handover smtp`).
    Spec(Ident),
    /// The spec that claims a TCP port (`handover port tunnel_port`).
    Port(Expr),
}

/// A string with `{expr}` interpolations.
#[derive(Debug, Clone)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Str(String),
    /// An integer; a char literal `'\r'` is its byte value.
    Int(i64),
    Bool(bool),
    /// `null`: the absent value.
    Null,
    Name(Ident),
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Call(Ident, Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `subject ~ /pattern/`
    Match(Box<Expr>, RegexLit),
}
