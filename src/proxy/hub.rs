//! [`Hub`]: what every session of one proxy run shares — the rules and event
//! output, the optional capture of relayed traffic, flow ids and counters.
//!
//! Invariants:
//! - the event output is used under its lock only, for one dissector call at
//!   a time, and flushed after each call so events and alerts appear live;
//! - a poisoned lock (a panic elsewhere) is recovered, never propagated: a
//!   session never brings the others down;
//! - the first write error of the event output or the capture is kept for the
//!   end-of-run report and announced once on stderr; relaying goes on.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use protoc_runtime::output::EventCounts;
use protoc_runtime::rules::{RuleCounts, RulesSink};

use super::capture::CaptureFile;

/// Where events, alerts and logs are written (stdout in the CLI).
pub type EventOutput = Box<dyn Write + Send>;

/// State shared by all sessions.
pub struct Hub {
    sink: Mutex<RulesSink<EventOutput>>,
    capture: Option<Mutex<CaptureFile>>,
    next_flow: AtomicU64,
    stats: Stats,
    error: Mutex<Option<io::Error>>,
}

impl Hub {
    /// A hub writing events through `sink` and, if given, relayed traffic to `capture`.
    pub fn new(sink: RulesSink<EventOutput>, capture: Option<CaptureFile>) -> Hub {
        Hub {
            sink: Mutex::new(sink),
            capture: capture.map(Mutex::new),
            next_flow: AtomicU64::new(1),
            stats: Stats::default(),
            error: Mutex::new(None),
        }
    }

    /// Runs `call` with the rules sink locked, then flushes the output.
    pub fn with_sink<R>(&self, call: impl FnOnce(&mut RulesSink<EventOutput>) -> R) -> R {
        let mut sink = lock(&self.sink);
        let result = call(&mut sink);
        let output = sink.output_mut();
        let flushed = output.flush();
        if let Some(err) = output.take_error().or(flushed.err()) {
            drop(sink);
            self.keep_error("writing events", err);
        }
        result
    }

    /// Runs `call` on the capture of relayed traffic, if there is one.
    pub fn with_capture(&self, call: impl FnOnce(&mut CaptureFile) -> io::Result<()>) {
        let Some(capture) = &self.capture else {
            return;
        };
        let result = call(&mut lock(capture));
        if let Err(err) = result {
            self.keep_error("writing the capture", err);
        }
    }

    /// Whether relayed traffic is captured.
    pub fn captures(&self) -> bool {
        self.capture.is_some()
    }

    /// A fresh flow id, unique within the run, in order of connection.
    pub fn next_flow_id(&self) -> u64 {
        self.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Ends the run: open extractions end, the output and the capture are
    /// flushed. Returns the counts of the output and of the rules, and the
    /// first write error of the run, if any.
    pub fn finish(&self) -> (EventCounts, RuleCounts, Option<io::Error>) {
        let (events, rules) = self.with_sink(|sink| {
            sink.finish();
            (sink.output().counts().clone(), sink.counts())
        });
        self.with_capture(CaptureFile::flush);
        let error = lock(&self.error).take();
        (events, rules, error)
    }

    fn keep_error(&self, what: &str, err: io::Error) {
        let mut kept = lock(&self.error);
        if kept.is_none() {
            eprintln_lossy!("warning: {what}: {err}; the proxy goes on relaying");
            *kept = Some(io::Error::new(err.kind(), format!("{what}: {err}")));
        }
    }
}

/// Locks `mutex`, recovering it if a panic poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counters of a run, updated by sessions as they go.
#[derive(Debug, Default)]
pub struct Stats {
    sessions: AtomicU64,
    active: AtomicU64,
    peak_active: AtomicU64,
    completed: AtomicU64,
    dropped: AtomicU64,
    finished: AtomicU64,
    timed_out: AtomicU64,
    closed_at_shutdown: AtomicU64,
    errors: AtomicU64,
    upstream_failures: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

/// What ended a session, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Both sides closed and everything settled was relayed.
    Completed,
    /// The spec or a rule dropped the flow.
    Dropped,
    /// No byte moved for the idle timeout.
    TimedOut,
    /// The proxy shut down with the session open.
    ClosedAtShutdown,
    /// A socket failed, or the dissector held too much.
    Error,
    /// The upstream server could not be reached.
    UpstreamFailure,
}

impl Stats {
    /// A client connected.
    pub fn session_opened(&self) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        let active = self.active.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_active.fetch_max(active, Ordering::Relaxed);
    }

    /// A session ended; `finished` when its spec reached `finish` on the way.
    pub fn session_closed(&self, end: SessionEnd, finished: bool) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        let counter = match end {
            SessionEnd::Completed => &self.completed,
            SessionEnd::Dropped => &self.dropped,
            SessionEnd::TimedOut => &self.timed_out,
            SessionEnd::ClosedAtShutdown => &self.closed_at_shutdown,
            SessionEnd::Error => &self.errors,
            SessionEnd::UpstreamFailure => &self.upstream_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if finished {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `len` bytes were relayed client to server.
    pub fn relayed_up(&self, len: usize) {
        self.bytes_up.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// `len` bytes were relayed server to client.
    pub fn relayed_down(&self, len: usize) {
        self.bytes_down.fetch_add(len as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            sessions: get(&self.sessions),
            peak_active: get(&self.peak_active),
            completed: get(&self.completed),
            dropped: get(&self.dropped),
            finished: get(&self.finished),
            timed_out: get(&self.timed_out),
            closed_at_shutdown: get(&self.closed_at_shutdown),
            errors: get(&self.errors),
            upstream_failures: get(&self.upstream_failures),
            bytes_up: get(&self.bytes_up),
            bytes_down: get(&self.bytes_down),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub sessions: u64,
    pub peak_active: u64,
    pub completed: u64,
    pub dropped: u64,
    /// Sessions whose spec reached `finish` (then relayed untouched).
    pub finished: u64,
    pub timed_out: u64,
    pub closed_at_shutdown: u64,
    pub errors: u64,
    pub upstream_failures: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_sessions_and_keep_the_peak() {
        let stats = Stats::default();
        stats.session_opened();
        stats.session_opened();
        stats.session_closed(SessionEnd::Dropped, false);
        stats.session_opened();
        stats.session_closed(SessionEnd::Completed, true);
        stats.relayed_up(10);
        stats.relayed_down(3);
        let snap = stats.snapshot();
        assert_eq!(snap.sessions, 3);
        assert_eq!(snap.peak_active, 2);
        assert_eq!(stats.active.load(Ordering::Relaxed), 1);
        assert_eq!((snap.dropped, snap.completed, snap.finished), (1, 1, 1));
        assert_eq!((snap.bytes_up, snap.bytes_down), (10, 3));
    }
}
