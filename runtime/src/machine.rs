//! Helpers for generated state machines: the actions of a transition
//! (`trigger`, `alert`, `log`, `push`, `close`) and the `-d` debug trace.
//!
//! Per-flow variables (`var NAME: TYPE;`) are plain fields of the generated
//! machine; lists are capped at [`MAX_LIST_LEN`] elements ([`push`] drops the
//! oldest beyond it), so no input makes a variable grow without bound.
//!
//! Generated handlers return `Result<_, Dropped>`: `Err(Dropped)` means the
//! flow must stop now (a `drop;` action, a jump to `fail`, or a sink that
//! answered [`Verdict::Drop`]); the dissector then reports
//! [`FlowStatus::Dropped`](crate::dissector::FlowStatus). Trace lines are only
//! formatted when the sink asks for them ([`crate::dissector::EventSink::tracing`]).

use std::fmt;

use crate::dissector::{CapHit, Cx, Direction, Severity, Verdict};
use crate::parse::{escape_bytes, ParseError, SinkDigests, StreamBook};
use crate::value::{ToValue, Value};

/// The flow must be dropped: its dissector stops and its packets are withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

/// What a transition handler did with an event.
pub type Handled = Result<bool, Dropped>;

/// `trigger EVENT(arg);`: reports the event with its record to the sink.
pub fn trigger(
    cx: &mut Cx<'_>,
    dir: Direction,
    event: &'static str,
    arg: &dyn ToValue,
) -> Result<(), Dropped> {
    trigger_value(cx, dir, event, &arg.to_value())
}

/// `trigger EVENT;` (no argument): the event with an empty record.
pub fn trigger_empty(cx: &mut Cx<'_>, dir: Direction, event: &'static str) -> Result<(), Dropped> {
    trigger_value(cx, dir, event, &Value::Record(Vec::new()))
}

pub fn trigger_value(
    cx: &mut Cx<'_>,
    dir: Direction,
    event: &'static str,
    value: &Value,
) -> Result<(), Dropped> {
    if cx.sink.tracing() {
        cx.sink.trace(
            cx.flow,
            format_args!("state machine: trigger {event} {}", value.to_json()),
        );
    }
    match cx.sink.event(cx.flow, dir, cx.now, event, value) {
        Verdict::Continue => Ok(()),
        Verdict::Drop => Err(Dropped),
    }
}

/// `trigger EVENT(name: value, …);`: the event with a record of the named
/// values, absent (`Null`) ones omitted as a parsed record omits them.
pub fn trigger_fields<const N: usize>(
    cx: &mut Cx<'_>,
    dir: Direction,
    event: &'static str,
    fields: [(&'static str, Value); N],
) -> Result<(), Dropped> {
    // One allocation per event: the record's, made to measure.
    let mut record = Vec::with_capacity(N);
    for (name, value) in fields {
        if value != Value::Null {
            record.push((name.into(), value));
        }
    }
    trigger_value(cx, dir, event, &Value::Record(record))
}

/// `alert SEVERITY "…";`.
pub fn alert(cx: &mut Cx<'_>, dir: Direction, severity: Severity, description: &str) {
    cx.sink.alert(cx.flow, dir, cx.now, severity, description);
}

/// One `-d` trace line, formatted only when tracing is on.
pub fn trace(cx: &mut Cx<'_>, line: fmt::Arguments<'_>) {
    if cx.sink.tracing() {
        cx.sink.trace(cx.flow, line);
    }
}

/// Traces a transition that fires: its text and where it is in the spec.
pub fn trace_transition(cx: &mut Cx<'_>, transition: &str, source: &str, line: usize) {
    trace(
        cx,
        format_args!("state machine: {transition} ({source}:{line})"),
    );
}

/// Reports a parse error to the sink (before the spec's `parse_error`
/// transitions run), preceded by a cap hit when a parse cap caused it, and traces it with the bytes that follow it, like Haka's `-d`.
pub fn notify_parse_error(cx: &mut Cx<'_>, dir: Direction, err: &ParseError, context: &[u8]) {
    if let Some((cap, limit)) = err.cap_hit() {
        let hit = CapHit {
            cap,
            limit,
            action: "parse error",
        };
        cx.sink.cap(cx.flow, dir, cx.now, &hit);
    }
    cx.sink.parse_error(cx.flow, dir, cx.now, &err.to_string());
    if cx.sink.tracing() {
        cx.sink
            .trace(cx.flow, format_args!("grammar: {dir}: {err}"));
        cx.sink.trace(
            cx.flow,
            format_args!("grammar: parse error context: {}...", escape_bytes(context)),
        );
    }
}

/// Reports lost bytes to the sink (before the spec's `gap` transitions run).
pub fn notify_gap(cx: &mut Cx<'_>, dir: Direction, len: u64) {
    cx.sink.gap(cx.flow, dir, cx.now, len);
    trace(cx, format_args!("grammar: {dir}: gap of {len} bytes"));
}

/// The most elements a list variable holds.
pub const MAX_LIST_LEN: usize = 1000;

/// `push LIST(value);`: appends `value`; a list already at [`MAX_LIST_LEN`]
/// first drops its oldest element.
pub fn push<T>(list: &mut Vec<T>, value: T) {
    if list.len() >= MAX_LIST_LEN {
        list.remove(0);
    }
    list.push(value);
}

/// `pop LIST;`: removes the oldest element, if any.
pub fn pop<T>(list: &mut Vec<T>) {
    if !list.is_empty() {
        list.remove(0);
    }
}

/// `close EVENT;`: ends `event`'s open stream, if one is open, with its
/// `last` call (in the direction the stream came from).
pub fn close_stream(
    cx: &mut Cx<'_>,
    streams: &mut StreamBook,
    event: &'static str,
) -> Result<(), Dropped> {
    let Some(dir) = streams.open_direction(event) else {
        return Ok(());
    };
    trace(cx, format_args!("state machine: close stream {event}"));
    let verdict = cx.sink.stream(cx.flow, dir, cx.now, event, &[], true);
    // After the sink, which may have hashed the stream for the book.
    let sink = SinkDigests {
        flow: cx.flow,
        sink: &mut *cx.sink,
    };
    streams.record_with(event, dir, &[], true, Some(sink));
    match verdict {
        Verdict::Continue => Ok(()),
        Verdict::Drop => Err(Dropped),
    }
}
