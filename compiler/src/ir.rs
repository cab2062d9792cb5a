//! The IR: a checked spec, the hand-off from the checker to code generation and
//! graph export.
//!
//! Invariants (established by `check`, relied upon by every consumer):
//! - every id (`TokenId`, `RecordId`, `EventId`, `StateId`, `ConstId`) indexes
//!   its vector in [`Spec`]; names are unique within their kind;
//! - every token pattern compiles with the `regex` crate and cannot match the
//!   empty string unless written so on purpose (e.g. `/[^\r\n]*/`);
//! - every expression is typed (`Expr::ty`) and only refers to names in scope;
//! - each record's `fields` lists the named fields its parse result carries,
//!   with anonymous sub-records, branch cases and optionals flattened in;
//! - a state's `up`/`down` grammar is an exported record;
//! - `machine.initial` is a valid state;
//! - every variable an action or expression names is in `machine.vars`,
//!   with the type it is used at; an event carries either a record
//!   (`payload`) or named values (`fields`), never both.

pub use protoc_runtime::dissector::Severity;
pub use protoc_runtime::expr::{BinOp, Expr, ExprKind, Func, Template, TemplatePart, Type, UnOp};
pub use protoc_runtime::parse::{FrameFormat, NumberFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub usize);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub usize);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub usize);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId(pub usize);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstId(pub usize);

/// A checked spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The protocol's name (`protocol smtp { … }`).
    pub name: String,
    /// The spec file as given to the compiler (`specs/smtp.proto`), for headers.
    pub source_path: String,
    pub transport: Transport,
    pub ports: Vec<u16>,
    pub consts: Vec<ConstTable>,
    pub events: Vec<Event>,
    pub grammar: Grammar,
    pub machine: StateMachine,
}

/// How the spec's flows are carried (its `transport` declarations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `transport tcp;` alone: a byte stream per direction.
    Tcp,
    /// Other combinations: UDP (each datagram one message) and TCP as a
    /// stream or cut into messages by a length prefix.
    Carried { tcp: Option<TcpMode>, udp: bool },
}

/// How TCP flows of a spec are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpMode {
    /// A byte stream: messages follow one another as the grammar reads them.
    Stream,
    /// `framed u16be`: each length-prefixed frame is one message, parsed
    /// like a datagram.
    Framed(FrameFormat),
}

impl Transport {
    /// How TCP flows are parsed, if the spec takes them.
    pub fn tcp(&self) -> Option<TcpMode> {
        match self {
            Transport::Tcp => Some(TcpMode::Stream),
            Transport::Carried { tcp, .. } => *tcp,
        }
    }

    /// Whether the spec takes UDP flows.
    pub fn udp(&self) -> bool {
        matches!(self, Transport::Carried { udp: true, .. })
    }
}

/// `const NAME = { "key": "value", … };`: a string-to-string table.
#[derive(Debug, Clone)]
pub struct ConstTable {
    pub name: String,
    pub entries: Vec<(String, String)>,
}

/// `event NAME;` or `streamed event NAME;`.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub streamed: bool,
    /// The record every `trigger` of this event passes (inferred by the
    /// checker; `None` if it is never triggered with a record, or streamed).
    pub payload: Option<RecordId>,
    /// The named values every `trigger EVENT(name: expr, …)` passes, in
    /// order (empty unless the event is triggered so).
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Clone)]
pub struct Grammar {
    pub tokens: Vec<Token>,
    pub records: Vec<Record>,
    /// Records a state may name as its `up`/`down` grammar.
    pub exports: Vec<RecordId>,
}

/// `token NAME = /regex/;`. Inline regexes in records become tokens named
/// `_token_N`.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    /// The regex as written between the slashes.
    pub pattern: String,
    /// Longest match the pattern can make, if bounded (`\r?\n` → 2).
    pub max_len: Option<usize>,
}

/// `record NAME { items }`.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    /// What to parse, in order.
    pub items: Vec<Element>,
    /// The named fields of the parse result, flattened (see module doc), in
    /// order of first appearance.
    pub fields: Vec<FieldDef>,
}

/// One named field of a record's parse result.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub name: String,
    /// Its type; `Type::Optional` when some parse paths do not set it.
    pub ty: Type,
}

/// A grammar element: what the parser does at one point of a record.
#[derive(Debug, Clone)]
pub enum Element {
    /// `name: element;`: parse `element` and store its result as `name`.
    Field { name: String, element: Box<Element> },
    /// Match a token; its text is the result.
    Token(TokenId),
    /// Parse another record. Unnamed (not under `Field`), its fields are
    /// merged into the enclosing record's result.
    Record(RecordId),
    /// `branch TABLE[key] { "case" => element; … default => element; }`:
    /// evaluate `key` (a `Lookup` into a const table, or any string
    /// expression), then parse the element of the matching case. With no
    /// match and no default, it is a parse error. When `key` is an integer,
    /// the cases are integers written in decimal.
    Branch {
        key: Expr,
        cases: Vec<(String, Element)>,
        default: Option<Box<Element>>,
    },
    /// `optional element if cond`: parse `element` only when `cond` holds
    /// (it may call `lookahead()`, which waits for one more byte).
    Optional { element: Box<Element>, cond: Expr },
    /// Parse nothing.
    Empty,
    /// A parse error with this message.
    Fail(String),
    /// `optional TOKEN`: the token's text if it matches here, else nothing
    /// (no byte consumed).
    TryToken(TokenId),
    /// `array element until cond`: parse elements one after another; after
    /// each, evaluate `cond` with `elem` bound to the element just parsed and
    /// stop when it holds. The result is the list of elements.
    Array { element: Box<Element>, until: Expr },
    /// `bytes until TOKEN [chunked -> EVENT] [transform NAME]`: read bytes up
    /// to (not including) the first match of `token`; the token itself is not
    /// consumed. Chunked: each available piece goes to the streamed `event`
    /// as it arrives, and the result is not kept.
    BytesUntil {
        token: TokenId,
        chunked: Option<EventId>,
        transform: Option<Transform>,
    },
    /// `bytes count EXPR …` (see [`BytesCount`]).
    BytesCount(Box<BytesCount>),
    /// `bytes rest`: every byte left of a whole message (specs whose
    /// messages are datagrams or frames); `bytes rest chunked -> EVENT`:
    /// every byte until the direction ends (or the message does), streamed.
    BytesRest { chunked: Option<EventId> },
    /// `array element count EXPR`: exactly `count` elements (absent or
    /// negative is a parse error).
    ArrayCount { element: Box<Element>, count: Expr },
    /// `array element while COND`: elements while `COND` holds, evaluated
    /// before each (it may use `lookahead()` and `offset()`).
    ArrayWhile { element: Box<Element>, cond: Expr },
    /// `u16be`, `i8`, `u4`…: a binary number (an integer).
    Number(NumberFormat),
    /// `flag`: one bit, a boolean.
    Flag,
    /// `padding N` (skip `bits` bits) or `padding align N` (skip to the next
    /// multiple of `bits` bits from the message's start).
    Padding { bits: u64, align: bool },
    /// `verify COND "message"`: a parse error with the message unless `COND` holds.
    Verify { cond: Expr, message: String },
    /// `let NAME = EXPR` (under `Field`) or `var NAME = EXPR` (under
    /// `Hidden`): a computed value.
    Let(Expr),
    /// `var NAME …`: like `Field`, but the value is not part of the
    /// record's result (`ty` is its type, as later items see it).
    Hidden {
        name: String,
        ty: Type,
        element: Box<Element>,
    },
    /// `ELEMENT as CONVERTER`: the element's value, converted by `value`, an
    /// expression over [`CONVERTED`] (`written` is the converter as written).
    Convert {
        element: Box<Element>,
        value: Expr,
        written: String,
    },
    /// `sequence { … }`: items of the enclosing record, grouped.
    Sequence(Vec<Element>),
    /// `union { … }`: each member parsed from the same position; parsing
    /// goes on after the member that read the most.
    Union(Vec<Element>),
    /// `try { … }`: the first alternative that parses; the bytes a failed
    /// alternative read are read again by the next (from the journal).
    Try(Vec<Element>),
    /// `at OFFSET RECORD`: the record parsed from the message's bytes read
    /// so far, from position `offset`; the input does not move.
    At { offset: Expr, record: RecordId },
}

/// The name a converter's expression gives the value it converts (not a
/// name a spec can write).
pub const CONVERTED: &str = "@value";

/// `bytes count EXPR [chunked -> EVENT [ends if COND]] [transform NAME]`:
/// exactly `count` bytes (an integer expression over fields parsed before;
/// absent or negative is a parse error). Chunked, the stream stays open after
/// the field unless `ends` holds (default: it always ends), so several fields
/// can make one stream.
#[derive(Debug, Clone)]
pub struct BytesCount {
    pub count: Expr,
    pub chunked: Option<EventId>,
    pub ends: Option<Expr>,
    pub transform: Option<Transform>,
}

/// A generic transform applied to the bytes of a chunked field before they
/// reach the event (provided by the runtime, named in the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Undo line-start dot-stuffing (`\n..` → `\n.`), RFC 5321 §4.5.2.
    Unstuff,
}

/// `states bidirectional { … }`.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub states: Vec<State>,
    pub initial: StateId,
    /// Transitions declared on `any`: tried after the current state's own.
    pub any: Vec<Transition>,
    /// Per-flow variables (`var NAME: TYPE;`), in declaration order.
    pub vars: Vec<Var>,
}

/// `var NAME: TYPE;`: a per-flow variable, starting at its type's default
/// (empty string, 0, false, empty bytes or list). Its type is never optional.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: Type,
}

/// `state NAME { up: RECORD; down: RECORD; }`.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub up: Option<RecordId>,
    pub down: Option<RecordId>,
    /// Transitions in declaration order: the first whose event matches and
    /// whose condition holds fires.
    pub transitions: Vec<Transition>,
}

/// `STATE on EVENT[(binding)] [when cond] { actions; [jump TARGET;] }`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub on: TransitionEvent,
    /// The name bound to the event's argument: the parsed record for `up` and
    /// `down` (`Type::Record`), the error message for `parse_error` (string),
    /// the direction (`"up"`/`"down"`) for `missing_grammar` and `end`, the
    /// number of missing bytes for `gap`.
    pub binding: Option<String>,
    pub when: Option<Expr>,
    pub actions: Vec<Action>,
    /// Where to go after the actions; `None` stays in the current state.
    pub jump: Option<Target>,
    /// 1-based line of the transition in the spec, for graphs and traces.
    pub line: usize,
}

/// The built-in state-machine events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransitionEvent {
    /// A message parsed from the client.
    Up,
    /// A message parsed from the server.
    Down,
    /// The current grammar rejected the input.
    ParseError,
    /// Data arrived in a direction the current state has no grammar for.
    /// Unhandled, the data waits until a state with a grammar for it.
    MissingGrammar,
    /// Bytes were lost in the stream (binding: how many, an integer).
    /// Unhandled, it is a parse error.
    Gap,
    /// One direction ended (FIN, RST or the end of the capture; binding:
    /// `"up"` or `"down"`). Bytes that waited for a grammar are parsed after
    /// its transitions, if the state then has one.
    End,
    /// The state machine starts (on the initial state).
    Init,
    /// The state is entered.
    Enter,
    /// The state is left.
    Leave,
    /// No transition for this many seconds (of capture time) since the state was entered.
    Timeout(f64),
    /// The machine reached `fail`.
    Fail,
    /// The machine reached `finish`.
    Finish,
}

impl TransitionEvent {
    pub fn name(&self) -> &'static str {
        match self {
            TransitionEvent::Up => "up",
            TransitionEvent::Down => "down",
            TransitionEvent::ParseError => "parse_error",
            TransitionEvent::MissingGrammar => "missing_grammar",
            TransitionEvent::Gap => "gap",
            TransitionEvent::End => "end",
            TransitionEvent::Init => "init",
            TransitionEvent::Enter => "enter",
            TransitionEvent::Leave => "leave",
            TransitionEvent::Timeout(_) => "timeout",
            TransitionEvent::Fail => "fail",
            TransitionEvent::Finish => "finish",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    State(StateId),
    /// The built-in failure state: `on fail` transitions run, then the flow is dropped.
    Fail,
    /// The built-in end state: `on finish` transitions run, then the flow is done.
    Finish,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// `trigger EVENT(expr);` or `trigger EVENT;`.
    Trigger { event: EventId, arg: Option<Expr> },
    /// `alert SEVERITY "description with {expr}";`.
    Alert {
        severity: Severity,
        description: Template,
    },
    /// `drop;`: drop the flow now.
    Drop,
    /// `log "text with {expr}";`: a line in the debug trace.
    Log(Template),
    /// `trigger EVENT(name: expr, …);`: the event with these named values.
    TriggerFields {
        event: EventId,
        fields: Vec<(String, Expr)>,
    },
    /// `set VAR = expr;` (an absent value stores the type's default).
    Set { var: String, value: Expr },
    /// `push LIST(expr);`: append (an absent value appends the default).
    Push { var: String, value: Expr },
    /// `pop LIST;`: remove the oldest element, if any.
    Pop(String),
    /// `clear VAR;`: back to the type's default.
    Clear(String),
    /// `close EVENT;`: end the streamed event's open stream, if any.
    Close(EventId),
    /// `resync TOKEN [unless OTHER];`: the event's direction skips up to and
    /// including the token's next match before parsing again, unless `OTHER`
    /// matches at once.
    Resync {
        token: TokenId,
        unless: Option<TokenId>,
    },
    /// `stop;`: end parsing quietly (the flow's later bytes pass unparsed;
    /// `finish` transitions do not run). Always the last action.
    Stop,
    /// `handover SPEC;` / `handover port EXPR;`: end parsing as `stop` does,
    /// and pass the rest of the flow (the bytes of both directions not yet
    /// parsed, then every later one) to another spec's dissector, which
    /// starts as on a new flow. Always the last action.
    Handover(HandoverTo),
}

/// Where `handover` sends the rest of a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoverTo {
    /// A spec by name.
    Spec(String),
    /// The spec that claims this TCP port (an integer expression).
    Port(Expr),
}

impl Spec {
    pub fn token(&self, id: TokenId) -> &Token {
        &self.grammar.tokens[id.0]
    }
    pub fn record(&self, id: RecordId) -> &Record {
        &self.grammar.records[id.0]
    }
    pub fn event(&self, id: EventId) -> &Event {
        &self.events[id.0]
    }
    pub fn state(&self, id: StateId) -> &State {
        &self.machine.states[id.0]
    }
    pub fn record_by_name(&self, name: &str) -> Option<RecordId> {
        self.grammar
            .records
            .iter()
            .position(|r| r.name == name)
            .map(RecordId)
    }
    pub fn state_by_name(&self, name: &str) -> Option<StateId> {
        self.machine
            .states
            .iter()
            .position(|s| s.name == name)
            .map(StateId)
    }
    pub fn var(&self, name: &str) -> Option<&Var> {
        self.machine.vars.iter().find(|v| v.name == name)
    }
    pub fn const_table(&self, name: &str) -> Option<&ConstTable> {
        self.consts.iter().find(|c| c.name == name)
    }
}

/// The record type of a streamed event's name in state-machine expressions
/// (`mail_content.size`): the tally of its current or last stream, with the
/// fields of [`stream_fields`]. No spec record may take this name.
pub const STREAM_RECORD: &str = "stream";

/// The fields of [`STREAM_RECORD`] (`protoc_runtime::parse::StreamTally`).
pub fn stream_fields() -> Vec<FieldDef> {
    [
        ("open", Type::Bool),
        ("size", Type::Int),
        ("missing", Type::Int),
        ("sha256", Type::Str),
    ]
    .into_iter()
    .map(|(name, ty)| FieldDef {
        name: name.to_string(),
        ty,
    })
    .collect()
}
