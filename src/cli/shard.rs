//! `protoc-rs pcap --threads N`: the flows split over N worker threads.
//!
//! One job: run N engines, each on its shard of the flows (a symmetric hash
//! of their 4-tuple: [`shard_of`]), over one capture read once, and write
//! their lines and the pass-through capture as one output.
//!
//! The workers take turns at the capture: a worker that needs a chunk no one
//! has read yet reads it ([`ChunkReader`] behind a mutex: a few megabytes of
//! whole packets), then deals it: it finds each packet's shard (from its
//! addresses; a packet that needs decoding first, such as an IP fragment or
//! a UDP datagram, goes to every worker, whose engine then decides) and hands
//! every other worker the chunk (shared, not copied) with the list of its
//! steps in it. A worker's steps are its packets, and the other shards'
//! packets at which its engine's clock sweeps (a [`SweepClock`] run over
//! every packet's time, in the reader's turn): so no worker walks the
//! packets of other shards, and each engine still ticks and expires flows at
//! the packets one engine would. Each worker dissects the chunks in capture
//! order, its output going into a buffer, and after each chunk hands its
//! lines and the packets its flows dropped to the main thread, which only
//! merges: it sleeps until the next result is there, writes the lines chunk
//! after chunk, worker after worker within a chunk, and copies the packets
//! that passed to `--output-pcap` in input order.
//!
//! Hence the ordering: the lines of one flow keep their order; lines of
//! different flows keep the order of their chunk, and within a chunk come
//! worker by worker. Flow ids are unique but numbered per worker (worker `i`
//! of `N` gives `i+1`, `i+1+N`, ...).
//!
//! Invariants: every worker gets every chunk, in order (its list of steps
//! may be empty), and hands back one result per chunk; a chunk is dealt
//! before its reader dissects it, and a worker reads a chunk only once it
//! has dissected every chunk before it, so no worker waits for a chunk that
//! is not on its way; the workers are at most [`AHEAD`] results ahead of the
//! merge, which bounds the chunks alive.
//!
//! [`shard_of`]: protoc_runtime::flow::shard_of
//! [`SweepClock`]: protoc_runtime::engine::SweepClock

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use protoc_runtime::capture::{ChunkReader, PacketChunk};
use protoc_runtime::decode::tcp_endpoints;
use protoc_runtime::engine::{Engine, PacketVerdict, Stats, SweepClock};
use protoc_runtime::flow::shard_of;
use protoc_runtime::output::{EventCounts, Format};
use protoc_runtime::rules::{RuleSet, DEFAULT_MAX_OPEN_FILES};

use super::pcap::{exit_code, make_sink, print_stats, Args, Dissect, PassThrough, Progress};
use super::select::Selector;

/// Results a worker may be ahead of the merge (bounds the memory of chunks
/// and lines waiting: a chunk is a few megabytes).
const AHEAD: usize = 4;

/// One step of a worker in a chunk.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Dissect packet `i` of the chunk (one of its shard's, or one whose
    /// shard only decoding tells).
    Packet(usize),
    /// Another shard's packet at which the clock sweeps: time moves to this.
    Tick(f64),
}

/// A chunk as a worker gets it: its number in the capture, its packets, and
/// the worker's steps in it.
struct Dealt {
    number: u64,
    chunk: PacketChunk,
    steps: Vec<Step>,
}

/// The capture, read by the workers in turn.
struct Reading {
    reader: ChunkReader,
    /// The number of the next chunk to read.
    next: u64,
    /// Every packet's time so far went through it.
    clock: SweepClock,
    /// The reader has no more chunks.
    over: bool,
}

/// What a worker hands to the merge.
enum FromWorker {
    /// One chunk: the lines of its packets, which of them (by packet number)
    /// the worker's flows dropped, the chunk itself if this worker read it
    /// and the pass-through needs it, and the number of the packet after it.
    Chunk {
        lines: Vec<u8>,
        dropped: Vec<u64>,
        chunk: Option<PacketChunk>,
        end: u64,
    },
    /// The capture is over: the lines written while closing the flows, and
    /// the worker's totals.
    Done(Box<WorkerEnd>),
}

struct WorkerEnd {
    lines: Vec<u8>,
    stats: Stats,
    counts: EventCounts,
    warnings: Vec<String>,
}

/// One worker's engine: its shard of the flows, its output into a buffer.
type ShardEngine = Engine<Dissect<Vec<u8>>>;

/// What a worker needs besides its engine.
struct Worker<'a> {
    index: usize,
    count: usize,
    reading: &'a Mutex<Reading>,
    inbox: Receiver<Dealt>,
    /// The other workers' inboxes, by worker (`None` for this one).
    peers: Vec<Option<Sender<Dealt>>>,
    results: SyncSender<FromWorker>,
    /// Whether the merge needs the chunks (for `--output-pcap`).
    keep_chunks: bool,
}

/// `--threads N`: N workers each dissect their shard of the flows, reading
/// the capture in turn; this thread merges their lines and writes the
/// pass-through capture (see the module doc).
pub(super) fn run_threads(args: &Args, rules: RuleSet, format: Format) -> Result<ExitCode> {
    let count = args.threads as usize;
    // Every engine is made here, so that a bad argument fails before any thread starts.
    let config = args.caps.apply()?;
    let mut engines = Vec::with_capacity(count);
    for index in 0..count {
        let selector = Selector::new(args.spec.as_deref(), &args.ports)?;
        // The process's open extraction files stay under one thread's cap.
        let sink = make_sink(Vec::with_capacity(1 << 16), args, rules.clone(), format)?
            .with_max_open_files((DEFAULT_MAX_OPEN_FILES / count).max(16));
        engines.push(Engine::new(
            Dissect::new(sink, selector),
            config.sharded(index, count),
        ));
    }
    let reader = ChunkReader::open(&args.capture)?;
    let mut pass_through = args
        .output_pcap
        .as_deref()
        .map(|path| PassThrough::new(path, &reader));
    let reading = Mutex::new(Reading {
        reader,
        next: 0,
        clock: SweepClock::default(),
        over: false,
    });
    let started = Instant::now();
    let progress = Progress::new();
    let mut out = super::stdout();
    let ends = std::thread::scope(|scope| -> Result<Vec<WorkerEnd>> {
        let (inbox_senders, inboxes): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::channel::<Dealt>()).unzip();
        let mut from_workers = Vec::with_capacity(count);
        for ((index, engine), inbox) in engines.into_iter().enumerate().zip(inboxes) {
            let (results, from_worker) = mpsc::sync_channel(AHEAD);
            let peers = inbox_senders
                .iter()
                .enumerate()
                .map(|(peer, sender)| (peer != index).then(|| sender.clone()))
                .collect();
            let worker = Worker {
                index,
                count,
                reading: &reading,
                inbox,
                peers,
                results,
                keep_chunks: pass_through.is_some(),
            };
            scope.spawn(move || worker.run(engine));
            from_workers.push(from_worker);
        }
        // Only the workers hold inbox senders: one that ends closes them.
        drop(inbox_senders);
        let receive = |index: usize, inbox: &Receiver<FromWorker>| {
            inbox
                .recv()
                .map_err(|_| anyhow::anyhow!("dissecting thread {index} stopped unexpectedly"))
        };
        let mut ends = Vec::with_capacity(count);
        'chunks: loop {
            let mut dropped = Vec::new();
            let mut read = None;
            let mut end_packet = None;
            for (index, inbox) in from_workers.iter().enumerate() {
                match receive(index, inbox)? {
                    FromWorker::Chunk {
                        lines,
                        dropped: d,
                        chunk,
                        end,
                    } => {
                        out.write_all(&lines).context("writing events")?;
                        dropped.extend(d);
                        read = read.or(chunk);
                        end_packet = Some(end);
                    }
                    FromWorker::Done(end) if index == 0 => {
                        ends.push(*end);
                        break 'chunks;
                    }
                    FromWorker::Done(_) => bail!("dissecting thread {index} ended early"),
                }
            }
            if let Some(pass) = pass_through.as_mut() {
                let Some(chunk) = read else {
                    bail!("no dissecting thread handed back a chunk it read");
                };
                dropped.sort_unstable();
                pass.write_chunk(&chunk, &dropped)?;
            }
            if let Some(end) = end_packet {
                progress.tick_to(end);
            }
        }
        for (index, inbox) in from_workers.iter().enumerate().skip(1) {
            match receive(index, inbox)? {
                FromWorker::Done(end) => ends.push(*end),
                FromWorker::Chunk { .. } => bail!("dissecting thread {index} is out of step"),
            }
        }
        for end in &ends {
            out.write_all(&end.lines).context("writing events")?;
        }
        Ok(ends)
    })?;
    progress.done();
    out.flush().context("writing events")?;

    let mut stats = Stats::default();
    let mut counts = EventCounts::default();
    for (index, end) in ends.iter().enumerate() {
        // Decoding counters are not summed (`Stats::add`): the first
        // worker's stand for all.
        if index == 0 {
            stats = end.stats.clone();
        } else {
            stats.add(&end.stats);
        }
        counts.add(&end.counts);
    }
    let mut reader = match reading.into_inner() {
        Ok(reading) => reading.reader,
        Err(poisoned) => poisoned.into_inner().reader,
    };
    let capture_warnings = reader.take_warnings();
    for warning in &capture_warnings {
        eprintln_lossy!("warning: {warning}");
    }
    for warning in ends.iter().flat_map(|end| &end.warnings) {
        eprintln_lossy!("warning: {warning}");
    }
    if let Some(pass) = pass_through {
        pass.finish(&reader)?;
    }
    print_stats(&stats, &counts, started);
    Ok(exit_code(&capture_warnings))
}

impl Worker<'_> {
    /// The worker's chunks, in order, through its engine; its lines and
    /// drops handed back after each chunk; when the chunks end, the flows
    /// closed and the totals.
    fn run(self, mut engine: ShardEngine) {
        let mut waiting = BTreeMap::new();
        let mut number = 0;
        while let Some((dealt, read_here)) = self.take(number, &mut waiting) {
            let Dealt { chunk, steps, .. } = dealt;
            let first = chunk.first_packet();
            let mut dropped = Vec::new();
            for step in steps {
                match step {
                    Step::Tick(ts) => engine.observe_time(ts),
                    Step::Packet(i) => {
                        let Some(packet) = chunk.get(i) else { continue };
                        if engine.process(&packet) == PacketVerdict::Drop {
                            dropped.push(first + i as u64);
                        }
                    }
                }
            }
            // The next chunk's lines go to a buffer of this one's size (no regrowing).
            let writer = engine.handler_mut().sink.output_mut().writer_mut();
            let lines = std::mem::replace(writer, Vec::with_capacity(writer.len()));
            let result = FromWorker::Chunk {
                lines,
                dropped,
                end: first + chunk.len() as u64,
                chunk: (read_here && self.keep_chunks).then_some(chunk),
            };
            if self.results.send(result).is_err() {
                // The merge stopped (and reports why).
                return;
            }
            number += 1;
        }
        engine.finish();
        let warnings = engine.take_warnings();
        let stats = engine.stats().clone();
        let mut sink = engine.into_handler().sink;
        sink.finish();
        let output = sink.output_mut();
        let end = WorkerEnd {
            lines: std::mem::take(output.writer_mut()),
            stats,
            counts: output.counts().clone(),
            warnings,
        };
        let _ = self.results.send(FromWorker::Done(Box::new(end)));
    }

    /// Chunk `number` with this worker's steps, and whether this worker read
    /// it; `None` when the capture is over (or a worker stopped).
    fn take(&self, number: u64, waiting: &mut BTreeMap<u64, Dealt>) -> Option<(Dealt, bool)> {
        if let Some(dealt) = waiting.remove(&number) {
            return Some((dealt, false));
        }
        let mut reading = self.reading.lock().ok()?;
        if reading.next == number {
            if reading.over {
                return None;
            }
            let Some(chunk) = reading.reader.next_chunk() else {
                reading.over = true;
                return None;
            };
            reading.next += 1;
            let sweeps = sweeps(&mut reading.clock, &chunk);
            drop(reading);
            return Some((self.deal(number, chunk, &sweeps), true));
        }
        drop(reading);
        // Another worker read it: it is on its way (with later ones, maybe,
        // from other workers).
        loop {
            let dealt = self.inbox.recv().ok()?;
            if dealt.number == number {
                return Some((dealt, false));
            }
            waiting.insert(dealt.number, dealt);
        }
    }

    /// Hands every other worker chunk `number` with its steps; returns this
    /// worker's. `sweeps`: the packets (by index, in order) at which the
    /// clock sweeps.
    fn deal(&self, number: u64, chunk: PacketChunk, sweeps: &[usize]) -> Dealt {
        let mut steps = vec![Vec::with_capacity(chunk.len() / self.count + 8); self.count];
        let mut sweeps = sweeps.iter().copied().peekable();
        for (i, packet) in chunk.packets().enumerate() {
            let sweeps_here = sweeps.next_if_eq(&i).is_some();
            match tcp_endpoints(packet.link_type, packet.data) {
                Some((src, dst)) => {
                    let owner = shard_of(src, dst, self.count);
                    for (worker, steps) in steps.iter_mut().enumerate() {
                        if worker == owner {
                            steps.push(Step::Packet(i));
                        } else if sweeps_here {
                            steps.push(Step::Tick(packet.ts));
                        }
                    }
                }
                None => steps
                    .iter_mut()
                    .for_each(|steps| steps.push(Step::Packet(i))),
            }
        }
        let mut mine = Vec::new();
        for (worker, steps) in steps.into_iter().enumerate() {
            match self.peers.get(worker).and_then(Option::as_ref) {
                Some(peer) => {
                    let dealt = Dealt {
                        number,
                        chunk: chunk.clone(),
                        steps,
                    };
                    // A worker gone shows when its results are awaited.
                    let _ = peer.send(dealt);
                }
                None if worker == self.index => mine = steps,
                None => {}
            }
        }
        Dealt {
            number,
            chunk,
            steps: mine,
        }
    }
}

/// The packets of `chunk` (by index) at which `clock`, fed every packet's
/// time, sweeps.
fn sweeps(clock: &mut SweepClock, chunk: &PacketChunk) -> Vec<usize> {
    chunk
        .packets()
        .enumerate()
        .filter_map(|(i, packet)| clock.due(packet.ts).then_some(i))
        .collect()
}
