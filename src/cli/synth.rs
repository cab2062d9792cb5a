//! `protoc-rs synth`: a pcap made from a `C:` / `S:` transcript.
//!
//! One job: parse the command line into [`protoc_runtime::synth::Options`]
//! and write the capture; the transcript format and the shape of the capture
//! are the runtime's `synth` module's (documented there and in `--help`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use protoc_runtime::capture::RawTimestamp;
use protoc_runtime::synth::{self, Options, Split, Transcript};

/// Make a capture from a transcript of an SMTP-like session.
///
/// The transcript has one line per line of the session: `C: ...` is sent by
/// the client, `S: ...` by the server, each followed by CRLF. A line ending in
/// `\n` is sent with that bare LF instead, one ending in `\c` with no line
/// ending. Escapes: `\r` `\n` `\t` `\\` `\xHH`. `C: @file PATH` sends a file's
/// bytes verbatim (PATH relative to the transcript). Consecutive lines of one
/// side form one message, sent at once. Lines starting with `#` are comments.
///
/// The capture (Ethernet, IPv4 or IPv6, TCP) has a three-way handshake, each
/// message cut into segments and acknowledged, and a FIN close. The same
/// options and seed always give the same file.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs synth tests/transcripts/smtp-appendix.txt -o smtp.pcap\n  \
    protoc-rs synth session.txt -o cut.pcap --segment-size 1\n  \
    protoc-rs synth session.txt -o messy.pcap --split random --segment-size 7 --reorder --duplicate --seed 42\n  \
    protoc-rs synth session.txt -o many.pcap --sessions 1000 --server 192.0.2.1:2525\n  \
    protoc-rs synth session.txt -o bench.pcap --sessions 2000 --concurrency 200\n\n\
    A transcript:\n  \
    S: 220 foo.com ESMTP\n  \
    C: EHLO bar.com\n  \
    S: 250 foo.com\n  \
    C: MAIL FROM:<a@bar.com>\\n      (bare LF)\n  \
    C: @file body.eml")]
pub struct Args {
    /// The transcript file (`-` reads stdin; `@file` paths are then relative
    /// to the current directory).
    pub transcript: PathBuf,

    /// The capture to write (`-` for stdout).
    #[arg(short, long)]
    pub output: PathBuf,

    /// Largest payload of one TCP segment.
    #[arg(long, default_value_t = 1460, value_name = "BYTES")]
    pub segment_size: usize,

    /// How to cut messages: `fixed` (segments of --segment-size) or `random`
    /// (random lengths from 1 to --segment-size).
    #[arg(long, value_enum, default_value = "fixed")]
    pub split: SplitArg,

    /// Seed of the random choices (splits, reordering, duplicates, ISNs).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Send the segments of each message in a random order.
    #[arg(long)]
    pub reorder: bool,

    /// Send some segments twice.
    #[arg(long)]
    pub duplicate: bool,

    /// Use IPv6 (default addresses fd00::1 and fd00::2).
    #[arg(long)]
    pub ipv6: bool,

    /// Copies of the session, interleaved packet by packet, on consecutive
    /// client ports.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sessions: usize,

    /// At most N sessions in flight at once (the next starts when one ends);
    /// 0: all of them at once.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub concurrency: usize,

    /// The receiver acknowledges every N data segments of a message (as TCP
    /// stacks do; stream engines that enforce the TCP window, like
    /// Suricata's, need it for messages larger than 64 KiB); 0: only once the
    /// whole message is sent.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub ack_every: usize,

    /// The client's address (default `10.0.0.1:40000`, or `[fd00::1]:40000`).
    #[arg(long, value_name = "IP:PORT")]
    pub client: Option<SocketAddr>,

    /// The server's address (default `10.0.0.2:25`, or `[fd00::2]:25`).
    #[arg(long, value_name = "IP:PORT")]
    pub server: Option<SocketAddr>,

    /// Time of the first packet, in seconds since the epoch (decimals allowed).
    #[arg(long, default_value_t = 1_402_490_912.0, value_name = "SECONDS")]
    pub start: f64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SplitArg {
    Fixed,
    Random,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let transcript = if args.transcript.as_os_str() == "-" {
        let text = std::io::read_to_string(std::io::stdin())
            .context("cannot read the transcript from stdin")?;
        Transcript::parse(&text, std::path::Path::new("."))?
    } else {
        Transcript::from_file(&args.transcript)?
    };
    let mut options = Options::default();
    if args.ipv6 {
        options = options.ipv6();
    }
    options.client = args.client.unwrap_or(options.client);
    options.server = args.server.unwrap_or(options.server);
    options.segment_size = args.segment_size;
    options.split = match args.split {
        SplitArg::Fixed => Split::Fixed,
        SplitArg::Random => Split::Random,
    };
    options.seed = args.seed;
    options.reorder = args.reorder;
    options.duplicate = args.duplicate;
    options.sessions = args.sessions;
    options.concurrency = args.concurrency;
    options.ack_every = args.ack_every;
    options.start = start_time(args.start)?;
    if args.output.as_os_str() == "-" {
        let mut out = crate::cli::stdout();
        synth::write_pcap(&transcript, &options, &mut out)?;
        out.flush()?;
    } else {
        let file = File::create(&args.output)
            .with_context(|| format!("cannot create `{}`", args.output.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        synth::write_pcap(&transcript, &options, &mut out)?;
        out.flush()
            .with_context(|| format!("cannot write `{}`", args.output.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn start_time(seconds: f64) -> anyhow::Result<RawTimestamp> {
    anyhow::ensure!(
        seconds.is_finite() && (0.0..4_294_967_295.0).contains(&seconds),
        "--start must be between 0 and 4294967295 seconds, not {seconds}"
    );
    let sec = seconds.floor();
    let usec = ((seconds - sec) * 1e6).round().min(999_999.0);
    Ok(RawTimestamp {
        sec: sec as i64,
        nsec: usec as u32 * 1000,
    })
}
