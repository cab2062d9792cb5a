//! The inline proxy behind `protoc-rs proxy`: accepts clients, opens one
//! upstream connection per client, and relays both directions through a
//! generated dissector and the run's rules. It knows no protocol: the spec
//! and rules are whatever the command line chose.
//!
//! - [`hub`]: what sessions share (rules and output, capture, counters);
//! - [`inspect`]: one session's dissector, seen from the relay;
//! - [`relay`](mod@relay): one session's inline loop (settled bytes only, back-pressure);
//! - [`capture`]: the relayed traffic as a synthetic pcap.
//!
//! Inline semantics: a byte reaches the other side only once the dissector
//! has settled it (its message is parsed and its rules ran, or it was
//! streamed to an event), so a `drop` stops the offending message before its
//! receiver sees it and then closes both sides; a flow that reaches `finish`
//! (or stops being dissected) relays untouched from then on. A session the
//! rules leave alone is byte-identical on both sides.
//!
//! Shutdown ([`serve`]): the first request stops accepting and lets open
//! sessions end on their own for up to the drain timeout; a second request,
//! or the timeout, closes the rest (their dissectors see both ends).

pub mod capture;
pub mod hub;
pub mod inspect;
pub mod relay;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protoc_runtime::dissector::{FlowInfo, FlowStatus, SpecDescriptor};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use hub::{Hub, SessionEnd};
use inspect::Inspector;
use relay::{relay, Ends, Limits, Outcome};

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server every client is relayed to.
    pub upstream: SocketAddr,
    /// The spec that dissects every session.
    pub spec: &'static SpecDescriptor,
    pub limits: Limits,
    /// How long to wait for the upstream server to accept a connection.
    pub connect_timeout: Duration,
    /// How long open sessions may go on after a shutdown request.
    pub drain_timeout: Duration,
    /// Most sessions open at once; further clients wait in the listen backlog.
    pub max_sessions: usize,
}

/// Accepts clients on `listener` and relays each through its own session
/// until shutdown is requested on `shutdown` (see the module doc). Returns
/// once every session has ended.
pub async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    hub: Arc<Hub>,
    mut shutdown: mpsc::Receiver<()>,
) {
    let (close, closing) = watch::channel(false);
    let mut sessions = JoinSet::new();
    loop {
        let room = sessions.len() < config.max_sessions.max(1);
        let accepted = tokio::select! {
            _ = shutdown.recv() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            accepted = listener.accept(), if room => accepted,
        };
        match accepted {
            Ok((client, peer)) => {
                let session = session(client, peer, config.clone(), hub.clone(), closing.clone());
                sessions.spawn(session);
            }
            Err(err) => {
                // Out of file descriptors, or a connection reset while queued:
                // wait a little rather than spin.
                eprintln_lossy!("warning: accepting a client: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let open = sessions.len();
    if open > 0 {
        eprintln_lossy!(
            "proxy: shutting down; {open} session(s) open, waiting up to {:.0} s (again to close now)",
            config.drain_timeout.as_secs_f64()
        );
    }
    tokio::select! {
        _ = async { while sessions.join_next().await.is_some() {} } => {}
        _ = tokio::time::sleep(config.drain_timeout) => {}
        _ = shutdown.recv() => {}
    }
    let _ = close.send(true);
    while sessions.join_next().await.is_some() {}
}

/// One client: connect upstream, relay, account for the outcome.
async fn session(
    client: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    hub: Arc<Hub>,
    closing: watch::Receiver<bool>,
) {
    hub.stats().session_opened();
    let upstream = match connect(&config).await {
        Ok(upstream) => upstream,
        Err(err) => {
            eprintln_lossy!(
                "warning: client {peer}: cannot reach upstream {}: {err}",
                config.upstream
            );
            hub.stats()
                .session_closed(SessionEnd::UpstreamFailure, false);
            return;
        }
    };
    // Messages are forwarded as soon as they settle: no Nagle delay on top.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let info = FlowInfo {
        id: hub.next_flow_id(),
        src: peer,
        dst: upstream.peer_addr().unwrap_or(config.upstream),
    };
    let mut inspector = Inspector::new(hub.clone(), info, config.spec);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = upstream.into_split();
    let ends = Ends {
        client_read,
        client_write,
        server_read,
        server_write,
    };
    let outcome = relay(ends, &mut inspector, &config.limits, closing).await;
    let finished = inspector.status() == FlowStatus::Finished;
    let end = match outcome {
        Outcome::Completed => SessionEnd::Completed,
        Outcome::Dropped => SessionEnd::Dropped,
        Outcome::TimedOut => SessionEnd::TimedOut,
        Outcome::Closed => SessionEnd::ClosedAtShutdown,
        Outcome::HeldTooMuch(dir) => {
            eprintln_lossy!(
                "warning: flow {}: the dissector held over {} unsettled bytes {dir}; session closed",
                inspector.info().id,
                config.limits.max_held
            );
            SessionEnd::Error
        }
        Outcome::Io(dir, err) => {
            let side = match dir {
                protoc_runtime::dissector::Direction::Up => "client to server",
                protoc_runtime::dissector::Direction::Down => "server to client",
            };
            eprintln_lossy!(
                "warning: flow {}: relaying {side}: {err}",
                inspector.info().id
            );
            SessionEnd::Error
        }
    };
    inspector.close();
    hub.stats().session_closed(end, finished);
}

async fn connect(config: &Config) -> io::Result<TcpStream> {
    match tokio::time::timeout(config.connect_timeout, TcpStream::connect(config.upstream)).await {
        Ok(result) => result,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}
