//! Tests of the relay with a toy line protocol over in-memory pipes: what is
//! forwarded when, drop, finish, back-pressure, timeouts and caps. The toy
//! dissector settles each complete line; the line `DROP` drops the flow and
//! `FINISH` finishes it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protoc_runtime::dissector::{Cx, Direction, Dissector, FlowInfo, FlowStatus, SpecDescriptor};
use protoc_runtime::output::{Format, OutputSink};
use protoc_runtime::rules::{RuleSet, RulesSink};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::hub::Hub;
use super::inspect::Inspector;
use super::relay::{relay, Ends, Limits, Outcome};

/// Settles complete lines; `DROP` drops, `FINISH` finishes.
#[derive(Default)]
struct Lines {
    consumed: [u64; 2],
    settled: [u64; 2],
    line: [Vec<u8>; 2],
    status: Option<FlowStatus>,
}

impl Dissector for Lines {
    fn feed(&mut self, dir: Direction, data: &[u8], _cx: &mut Cx<'_>) {
        let i = dir.index();
        for &byte in data {
            if self.status.is_some() {
                return;
            }
            self.consumed[i] += 1;
            self.line[i].push(byte);
            if byte == b'\n' {
                match self.line[i].as_slice() {
                    b"DROP\n" => self.status = Some(FlowStatus::Dropped),
                    b"FINISH\n" => self.status = Some(FlowStatus::Finished),
                    _ => self.settled[i] = self.consumed[i],
                }
                self.line[i].clear();
            }
        }
    }
    fn gap(&mut self, _: Direction, _: u64, _: &mut Cx<'_>) {}
    fn end(&mut self, _: Direction, _: &mut Cx<'_>) {}
    fn tick(&mut self, _: &mut Cx<'_>) {}
    fn status(&self) -> FlowStatus {
        self.status.unwrap_or(FlowStatus::Active)
    }
    fn settled(&self, dir: Direction) -> u64 {
        match self.status {
            Some(_) => u64::MAX,
            None => self.settled[dir.index()],
        }
    }
}

fn new_lines() -> Box<dyn Dissector> {
    Box::<Lines>::default()
}

static LINES: SpecDescriptor = SpecDescriptor {
    name: "lines",
    ports: &[],
    transports: &[protoc_runtime::dissector::Transport::Tcp],
    events: &[],
    new_dissector: new_lines,
    records: &[],
};

/// The application ends of a relayed session, and the relay's task.
struct Session {
    client: DuplexStream,
    server: DuplexStream,
    relay: JoinHandle<Outcome>,
    close: watch::Sender<bool>,
}

fn start(limits: Limits, pipe_capacity: usize) -> Session {
    let sink = RulesSink::new(
        RuleSet::default(),
        OutputSink::new(
            Box::new(io::sink()) as Box<dyn io::Write + Send>,
            Format::Json,
        ),
    );
    let hub = Arc::new(Hub::new(sink, None));
    let addr: SocketAddr = ([127, 0, 0, 1], 1).into();
    let info = FlowInfo {
        id: 1,
        src: addr,
        dst: addr,
    };
    let (client, client_proxy) = tokio::io::duplex(pipe_capacity);
    let (server_proxy, server) = tokio::io::duplex(pipe_capacity);
    let (client_read, client_write) = tokio::io::split(client_proxy);
    let (server_read, server_write) = tokio::io::split(server_proxy);
    let (close, closing) = watch::channel(false);
    let relay = tokio::spawn(async move {
        let mut inspector = Inspector::new(hub, info, &LINES);
        let ends = Ends {
            client_read,
            client_write,
            server_read,
            server_write,
        };
        let outcome = relay(ends, &mut inspector, &limits, closing).await;
        inspector.close();
        outcome
    });
    Session {
        client,
        server,
        relay,
        close,
    }
}

/// Reads what arrives within `wait` (stops early at EOF); whether EOF came.
async fn read_for(stream: &mut DuplexStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

const SHORT: Duration = Duration::from_millis(150);
const LONG: Duration = Duration::from_secs(5);

async fn outcome(session: Session) -> Outcome {
    match timeout(LONG, session.relay).await {
        Ok(Ok(outcome)) => outcome,
        other => panic!("the relay did not end: {other:?}"),
    }
}

#[tokio::test]
async fn a_line_is_forwarded_only_once_complete() {
    let mut s = start(Limits::default(), 64 * 1024);
    s.client.write_all(b"hel").await.unwrap();
    assert_eq!(read_for(&mut s.server, SHORT).await, (Vec::new(), false));
    s.client.write_all(b"lo\nwor").await.unwrap();
    assert_eq!(
        read_for(&mut s.server, SHORT).await,
        (b"hello\n".to_vec(), false)
    );
    // The client ends with `wor` never completed: it is never forwarded.
    s.client.shutdown().await.unwrap();
    assert_eq!(read_for(&mut s.server, LONG).await, (Vec::new(), true));
}

#[tokio::test]
async fn a_drop_withholds_the_message_and_closes_both_sides() {
    let mut s = start(Limits::default(), 64 * 1024);
    s.client.write_all(b"ok\n").await.unwrap();
    assert_eq!(
        read_for(&mut s.server, SHORT).await,
        (b"ok\n".to_vec(), false)
    );
    s.client.write_all(b"DROP\nafter\n").await.unwrap();
    assert_eq!(read_for(&mut s.server, LONG).await, (Vec::new(), true));
    assert_eq!(read_for(&mut s.client, LONG).await, (Vec::new(), true));
    assert!(matches!(outcome(s).await, Outcome::Dropped));
}

#[tokio::test]
async fn after_finish_bytes_relay_untouched() {
    let mut s = start(Limits::default(), 64 * 1024);
    let hand_off = b"FINISH\n\x16\x03\x01 no line end";
    s.client.write_all(hand_off).await.unwrap();
    assert_eq!(
        read_for(&mut s.server, SHORT).await,
        (hand_off.to_vec(), false)
    );
    s.server.write_all(b"\x16\x03\x03 reply").await.unwrap();
    assert_eq!(
        read_for(&mut s.client, SHORT).await,
        (b"\x16\x03\x03 reply".to_vec(), false)
    );
    s.client.shutdown().await.unwrap();
    s.server.shutdown().await.unwrap();
    assert_eq!(read_for(&mut s.server, LONG).await, (Vec::new(), true));
    assert_eq!(read_for(&mut s.client, LONG).await, (Vec::new(), true));
    assert!(matches!(outcome(s).await, Outcome::Completed));
}

#[tokio::test]
async fn an_untouched_session_is_byte_identical_both_ways() {
    let s = start(Limits::default(), 512);
    let up: Vec<u8> = (0..3000u32)
        .flat_map(|i| format!("up line {i}\r\n").into_bytes())
        .collect();
    let down: Vec<u8> = (0..3000u32)
        .flat_map(|i| [format!("down {i} ").as_bytes(), b"\x00\xff\n"].concat())
        .collect();
    let (mut client_read, mut client_write) = tokio::io::split(s.client);
    let (mut server_read, mut server_write) = tokio::io::split(s.server);
    let (up_sent, down_sent) = (up.clone(), down.clone());
    let writers = tokio::spawn(async move {
        // Odd-sized writes, both directions at once.
        for (a, b) in up_sent.chunks(37).zip(down_sent.chunks(53)) {
            client_write.write_all(a).await.unwrap();
            server_write.write_all(b).await.unwrap();
        }
        let rest_up = up_sent.chunks(37).count().min(down_sent.chunks(53).count());
        for a in up_sent.chunks(37).skip(rest_up) {
            client_write.write_all(a).await.unwrap();
        }
        for b in down_sent.chunks(53).skip(rest_up) {
            server_write.write_all(b).await.unwrap();
        }
        client_write.shutdown().await.unwrap();
        server_write.shutdown().await.unwrap();
    });
    let mut at_server = Vec::new();
    let mut at_client = Vec::new();
    let (a, b) = tokio::join!(
        server_read.read_to_end(&mut at_server),
        client_read.read_to_end(&mut at_client)
    );
    a.unwrap();
    b.unwrap();
    writers.await.unwrap();
    assert_eq!(at_server, up);
    assert_eq!(at_client, down);
    match timeout(LONG, s.relay).await {
        Ok(Ok(Outcome::Completed)) => {}
        other => panic!("expected a completed session, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_receiver_slows_the_sender() {
    let limits = Limits {
        read_size: 1024,
        max_backlog: 4096,
        ..Limits::default()
    };
    let pipe = 1024;
    let mut s = start(limits, pipe);
    let line = [b'x'; 99]
        .iter()
        .copied()
        .chain([b'\n'])
        .collect::<Vec<u8>>();
    // The server reads nothing: the client's writes must block after what the
    // pipes and the proxy's bounded queue hold.
    let mut accepted = 0usize;
    while let Ok(result) = timeout(SHORT, s.client.write_all(&line)).await {
        result.unwrap();
        accepted += line.len();
        assert!(accepted < 100_000, "the proxy kept reading from the client");
    }
    let bound = 2 * pipe + limits.max_backlog + limits.read_size + line.len();
    assert!(
        accepted <= bound,
        "{accepted} bytes accepted, more than {bound}"
    );
    // Once the server reads, every accepted byte arrives.
    let (got, _) = read_for(&mut s.server, SHORT * 4).await;
    assert!(
        got.len() >= accepted,
        "{} of {accepted} bytes arrived",
        got.len()
    );
    assert!(got.chunks(100).all(|l| l == line.as_slice()));
}

#[tokio::test]
async fn an_idle_session_times_out() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(200),
        tick_interval: Duration::from_millis(50),
        ..Limits::default()
    };
    let s = start(limits, 1024);
    let started = std::time::Instant::now();
    assert!(matches!(outcome(s).await, Outcome::TimedOut));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_dissector_holding_too_much_ends_the_session() {
    let limits = Limits {
        max_held: 1000,
        ..Limits::default()
    };
    let mut s = start(limits, 64 * 1024);
    s.client.write_all(&[b'y'; 2000]).await.unwrap();
    assert_eq!(read_for(&mut s.server, LONG).await, (Vec::new(), true));
    assert!(matches!(
        outcome(s).await,
        Outcome::HeldTooMuch(Direction::Up)
    ));
}

#[tokio::test]
async fn a_close_request_ends_the_session() {
    let mut s = start(Limits::default(), 1024);
    s.client.write_all(b"half a li").await.unwrap();
    s.close.send(true).unwrap();
    assert_eq!(read_for(&mut s.server, LONG).await, (Vec::new(), true));
    assert!(matches!(outcome(s).await, Outcome::Closed));
}
