//! `protoc-rs proxy`: the dissectors and rules inline, between real clients
//! and a real server.
//!
//! One job: turn the command line into a [`crate::proxy::Config`] and a
//! [`crate::proxy::hub::Hub`] (spec, rules, output, capture), run the proxy
//! on a tokio runtime until SIGINT/SIGTERM, and print the stats. The relaying
//! itself is `crate::proxy`'s.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use protoc_runtime::dissector::SpecDescriptor;
use protoc_runtime::output::OutputSink;
use protoc_runtime::rules::RulesSink;
use tokio::sync::mpsc;

use super::select::{find_spec, load_rules, resolve_format, FormatArg, Selector};
use crate::proxy::capture::CaptureFile;
use crate::proxy::hub::{EventOutput, Hub};
use crate::proxy::relay::Limits;
use crate::proxy::{serve, Config};

/// Relay live TCP sessions through a dissector and rules: an inline filter.
///
/// Each client gets its own connection to the upstream server. Both
/// directions go through the spec's dissector and the rules, as with `pcap`;
/// a byte is forwarded only once its message is parsed and the rules ran
/// (streamed content chunk by chunk), so a rule's `drop` stops the offending
/// message before the server sees it, then closes both sides. A session that
/// reaches the spec's `finish` (e.g. after STARTTLS) relays untouched from
/// then on. Events and alerts go to stdout; SIGINT/SIGTERM stops accepting,
/// lets open sessions end for --drain-timeout seconds (a second signal closes
/// them at once), then prints the stats on stderr.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs proxy --listen 127.0.0.1:2525 --upstream 127.0.0.1:25 --rules rules/spam_filter.rules\n  \
    protoc-rs proxy --listen 0.0.0.0:25 --upstream mx.internal:2525 --port smtp=2525 --format text\n  \
    protoc-rs proxy --listen [::1]:2525 --upstream [::1]:2526 --spec smtp --output-pcap relayed.pcap")]
pub struct Args {
    /// Address to accept clients on (`127.0.0.1:2525`; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,

    /// The server to relay to (`host:port`).
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,

    /// Dissect every session with this spec (by protocol name).
    #[arg(long, value_name = "NAME")]
    pub spec: Option<String>,

    /// Pick the spec by port: spec NAME for upstream (or listen) port PORT (repeatable).
    #[arg(long = "port", value_name = "NAME=PORT")]
    pub ports: Vec<String>,

    /// Security rules to load (repeatable); they run in file order on each event.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,

    /// Output format [default: text on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Write the relayed traffic to this pcap (made-up packets, real bytes).
    #[arg(long, value_name = "FILE")]
    pub output_pcap: Option<PathBuf>,

    /// Debug trace of grammar and state machine on stderr (as Haka's -d).
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Close a session after this many seconds with no byte in either direction.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub idle_timeout: f64,

    /// Give up connecting to the upstream server after this many seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub connect_timeout: f64,

    /// On SIGINT/SIGTERM, let open sessions go on for this many seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub drain_timeout: f64,

    /// Most sessions open at once; more clients wait to be accepted.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_sessions: usize,

    #[command(flatten)]
    pub caps: super::caps::ParserCaps,
}

pub fn run(args: Args) -> Result<ExitCode> {
    args.caps.apply()?;
    let listen = resolve(&args.listen, "--listen")?;
    let upstream = resolve(&args.upstream, "--upstream")?;
    let spec = choose_spec(&args, listen, upstream)?;
    let rules = load_rules(&args.rules)?;
    let rule_count = rules.len();
    let output: EventOutput = Box::new(io::BufWriter::new(io::stdout()));
    let output = OutputSink::new(output, resolve_format(args.format)).with_trace(args.debug);
    let capture = match &args.output_pcap {
        Some(path) => Some(
            CaptureFile::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?,
        ),
        None => None,
    };
    let hub = Arc::new(Hub::new(RulesSink::new(rules, output), capture));
    let config = Arc::new(Config {
        upstream,
        spec,
        limits: Limits {
            idle_timeout: seconds(args.idle_timeout, "--idle-timeout")?,
            ..Limits::default()
        },
        connect_timeout: seconds(args.connect_timeout, "--connect-timeout")?,
        drain_timeout: seconds(args.drain_timeout, "--drain-timeout")?,
        max_sessions: args.max_sessions.max(1),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    runtime.block_on(async {
        let signals = Signals::install()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let bound = listener.local_addr().unwrap_or(listen);
        eprintln_lossy!(
            "proxy: listening on {bound}, relaying to {upstream} through spec {} with {rule_count} rule(s)",
            spec.name
        );
        let (requests, shutdown) = mpsc::channel(4);
        tokio::spawn(signals.forward(requests));
        serve(listener, config, hub.clone(), shutdown).await;
        anyhow::Ok(())
    })?;
    // Sessions are over; do not wait for the signal task.
    runtime.shutdown_background();

    let (events, rules, error) = hub.finish();
    let stats = hub.stats().snapshot();
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss = peak_rss_mb().map_or(String::new(), |mb| format!(", peak RSS {mb:.1} MB"));
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "stats: {} sessions ({} completed, {} dropped, {} finished then relayed, {} timed out, {} closed at shutdown, {} errors, {} upstream failures), peak {} concurrent, {} bytes up, {} bytes down, {} events, {} alerts, {} rule drops, {} parse errors, {seconds:.3} s{peak_rss}",
        stats.sessions,
        stats.completed,
        stats.dropped,
        stats.finished,
        stats.timed_out,
        stats.closed_at_shutdown,
        stats.errors,
        stats.upstream_failures,
        stats.peak_active,
        stats.bytes_up,
        stats.bytes_down,
        events.events,
        events.alerts,
        rules.drops,
        events.parse_errors,
    )?;
    match error {
        Some(error) => Err(error.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `--spec NAME` for every session; otherwise the spec of the upstream
/// port, else of the listen port (defaults and `--port`).
fn choose_spec(
    args: &Args,
    listen: SocketAddr,
    upstream: SocketAddr,
) -> Result<&'static SpecDescriptor> {
    if let Some(name) = &args.spec {
        if !args.ports.is_empty() {
            bail!("--spec and --port exclude each other here: the proxy relays to one server");
        }
        return find_spec(name);
    }
    let selector = Selector::new(None, &args.ports)?;
    selector
        .for_server_port(upstream.port())
        .or_else(|| selector.for_server_port(listen.port()))
        .with_context(|| {
            format!(
                "no spec for port {} or {}: name one with --spec NAME or --port NAME={}",
                upstream.port(),
                listen.port(),
                upstream.port()
            )
        })
}

/// The first address `text` resolves to.
fn resolve(text: &str, option: &str) -> Result<SocketAddr> {
    text.to_socket_addrs()
        .with_context(|| format!("{option} `{text}`: expected host:port"))?
        .next()
        .with_context(|| format!("{option} `{text}`: resolves to no address"))
}

fn seconds(value: f64, option: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{option} {value}: expected a positive number of seconds"))
}

/// SIGINT and SIGTERM, listened for from creation on (so a signal that comes
/// right after the proxy says it listens is not lost to the default action).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; needs a tokio runtime.
    fn install() -> Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Sends a shutdown request for each signal, until nobody listens.
    async fn forward(mut self, requests: mpsc::Sender<()>) {
        loop {
            #[cfg(unix)]
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            #[cfg(not(unix))]
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if requests.send(()).await.is_err() {
                return;
            }
        }
    }
}

/// The process's peak resident set size (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
