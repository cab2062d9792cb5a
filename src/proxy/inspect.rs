//! [`Inspector`]: one session's dissector, seen from the relay.
//!
//! The relay hands it every byte it reads (`feed`), each side's end (`end`)
//! and the passing of time (`tick`), and asks it how far each direction may
//! be forwarded ([`Inspector::forward_limit`], the dissector's settled mark).
//! It also records what the relay actually forwarded into the run's capture.
//!
//! Invariants:
//! - every byte read from a side is fed, in order, while the flow is active;
//!   once it is not (finish, fail, drop) nothing more is fed;
//! - `end(dir)` reaches the dissector at most once per direction;
//! - the capture shows exactly the bytes forwarded, in the order written.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use protoc_runtime::dissector::{Cx, Direction, Dissector, FlowInfo, FlowStatus, SpecDescriptor};

use super::capture::TcpTrack;
use super::hub::Hub;

/// The dissector of one session, and what the relay needs around it.
pub struct Inspector {
    hub: Arc<Hub>,
    info: FlowInfo,
    dissector: Box<dyn Dissector>,
    /// Whether `end` was called for (up, down).
    ended: [bool; 2],
    /// The session in the capture, when the run writes one.
    track: Option<TcpTrack>,
}

impl Inspector {
    /// A fresh dissector of `spec` for the flow `info`, registered with the
    /// rules (and the capture, if any).
    pub fn new(hub: Arc<Hub>, info: FlowInfo, spec: &SpecDescriptor) -> Inspector {
        hub.with_sink(|sink| sink.set_proto(info.id, spec.name));
        let mut track = None;
        if hub.captures() {
            hub.with_capture(|capture| {
                track = Some(capture.open(info.src, info.dst, info.id)?);
                Ok(())
            });
        }
        Inspector {
            hub,
            info,
            dissector: (spec.new_dissector)(),
            ended: [false, false],
            track,
        }
    }

    pub fn info(&self) -> &FlowInfo {
        &self.info
    }

    /// Where the dissector stands.
    pub fn status(&self) -> FlowStatus {
        self.dissector.status()
    }

    /// How many bytes of `dir`, from the session's start, may be forwarded:
    /// the dissector's settled mark (everything once the flow is not active).
    pub fn forward_limit(&self, dir: Direction) -> u64 {
        match self.status() {
            FlowStatus::Active => self.dissector.settled(dir),
            FlowStatus::Finished | FlowStatus::Dropped => u64::MAX,
        }
    }

    /// Bytes read from the side sending in `dir`.
    pub fn feed(&mut self, dir: Direction, bytes: &[u8]) {
        self.call(|dissector, cx| dissector.feed(dir, bytes, cx));
    }

    /// The side sending in `dir` closed (or the session ends with it open).
    pub fn end(&mut self, dir: Direction) {
        if std::mem::replace(&mut self.ended[dir.index()], true) {
            return;
        }
        self.call(|dissector, cx| dissector.end(dir, cx));
    }

    /// Time passed: due `timeout` transitions run.
    pub fn tick(&mut self) {
        self.call(|dissector, cx| dissector.tick(cx));
    }

    /// `bytes` were written to the side receiving in `dir`.
    pub fn forwarded(&mut self, dir: Direction, bytes: &[u8]) {
        match dir {
            Direction::Up => self.hub.stats().relayed_up(bytes.len()),
            Direction::Down => self.hub.stats().relayed_down(bytes.len()),
        }
        if let Some(track) = &mut self.track {
            self.hub
                .with_capture(|capture| capture.data(track, dir, bytes));
        }
    }

    /// The side receiving in `dir` was told no more bytes come (FIN).
    pub fn forwarded_end(&mut self, dir: Direction) {
        if let Some(track) = &mut self.track {
            self.hub.with_capture(|capture| capture.fin(track, dir));
        }
    }

    /// The session is over: ends both directions for the dissector (a
    /// message in progress is reported cut short), closes the connection in
    /// the capture, and lets the rules and output forget the flow.
    pub fn close(mut self) {
        for dir in [Direction::Up, Direction::Down] {
            self.end(dir);
            self.forwarded_end(dir);
        }
        let id = self.info.id;
        self.hub.with_sink(|sink| sink.forget(id));
    }

    /// Runs `call` on the dissector with the shared sink, if the flow is active.
    fn call(&mut self, call: impl FnOnce(&mut dyn Dissector, &mut Cx<'_>)) {
        if self.dissector.status() != FlowStatus::Active {
            return;
        }
        let now = wall_clock();
        let Inspector {
            hub,
            info,
            dissector,
            ..
        } = self;
        hub.with_sink(|sink| {
            let mut cx = Cx {
                flow: info,
                now,
                sink,
            };
            call(dissector.as_mut(), &mut cx);
        });
    }
}

/// Seconds since the epoch, as event timestamps.
fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
