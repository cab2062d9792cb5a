//! The contract between the runtime and generated dissectors.
//!
//! The runtime reassembles each TCP flow and hands its in-order bytes, per
//! direction, to one [`Dissector`] instance (generated from a spec). The
//! dissector parses, runs its state machine and reports what it finds to an
//! [`EventSink`]: user events with their parsed record, streamed chunks,
//! alerts, caps reached, overlaps and a debug trace. The sink answers with a [`Verdict`] so that rules
//! can drop the flow from inside an event.

use std::fmt;
use std::net::SocketAddr;

use crate::value::Value;

/// The direction of bytes in a flow: `Up` from the initiator (client) to the
/// responder (server), `Down` back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }

    pub fn reverse(self) -> Direction {
        match self {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Identity of a flow as the outputs show it: `src` is the initiator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowInfo {
    /// A small id, unique within one run, in order of first packet.
    pub id: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// Alert severities, as in Haka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// What the sink wants done with the flow after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Drop the flow: the dissector stops, the runtime withholds the current
    /// packet and every later one of the flow, and frees its state.
    Drop,
}

/// Where a dissector stands, as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// Parsing goes on.
    Active,
    /// The state machine reached `finish`: the flow is done, later bytes are ignored.
    Finished,
    /// The state machine reached `fail` and dropped the flow, or a rule dropped it.
    Dropped,
}

/// Where a flow goes after its spec's `handover` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverTarget {
    /// The spec of this name (`handover smtp;`).
    Spec(&'static str),
    /// The spec that claims this TCP port (`handover port EXPR;`).
    Port(u16),
}

/// What a dissector that ran `handover` passes on (see
/// [`Dissector::take_handover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub to: HandoverTarget,
    /// The direction whose message led to the handover: its bytes go first.
    pub dir: Direction,
    /// Per direction ([`Direction::index`]), the bytes received and not
    /// parsed (a message in progress is abandoned, its bytes are not
    /// passed on).
    pub rest: [Vec<u8>; 2],
}

/// Receives what dissectors find. Implemented by the runtime's output and
/// rules engine; tests implement it to record events.
pub trait EventSink {
    /// A user event (`trigger NAME(record)` in the spec), `fields` being the record.
    fn event(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        fields: &Value,
    ) -> Verdict;

    /// A chunk of a streamed event (`bytes ... chunked -> NAME`). `last` is true
    /// on the final call of one stream (its chunk may be empty).
    fn stream(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        chunk: &[u8],
        last: bool,
    ) -> Verdict;

    /// Asked right after the first `stream` call of a stream (its first
    /// chunk handed over): whether the sink computes the SHA-256 of the whole
    /// stream, from that chunk to the last (an extraction does). A sink that
    /// answers yes gives the digest with [`EventSink::stream_digest`] right
    /// after the stream's `last` call, so that a dissector that needs it too
    /// (its spec reads `EVENT.sha256`) does not hash the stream a second
    /// time.
    fn hashes_stream(&mut self, _flow: &FlowInfo, _dir: Direction, _name: &'static str) -> bool {
        false
    }

    /// The SHA-256 of the stream of `name` in `dir` that the latest `last`
    /// call ended, when [`EventSink::hashes_stream`] said the sink hashes it.
    fn stream_digest(
        &mut self,
        _flow: &FlowInfo,
        _dir: Direction,
        _name: &'static str,
    ) -> Option<[u8; 32]> {
        None
    }

    /// The sink's pool for hashing streams side by side, which the flows'
    /// stream books may use for the streams they hash themselves (see
    /// [`crate::sha256`]); `None` hashes each stream on its own.
    fn sha256_lanes(&mut self) -> Option<&mut crate::sha256::Sha256Lanes> {
        None
    }

    /// An alert raised by the spec's state machine.
    fn alert(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        severity: Severity,
        description: &str,
    );

    /// The grammar rejected the input (before the spec's `parse_error`
    /// transitions run): outputs report it as a `parse_error` event and count it.
    fn parse_error(&mut self, _flow: &FlowInfo, _dir: Direction, _now: f64, _message: &str) {}

    /// `len` bytes of one direction were lost (before the spec's `gap` transitions run).
    fn gap(&mut self, _flow: &FlowInfo, _dir: Direction, _now: f64, _len: u64) {}

    /// A cap was reached (before anything else is done about it): see
    /// [`CapHit`]. Outputs report it as a `cap` event and count it.
    fn cap(&mut self, _flow: &FlowInfo, _dir: Direction, _now: f64, _hit: &CapHit<'_>) {}

    /// Segments of `dir` overlapped bytes buffered before them with different
    /// content, `len` bytes from stream offset `offset`; the bytes that
    /// arrived first were kept. Outputs report it as an `overlap` event.
    fn overlap(&mut self, _flow: &FlowInfo, _dir: Direction, _now: f64, _offset: u64, _len: u64) {}

    /// Whether `trace` is wanted (`-d`); dissectors skip formatting otherwise.
    fn tracing(&self) -> bool {
        false
    }

    /// One line of debug trace: grammar and state machine steps.
    fn trace(&mut self, _flow: &FlowInfo, _message: fmt::Arguments<'_>) {}
}

/// A cap that was reached, as outputs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapHit<'a> {
    /// The cap's name, as its command-line flag says it (`max-token`,
    /// `max-message`, `max-flows`, `max-ooo-per-flow`, `max-ooo-total`, `memcap`).
    pub cap: &'static str,
    /// Its value (bytes, or flows for `max-flows`).
    pub limit: u64,
    /// What was done about it (`parse error`, `flow evicted`, ...).
    pub action: &'a str,
}

/// Everything a dissector call needs besides its own state.
pub struct Cx<'a> {
    pub flow: &'a FlowInfo,
    /// Capture time of the packet being processed, in seconds since the epoch.
    pub now: f64,
    pub sink: &'a mut dyn EventSink,
}

/// A protocol dissector for one flow. Generated from a spec; the runtime owns
/// one per flow and calls it with the flow's reassembled bytes.
pub trait Dissector: Send {
    /// In-order bytes of one direction. Bytes may arrive split anywhere.
    fn feed(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>);

    /// `len` bytes of one direction are missing and will never arrive.
    fn gap(&mut self, dir: Direction, len: u64, cx: &mut Cx<'_>);

    /// One direction ended (FIN, RST, or the end of the capture).
    fn end(&mut self, dir: Direction, cx: &mut Cx<'_>);

    /// One datagram of a datagram flow (UDP): a whole message, parsed on
    /// its own. Dissectors of stream-only specs treat it as stream bytes.
    fn datagram(&mut self, dir: Direction, data: &[u8], cx: &mut Cx<'_>) {
        self.feed(dir, data, cx);
    }

    /// Capture time moved on to `cx.now`: run due `timeout` transitions.
    fn tick(&mut self, cx: &mut Cx<'_>);

    fn status(&self) -> FlowStatus;

    /// How many bytes of `dir`, counted from the flow's start, the dissector
    /// is done with: bytes of completed messages (their events and rules have
    /// run), of chunks already streamed to an event (with the bytes of their
    /// message before them), and of messages abandoned or discarded. A message
    /// in progress, a possible end token held back and bytes waiting for a
    /// grammar are not settled. Once the flow is no longer
    /// [`FlowStatus::Active`] (finish, fail, drop), every byte, present and
    /// future, is settled: `u64::MAX`.
    ///
    /// An inline user (the proxy) forwards bytes up to this mark only, so a
    /// rule's `drop` stops a message before its receiver sees it. It never
    /// decreases.
    fn settled(&self, dir: Direction) -> u64;

    /// After a `handover` action (the status is then [`FlowStatus::Finished`]):
    /// where the rest of the flow goes, and the bytes received and not
    /// parsed, once. A user that supports handovers makes the target spec's
    /// dissector, feeds it `rest` (`dir`'s first) and every later byte of
    /// the flow; one that does not lets the flow end as after `stop`.
    fn take_handover(&mut self) -> Option<Handover> {
        None
    }
}

/// The type of one field of an event, for checking rules against a spec.
#[derive(Debug, Clone, Copy)]
pub struct FieldSchema {
    pub name: &'static str,
    /// The field's type in the expression language's terms, e.g. `string`,
    /// `list of record smtp_response`, `optional string`.
    pub ty: &'static str,
}

/// An event a spec declares, with the fields of the record it carries.
#[derive(Debug, Clone, Copy)]
pub struct EventSchema {
    pub name: &'static str,
    pub streamed: bool,
    /// Fields of the record that `trigger` passes (empty for streamed events).
    pub fields: &'static [FieldSchema],
}

/// How a flow's bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A TCP connection: a reassembled byte stream per direction.
    Tcp,
    /// UDP datagrams between two endpoints, each one message.
    Udp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// What the runtime knows of a compiled spec: how to pick it and how to make
/// a dissector. Every generated module exports one `SPEC: SpecDescriptor`.
#[derive(Clone, Copy)]
pub struct SpecDescriptor {
    /// The spec's protocol name (`smtp`).
    pub name: &'static str,
    /// Default server ports.
    pub ports: &'static [u16],
    /// The transports whose flows it dissects (`transport` declarations).
    pub transports: &'static [Transport],
    pub events: &'static [EventSchema],
    /// A fresh dissector for a new flow.
    pub new_dissector: fn() -> Box<dyn Dissector>,
    /// The records that events carry, for rule checking: (record, fields).
    pub records: &'static [(&'static str, &'static [FieldSchema])],
}

impl fmt::Debug for SpecDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpecDescriptor")
            .field("name", &self.name)
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}
