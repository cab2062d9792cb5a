//! Parsing primitives that generated dissectors call.
//!
//! A generated record parser is a resumable step machine: it consumes bytes
//! from an [`Input`] through these primitives, and when the input runs out it
//! returns [`Stop::NeedMore`] with all its progress stored in itself (token
//! text so far, DFA state, array elements, chosen branch case, …). The next
//! call resumes exactly there, so a message split across any number of
//! segments is parsed in linear time and gives the same result as if it came
//! whole.
//!
//! - [`input`]: the bytes available now, with pushback and message offsets;
//! - [`token`]: token matchers (a byte-class loop, or an anchored dense DFA
//!   with longest-match semantics across segments);
//! - [`until`]: `bytes until TOKEN`, streamed chunk by chunk or collected;
//! - [`count`]: `bytes count N`, exactly N bytes, streamed or collected;
//! - [`unstuff`]: RFC 5321 dot-unstuffing of a chunk stream;
//! - [`streams`]: which streamed events have a stream open, and their tallies;
//! - [`resync`]: skipping to just after the next match of a token;
//! - [`number`]: binary numbers and bit fields, `flag`, `padding`;
//! - [`at`]: `at OFFSET RECORD`, a record parsed from an earlier position;
//! - [`convert`]: `text`, `hex`, `ip`, `join` (expressions and converters);
//! - [`frames`]: messages cut out of a byte stream by a length prefix
//!   (`transport tcp framed u16be;`).
//!
//! Errors read like Haka's: `parse error at byte N for field F in R: REASON`,
//! N counted from the start of the message. Caps ([`Limits`]) bound every
//! buffer: a token longer than `max_token_len` or a message longer than
//! `max_message_len` (not counting streamed bytes) is a parse error, never
//! unbounded buffering; such an error is also reported to the sink as a cap
//! hit ([`ParseError::cap_hit`], `EventSink::cap`).
//!
//! # State-machine semantics of generated dissectors
//!
//! Generated `Dissector`s (see `protoc_compiler::codegen`) follow these rules:
//! - `feed(dir, data)`: while bytes remain and the flow is active: if the
//!   current state has no grammar for `dir`, `missing_grammar(dir)` fires; if
//!   the state still has none afterwards, the bytes wait (up to
//!   `max_message_len`) until a state with a grammar for `dir` is entered;
//!   beyond the cap, the oldest `max_message_len + 1` waiting bytes are a
//!   parse error (`N bytes wait for a grammar`) and are dropped, and the rest
//!   is looked at again (the same bytes however the input was cut).
//!   Otherwise `dir`'s parser resumes; a parsed message fires `up(res)` or
//!   `down(res)`, a parse error fires `parse_error(err)` (unhandled: jump
//!   `fail`) and the rest of that feed is discarded.
//! - each direction has its own parser and pending bytes; a message in
//!   progress survives a state change only if the new state has the same
//!   grammar for that direction, otherwise it restarts from its next byte;
//! - the current state's transitions for an event are tried in declaration
//!   order, then `any`'s; the first whose `when` holds fires (actions in
//!   order, then the jump). No match: nothing happens.
//! - a jump runs `leave` (old state) then `enter` (new state) and resets the
//!   state's timeout clock; `jump fail` runs `fail` transitions then drops the
//!   flow; `jump finish` runs `finish` transitions then ends it. `init` fires
//!   once before the first byte, then `enter` of the initial state.
//! - a [`Verdict::Drop`](crate::dissector::Verdict) from any sink call drops
//!   the flow at once.
//! - `gap(dir, len)` abandons `dir`'s message in progress (a chunked stream
//!   gets its `last` call) and fires `gap(len)`; unhandled, it is a parse error
//!   `gap of N bytes`. A gap that falls inside a streamed `bytes count` field
//!   is absorbed by it instead: the field skips the lost bytes (counted as
//!   the stream's `missing`), the sink hears of the gap, and parsing goes on
//!   in step, with no `gap` transition.
//! - `end(dir)` fires the `end(dir)` transitions, then parses bytes that
//!   waited for a grammar if the state now has one; a message of `dir` still
//!   in progress then closes its chunked stream and is a parse error
//!   `unexpected end of stream`. `tick` fires the `timeout(secs)` transitions
//!   that fell due.
//! - bytes of one direction that waited for a grammar are older than what the
//!   other direction sends next: as soon as a state change lets them be
//!   parsed, they are, all of them, before the other direction's parse goes
//!   on (its rest then waits too, under the same cap).
//! - `resync TOKEN [unless OTHER];` (an action) makes the direction of the
//!   event being handled skip its bytes up to and including the next match
//!   of `TOKEN` before parsing again (nothing when `OTHER` matches at once);
//!   after a `parse_error` it also keeps the bytes that follow the error,
//!   which are otherwise discarded with the rest of the feed.
//! - `stop;` ends parsing quietly: the flow is `Finished`, its later bytes
//!   pass unparsed, and no `finish` transition runs.

pub mod at;
pub mod convert;
pub mod count;
pub mod frames;
pub mod input;
pub mod number;
pub mod resync;
pub mod streams;
pub mod token;
pub mod unstuff;
pub mod until;

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Verdict};

pub use at::parse_at;
pub use count::{read_rest, stream_rest, CountState};
pub use frames::{Deframer, FrameFormat};
pub use input::{Input, Pending};
pub use number::{Bits, NumberFormat};
pub use resync::Resync;
pub use streams::{SinkDigests, StreamBook, StreamTally};
pub use token::{ByteClass, FirstBytes, LazyRegex, TokenDfa, TokenState};
pub use unstuff::Unstuffer;
pub use until::{Transform, UntilState, UntilToken};

/// What a top-level record parser returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<T> {
    /// The message is complete.
    Done(T),
    /// The input ran out; progress is kept in the parser.
    NeedMore,
    /// The input does not match the grammar. The parser is reset.
    Error(ParseError),
}

/// Why a parsing step did not complete: the `Err` side of [`Step`], so that
/// generated code can use `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    NeedMore,
    Error(ParseError),
}

/// The result of one parsing primitive or child parser.
pub type Step<T> = Result<T, Stop>;

impl<T> From<Step<T>> for Progress<T> {
    fn from(step: Step<T>) -> Progress<T> {
        match step {
            Ok(value) => Progress::Done(value),
            Err(Stop::NeedMore) => Progress::NeedMore,
            Err(Stop::Error(err)) => Progress::Error(err),
        }
    }
}

/// Where in the grammar a primitive runs: for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    /// The record being parsed.
    pub record: &'static str,
    /// The field being parsed (or the token's name for an unnamed token).
    pub field: &'static str,
}

impl Site {
    pub const fn new(record: &'static str, field: &'static str) -> Site {
        Site { record, field }
    }
}

/// A message that does not match its grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at byte {offset} for field {field} in {record}: {reason}")]
pub struct ParseError {
    /// Position in the message (0 is its first byte).
    pub offset: u64,
    pub field: String,
    pub record: String,
    pub reason: String,
}

impl ParseError {
    pub fn new(offset: u64, site: Site, reason: impl Into<String>) -> ParseError {
        ParseError {
            offset,
            field: site.field.to_string(),
            record: site.record.to_string(),
            reason: reason.into(),
        }
    }
}

/// Caps on what one direction's parser buffers.
///
/// [`Limits::default`] is the process-wide setting: [`Limits::BUILT_IN`]
/// unless a program changed it once at start-up with
/// [`Limits::set_process_default`] (the CLI's `--max-token` and
/// `--max-message`). Generated dissectors read it for every parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest token, or non-chunked `bytes until` field, in bytes.
    pub max_token_len: usize,
    /// Longest message, not counting chunked (streamed) bytes; also the most
    /// bytes that may wait for a grammar.
    pub max_message_len: u64,
}

/// The process-wide [`Limits`] (see [`Limits::set_process_default`]).
static DEFAULT_MAX_TOKEN_LEN: AtomicUsize = AtomicUsize::new(Limits::BUILT_IN.max_token_len);
static DEFAULT_MAX_MESSAGE_LEN: AtomicU64 = AtomicU64::new(Limits::BUILT_IN.max_message_len);

impl Limits {
    /// The caps a program gets unless it sets others: 64 KiB per token, 1 MiB
    /// per message. A line without its end is given up after 64 KiB, so a
    /// 50 MB line costs no more memory than a short one.
    pub const BUILT_IN: Limits = Limits {
        max_token_len: 64 * 1024,
        max_message_len: 1024 * 1024,
    };

    /// Makes `limits` what [`Limits::default`] returns from now on, in every
    /// thread. Meant to be called once, before any packet is parsed.
    pub fn set_process_default(limits: Limits) {
        DEFAULT_MAX_TOKEN_LEN.store(limits.max_token_len, Ordering::Relaxed);
        DEFAULT_MAX_MESSAGE_LEN.store(limits.max_message_len, Ordering::Relaxed);
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_token_len: DEFAULT_MAX_TOKEN_LEN.load(Ordering::Relaxed),
            max_message_len: DEFAULT_MAX_MESSAGE_LEN.load(Ordering::Relaxed),
        }
    }
}

impl ParseError {
    /// Which parse cap this error reports, if any: `max-token` or
    /// `max-message`, with the limit in force (the process-wide [`Limits`]).
    pub fn cap_hit(&self) -> Option<(&'static str, u64)> {
        let limits = Limits::default();
        let token = u64::try_from(limits.max_token_len).unwrap_or(u64::MAX);
        match self.reason.as_str() {
            "token too long" | "field too long" | "end token too long" => {
                Some(("max-token", token))
            }
            "message too long" => Some(("max-message", limits.max_message_len)),
            reason if reason.ends_with(" bytes wait for a grammar") => {
                Some(("max-message", limits.max_message_len))
            }
            _ => None,
        }
    }
}

/// What a parser needs besides its input: where to stream chunks, caps, and
/// whether a sink asked to drop the flow.
pub struct ParseCx<'a> {
    pub flow: &'a FlowInfo,
    pub now: f64,
    pub dir: Direction,
    pub sink: &'a mut dyn EventSink,
    pub limits: Limits,
    /// The flow's stream book, told of every chunk (when the dissector keeps one).
    streams: Option<&'a mut StreamBook>,
    dropped: bool,
    /// How deeply `at` parses are nested now, and the bytes they read in
    /// all (see [`at`]).
    pub at_depth: u32,
    pub at_read: u64,
    /// The state machine's variables, which grammar expressions may read
    /// (the generated `Vars` struct).
    vars: Option<&'a dyn Any>,
}

impl<'a> ParseCx<'a> {
    pub fn new(cx: &'a mut Cx<'_>, dir: Direction) -> ParseCx<'a> {
        ParseCx {
            flow: cx.flow,
            now: cx.now,
            dir,
            sink: &mut *cx.sink,
            limits: Limits::default(),
            streams: None,
            dropped: false,
            at_depth: 0,
            at_read: 0,
            vars: None,
        }
    }

    /// Like [`ParseCx::new`], telling `streams` of every chunk sent.
    pub fn with_streams(
        cx: &'a mut Cx<'_>,
        dir: Direction,
        streams: &'a mut StreamBook,
    ) -> ParseCx<'a> {
        let mut pcx = ParseCx::new(cx, dir);
        pcx.streams = Some(streams);
        pcx
    }

    /// Lets grammar expressions read the state machine's variables.
    pub fn with_vars(mut self, vars: &'a dyn Any) -> ParseCx<'a> {
        self.vars = Some(vars);
        self
    }

    /// The state machine's variables, if the dissector lent them (as its
    /// own `T`).
    pub fn vars<T: Any>(&self) -> Option<&'a T> {
        self.vars.and_then(|v| v.downcast_ref::<T>())
    }

    /// Records `len` bytes of `event`'s open stream lost to a gap.
    pub fn stream_gap(&mut self, event: &'static str, len: u64) {
        if let Some(book) = self.streams.as_deref_mut() {
            book.record_missing(event, self.dir, len);
        }
    }

    /// A parse error at the current position of `input`.
    pub fn error(&self, input: &Input<'_>, site: Site, reason: impl Into<String>) -> Stop {
        Stop::Error(ParseError::new(input.message_offset(), site, reason))
    }

    /// Sends one chunk of a streamed event. After a `Drop` verdict, returns
    /// [`Stop::NeedMore`]: the caller checks [`ParseCx::dropped`].
    pub fn stream(&mut self, event: &'static str, chunk: &[u8], last: bool) -> Step<()> {
        if self.dropped {
            return Err(Stop::NeedMore);
        }
        if chunk.is_empty() && !last {
            return Ok(());
        }
        let verdict = self
            .sink
            .stream(self.flow, self.dir, self.now, event, chunk, last);
        if let Some(book) = self.streams.as_deref_mut() {
            // After the sink: it may hash the stream for the book.
            let sink = SinkDigests {
                flow: self.flow,
                sink: &mut *self.sink,
            };
            book.record_with(event, self.dir, chunk, last, Some(sink));
        }
        match verdict {
            Verdict::Continue => Ok(()),
            Verdict::Drop => {
                self.dropped = true;
                Err(Stop::NeedMore)
            }
        }
    }

    /// Whether a sink answered `Drop`: the flow must stop now.
    pub fn dropped(&self) -> bool {
        self.dropped
    }

    /// Fails when the message so far (streamed bytes aside) exceeds the cap.
    pub fn check_message_len(&self, input: &Input<'_>, site: Site) -> Step<()> {
        if input.kept_message_len() > self.limits.max_message_len {
            return Err(self.error(input, site, "message too long"));
        }
        Ok(())
    }
}

impl fmt::Debug for ParseCx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseCx")
            .field("flow", &self.flow.id)
            .field("dir", &self.dir)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// Bytes as text for traces: printable ASCII as is, the rest as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
