//! `protoc-rs pcap --threads N`: the flows split over N worker threads.
//!
//! One job: run N engines, each on its shard of the flows (a symmetric hash
//! of their 4-tuple: [`shard_of`]), over one capture read once, and write
//! their lines and the pass-through capture as one output.
//!
//! There are N threads, all workers (the main thread is worker 0); none
//! only reads or only merges, and a worker sleeps only when it must wait
//! for another. The workers take turns at the capture: a worker that takes a
//! chunk reads the next [`LEAD`] ones if no other worker is reading
//! ([`ChunkReader`] behind a mutex, tried, not waited for; a chunk is a few
//! hundred kilobytes of whole packets), and a worker whose chunk is not read
//! yet waits its turn and reads it; each chunk read is dealt at once: the
//! reader finds each
//! packet's shard (from its addresses, read straight from its bytes by
//! [`tcp_shard_key`]; a packet that needs decoding first,
//! such as an IP fragment or a UDP datagram, goes to every worker, whose
//! engine then decides) and leaves every other worker the chunk (shared, not
//! copied) with the list of its steps in it. A worker's steps are its
//! packets, and the other shards' packets at which its engine's clock sweeps
//! (a [`SweepClock`] run over every packet's time, in the reader's turn): so
//! no worker walks the packets of other shards, and each engine still ticks
//! and expires flows at the packets one engine would. Each worker dissects
//! the chunks in capture order, its output going into a buffer, and after
//! each chunk leaves its lines and the packets its flows dropped in the
//! merge; whichever worker completes the next step of the merge writes it:
//! the lines chunk after chunk, worker after worker within a chunk, and the
//! packets of a chunk that passed to `--output-pcap` once every worker has
//! judged them, in input order.
//!
//! Hence the ordering: the lines of one flow keep their order; lines of
//! different flows keep the order of their chunk, and within a chunk come
//! worker by worker; the lines written while closing the flows at the end
//! come last, worker by worker. Flow ids are unique but numbered per worker
//! (worker `i` of `N` gives `i+1`, `i+1+N`, ...).
//!
//! Invariants: every worker gets every chunk, in order (its list of steps
//! may be empty), and leaves one result per chunk; reading stays within
//! [`WINDOW_BYTES`] of chunks after the merge, which bounds the chunks and
//! lines alive; a chunk is dealt as soon as it is read, so a worker waiting
//! for a chunk waits for one on its way, and a worker waiting for the merge
//! (its chunk is beyond the window) waits for workers whose chunks are all
//! read (no deadlock); an output error or a worker's panic stops every
//! worker.
//!
//! [`shard_of`]: protoc_runtime::flow::shard_of
//! [`tcp_shard_key`]: protoc_runtime::decode::tcp_shard_key
//! [`SweepClock`]: protoc_runtime::engine::SweepClock

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufWriter, Stdout, Write};
use std::process::ExitCode;
use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use protoc_runtime::capture::{ChunkReader, PacketChunk};
use protoc_runtime::decode::tcp_shard_key;
use protoc_runtime::engine::{Engine, PacketVerdict, Stats, SweepClock};
use protoc_runtime::output::{EventCounts, Format};
use protoc_runtime::rules::{RuleSet, DEFAULT_MAX_OPEN_FILES};

use super::pcap::{exit_code, make_sink, print_stats, Args, Dissect, PassThrough, Progress};
use super::select::Selector;

/// Bytes of packets per chunk with threads: small enough that a chunk is
/// still in the reading core's cache when it dissects its share, and that
/// few buffers are ever made (each new one costs page faults).
const CHUNK_BYTES: usize = 256 << 10;

/// How far, in bytes of chunks, reading may run ahead of the merge.
const WINDOW_BYTES: usize = 4 << 20;

/// How many chunks after the one it takes a worker reads, if no one is at it
/// (so that the next chunks are there when a worker wants them).
const LEAD: u64 = 2;

/// How far, in chunks, reading may run ahead of the merge.
const WINDOW: u64 = (WINDOW_BYTES / CHUNK_BYTES) as u64;

/// One step of a worker in a chunk.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Dissect packet `i` of the chunk: one of its shard's TCP packets.
    Owned(usize),
    /// Dissect packet `i` of the chunk, whose shard only decoding tells
    /// (every worker gets it).
    Packet(usize),
    /// Another shard's packet at which the clock sweeps: time moves to this.
    Tick(f64),
}

/// A chunk as a worker gets it: its packets and the worker's steps in it.
struct Dealt {
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

/// One worker's result for one chunk.
struct Done {
    lines: Vec<u8>,
    /// The packets (by number in the capture) the worker's flows dropped.
    dropped: Vec<u64>,
    /// The chunk, from worker 0, when `--output-pcap` needs it.
    chunk: Option<PacketChunk>,
    /// The number of the packet after the chunk.
    end: u64,
}

/// The output, written in merge order.
struct Merge {
    out: BufWriter<Stdout>,
    pass_through: Option<PassThrough>,
    progress: Progress,
    /// Each worker's results not written yet, in chunk order.
    pending: Vec<VecDeque<Done>>,
    /// Line buffers written out, for each worker to reuse.
    spare: Vec<Vec<Vec<u8>>>,
    /// The chunk being merged, and the next worker whose lines it takes.
    chunk: u64,
    worker: usize,
    /// What the chunk's workers so far dropped, and the chunk if it came.
    dropped: Vec<u64>,
    read: Option<PacketChunk>,
}

/// What the workers share besides the capture.
struct Exchange {
    /// Each worker's chunks dealt and not taken yet, by number.
    inboxes: Vec<BTreeMap<u64, Dealt>>,
    merge: Merge,
    /// Workers asleep on [`Shared::changed`].
    sleeping: usize,
    /// The first error (writing the output, a worker's panic): every worker stops.
    failed: Option<anyhow::Error>,
}

struct Shared {
    reading: Mutex<Reading>,
    exchange: Mutex<Exchange>,
    /// Signalled when a chunk is dealt, the merge moves, or a worker failed.
    changed: Condvar,
    count: usize,
    /// Whether the merge needs the chunks (for `--output-pcap`).
    keep_chunks: bool,
}

/// What a worker hands back when the capture is over.
struct WorkerEnd {
    /// The lines written while closing its flows.
    lines: Vec<u8>,
    stats: Stats,
    counts: EventCounts,
    warnings: Vec<String>,
}

/// One worker's engine: its shard of the flows, its output into a buffer.
type ShardEngine = Engine<Dissect<Vec<u8>>>;

/// `--threads N`: N workers each dissect their shard of the flows, reading
/// the capture in turn and merging their output as they go (see the module
/// doc).
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
    let reader = ChunkReader::open(&args.capture)?.with_chunk_size(CHUNK_BYTES);
    let pass_through = args
        .output_pcap
        .as_deref()
        .map(|path| PassThrough::new(path, &reader));
    let shared = Shared {
        reading: Mutex::new(Reading {
            reader,
            next: 0,
            clock: SweepClock::default(),
            over: false,
        }),
        exchange: Mutex::new(Exchange {
            inboxes: (0..count).map(|_| BTreeMap::new()).collect(),
            merge: Merge {
                out: BufWriter::with_capacity(1 << 16, io::stdout()),
                pass_through,
                progress: Progress::new(),
                pending: (0..count).map(|_| VecDeque::new()).collect(),
                spare: vec![Vec::new(); count],
                chunk: 0,
                worker: 0,
                dropped: Vec::new(),
                read: None,
            },
            sleeping: 0,
            failed: None,
        }),
        changed: Condvar::new(),
        count,
        keep_chunks: args.output_pcap.is_some(),
    };
    let started = Instant::now();
    let ends = std::thread::scope(|scope| {
        let mut engines = engines.into_iter().enumerate();
        let first = engines.next();
        let others: Vec<_> = engines
            .map(|(index, engine)| {
                let shared = &shared;
                scope.spawn(move || Worker { index, shared }.run(engine))
            })
            .collect();
        let mut ends = Vec::with_capacity(count);
        if let Some((index, engine)) = first {
            ends.push(
                Worker {
                    index,
                    shared: &shared,
                }
                .run(engine),
            );
        }
        for handle in others {
            ends.push(handle.join().ok().flatten());
        }
        ends
    });
    let Exchange { merge, failed, .. } = shared
        .exchange
        .into_inner()
        .map_err(|_| anyhow!("a dissecting thread failed"))?;
    if let Some(err) = failed {
        return Err(err);
    }
    let ends: Vec<WorkerEnd> = ends
        .into_iter()
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!("a dissecting thread stopped unexpectedly"))?;
    let Merge {
        mut out,
        pass_through,
        progress,
        ..
    } = merge;
    for end in &ends {
        out.write_all(&end.lines).context("writing events")?;
    }
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
    let mut reader = shared
        .reading
        .into_inner()
        .map_err(|_| anyhow!("a dissecting thread failed"))?
        .reader;
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

/// Worker `index`, with what it shares with the others.
struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
}

impl Worker<'_> {
    /// The worker's chunks, in order, through its engine, each one's result
    /// left in the merge; when the chunks end, the flows closed and the
    /// totals. `None` when the workers stopped on an error.
    fn run(self, mut engine: ShardEngine) -> Option<WorkerEnd> {
        // A panic here must not leave the other workers waiting for this one.
        let _alarm = Alarm(self.shared);
        let mut number = 0;
        while let Some(Dealt { chunk, steps }) = self.take(number)? {
            let first = chunk.first_packet();
            let mut dropped = Vec::new();
            for step in steps {
                match step {
                    Step::Tick(ts) => engine.observe_time(ts),
                    Step::Owned(i) | Step::Packet(i) => {
                        let Some(packet) = chunk.get(i) else { continue };
                        let verdict = match step {
                            Step::Owned(_) => engine.process_owned(&packet),
                            _ => engine.process(&packet),
                        };
                        if verdict == PacketVerdict::Drop {
                            dropped.push(first + i as u64);
                        }
                    }
                }
            }
            let writer = engine.handler_mut().sink.output_mut().writer_mut();
            let done = Done {
                lines: std::mem::take(writer),
                dropped,
                end: first + chunk.len() as u64,
                chunk: (self.index == 0 && self.shared.keep_chunks).then_some(chunk),
            };
            *writer = self.leave(done)?;
            number += 1;
        }
        engine.finish();
        let warnings = engine.take_warnings();
        let stats = engine.stats().clone();
        let mut sink = engine.into_handler().sink;
        sink.finish();
        let output = sink.output_mut();
        Some(WorkerEnd {
            lines: std::mem::take(output.writer_mut()),
            stats,
            counts: output.counts().clone(),
            warnings,
        })
    }

    /// Chunk `number` with this worker's steps; `Some(None)` when the
    /// capture is over, `None` when the workers stopped on an error. On the
    /// way, the chunks up to `number + LEAD` are read if no one is at it.
    fn take(&self, number: u64) -> Option<Option<Dealt>> {
        loop {
            let mut exchange = self.exchange()?;
            let dealt = self.inbox(&mut exchange).remove(&number);
            let merged = exchange.merge.chunk;
            drop(exchange);
            if let Some(dealt) = dealt {
                self.read_ahead(number + LEAD, merged, false)?;
                return Some(Some(dealt));
            }
            let (next, over) = self.read_ahead(number + LEAD, merged, true)?;
            if over && next <= number {
                return Some(None);
            }
            // Another worker is dealing the chunk, or the merge is behind
            // (the window is full): sleep until either changes.
            let mut exchange = self.exchange()?;
            while !self.inbox(&mut exchange).contains_key(&number) && exchange.merge.chunk == merged
            {
                exchange.sleeping += 1;
                exchange = self.shared.changed.wait(exchange).ok()?;
                exchange.sleeping -= 1;
                exchange.failed.is_none().then_some(())?;
            }
        }
    }

    /// Reads and deals the chunks up to `last`, within the window after
    /// chunk `merged`; gives up at once if another worker is reading, unless
    /// `wait`. Returns the number of the next chunk to read and whether the
    /// capture is over, as last seen; `None` when the workers stopped.
    fn read_ahead(&self, last: u64, merged: u64, wait: bool) -> Option<(u64, bool)> {
        let lock = || match self.shared.reading.try_lock() {
            Ok(reading) => Some(Some(reading)),
            Err(TryLockError::WouldBlock) if wait => self.shared.reading.lock().ok().map(Some),
            Err(TryLockError::WouldBlock) => Some(None),
            Err(TryLockError::Poisoned(_)) => None,
        };
        let Some(mut reading) = lock()? else {
            return Some((0, false));
        };
        let window = merged + WINDOW;
        while !reading.over && reading.next <= last && reading.next < window {
            let Some(chunk) = reading.reader.next_chunk() else {
                reading.over = true;
                break;
            };
            let number = reading.next;
            reading.next += 1;
            let sweeps = sweeps(&mut reading.clock, &chunk);
            drop(reading);
            self.deal(number, chunk, &sweeps)?;
            let Some(again) = lock()? else {
                return Some((number + 1, false));
            };
            reading = again;
        }
        Some((reading.next, reading.over))
    }

    /// Leaves every worker (this one too) chunk `number` with its steps.
    /// `sweeps`: the packets (by index, in order) at which the clock sweeps.
    fn deal(&self, number: u64, chunk: PacketChunk, sweeps: &[usize]) -> Option<()> {
        let count = self.shared.count;
        let mut steps: Vec<Vec<Step>> = (0..count)
            .map(|_| Vec::with_capacity(chunk.len() / count + 8))
            .collect();
        let mut sweeps = sweeps.iter().copied().peekable();
        for (i, (link, frame)) in chunk.frames().enumerate() {
            let owner = tcp_shard_key(link, frame).map(|key| key.shard(count));
            match owner.and_then(|owner| steps.get_mut(owner)) {
                Some(steps) => steps.push(Step::Owned(i)),
                None => steps
                    .iter_mut()
                    .for_each(|steps| steps.push(Step::Packet(i))),
            }
            if sweeps.next_if_eq(&i).is_some() {
                let Some(owner) = owner else { continue };
                let ts = chunk.get(i).map_or(0.0, |packet| packet.ts);
                for (worker, steps) in steps.iter_mut().enumerate() {
                    if worker != owner {
                        steps.push(Step::Tick(ts));
                    }
                }
            }
        }
        let mut exchange = self.exchange()?;
        for (inbox, steps) in exchange.inboxes.iter_mut().zip(steps) {
            let chunk = chunk.clone();
            inbox.insert(number, Dealt { chunk, steps });
        }
        self.wake(&exchange);
        Some(())
    }

    /// Leaves a chunk's result in the merge and writes what it completes;
    /// returns a buffer for the next chunk's lines. `None` when the workers
    /// stopped on an error (this one's or another's).
    fn leave(&self, done: Done) -> Option<Vec<u8>> {
        let capacity = done.lines.len();
        let mut exchange = self.exchange()?;
        let merge = &mut exchange.merge;
        let queue = merge.pending.get_mut(self.index)?;
        queue.push_back(done);
        let before = merge.chunk;
        let written = merge.write_ready(self.shared.count);
        let buffer = merge
            .spare
            .get_mut(self.index)
            .and_then(Vec::pop)
            .unwrap_or_else(|| Vec::with_capacity(capacity));
        match written {
            Ok(()) => {
                if exchange.merge.chunk != before {
                    self.wake(&exchange);
                }
                Some(buffer)
            }
            Err(err) => {
                exchange.failed = Some(err);
                self.shared.changed.notify_all();
                None
            }
        }
    }

    /// The exchange, locked; `None` when the workers stopped on an error.
    fn exchange(&self) -> Option<MutexGuard<'_, Exchange>> {
        let exchange = self.shared.exchange.lock().ok()?;
        exchange.failed.is_none().then_some(exchange)
    }

    fn inbox<'e>(&self, exchange: &'e mut Exchange) -> &'e mut BTreeMap<u64, Dealt> {
        // Every worker has an inbox (made for each index).
        let index = self.index.min(exchange.inboxes.len().saturating_sub(1));
        &mut exchange.inboxes[index]
    }

    /// Wakes the sleeping workers, if any (a system call otherwise saved).
    fn wake(&self, exchange: &Exchange) {
        if exchange.sleeping > 0 {
            self.shared.changed.notify_all();
        }
    }
}

impl Merge {
    /// Writes every result that comes next in merge order, and each chunk's
    /// passed packets once all its workers' results are in.
    fn write_ready(&mut self, count: usize) -> Result<()> {
        while let Some(done) = self
            .pending
            .get_mut(self.worker)
            .and_then(VecDeque::pop_front)
        {
            let Done {
                mut lines,
                dropped,
                chunk,
                end,
            } = done;
            self.out.write_all(&lines).context("writing events")?;
            lines.clear();
            if let Some(spare) = self.spare.get_mut(self.worker) {
                spare.push(lines);
            }
            self.dropped.extend(dropped);
            self.read = self.read.take().or(chunk);
            self.worker += 1;
            if self.worker < count {
                continue;
            }
            if let Some(pass) = self.pass_through.as_mut() {
                let chunk = self
                    .read
                    .take()
                    .ok_or_else(|| anyhow!("the first dissecting thread left no chunk"))?;
                self.dropped.sort_unstable();
                pass.write_chunk(&chunk, &self.dropped)?;
            }
            self.dropped.clear();
            self.read = None;
            self.progress.tick_to(end);
            self.worker = 0;
            self.chunk += 1;
        }
        Ok(())
    }
}

/// Stops every worker if the one holding it panics.
struct Alarm<'a>(&'a Shared);

impl Drop for Alarm<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut exchange = match self.0.exchange.lock() {
            Ok(exchange) => exchange,
            Err(poisoned) => poisoned.into_inner(),
        };
        if exchange.failed.is_none() {
            exchange.failed = Some(anyhow!("a dissecting thread panicked"));
        }
        drop(exchange);
        self.0.changed.notify_all();
    }
}

/// The packets of `chunk` (by index) at which `clock`, fed every packet's
/// time, sweeps.
fn sweeps(clock: &mut SweepClock, chunk: &PacketChunk) -> Vec<usize> {
    chunk
        .times()
        .enumerate()
        .filter_map(|(i, ts)| clock.due(ts).then_some(i))
        .collect()
}
