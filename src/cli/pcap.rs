//! `protoc-rs pcap`: the compiled dissectors over a capture.
//!
//! Packets flow from the capture reader through the runtime's engine (decode,
//! flows, TCP reassembly) into [`Dissect`], which gives each flow the
//! dissector of the spec its server port selects and feeds it the flow's
//! bytes. Events go to the rules engine, then to the JSON or text output; the
//! engine's per-packet verdicts drive the pass-through capture.
//!
//! The capture is read in chunks of whole packets ([`ChunkReader`]: up to 2
//! MiB each, the first ones smaller; classic pcap read in place).
//!
//! With `--threads N` (N > 1) the flows are split over N threads
//! ([`super::shard`], whose doc says how lines are merged).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use protoc_runtime::capture::{
    CaptureWarning, ChunkReader, LinkType, Packet, PacketChunk, TsPrecision,
};
use protoc_runtime::dissector::{
    Cx, Direction, Dissector, FlowInfo, FlowStatus, Handover, HandoverTarget, Transport, Verdict,
};
use protoc_runtime::engine::{Engine, FlowEnd, Inspect, PacketVerdict, Stats, StreamHandler};
use protoc_runtime::output::{EventCounts, Format, OutputSink};
use protoc_runtime::pcap_writer::{PcapWriter, DEFAULT_SNAPLEN};
use protoc_runtime::rules::{RuleSet, RulesSink};

use super::select::{load_rules, resolve_format, FormatArg, Selector};
use crate::specs;

/// Run the compiled dissectors over a capture: events, alerts, statistics.
///
/// Each TCP connection and UDP flow is dissected by the spec whose ports
/// include the flow's server port, among the specs of its transport (every
/// spec under `specs/` is built in). Events are written as
/// JSON lines (`--format json`, the default when stdout is not a terminal) or
/// as text; statistics go to stderr at the end.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs pcap samples/smtp.pcap\n  \
    protoc-rs pcap samples/smtp.pcap --format json | jq .fields\n  \
    protoc-rs pcap samples/smtp.pcap --spec smtp_partial -d\n  \
    protoc-rs pcap capture.pcapng.gz --port smtp=2525\n  \
    protoc-rs pcap samples/smtp.pcap --rules rules/spam_filter.rules --output-pcap passed.pcap\n  \
    protoc-rs pcap samples/smtp.pcap --rules rules/mail_content.rules --extract-dir mails/")]
pub struct Args {
    /// The capture: pcap or pcapng, optionally gzip-compressed; `-` reads stdin.
    pub capture: PathBuf,

    /// Use only this spec (by protocol name), on its own ports and those given with --port;
    /// on every TCP flow if it has none.
    #[arg(long, value_name = "NAME")]
    pub spec: Option<String>,

    /// Also dissect PORT with spec NAME (repeatable).
    #[arg(long = "port", value_name = "NAME=PORT")]
    pub ports: Vec<String>,

    /// Output format [default: text on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Debug trace of grammar and state machine on stderr (as Haka's -d).
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Security rules to load (repeatable); they run in file order on each event.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,

    /// Write every packet that was not dropped, byte-identical, to this pcap.
    #[arg(long, value_name = "FILE")]
    pub output_pcap: Option<PathBuf>,

    /// Write streamed content hooked by `extract` rules to files in this directory.
    #[arg(long, value_name = "DIR")]
    pub extract_dir: Option<PathBuf>,

    /// Print the state-machine graph (DOT) of the selected spec(s) and exit.
    #[arg(long)]
    pub dump_dissector_graph: bool,

    #[command(flatten)]
    pub caps: super::caps::Caps,

    /// Split the flows over N threads by a symmetric hash of their 4-tuple.
    /// The lines of one flow keep their order; lines of different flows are
    /// merged chunk by chunk of the capture (a few hundred KB), thread by thread
    /// within a chunk. Flow ids are then numbered per thread.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let selector = Selector::new(args.spec.as_deref(), &args.ports)?;
    if args.dump_dissector_graph {
        let mut out = super::stdout();
        for spec in selector.specs() {
            out.write_all(specs::states_dot(spec.name)?.as_bytes())?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }

    let rules = load_rules(&args.rules)?;
    let format = resolve_format(args.format);
    if args.threads > 1 {
        return super::shard::run_threads(&args, rules, format);
    }
    let mut sink = make_sink(super::stdout(), &args, rules, format)?;

    let mut reader = ChunkReader::open(&args.capture)?;
    let mut pass_through = args
        .output_pcap
        .as_deref()
        .map(|path| PassThrough::new(path, &reader));
    let started = Instant::now();
    let mut engine = Engine::new(Dissect { sink, selector }, args.caps.apply()?);
    let progress = Progress::new();
    while let Some(chunk) = reader.next_chunk() {
        for packet in chunk.packets() {
            let verdict = engine.process(&packet);
            if let (Some(out), PacketVerdict::Pass) = (pass_through.as_mut(), verdict) {
                out.write(&packet)?;
            }
        }
        progress.tick_to(reader.packets_read());
        if let Some(err) = engine.handler_mut().sink.output_mut().take_error() {
            return Err(err).context("writing events");
        }
    }
    engine.finish();
    progress.done();
    let capture_warnings = reader.take_warnings();
    for warning in &capture_warnings {
        eprintln_lossy!("warning: {warning}");
    }
    for warning in engine.take_warnings() {
        eprintln_lossy!("warning: {warning}");
    }
    if let Some(out) = pass_through {
        out.finish(&reader)?;
    }
    let stats = engine.stats().clone();
    sink = engine.into_handler().sink;
    sink.finish();
    let output = sink.output_mut();
    if let Some(err) = output.take_error() {
        return Err(err).context("writing events");
    }
    output.flush().context("writing events")?;
    print_stats(&stats, output.counts(), started);
    Ok(exit_code(&capture_warnings))
}

/// The rules in front of the output, extracting to `--extract-dir` if given.
pub(super) fn make_sink<W: Write>(
    out: W,
    args: &Args,
    rules: RuleSet,
    format: Format,
) -> Result<RulesSink<W>> {
    let output = OutputSink::new(out, format).with_trace(args.debug);
    let mut sink = RulesSink::new(rules, output);
    if let Some(dir) = &args.extract_dir {
        sink = sink
            .with_extract_dir(dir)
            .with_context(|| format!("cannot use extract directory `{}`", dir.display()))?;
    }
    Ok(sink)
}

/// The statistics line on stderr.
pub(super) fn print_stats(stats: &Stats, counts: &EventCounts, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln_lossy!(
        "stats: {} packets, {} flows, {} bytes, {} events, {} alerts, {} drops, {} parse errors, {} gaps, {} caps, {} overlaps, {:.3} s, {:.1} MB/s",
        stats.packets,
        stats.tcp_flows + stats.udp_flows,
        stats.bytes,
        counts.events,
        counts.alerts,
        stats.dropped_flows,
        counts.parse_errors,
        stats.gaps,
        counts.caps,
        counts.overlaps,
        seconds,
        stats.bytes as f64 / 1e6 / seconds.max(1e-9),
    );
}

/// 2 when the capture was cut short or corrupt (its packets before that were read).
pub(super) fn exit_code(capture_warnings: &[CaptureWarning]) -> ExitCode {
    if capture_warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The engine's consumer: one dissector per selected flow.
pub(super) struct Dissect<W: Write> {
    pub(super) sink: RulesSink<W>,
    selector: Selector,
}

impl<W: Write> Dissect<W> {
    pub(super) fn new(sink: RulesSink<W>, selector: Selector) -> Dissect<W> {
        Dissect { sink, selector }
    }
}

pub(super) struct DissectedFlow {
    dissector: Box<dyn Dissector>,
}

impl<W: Write> Dissect<W> {
    /// Runs `call` on the flow's dissector with a context, then turns its status into a verdict.
    fn with_cx(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        now: f64,
        call: impl FnOnce(&mut dyn Dissector, &mut Cx<'_>),
    ) -> Verdict {
        let mut cx = Cx {
            flow: info,
            now,
            sink: &mut self.sink,
        };
        call(flow.dissector.as_mut(), &mut cx);
        if let Some(handover) = flow.dissector.take_handover() {
            self.hand_over(flow, info, now, handover);
        }
        match flow.dissector.status() {
            FlowStatus::Dropped => Verdict::Drop,
            FlowStatus::Active | FlowStatus::Finished => Verdict::Continue,
        }
    }
}

impl<W: Write> Dissect<W> {
    /// A spec's `handover`: the flow goes on with the target spec's dissector
    /// (found by name, or by server port as `--port` maps ports), fed first
    /// the bytes the old one had not parsed, the handing-over direction's
    /// first. An unknown target leaves the flow stopped.
    fn hand_over(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        now: f64,
        handover: Handover,
    ) {
        let spec = match handover.to {
            HandoverTarget::Spec(name) => specs::by_name(name),
            HandoverTarget::Port(port) => self.selector.for_server_port(port),
        };
        let Some(spec) = spec else {
            return;
        };
        self.sink.set_proto(info.id, spec.name);
        flow.dissector = (spec.new_dissector)();
        let Handover { dir, mut rest, .. } = handover;
        for dir in [dir, dir.reverse()] {
            let bytes = std::mem::take(&mut rest[dir.index()]);
            if !bytes.is_empty() {
                let _ = self.with_cx(flow, info, now, |d, cx| d.feed(dir, &bytes, cx));
            }
        }
    }
}

impl<W: Write> StreamHandler for Dissect<W> {
    type Flow = DissectedFlow;

    fn open(&mut self, info: &FlowInfo, _ts: f64) -> Option<DissectedFlow> {
        let spec = self.selector.for_server_port(info.dst.port())?;
        self.sink.set_proto(info.id, spec.name);
        Some(DissectedFlow {
            dissector: (spec.new_dissector)(),
        })
    }

    fn data(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        self.with_cx(flow, info, ts, |d, cx| d.feed(dir, bytes, cx))
    }

    fn gap(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        len: u64,
    ) -> Verdict {
        self.with_cx(flow, info, ts, |d, cx| d.gap(dir, len, cx))
    }

    fn end(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
    ) -> Verdict {
        self.with_cx(flow, info, ts, |d, cx| d.end(dir, cx))
    }

    fn tick(&mut self, flow: &mut DissectedFlow, info: &FlowInfo, ts: f64) -> Verdict {
        self.with_cx(flow, info, ts, |d, cx| d.tick(cx))
    }

    fn open_datagram(&mut self, info: &FlowInfo, _ts: f64) -> Option<DissectedFlow> {
        let spec = self.selector.for_flow(Transport::Udp, info.dst.port())?;
        self.sink.set_proto(info.id, spec.name);
        Some(DissectedFlow {
            dissector: (spec.new_dissector)(),
        })
    }

    fn datagram(
        &mut self,
        flow: &mut DissectedFlow,
        info: &FlowInfo,
        dir: Direction,
        ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        self.with_cx(flow, info, ts, |d, cx| d.datagram(dir, bytes, cx))
    }

    fn close(&mut self, _flow: DissectedFlow, info: &FlowInfo, _ts: f64, _end: &FlowEnd) {
        self.sink.forget(info.id);
    }

    fn inspect<'a>(&'a mut self, flow: &'a mut DissectedFlow) -> Option<Inspect<'a>> {
        let (dissector, sink) = (flow.dissector.as_ref(), &mut self.sink);
        Some(Inspect { dissector, sink })
    }
}

/// `--output-pcap`: the packets that were not dropped, byte-identical. The
/// file is written as classic pcap with the link type and timestamp precision
/// of the first packet (known once it is read, also for pcapng input).
pub(super) struct PassThrough {
    path: PathBuf,
    writer: Option<PcapWriter<BufWriter<File>>>,
    precision: TsPrecision,
    snaplen: u32,
}

impl PassThrough {
    pub(super) fn new(path: &Path, reader: &ChunkReader) -> PassThrough {
        PassThrough {
            path: path.to_path_buf(),
            writer: None,
            precision: reader.ts_precision(),
            snaplen: reader.snaplen().unwrap_or(DEFAULT_SNAPLEN),
        }
    }

    fn write(&mut self, packet: &Packet<'_>) -> Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(self.create(packet.link_type)?),
        };
        writer
            .write_packet(packet)
            .with_context(|| format!("writing `{}`", self.path.display()))
    }

    fn create(&self, link_type: LinkType) -> Result<PcapWriter<BufWriter<File>>> {
        let file = File::create(&self.path)
            .with_context(|| format!("cannot create `{}`", self.path.display()))?;
        PcapWriter::new(
            BufWriter::new(file),
            link_type,
            self.precision,
            self.snaplen,
        )
        .with_context(|| format!("writing `{}`", self.path.display()))
    }

    /// Writes the packets of `chunk` except those in `dropped` (packet
    /// numbers in the capture, sorted).
    pub(super) fn write_chunk(&mut self, chunk: &PacketChunk, dropped: &[u64]) -> Result<()> {
        let first = chunk.first_packet();
        for (i, packet) in chunk.packets().enumerate() {
            if dropped.binary_search(&(first + i as u64)).is_err() {
                self.write(&packet)?;
            }
        }
        Ok(())
    }

    /// Flushes the file; a capture with no packet passed still gets a valid, empty pcap.
    pub(super) fn finish(mut self, reader: &ChunkReader) -> Result<()> {
        let link_type = reader.link_type().unwrap_or(LinkType(1));
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(self.create(link_type)?),
        };
        writer
            .flush()
            .with_context(|| format!("writing `{}`", self.path.display()))
    }
}

/// A progress line on stderr for long captures, only when stderr is a terminal.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new() -> Progress {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos} packets {per_sec} [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        Progress { bar }
    }

    /// Shows `packets` as read (called once per chunk).
    pub(super) fn tick_to(&self, packets: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(packets);
        }
    }

    pub(super) fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
