//! Event outputs: JSON lines and human-readable text, and the counters behind
//! the end-of-run statistics.
//!
//! [`OutputSink`] is the [`EventSink`] at the end of the chain: it writes each
//! event, streamed-event summary and alert as it arrives. The JSON form is a
//! contract other tools read (see the README's schema): one object per line
//! with `ts`, `proto`, `event`, `src_ip`, `src_port`, `dest_ip`, `dest_port`,
//! `dir`, `flow` and `fields`; alerts carry `severity`, `description` and, when
//! a rule raised them, `rule`. Runtime facts use the same header: `cap` (a
//! cap reached: `cap`, `limit`, `action`), `overlap` (`offset`, `len`,
//! `kept`), `gap`, `parse_error`.
//!
//! Write errors (a closed pipe) are kept, not panicked on: the first one is
//! returned by [`OutputSink::take_error`] so the caller can stop quietly.
//!
//! Cost: a line is built in one reused `String` and written with one
//! `write_all` into the caller's (buffered) writer; a flow's address part of
//! the JSON header is formatted once and reused; a stream's counters cost
//! one lookup per chunk.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::dissector::{CapHit, Direction, EventSink, FlowInfo, Severity, Verdict};
use crate::value::{write_json_string, Value};

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

/// What happened during a run, for the stats line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub events: u64,
    pub alerts: u64,
    pub parse_errors: u64,
    pub gaps: u64,
    pub streams: u64,
    pub stream_bytes: u64,
    /// Caps reached (`cap` events).
    pub caps: u64,
    /// Overlaps with different content (`overlap` events).
    pub overlaps: u64,
}

impl EventCounts {
    /// Adds another output's counts (one per thread) to these.
    pub fn add(&mut self, other: &EventCounts) {
        self.events += other.events;
        self.alerts += other.alerts;
        self.parse_errors += other.parse_errors;
        self.gaps += other.gaps;
        self.streams += other.streams;
        self.stream_bytes += other.stream_bytes;
        self.caps += other.caps;
        self.overlaps += other.overlaps;
    }
}

/// Where an alert comes from: the spec's state machine or a named rule.
#[derive(Debug, Clone, Copy)]
pub enum AlertSource<'a> {
    Spec,
    Rule(&'a str),
}

/// Identifies a streamed event in progress: (flow id, direction, event name).
pub type StreamKey = (u64, Direction, &'static str);

/// Whether two keys name the same stream; names are compared by address
/// first (they are the generated code's constants), then by content.
pub fn same_stream(a: &StreamKey, b: &StreamKey) -> bool {
    a.0 == b.0 && a.1 == b.1 && (std::ptr::eq(a.2, b.2) || a.2 == b.2)
}

/// A [`StreamKey`] as the stream counters' key: hashed by flow and direction
/// only (a flow has a stream or two in each direction), names compared as
/// [`same_stream`] compares them, so that a chunk's lookup neither hashes
/// nor compares the name's bytes.
#[derive(Debug, Clone, Copy)]
struct CounterKey(StreamKey);

impl PartialEq for CounterKey {
    fn eq(&self, other: &CounterKey) -> bool {
        same_stream(&self.0, &other.0)
    }
}

impl Eq for CounterKey {}

impl Hash for CounterKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (flow, dir, _) = self.0;
        (flow, dir).hash(state);
    }
}

/// What the output keeps of a flow it has been told about.
struct FlowOut {
    /// Protocol name (`smtp`).
    proto: &'static str,
    /// `,"src_ip":…,"src_port":…,"dest_ip":…,"dest_port":…`, made at the
    /// flow's first JSON line.
    addresses: String,
}

/// Writes events to `W` in one [`Format`].
pub struct OutputSink<W: Write> {
    out: W,
    format: Format,
    /// Each flow whose dissector is chosen.
    flows: FxHashMap<u64, FlowOut>,
    /// Bytes and chunks of each streamed event in progress.
    streams: FxHashMap<CounterKey, (u64, u64)>,
    counts: EventCounts,
    trace: bool,
    error: Option<io::Error>,
    line: String,
}

impl<W: Write> OutputSink<W> {
    pub fn new(out: W, format: Format) -> Self {
        OutputSink {
            out,
            format,
            flows: FxHashMap::default(),
            streams: FxHashMap::default(),
            counts: EventCounts::default(),
            trace: false,
            error: None,
            line: String::with_capacity(512),
        }
    }

    /// Turns on the debug trace (`-d`), written to stderr.
    pub fn with_trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// Records which protocol a flow speaks, for the `proto` field.
    pub fn set_proto(&mut self, flow: u64, proto: &'static str) {
        self.flows.insert(
            flow,
            FlowOut {
                proto,
                addresses: String::new(),
            },
        );
    }

    /// Forgets a flow that ended.
    pub fn forget(&mut self, flow: u64) {
        self.flows.remove(&flow);
        if !self.streams.is_empty() {
            self.streams.retain(|CounterKey((f, _, _)), _| *f != flow);
        }
    }

    /// The format events are written in.
    pub fn format(&self) -> Format {
        self.format
    }

    pub fn counts(&self) -> &EventCounts {
        &self.counts
    }

    /// The first write error, if any (then output has stopped).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// The writer lines go to (to take what a thread wrote so far).
    pub fn writer_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes an alert, from the spec or from a rule.
    pub fn write_alert(
        &mut self,
        source: AlertSource<'_>,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        severity: Severity,
        description: &str,
    ) {
        self.counts.alerts += 1;
        self.line.clear();
        match self.format {
            Format::Json => {
                self.json_header(now, "alert", flow, dir);
                if let AlertSource::Rule(name) = source {
                    self.line.push_str(",\"rule\":");
                    write_json_string(name, &mut self.line);
                }
                self.line.push_str(",\"severity\":\"");
                self.line.push_str(severity.name());
                self.line.push_str("\",\"description\":");
                write_json_string(description, &mut self.line);
                self.line.push_str("}\n");
            }
            Format::Text => {
                let proto = self.proto(flow.id);
                let _ = writeln!(self.line, "alert: {}", text_flow(proto, flow, dir));
                if let AlertSource::Rule(name) = source {
                    let _ = writeln!(self.line, "\trule = {name}");
                }
                let _ = writeln!(self.line, "\tseverity = {}", severity.name());
                let _ = writeln!(self.line, "\tdescription = {description}");
            }
        }
        self.emit();
    }

    /// Writes a line of free text (rules' `log`, and the mail-content dump).
    pub fn write_text(&mut self, text: &str) {
        self.line.clear();
        self.line.push_str(text);
        self.emit();
    }

    /// Writes raw bytes as they are (a streamed content dumped in text output).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(bytes) {
            self.error = Some(e);
        }
    }

    /// Writes a JSON record of a non-event fact (an extracted file, a cap hit):
    /// the usual header with `event` = `kind`, then `fields`.
    pub fn write_record(
        &mut self,
        kind: &str,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        fields: &Value,
    ) {
        self.line.clear();
        match self.format {
            Format::Json => {
                self.json_header(now, kind, flow, dir);
                self.line.push_str(",\"fields\":");
                fields.write_json(&mut self.line);
                self.line.push_str("}\n");
            }
            Format::Text => {
                let proto = self.proto(flow.id);
                let _ = writeln!(self.line, "{kind}: {}", text_flow(proto, flow, dir));
                write_text_value(&mut self.line, fields, 1);
            }
        }
        self.emit();
    }

    fn proto(&self, flow: u64) -> &'static str {
        self.flows.get(&flow).map_or("", |f| f.proto)
    }

    /// Starts `self.line` with `{"ts":…,"proto":…,"event":…,"src_ip":…,
    /// "src_port":…,"dest_ip":…,"dest_port":…,"dir":…,"flow":…` (unclosed).
    fn json_header(&mut self, now: f64, event: &str, flow: &FlowInfo, dir: Direction) {
        let line = &mut self.line;
        let known = self.flows.get_mut(&flow.id);
        let proto = known.as_ref().map_or("", |f| f.proto);
        line.push_str("{\"ts\":");
        push_ts(line, now);
        line.push_str(",\"proto\":");
        write_json_string(proto, line);
        line.push_str(",\"event\":");
        write_json_string(event, line);
        match known {
            Some(known) => {
                if known.addresses.is_empty() {
                    write_addresses(&mut known.addresses, flow);
                }
                line.push_str(&known.addresses);
            }
            None => write_addresses(line, flow),
        }
        line.push_str(",\"dir\":\"");
        line.push_str(dir.name());
        line.push_str("\",\"flow\":");
        push_u64(line, flow.id);
    }

    fn emit(&mut self) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.error = Some(e);
        }
    }
}

impl<W: Write> EventSink for OutputSink<W> {
    fn event(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        fields: &Value,
    ) -> Verdict {
        self.counts.events += 1;
        self.line.clear();
        match self.format {
            Format::Json => {
                self.json_header(now, name, flow, dir);
                self.line.push_str(",\"fields\":");
                fields.write_json(&mut self.line);
                self.line.push_str("}\n");
            }
            Format::Text => {
                let proto = self.proto(flow.id);
                let _ = writeln!(
                    self.line,
                    "{} {}: {}",
                    proto.to_uppercase(),
                    name.to_uppercase(),
                    text_flow(proto, flow, dir)
                );
                write_text_value(&mut self.line, fields, 1);
            }
        }
        self.emit();
        Verdict::Continue
    }

    fn stream(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        chunk: &[u8],
        last: bool,
    ) -> Verdict {
        self.counts.stream_bytes += chunk.len() as u64;
        let key = CounterKey((flow.id, dir, name));
        // One lookup per chunk; the entry stays until the stream ends (no
        // insert and remove each time chunks of another stream came between).
        let counters = self.streams.entry(key).or_insert((0, 0));
        counters.0 += chunk.len() as u64;
        if !chunk.is_empty() {
            counters.1 += 1;
        }
        if last {
            let (size, chunks) = self.streams.remove(&key).unwrap_or((0, 0));
            self.counts.events += 1;
            self.counts.streams += 1;
            let fields = Value::Record(vec![
                ("size".into(), Value::Int(size as i64)),
                ("chunks".into(), Value::Int(chunks as i64)),
            ]);
            self.write_record(name, flow, dir, now, &fields);
        }
        Verdict::Continue
    }

    fn alert(
        &mut self,
        flow: &FlowInfo,
        dir: Direction,
        now: f64,
        severity: Severity,
        description: &str,
    ) {
        self.write_alert(AlertSource::Spec, flow, dir, now, severity, description);
    }

    fn parse_error(&mut self, flow: &FlowInfo, dir: Direction, now: f64, message: &str) {
        self.counts.parse_errors += 1;
        let fields = Value::Record(vec![("message".into(), Value::Str(message.to_string()))]);
        self.write_record("parse_error", flow, dir, now, &fields);
    }

    fn gap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, len: u64) {
        self.counts.gaps += 1;
        let fields = Value::Record(vec![("len".into(), Value::Int(len as i64))]);
        self.write_record("gap", flow, dir, now, &fields);
    }

    fn cap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, hit: &CapHit<'_>) {
        self.counts.caps += 1;
        let fields = Value::Record(vec![
            ("cap".into(), Value::Str(hit.cap.to_string())),
            (
                "limit".into(),
                Value::Int(i64::try_from(hit.limit).unwrap_or(i64::MAX)),
            ),
            ("action".into(), Value::Str(hit.action.to_string())),
        ]);
        self.write_record("cap", flow, dir, now, &fields);
    }

    fn overlap(&mut self, flow: &FlowInfo, dir: Direction, now: f64, offset: u64, len: u64) {
        self.counts.overlaps += 1;
        let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let fields = Value::Record(vec![
            ("offset".into(), int(offset)),
            ("len".into(), int(len)),
            ("kept".into(), Value::Str("first".into())),
        ]);
        self.write_record("overlap", flow, dir, now, &fields);
    }

    fn tracing(&self) -> bool {
        self.trace
    }

    fn trace(&mut self, flow: &FlowInfo, message: fmt::Arguments<'_>) {
        if self.trace {
            eprintln!("debug {}#{}: {}", self.proto(flow.id), flow.id, message);
        }
    }
}

/// `,"src_ip":"…","src_port":…,"dest_ip":"…","dest_port":…`.
fn write_addresses(out: &mut String, flow: &FlowInfo) {
    let _ = write!(
        out,
        ",\"src_ip\":\"{}\",\"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":{}",
        flow.src.ip(),
        flow.src.port(),
        flow.dst.ip(),
        flow.dst.port(),
    );
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, n: u64) {
    push_digits(out, n, 1);
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (≤ 20).
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n > 0 || i > digits.len().saturating_sub(width) {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// Appends a capture time as `format!("{ts:.6}")` would, without the float
/// formatter when the time's microseconds are not in doubt.
///
/// `{:.6}` rounds the exact binary value of `ts` to the nearest microsecond.
/// Below 2^51 µs (the year 2041) the product `ts * 1e6` is within 0.125 of
/// its exact value, so a product within 0.25 of an integer is within 0.5 of
/// it exactly: that integer is the rounded microsecond count, written here
/// as two integers. Anything else (negative, huge, not a number, or nearly
/// half-way between two microseconds) goes to the formatter.
fn push_ts(out: &mut String, ts: f64) {
    const LIMIT: f64 = (1u64 << 51) as f64;
    let micros = ts * 1e6;
    let rounded = micros.round();
    if ts.is_sign_positive() && micros < LIMIT && (micros - rounded).abs() < 0.25 {
        let micros = rounded as u64;
        push_u64(out, micros / 1_000_000);
        out.push('.');
        push_digits(out, micros % 1_000_000, 6);
    } else {
        let _ = write!(out, "{ts:.6}");
    }
}

/// `smtp flow 2 up 192.168.10.10:41155 -> 192.168.20.1:25`.
fn text_flow(proto: &str, flow: &FlowInfo, dir: Direction) -> String {
    format!(
        "{proto} flow {} {} {} -> {}",
        flow.id,
        dir.name(),
        flow.src,
        flow.dst
    )
}

/// Writes `value` indented, one field per line, lists as `- ` items.
fn write_text_value(out: &mut String, value: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match value {
        Value::Record(fields) => {
            for (name, v) in fields {
                match v {
                    Value::Record(_) | Value::List(_) => {
                        let _ = writeln!(out, "{pad}{name}:");
                        write_text_value(out, v, depth + 1);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{name}: {}", v.to_json());
                    }
                }
            }
        }
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                let _ = writeln!(out, "{pad}[{i}]");
                write_text_value(out, item, depth + 1);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", other.to_json());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts_text(ts: f64) -> String {
        let mut out = String::new();
        push_ts(&mut out, ts);
        out
    }

    #[test]
    fn times_are_written_as_the_float_formatter_writes_them() {
        for ts in [
            0.0,
            -0.0,
            1.5,
            0.000_000_5,
            0.000_001_5,
            1_402_490_912.03,
            1_402_490_912.999_999_5,
            2_251_799_813.685_248,
            -3.25,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(ts_text(ts), format!("{ts:.6}"), "{ts:e}");
        }
    }

    #[test]
    fn decimal_digits_are_padded_to_their_width() {
        let mut out = String::new();
        push_digits(&mut out, 42, 6);
        push_u64(&mut out, 0);
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, format!("0000420{}", u64::MAX));
    }

    proptest! {
        /// Times as captures give them (seconds and micro- or nanoseconds),
        /// and any bit pattern at all.
        #[test]
        fn capture_times_are_written_as_the_float_formatter_writes_them(
            secs in 0u64..5_000_000_000,
            nanos in 0u64..1_000_000_000,
            bits in any::<u64>(),
        ) {
            let micro = secs as f64 + (nanos / 1000) as f64 / 1e6;
            let nano = secs as f64 + nanos as f64 / 1e9;
            for ts in [micro, nano, f64::from_bits(bits)] {
                prop_assert_eq!(ts_text(ts), format!("{ts:.6}"));
            }
        }
    }

    fn flow() -> FlowInfo {
        FlowInfo {
            id: 2,
            src: "192.168.10.10:41155".parse().unwrap(),
            dst: "192.168.20.1:25".parse().unwrap(),
        }
    }

    #[test]
    fn json_event_line_has_the_contract_fields() {
        let mut sink = OutputSink::new(Vec::new(), Format::Json);
        sink.set_proto(2, "smtp");
        let fields = Value::Record(vec![
            ("command".into(), Value::Str("HELO".into())),
            ("parameter".into(), Value::Str("x".into())),
        ]);
        sink.event(&flow(), Direction::Up, 1.5, "command", &fields);
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["proto"], "smtp");
        assert_eq!(v["event"], "command");
        assert_eq!(v["src_ip"], "192.168.10.10");
        assert_eq!(v["src_port"], 41155);
        assert_eq!(v["dest_port"], 25);
        assert_eq!(v["dir"], "up");
        assert_eq!(v["flow"], 2);
        assert_eq!(v["ts"], 1.5);
        assert_eq!(v["fields"]["command"], "HELO");
    }

    #[test]
    fn a_stream_is_summarised_once_at_its_end() {
        let mut sink = OutputSink::new(Vec::new(), Format::Json);
        sink.stream(&flow(), Direction::Up, 1.0, "mail_content", b"abc", false);
        sink.stream(&flow(), Direction::Up, 1.0, "mail_content", b"de", true);
        let out = String::from_utf8(sink.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["fields"]["size"], 5);
        assert_eq!(v["fields"]["chunks"], 2);
    }

    #[test]
    fn rule_alerts_name_their_rule() {
        let mut sink = OutputSink::new(Vec::new(), Format::Json);
        sink.write_alert(
            AlertSource::Rule("spam"),
            &flow(),
            Direction::Up,
            1.0,
            Severity::Low,
            "forbidden mail domain",
        );
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["event"], "alert");
        assert_eq!(v["rule"], "spam");
        assert_eq!(v["severity"], "low");
        assert_eq!(v["description"], "forbidden mail domain");
        assert_eq!(sink_counts_after_one_alert(), 1);
    }

    fn sink_counts_after_one_alert() -> u64 {
        let mut sink = OutputSink::new(io::sink(), Format::Text);
        sink.alert(&flow(), Direction::Down, 0.0, Severity::High, "x");
        sink.counts().alerts
    }
}
