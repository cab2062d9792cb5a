//! Session scripts for generated dissectors: what the fuzz targets
//! `smtp_dissector`, `http_dissector` and `dns_dissector` run, and what the
//! tests replay their regression inputs with (`tests/fuzz_regressions.rs`
//! includes this file by path).
//!
//! One job: parse a script ([`Script::parse`], [`Script::parse_binary`]),
//! run it on a fresh dissector of any spec cut one of three ways
//! ([`Cutting`]), following a `handover` to the next spec's dissector as
//! `protoc-rs pcap` does, record what the sink heard ([`Record`]), and check after
//! every call that the bytes received and not settled stay within what the
//! parser caps allow ([`held_bound`]) and that the heap (as the caller
//! measures it) grows by less than [`HEAP_BOUND`].

use std::fmt;

use protoc_runtime::dissector::{
    CapHit, Cx, Direction, Dissector, EventSink, FlowInfo, FlowStatus, Handover, HandoverTarget,
    Severity, SpecDescriptor, Verdict,
};
use protoc_runtime::parse::Limits;
use protoc_runtime::value::Value;

/// Most the heap may grow during one run: the dissector, its variables
/// (lists of at most 1000 strings, each a token) and the recorded events of
/// an input of at most a few KiB stay far below it.
pub const HEAP_BOUND: usize = 64 << 20;

/// The parser caps a script asks for: tiny ones (32-byte tokens, 256-byte
/// messages) so that short inputs reach them, or the built-in ones.
pub fn limits_for(script: &Script) -> Limits {
    if script.tiny_caps {
        Limits {
            max_token_len: 32,
            max_message_len: 256,
        }
    } else {
        Limits::BUILT_IN
    }
}

/// One step of a session.
#[derive(Debug)]
pub enum Step {
    /// Bytes of one direction, with cut points (offsets into the bytes).
    Data(Direction, Vec<u8>, Vec<usize>),
    Gap(Direction, u64),
    End(Direction),
    /// One second of capture time passes.
    Tick,
    /// A whole datagram (UDP): never cut.
    Datagram(Direction, Vec<u8>),
}

/// A session script.
#[derive(Debug)]
pub struct Script {
    pub tiny_caps: bool,
    pub steps: Vec<Step>,
}

impl Script {
    /// The first byte holds flags (bit 0: tiny caps). The rest is split at
    /// each `0x00` into steps; a step's first byte says what it is:
    /// `C` client bytes, `S` server bytes (a `0x01` in them marks a cut and
    /// is removed), `G`/`g` a gap of the client/server as long as the rest
    /// of the step (at least 1), `E`/`e` the client/server ends (later steps
    /// of that side are skipped, as the engine delivers nothing after an
    /// end), `T` a tick.
    /// Any other step is client bytes, its first byte included.
    #[allow(dead_code)] // each target reads one format
    pub fn parse(data: &[u8]) -> Script {
        Script::parse_steps(data, false)
    }

    /// A script for a binary protocol: as [`Script::parse`], and `D`/`d`
    /// steps are whole datagrams of the client/server (for specs with
    /// `transport udp`); in data and datagram steps, `0x02` escapes the
    /// next byte `b`, which stands for `b - 0x10` (so `02 10` is a `0x00`,
    /// `02 11` a `0x01`, `02 12` a `0x02`). A datagram has no cut marks.
    #[allow(dead_code)] // each target reads one format
    pub fn parse_binary(data: &[u8]) -> Script {
        Script::parse_steps(data, true)
    }

    fn parse_steps(data: &[u8], binary: bool) -> Script {
        let Some((&flags, body)) = data.split_first() else {
            return Script {
                tiny_caps: false,
                steps: Vec::new(),
            };
        };
        let steps = body
            .split(|&b| b == 0)
            .filter(|step| !step.is_empty())
            .map(|step| {
                let (&kind, rest) = step.split_first().unwrap_or((&b'C', &[]));
                let gap = (rest.len() as u64).max(1);
                match kind {
                    b'C' => data_step(Direction::Up, rest, binary),
                    b'S' => data_step(Direction::Down, rest, binary),
                    b'G' => Step::Gap(Direction::Up, gap),
                    b'g' => Step::Gap(Direction::Down, gap),
                    b'E' => Step::End(Direction::Up),
                    b'e' => Step::End(Direction::Down),
                    b'T' => Step::Tick,
                    b'D' if binary => datagram_step(Direction::Up, rest),
                    b'd' if binary => datagram_step(Direction::Down, rest),
                    _ => data_step(Direction::Up, step, binary),
                }
            })
            .collect();
        Script {
            tiny_caps: flags & 1 == 1,
            steps,
        }
    }
}

/// A data step: the bytes without their cut marks (escapes decoded in a
/// binary script), and the cut offsets.
fn data_step(dir: Direction, raw: &[u8], binary: bool) -> Step {
    let (bytes, cuts) = decode(raw, binary);
    Step::Data(dir, bytes, cuts)
}

/// A datagram step of a binary script: its bytes, escapes decoded, cut
/// marks dropped.
fn datagram_step(dir: Direction, raw: &[u8]) -> Step {
    let (bytes, _) = decode(raw, true);
    Step::Datagram(dir, bytes)
}

/// The bytes of a step and its cut marks' offsets; with `binary`, `0x02 b`
/// is the byte `b - 0x10` (a `0x02` at the end is dropped).
fn decode(raw: &[u8], binary: bool) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut cuts = Vec::new();
    let mut raw = raw.iter();
    while let Some(&b) = raw.next() {
        match b {
            1 => cuts.push(bytes.len()),
            2 if binary => {
                if let Some(&escaped) = raw.next() {
                    bytes.push(escaped.wrapping_sub(0x10));
                }
            }
            _ => bytes.push(b),
        }
    }
    (bytes, cuts)
}

/// How a run cuts each data step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cutting {
    Whole,
    AtMarks,
    ByteByByte,
}

/// What a dissector reported, in order; adjacent chunks of one stream joined.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Event(Direction, &'static str, String),
    Stream {
        dir: Direction,
        name: &'static str,
        bytes: Vec<u8>,
        last: bool,
    },
    Alert(Direction, Severity, String),
    ParseError(Direction, String),
    Gap(Direction, u64),
    Cap(Direction, &'static str, u64, String),
    Overlap(Direction, u64, u64),
}

/// Records everything, with the time of the step it came in.
#[derive(Default)]
struct Recorder {
    records: Vec<(u64, Record)>,
}

impl Recorder {
    fn push(&mut self, now: f64, record: Record) {
        self.records.push((now as u64, record));
    }
}

impl EventSink for Recorder {
    fn event(
        &mut self,
        _: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        fields: &Value,
    ) -> Verdict {
        self.push(now, Record::Event(dir, name, fields.to_json()));
        Verdict::Continue
    }

    fn stream(
        &mut self,
        _: &FlowInfo,
        dir: Direction,
        now: f64,
        name: &'static str,
        chunk: &[u8],
        last: bool,
    ) -> Verdict {
        // A chunk continues the stream it belongs to when that one is the
        // last record and not finished; chunk boundaries are not compared.
        if let Some((
            _,
            Record::Stream {
                dir: d,
                name: n,
                bytes,
                last: done,
            },
        )) = self.records.last_mut()
        {
            if *d == dir && *n == name && !*done {
                bytes.extend_from_slice(chunk);
                *done = last;
                return Verdict::Continue;
            }
        }
        let record = Record::Stream {
            dir,
            name,
            bytes: chunk.to_vec(),
            last,
        };
        self.push(now, record);
        Verdict::Continue
    }

    fn alert(&mut self, _: &FlowInfo, dir: Direction, now: f64, severity: Severity, text: &str) {
        self.push(now, Record::Alert(dir, severity, text.to_string()));
    }

    fn parse_error(&mut self, _: &FlowInfo, dir: Direction, now: f64, message: &str) {
        self.push(now, Record::ParseError(dir, message.to_string()));
    }

    fn gap(&mut self, _: &FlowInfo, dir: Direction, now: f64, len: u64) {
        self.push(now, Record::Gap(dir, len));
    }

    fn cap(&mut self, _: &FlowInfo, dir: Direction, now: f64, hit: &CapHit<'_>) {
        let record = Record::Cap(dir, hit.cap, hit.limit, hit.action.to_string());
        self.push(now, record);
    }

    fn overlap(&mut self, _: &FlowInfo, dir: Direction, now: f64, offset: u64, len: u64) {
        self.push(now, Record::Overlap(dir, offset, len));
    }

    fn trace(&mut self, _: &FlowInfo, _: fmt::Arguments<'_>) {}
}

/// The most bytes of one direction a dissector may have received and not
/// settled after a call: a message in progress and bytes waiting for a
/// grammar (each up to `max_message_len`), a token held back (up to
/// `max_token_len`), and the bytes of the call itself, which may wait
/// behind the other direction's.
pub fn held_bound(limits: Limits, fed_now: usize) -> u64 {
    2 * limits.max_message_len + 2 * limits.max_token_len as u64 + fed_now as u64
}

/// What a run gives: the records, and the dissector's status at the end.
pub type Outcome = (Vec<(u64, Record)>, FlowStatus);

/// Runs `script` on a dissector from `new_dissector`, cut as `cutting` says;
/// `live_heap` tells the bytes live on the heap now (for the heap bound).
pub fn run(
    script: &Script,
    cutting: Cutting,
    limits: Limits,
    new_dissector: fn() -> Box<dyn Dissector>,
    resolve: &Resolve,
    live_heap: &dyn Fn() -> usize,
) -> Outcome {
    let flow = FlowInfo {
        id: 1,
        src: "10.0.0.1:40000".parse().expect("an address"),
        dst: "10.0.0.2:25".parse().expect("an address"),
    };
    let heap_before = live_heap();
    let mut current = Current {
        dissector: new_dissector(),
        received: [0; 2],
        gaps: [0; 2],
        limits,
        resolve,
    };
    let mut sink = Recorder::default();
    // As the engine: nothing more of a direction after its end.
    let mut ended = [false; 2];
    // As the engine: a flow is a TCP stream or UDP datagrams, never both; the
    // first data or datagram step decides, steps of the other kind are skipped.
    let mut datagrams: Option<bool> = None;
    for (index, step) in script.steps.iter().enumerate() {
        if current.dissector.status() == FlowStatus::Dropped {
            break;
        }
        let kind = match step {
            Step::Data(..) => Some(false),
            Step::Datagram(..) => Some(true),
            _ => None,
        };
        if let Some(kind) = kind {
            if *datagrams.get_or_insert(kind) != kind {
                continue;
            }
        }
        let dir = match step {
            Step::Data(dir, ..) | Step::Gap(dir, _) | Step::End(dir) | Step::Datagram(dir, _) => {
                Some(*dir)
            }
            Step::Tick => None,
        };
        if dir.is_some_and(|dir| ended[dir.index()]) {
            continue;
        }
        let now = index as f64 + 1.0;
        let mut cx = Cx {
            flow: &flow,
            now,
            sink: &mut sink,
        };
        match step {
            Step::Data(dir, bytes, cuts) => {
                for piece in pieces(bytes, cuts, cutting) {
                    current.feed(*dir, piece, &mut cx);
                }
            }
            Step::Gap(dir, len) => {
                current.dissector.gap(*dir, *len, &mut cx);
                current.gaps[dir.index()] += len;
                current.after_call(0, &mut cx);
            }
            Step::End(dir) => {
                current.dissector.end(*dir, &mut cx);
                ended[dir.index()] = true;
                current.after_call(0, &mut cx);
            }
            Step::Tick => {
                current.dissector.tick(&mut cx);
                current.after_call(0, &mut cx);
            }
            Step::Datagram(dir, bytes) => {
                current.dissector.datagram(*dir, bytes, &mut cx);
                current.received[dir.index()] += bytes.len() as u64;
                current.after_call(bytes.len(), &mut cx);
            }
        }
        let grown = live_heap().saturating_sub(heap_before);
        assert!(
            grown < HEAP_BOUND,
            "step {index}: the heap grew by {grown} bytes"
        );
    }
    (sink.records, current.dissector.status())
}

/// Finds the dissector a `handover` goes to; `None` leaves the flow stopped.
pub type Resolve = dyn Fn(HandoverTarget) -> Option<fn() -> Box<dyn Dissector>>;

/// As `protoc-rs pcap` finds a handover's target: the spec of that name, or
/// the first spec (in registry order) that claims that port.
#[allow(dead_code)] // `features_dissector`'s spec hands over to nothing
pub fn find_spec(
    specs: &[&SpecDescriptor],
    to: HandoverTarget,
) -> Option<fn() -> Box<dyn Dissector>> {
    specs
        .iter()
        .find(|spec| match to {
            HandoverTarget::Spec(name) => spec.name == name,
            HandoverTarget::Port(port) => spec.ports.contains(&port),
        })
        .map(|spec| spec.new_dissector)
}

/// The flow's dissector (after a `handover`, the one handed over to) and
/// what it has been given.
struct Current<'r> {
    dissector: Box<dyn Dissector>,
    /// Bytes of each direction received (data only: lost bytes are never
    /// received, so they are never settled either).
    received: [u64; 2],
    gaps: [u64; 2],
    limits: Limits,
    resolve: &'r Resolve,
}

impl Current<'_> {
    fn feed(&mut self, dir: Direction, bytes: &[u8], cx: &mut Cx<'_>) {
        self.dissector.feed(dir, bytes, cx);
        self.received[dir.index()] += bytes.len() as u64;
        self.after_call(bytes.len(), cx);
    }

    /// After every call: the held bytes within bounds; a handover followed
    /// as `protoc-rs pcap` follows it (a new dissector, fed the bytes the
    /// old one had not parsed, the handing-over direction's first).
    fn after_call(&mut self, fed_now: usize, cx: &mut Cx<'_>) {
        check_held(
            self.dissector.as_ref(),
            &self.received,
            &self.gaps,
            self.limits,
            fed_now,
        );
        let Some(handover) = self.dissector.take_handover() else {
            return;
        };
        let Some(new_dissector) = (self.resolve)(handover.to) else {
            return;
        };
        self.dissector = new_dissector();
        self.received = [0; 2];
        self.gaps = [0; 2];
        let Handover { dir, mut rest, .. } = handover;
        for dir in [dir, dir.reverse()] {
            let bytes = std::mem::take(&mut rest[dir.index()]);
            if !bytes.is_empty() {
                self.feed(dir, &bytes, cx);
            }
        }
    }
}

/// Checks that each direction's received, unsettled bytes are within bounds.
/// A gap absorbed by a counted field is settled as if received, so gap bytes
/// count as received for the settled mark but never beyond.
fn check_held(
    dissector: &dyn Dissector,
    received: &[u64; 2],
    gaps: &[u64; 2],
    limits: Limits,
    fed_now: usize,
) {
    for dir in [Direction::Up, Direction::Down] {
        let settled = dissector.settled(dir);
        if settled == u64::MAX {
            continue;
        }
        let i = dir.index();
        assert!(
            settled <= received[i] + gaps[i],
            "{dir}: settled {settled} beyond the {} bytes received and {} lost",
            received[i],
            gaps[i]
        );
        let held = received[i].saturating_sub(settled);
        let bound = held_bound(limits, fed_now);
        assert!(
            held <= bound,
            "{dir}: {held} bytes received and not settled, more than the caps allow ({bound})"
        );
    }
}

/// A data step's bytes, cut as `cutting` says; never an empty piece (the
/// engine never feeds one).
fn pieces<'a>(bytes: &'a [u8], cuts: &[usize], cutting: Cutting) -> Vec<&'a [u8]> {
    let mut pieces = match cutting {
        Cutting::Whole => vec![bytes],
        Cutting::ByteByByte => bytes.chunks(1).collect(),
        Cutting::AtMarks => {
            let mut out = Vec::with_capacity(cuts.len() + 1);
            let mut start = 0;
            for &cut in cuts {
                out.push(bytes.get(start..cut).unwrap_or_default());
                start = cut;
            }
            out.push(bytes.get(start..).unwrap_or_default());
            out
        }
    };
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

/// Runs `script` cut the three ways; panics unless they all give the same.
/// A `handover` goes to the dissector `resolve` finds.
pub fn check_script(
    script: &Script,
    new_dissector: fn() -> Box<dyn Dissector>,
    resolve: &Resolve,
    live_heap: &dyn Fn() -> usize,
) {
    let limits = limits_for(script);
    Limits::set_process_default(limits);
    let cut = |cutting| run(script, cutting, limits, new_dissector, resolve, live_heap);
    let whole = cut(Cutting::Whole);
    let at_marks = cut(Cutting::AtMarks);
    assert_eq!(whole, at_marks, "fed whole vs. cut at the marks");
    let by_byte = cut(Cutting::ByteByByte);
    assert_eq!(whole, by_byte, "fed whole vs. byte by byte");
}
