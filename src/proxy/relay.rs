//! [`relay`]: one session's inline loop between a client and a server.
//!
//! Each direction is a [`Lane`]: bytes read from its source are fed to the
//! [`Inspector`] and queued; the queue's front is written to the destination
//! only up to the inspector's forward limit (the dissector's settled mark).
//! So a message reaches its receiver only once it is parsed and its rules
//! ran; streamed content (a mail body) moves chunk by chunk as it is
//! emitted; a `drop` closes both sides before the offending message is
//! written; a flow that finishes or stops relays untouched from then on.
//!
//! Invariants (per lane):
//! - the bytes written to the destination are a prefix of the bytes read
//!   from the source, unchanged, never beyond the forward limit;
//! - `queue` holds exactly the bytes read and not yet written;
//! - memory is bounded: the source is read only while fewer than
//!   `max_backlog` forwardable bytes wait for the destination (a slow
//!   receiver slows the sender), a read takes at most `read_size` bytes, and
//!   a dissector holding more than `max_held` unsettled bytes ends the
//!   session;
//! - the destination gets its end (FIN) once the source ended and every
//!   forwardable byte is written; bytes never settled are not forwarded.

use std::io;
use std::time::Duration;

use protoc_runtime::dissector::{Direction, FlowStatus};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{interval, Instant, MissedTickBehavior};

use super::inspect::Inspector;

/// Caps and timers of one session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest read from one side at once.
    pub read_size: usize,
    /// Most forwardable bytes that may wait for one destination before the
    /// proxy stops reading from the other side.
    pub max_backlog: usize,
    /// Most bytes of one direction the dissector may hold unsettled (a
    /// message in progress, bytes waiting for a grammar).
    pub max_held: usize,
    /// A session where no byte moves for this long is closed.
    pub idle_timeout: Duration,
    /// How often the dissector's `timeout` transitions get a `tick`.
    pub tick_interval: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        let parse = protoc_runtime::parse::Limits::default();
        let max_message = usize::try_from(parse.max_message_len).unwrap_or(usize::MAX);
        Limits {
            read_size: 16 * 1024,
            max_backlog: 64 * 1024,
            max_held: max_message.saturating_mul(2),
            idle_timeout: Duration::from_secs(300),
            tick_interval: Duration::from_secs(1),
        }
    }
}

/// How a session ended.
#[derive(Debug)]
pub enum Outcome {
    /// Both sides ended and everything settled was forwarded.
    Completed,
    /// The spec or a rule dropped the flow; both sides are closed.
    Dropped,
    /// No byte moved for the idle timeout.
    TimedOut,
    /// The proxy is shutting down.
    Closed,
    /// The dissector held more than `max_held` unsettled bytes of a direction.
    HeldTooMuch(Direction),
    /// Reading from or writing to a side failed.
    Io(Direction, io::Error),
}

/// The two connections of a session, split into halves.
pub struct Ends<CR, CW, SR, SW> {
    pub client_read: CR,
    pub client_write: CW,
    pub server_read: SR,
    pub server_write: SW,
}

/// One direction: bytes read from its source, waiting for its destination.
struct Lane {
    dir: Direction,
    /// The buffer reads go into.
    incoming: Vec<u8>,
    /// Bytes read and not yet written: stream positions `written..received`.
    queue: Vec<u8>,
    received: u64,
    written: u64,
    /// The source ended (EOF).
    source_ended: bool,
    /// The destination was told no more bytes come.
    destination_ended: bool,
}

impl Lane {
    fn new(dir: Direction, limits: &Limits) -> Lane {
        Lane {
            dir,
            incoming: vec![0; limits.read_size.max(1)],
            queue: Vec::new(),
            received: 0,
            written: 0,
            source_ended: false,
            destination_ended: false,
        }
    }

    /// How many queued bytes may be written now, given the forward limit.
    fn writable(&self, limit: u64) -> usize {
        let upto = limit.min(self.received);
        usize::try_from(upto.saturating_sub(self.written)).unwrap_or(usize::MAX)
    }

    /// Queued bytes the dissector has not settled.
    fn held(&self, limit: u64) -> usize {
        self.queue.len().saturating_sub(self.writable(limit))
    }

    /// Whether to read more from the source.
    fn wants_read(&self, limit: u64, limits: &Limits) -> bool {
        !self.source_ended && self.writable(limit) < limits.max_backlog
    }

    /// Whether the destination should get its end now.
    fn ready_to_end(&self, limit: u64) -> bool {
        self.source_ended && !self.destination_ended && self.writable(limit) == 0
    }
}

/// What woke the loop up.
enum Wake {
    Read(Direction, io::Result<usize>),
    Wrote(Direction, io::Result<usize>),
    Tick,
    Close,
}

/// Relays one session until it ends; see the module doc for the rules.
/// `close` turning true (or its sender going away) closes the session.
pub async fn relay<CR, CW, SR, SW>(
    ends: Ends<CR, CW, SR, SW>,
    inspector: &mut Inspector,
    limits: &Limits,
    mut close: watch::Receiver<bool>,
) -> Outcome
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    let Ends {
        mut client_read,
        mut client_write,
        mut server_read,
        mut server_write,
    } = ends;
    let mut up = Lane::new(Direction::Up, limits);
    let mut down = Lane::new(Direction::Down, limits);
    let mut ticker = interval(
        limits
            .tick_interval
            .min(limits.idle_timeout)
            .max(Duration::from_millis(10)),
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_activity = Instant::now();

    loop {
        if inspector.status() == FlowStatus::Dropped {
            return Outcome::Dropped;
        }
        if *close.borrow() {
            return Outcome::Closed;
        }
        let (up_limit, down_limit) = (
            inspector.forward_limit(Direction::Up),
            inspector.forward_limit(Direction::Down),
        );
        for lane in [&up, &down] {
            if lane.held(inspector.forward_limit(lane.dir)) > limits.max_held {
                return Outcome::HeldTooMuch(lane.dir);
            }
        }
        if up.ready_to_end(up_limit) {
            up.destination_ended = true;
            let _ = server_write.shutdown().await;
            inspector.forwarded_end(Direction::Up);
        }
        if down.ready_to_end(down_limit) {
            down.destination_ended = true;
            let _ = client_write.shutdown().await;
            inspector.forwarded_end(Direction::Down);
        }
        if up.destination_ended && down.destination_ended {
            return Outcome::Completed;
        }

        let up_out = up.queue.get(..up.writable(up_limit)).unwrap_or_default();
        let down_out = down
            .queue
            .get(..down.writable(down_limit))
            .unwrap_or_default();
        let read_up = up.wants_read(up_limit, limits);
        let read_down = down.wants_read(down_limit, limits);
        let wake = tokio::select! {
            biased;
            _ = close.changed() => Wake::Close,
            r = server_write.write(up_out), if !up_out.is_empty() => Wake::Wrote(Direction::Up, r),
            r = client_write.write(down_out), if !down_out.is_empty() => Wake::Wrote(Direction::Down, r),
            r = client_read.read(&mut up.incoming), if read_up => Wake::Read(Direction::Up, r),
            r = server_read.read(&mut down.incoming), if read_down => Wake::Read(Direction::Down, r),
            _ = ticker.tick() => Wake::Tick,
        };

        match wake {
            Wake::Close => return Outcome::Closed,
            Wake::Tick => {
                inspector.tick();
                if last_activity.elapsed() >= limits.idle_timeout {
                    return Outcome::TimedOut;
                }
            }
            Wake::Read(dir, Ok(0)) => {
                lane_mut(dir, &mut up, &mut down).source_ended = true;
                inspector.end(dir);
            }
            Wake::Read(dir, Ok(len)) => {
                last_activity = Instant::now();
                let lane = lane_mut(dir, &mut up, &mut down);
                let bytes = lane.incoming.get(..len).unwrap_or_default();
                inspector.feed(dir, bytes);
                lane.queue.extend_from_slice(bytes);
                lane.received += len as u64;
            }
            Wake::Wrote(dir, Ok(0)) => {
                return Outcome::Io(dir, io::ErrorKind::WriteZero.into());
            }
            Wake::Wrote(dir, Ok(len)) => {
                last_activity = Instant::now();
                let lane = lane_mut(dir, &mut up, &mut down);
                let len = len.min(lane.queue.len());
                inspector.forwarded(dir, lane.queue.get(..len).unwrap_or_default());
                lane.queue.drain(..len);
                lane.written += len as u64;
            }
            Wake::Read(dir, Err(err)) | Wake::Wrote(dir, Err(err)) => {
                return Outcome::Io(dir, err);
            }
        }
    }
}

fn lane_mut<'a>(dir: Direction, up: &'a mut Lane, down: &'a mut Lane) -> &'a mut Lane {
    match dir {
        Direction::Up => up,
        Direction::Down => down,
    }
}
