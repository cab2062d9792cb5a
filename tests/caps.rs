//! Caps and hostile captures through `protoc-rs pcap`, end to end.
//!
//! One job: prove the promises of issue 7 on the command line, with the
//! default caps unless a test is about a flag:
//! - a 50 MB line without a line end is not buffered: it is a `parse_error`
//!   (token too long) with a `cap` event, the spec's transitions carry on
//!   (the next command is read), and the run stays under 64 MB peak RSS;
//! - 100,000 half-open connections with data stay under 256 MB peak RSS,
//!   and the memory cap's evictions are reported as `cap` events;
//! - a truncated capture exits 2 and its intact packets give the same events
//!   as a capture that holds only them;
//! - overlapping segments with different content give an `overlap` event
//!   and the bytes that arrived first are parsed;
//! - each cap flag changes its cap (a `cap` event reports the new limit), and
//!   a bad value is an error naming its flag.
//!
//! Peak RSS is measured by `/usr/bin/time -f %M` (Debian's `time` package).

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::{Command, Output};

use common::{parse_events, protoc, repo, Event};
use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, RawTimestamp, TsPrecision};
use protoc_runtime::pcap_writer::{PcapWriter, DEFAULT_SNAPLEN};

/// Runs `protoc-rs ARGS` under `/usr/bin/time -f %M`: its output (stderr
/// without time's line) and its peak RSS in KiB.
fn protoc_measured(args: &[&str]) -> (Output, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time is missing: install Debian's `time` package"
    );
    let mut output = Command::new(time)
        .args(["-f", "peak-rss-kib %M", env!("CARGO_BIN_EXE_protoc-rs")])
        .args(args)
        .current_dir(repo())
        .output()
        .expect("/usr/bin/time runs protoc-rs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let (rest, measured) = stderr
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", stderr.trim_end()));
    let kib = measured
        .strip_prefix("peak-rss-kib ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in stderr: {stderr}"));
    output.stderr = rest.as_bytes().to_vec();
    (output, kib)
}

fn events_named<'a>(events: &'a [Event], name: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.event == name).collect()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Ethernet/IPv4/TCP frames written to a pcap, one timestamp tick apart.
struct Frames<W: Write> {
    writer: PcapWriter<W>,
    frame: Vec<u8>,
    micros: u64,
}

/// TCP flags of a built segment.
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: Option<u32>,
    fin: bool,
}

const SYN: Flags = Flags {
    syn: true,
    ack: None,
    fin: false,
};

impl<W: Write> Frames<W> {
    fn new(out: W) -> Frames<W> {
        let writer = PcapWriter::new(out, LinkType::ETHERNET, TsPrecision::Micro, DEFAULT_SNAPLEN)
            .expect("a pcap header");
        Frames {
            writer,
            frame: Vec::with_capacity(4096),
            micros: 1_600_000_000_000_000,
        }
    }

    fn send(&mut self, src: SocketAddrV4, dst: SocketAddrV4, seq: u32, flags: Flags, data: &[u8]) {
        let builder = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src.ip().octets(), dst.ip().octets(), 64)
            .tcp(src.port(), dst.port(), seq, 65535);
        let builder = if flags.syn { builder.syn() } else { builder };
        let builder = if flags.fin { builder.fin() } else { builder };
        let builder = match flags.ack {
            Some(ack) => builder.ack(ack),
            None => builder,
        };
        self.frame.clear();
        builder.write(&mut self.frame, data).expect("a frame");
        self.micros += 100;
        let ts = RawTimestamp {
            sec: (self.micros / 1_000_000) as i64,
            nsec: (self.micros % 1_000_000) as u32 * 1000,
        };
        let len = self.frame.len() as u32;
        self.writer
            .write_record(ts, len, &self.frame)
            .expect("a record");
    }

    fn finish(mut self) {
        self.writer.flush().expect("flushed");
    }
}

/// A 50 MB client line with no line end, in an SMTP session made by `synth`:
/// the token cap turns it into a parse error at once; the spec's
/// `parse_error` transition resyncs at the next line end, so the QUIT that
/// follows is a command again. Nothing of the line is buffered.
#[test]
fn a_50_mb_line_is_a_parse_error_and_stays_under_64_mb() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let line = vec![b'A'; 50_000_000];
    std::fs::write(dir.path().join("line.bin"), &line).expect("the line written");
    let transcript = dir.path().join("session.txt");
    std::fs::write(
        &transcript,
        "S: 220 mx.example.org ESMTP\n\
         C: EHLO client.example.org\n\
         S: 250 mx.example.org\n\
         C: MAIL FROM:<a@example.org>\n\
         S: 250 ok\n\
         C: @file line.bin\n\
         C: \n\
         C: QUIT\n\
         S: 500 line too long\n\
         S: 221 bye\n",
    )
    .expect("the transcript written");
    let capture = dir.path().join("line.pcap");
    let synth = protoc(&[
        "synth",
        transcript.to_str().expect("a UTF-8 path"),
        "-o",
        capture.to_str().expect("a UTF-8 path"),
    ]);
    assert!(synth.status.success(), "synth: {}", stderr_of(&synth));

    let (out, peak_kib) = protoc_measured(&[
        "pcap",
        capture.to_str().expect("a UTF-8 path"),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "pcap: {}", stderr_of(&out));
    eprintln!("50 MB line: peak RSS {peak_kib} KiB");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");

    let events = parse_events(&out.stdout);
    let caps = events_named(&events, "cap");
    assert_eq!(caps.len(), 1, "{caps:?}");
    assert_eq!(caps[0].fields["cap"], "max-token");
    assert_eq!(caps[0].fields["limit"], 64 * 1024);
    assert_eq!(caps[0].fields["action"], "parse error");
    assert_eq!(caps[0].dir, "up");
    let errors = events_named(&events, "parse_error");
    assert_eq!(errors.len(), 1);
    let message = errors[0].fields["message"].as_str().unwrap_or_default();
    assert!(
        message.ends_with("for field command in smtp_command: token too long"),
        "{message}"
    );
    // The spec's transition for a bad command line: an alert, then on.
    let alerts = events_named(&events, "alert");
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].raw["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("invalid smtp command")));
    let commands: Vec<&str> = events_named(&events, "command")
        .iter()
        .filter_map(|e| e.fields["command"].as_str())
        .collect();
    assert_eq!(commands, ["EHLO", "MAIL", "QUIT"]);
    let answered: Vec<&str> = events_named(&events, "response")
        .iter()
        .filter_map(|e| e.fields["command"].as_str())
        .collect();
    assert_eq!(answered, ["EHLO", "MAIL", "INVALID COMMAND", "QUIT"]);
}

/// 100,000 connections that send a SYN and 2 KiB of data and are never
/// answered: half with the data in order (it waits in the dissector for the
/// server's greeting), half after a 100-byte hole (it waits in reassembly).
/// With the default caps the run stays under 256 MB, and every flow the
/// memory cap evicted is reported.
#[test]
fn a_flood_of_100k_half_open_flows_stays_under_256_mb() {
    const FLOWS: u32 = 100_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let capture = dir.path().join("flood.pcap");
    let file = File::create(&capture).expect("the capture created");
    let mut frames = Frames::new(BufWriter::with_capacity(1 << 20, file));
    let server = SocketAddrV4::new([192, 168, 0, 1].into(), 25);
    let data = vec![b'x'; 2048];
    for i in 0..FLOWS {
        let client = SocketAddrV4::new((0x0a00_0000 | i).into(), 1024 + (i % 60_000) as u16);
        let isn = i.wrapping_mul(2_654_435_761);
        frames.send(client, server, isn, SYN, &[]);
        let hole = if i % 2 == 0 { 0 } else { 100 };
        let seq = isn.wrapping_add(1 + hole);
        frames.send(client, server, seq, Flags::default(), &data);
    }
    frames.finish();

    let (out, peak_kib) = protoc_measured(&[
        "pcap",
        capture.to_str().expect("a UTF-8 path"),
        "--format",
        "json",
    ]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "pcap: {stderr}");
    eprintln!("100k half-open flows: peak RSS {peak_kib} KiB");
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");

    let events = parse_events(&out.stdout);
    let caps = events_named(&events, "cap");
    assert!(!caps.is_empty(), "no cap event");
    for cap in &caps {
        assert_eq!(cap.fields["cap"], "memcap", "{:?}", cap.raw);
        assert_eq!(cap.fields["limit"], 128 << 20);
        assert_eq!(cap.fields["action"], "flow evicted");
    }
    // Each flow is evicted at most once, and far fewer flows than were
    // opened fit under the cap at once.
    let mut evicted: Vec<u64> = caps.iter().map(|e| e.flow).collect();
    evicted.sort_unstable();
    evicted.dedup();
    assert_eq!(evicted.len(), caps.len());
    assert!(caps.len() > FLOWS as usize / 2, "{} evictions", caps.len());
    assert!(
        stderr.contains("flow memory reached its cap (134217728 bytes)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(" {} caps,", caps.len())),
        "the stats line counts the cap events: {stderr}"
    );
    // Every flow with a hole reports it as a gap, evicted or not.
    assert_eq!(events_named(&events, "gap").len(), FLOWS as usize / 2);
}

/// The records (offset, length) of a classic pcap.
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(header) = bytes.get(at..at + 16) {
        let caplen = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        out.push((at, 16 + caplen));
        at += 16 + caplen;
    }
    out
}

/// The sample cut inside a record: `pcap` warns with the offset, exits 2,
/// and the packets before the cut give exactly the events of a capture that
/// holds only them (which exits 0).
#[test]
fn a_truncated_capture_exits_2_and_its_intact_flows_give_their_events() {
    let sample = std::fs::read(repo().join("samples/smtp.pcap")).expect("the sample");
    let recs = records(&sample);
    assert!(recs.len() > 20, "the sample has {} records", recs.len());
    // Cut in the middle of a record two thirds in: the SMTP session is
    // under way (its first commands were answered).
    let (start, len) = recs[recs.len() * 2 / 3];
    let cut = start + len / 2;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let truncated = dir.path().join("truncated.pcap");
    let intact = dir.path().join("intact.pcap");
    std::fs::write(&truncated, &sample[..cut]).expect("written");
    std::fs::write(&intact, &sample[..start]).expect("written");
    let path = |p: &Path| p.to_str().expect("a UTF-8 path").to_string();

    let cut_run = protoc(&["pcap", &path(&truncated), "--format", "json"]);
    let stderr = stderr_of(&cut_run);
    assert_eq!(cut_run.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(
        stderr.contains(&start.to_string()),
        "the offset of the cut record: {stderr}"
    );

    let intact_run = protoc(&["pcap", &path(&intact), "--format", "json"]);
    assert_eq!(
        intact_run.status.code(),
        Some(0),
        "{}",
        stderr_of(&intact_run)
    );
    let cut_events = parse_events(&cut_run.stdout);
    let intact_events = parse_events(&intact_run.stdout);
    assert!(
        events_named(&intact_events, "command").len() >= 2,
        "the intact part carries commands"
    );
    let raw = |events: &[Event]| events.iter().map(|e| e.raw.clone()).collect::<Vec<_>>();
    assert_eq!(raw(&cut_events), raw(&intact_events));
}

/// A client segment buffered out of order, then an overlapping one with
/// other bytes: an `overlap` event with the place and length, and the bytes
/// that arrived first are the ones parsed.
#[test]
fn overlapping_segments_with_different_content_give_an_overlap_event() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let capture = dir.path().join("overlap.pcap");
    let file = File::create(&capture).expect("created");
    let mut frames = Frames::new(BufWriter::new(file));
    let client = SocketAddrV4::new([10, 0, 0, 1].into(), 40000);
    let server = SocketAddrV4::new([10, 0, 0, 2].into(), 25);
    let (c_isn, s_isn) = (1000u32, 5000u32);
    let c = |offset: u32| c_isn + 1 + offset;
    let s = |offset: u32| s_isn + 1 + offset;
    let ack = |n: u32| Flags {
        ack: Some(n),
        ..Flags::default()
    };
    frames.send(client, server, c_isn, SYN, &[]);
    let syn_ack = Flags {
        syn: true,
        ack: Some(c(0)),
        fin: false,
    };
    frames.send(server, client, s_isn, syn_ack, &[]);
    frames.send(client, server, c(0), ack(s(0)), &[]);
    let greeting = b"220 mx ESMTP\r\n";
    frames.send(server, client, s(0), ack(c(0)), greeting);
    let s_len = greeting.len() as u32;
    // "HELO alice\r\n": bytes 5.. first, out of order; then 0..8 with
    // "HELO bob" whose last 3 bytes disagree with the buffered "ali".
    frames.send(client, server, c(5), ack(s(s_len)), b"alice\r\n");
    frames.send(client, server, c(0), ack(s(s_len)), b"HELO bob");
    let reply = b"250 hi\r\n";
    frames.send(server, client, s(s_len), ack(c(12)), reply);
    let s_len = s_len + reply.len() as u32;
    let fin = |n: u32| Flags {
        ack: Some(n),
        fin: true,
        ..Flags::default()
    };
    frames.send(client, server, c(12), fin(s(s_len)), &[]);
    frames.send(server, client, s(s_len), fin(c(13)), &[]);
    frames.send(client, server, c(13), ack(s(s_len + 1)), &[]);
    frames.finish();

    let out = protoc(&["pcap", capture.to_str().expect("UTF-8"), "--format", "json"]);
    let stderr = stderr_of(&out);
    assert!(out.status.success(), "{stderr}");
    let events = parse_events(&out.stdout);
    let overlaps = events_named(&events, "overlap");
    assert_eq!(overlaps.len(), 1, "{events:?}");
    assert_eq!(overlaps[0].dir, "up");
    assert_eq!(overlaps[0].fields["offset"], 5);
    assert_eq!(overlaps[0].fields["len"], 3);
    assert_eq!(overlaps[0].fields["kept"], "first");
    let helo = events_named(&events, "command");
    assert_eq!(helo.len(), 1);
    assert_eq!(helo[0].fields["parameter"], "alice");
    assert!(stderr.contains(" 1 overlaps,"), "{stderr}");
}

/// `--max-token` and `--max-flows` change their caps; the `cap` events say
/// the new limits.
#[test]
fn cap_flags_set_the_caps_that_events_report() {
    let out = protoc(&[
        "pcap",
        "samples/smtp.pcap",
        "--format",
        "json",
        "--max-token",
        "8",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let events = parse_events(&out.stdout);
    let caps = events_named(&events, "cap");
    assert!(!caps.is_empty());
    assert!(caps
        .iter()
        .all(|e| e.fields["cap"] == "max-token" && e.fields["limit"] == 8));
    // Each cap event comes right before the parse error it caused.
    for (i, event) in events.iter().enumerate() {
        if event.event == "cap" {
            let next = events.get(i + 1).map(|e| e.event.as_str());
            assert_eq!(next, Some("parse_error"));
        }
    }

    // Three SMTP sessions at once, packet by packet: with room for one
    // flow, each new one evicts the one before.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let capture = dir.path().join("three.pcap");
    let capture = capture.to_str().expect("a UTF-8 path");
    let transcript = "tests/transcripts/smtp-appendix.txt";
    let synth = protoc(&["synth", transcript, "-o", capture, "--sessions", "3"]);
    assert!(synth.status.success(), "{}", stderr_of(&synth));
    let out = protoc(&["pcap", capture, "--format", "json", "--max-flows", "1"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let events = parse_events(&out.stdout);
    let caps = events_named(&events, "cap");
    assert!(caps.len() >= 2, "{caps:?}");
    for cap in caps {
        assert_eq!(cap.fields["cap"], "max-flows");
        assert_eq!(cap.fields["limit"], 1);
        assert_eq!(cap.fields["action"], "flow evicted");
    }
}

#[test]
fn bad_cap_values_are_errors_naming_their_flag() {
    for (flag, value, says) in [
        ("--memcap", "0", "--memcap must be at least 1 byte"),
        ("--max-flows", "0", "--max-flows must be at least 1"),
        (
            "--flow-timeout",
            "-5",
            "--flow-timeout must be a positive number",
        ),
        ("--max-token", "12X", "unknown unit `X`"),
        ("--max-message", "lots", "not a size"),
    ] {
        let arg = format!("{flag}={value}");
        let out = protoc(&["pcap", "samples/smtp.pcap", &arg]);
        let stderr = stderr_of(&out);
        assert!(!out.status.success(), "{flag} {value} was accepted");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // The proxy takes the parser caps too.
    let help = protoc(&["proxy", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--max-token") && text.contains("--max-message"),
        "{text}"
    );
}
