//! Real SMTP traffic on loopback, end to end, checked against two oracles
//! that owe nothing to protoc-rs:
//!
//! - Wireshark's own SMTP dissector (`tshark`): every command and its
//!   parameter, every reply code and reply text, in order, per flow;
//! - the SMTP server itself (aiosmtpd, `tests/live/smtp_server.py`): every
//!   mail's content byte for byte, and its envelope (MAIL FROM, RCPT TO).
//!
//! The test starts the server on a free port of 127.0.0.1, records the
//! loopback with `tcpdump`, sends mails with two real clients (`swaks` with
//! EHLO, Python's `smtplib` with HELO), stops the capture and runs
//! `protoc-rs pcap` over it. Every child process is owned by a `Guard` (in
//! `tests/common/live.rs`, shared by the live tests) that kills it when the
//! test ends, also when it fails; every wait is bounded in time. `.ci/run` installs the tools: a missing one fails the test, it is
//! never skipped.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::live::{protoc_bounded, run_bounded, MailServer, Tcpdump};
use common::tshark::{tshark_fields, AGGREGATOR};
use common::{parse_events, repo, Event};

#[test]
fn real_clients_and_server_agree_with_wireshark_and_with_the_stored_mails() {
    let work = tempfile::tempdir().expect("tempdir");
    let extract_dir = work.path().join("extracted");

    let server = MailServer::start(&["--keep-content"]);
    let capture = Tcpdump::start(server.port, work.path());

    // The mails, in the order they are sent (the server numbers them in the
    // order they arrive, which is the same: each client ends before the next).
    let dots_body = work.path().join("dots.txt");
    fs::write(
        &dots_body,
        "First line.\n.one leading dot\n..two leading dots\n.\nLast line.\n",
    )
    .expect("dots body");
    let big_body = work.path().join("big.txt");
    fs::write(&big_body, one_megabyte_of_lines()).expect("big body");
    let sent = [
        Sent::swaks("small@example.org", &["one@example.net"], "A small mail."),
        Sent::swaks(
            "dots@example.org",
            &["one@example.net", "two@example.net"],
            &format!("@{}", dots_body.display()),
        ),
        Sent::swaks(
            "big@example.org",
            &["one@example.net"],
            &format!("@{}", big_body.display()),
        ),
        Sent::smtplib_helo("helo-sender@example.org", &["helo-rcpt@example.net"]),
    ];
    for mail in &sent {
        mail.send(server.port);
    }
    let mails = server.wait_for_mails(sent.len());
    let recording = capture.stop();
    let (capture_file, packets) = (recording.pcap, recording.packets);

    // protoc-rs over the capture, with the seed's mail dump to files.
    let port_arg = format!("smtp={}", server.port);
    let ours = protoc_bounded(&[
        "pcap",
        path_str(&capture_file),
        "--port",
        &port_arg,
        "--format",
        "json",
        "--rules",
        "rules/mail_content.rules",
        "--extract-dir",
        path_str(&extract_dir),
    ]);
    let stderr = String::from_utf8_lossy(&ours.stderr);
    assert!(ours.status.success(), "protoc-rs failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&format!("stats: {packets} packets, {} flows", sent.len())),
        "protoc-rs must read every packet tcpdump wrote, in {} flows: {stderr}",
        sent.len()
    );
    let events = parse_events(&ours.stdout);
    for e in &events {
        assert_eq!(e.proto, "smtp", "{e:?}");
        assert_eq!(
            (e.src_ip.as_str(), e.dest_ip.as_str()),
            ("127.0.0.1", "127.0.0.1")
        );
        assert_eq!(e.dest_port, u64::from(server.port), "{e:?}");
        assert!(
            !matches!(e.event.as_str(), "alert" | "parse_error" | "gap"),
            "real, well-formed SMTP must read cleanly: {e:?}"
        );
    }

    // 1. Every command and reply line, in order, per flow, as Wireshark reads them.
    let ours_by_flow = our_transcripts(&events);
    let wireshark = wireshark_transcripts(&capture_file, server.port);
    assert_eq!(ours_by_flow.len(), sent.len(), "one flow per client");
    assert_eq!(
        ours_by_flow.keys().collect::<Vec<_>>(),
        wireshark.keys().collect::<Vec<_>>(),
        "the same client ports"
    );
    for (port, lines) in &ours_by_flow {
        assert_eq!(lines, &wireshark[port], "flow from client port {port}");
    }

    // 2. Each mail as the server stored it, and the envelope it received.
    assert_eq!(mails.len(), sent.len());
    for (mail, stored) in sent.iter().zip(&mails) {
        assert_eq!(stored.mail_from, mail.from, "{stored:?}");
        assert_eq!(stored.rcpt_tos, mail.to, "{stored:?}");
        let transcript = &ours_by_flow[&stored.client_port];
        assert_eq!(
            commands(transcript),
            mail.expected_commands(),
            "flow from client port {}",
            stored.client_port
        );
        let extracted = extracted_mail(&events, stored.client_port);
        // The server keeps the content up to the end-of-data line, the CRLF
        // that ends the last line of the mail included. The seed grammar reads
        // `data: bytes until DATA_END` with DATA_END = `\r\n.\r\n`: that CRLF is
        // the first half of the end token, so the extracted content stops just
        // before it. Everything else, dot-unstuffing included, is identical.
        assert!(stored.content().ends_with(b"\r\n"));
        assert_eq!(
            [extracted.as_slice(), b"\r\n"].concat(),
            stored.content(),
            "mail from client port {}: ours ({} bytes) + CRLF vs the server's ({} bytes)",
            stored.client_port,
            extracted.len(),
            stored.content().len()
        );
    }

    // The clients did dot-stuff, so the equality above covers unstuffing:
    // the wire carries an extra dot that neither the server nor we keep.
    let wire = fs::read(&capture_file).expect("capture");
    assert!(
        contains(&wire, b"\r\n...two leading dots\r\n"),
        "swaks stuffs"
    );
    assert!(contains(
        mails[1].content(),
        b"\r\n..two leading dots\r\n.\r\n"
    ));
    assert!(
        contains(&wire, b"\r\n..This line starts with a dot.\r\n"),
        "smtplib stuffs"
    );
    assert!(mails[2].content().len() > 1_000_000, "the big mail is big");
}

// ---------------------------------------------------------------------------
// What is sent

/// One mail a real client sends.
struct Sent {
    client: Client,
    from: String,
    to: Vec<String>,
}

enum Client {
    /// swaks with EHLO; the body argument as swaks takes it (`@FILE` or text).
    Swaks { body: String },
    /// Python's smtplib with HELO (`tests/live/send_helo.py`).
    SmtplibHelo,
}

impl Sent {
    fn swaks(from: &str, to: &[&str], body: &str) -> Sent {
        Sent {
            client: Client::Swaks {
                body: body.to_string(),
            },
            from: from.to_string(),
            to: to.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// send_helo.py's fixed envelope, restated here to check the server got it.
    fn smtplib_helo(from: &str, to: &[&str]) -> Sent {
        Sent {
            client: Client::SmtplibHelo,
            ..Sent::swaks(from, to, "")
        }
    }

    fn send(&self, port: u16) {
        let output = match &self.client {
            Client::Swaks { body } => run_bounded(
                "swaks",
                Command::new("swaks")
                    .args(["--server", &format!("127.0.0.1:{port}")])
                    .args(["--ehlo", "client.test", "--from", &self.from])
                    .args(["--to", &self.to.join(",")])
                    .args(["--header", "Subject: protoc-rs live test"])
                    .args(["--body", body]),
            ),
            Client::SmtplibHelo => run_bounded(
                "send_helo.py",
                Command::new("python3")
                    .arg(repo().join("tests/live/send_helo.py"))
                    .arg(port.to_string()),
            ),
        };
        assert!(
            output.status.success(),
            "client failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The commands the client sends, upper-cased, with their parameters.
    fn expected_commands(&self) -> Vec<(String, String)> {
        let hello = match self.client {
            Client::Swaks { .. } => ("EHLO", "client.test"),
            Client::SmtplibHelo => ("HELO", "helo.client.test"),
        };
        let mut commands = vec![(hello.0.to_string(), hello.1.to_string())];
        commands.push(("MAIL".into(), format!("FROM:<{}>", self.from)));
        for to in &self.to {
            commands.push(("RCPT".into(), format!("TO:<{to}>")));
        }
        commands.push(("DATA".into(), String::new()));
        commands.push(("QUIT".into(), String::new()));
        commands
    }
}

/// About 1 MB of text lines of 0 to 200 characters (aiosmtpd refuses lines
/// over 1000), some starting with a dot, from a fixed pseudo-random sequence.
fn one_megabyte_of_lines() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz .,:;-";
    let mut state: u32 = 0x2545_f491;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as usize
    };
    let mut body = String::new();
    let mut line = 0;
    while body.len() < 1_000_000 {
        line += 1;
        if line % 97 == 0 {
            body.push('.');
        }
        for _ in 0..next() % 201 {
            body.push(char::from(ALPHABET[next() % ALPHABET.len()]));
        }
        body.push('\n');
    }
    body
}

// ---------------------------------------------------------------------------
// Transcripts: ours and Wireshark's

/// One line of a session: a command, or one line of a (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Command { command: String, parameter: String },
    Reply { code: String, text: String },
}

/// Our commands and reply lines, by client port, in order.
fn our_transcripts(events: &[Event]) -> BTreeMap<u16, Vec<Line>> {
    let mut flows: BTreeMap<u16, Vec<Line>> = BTreeMap::new();
    for e in events {
        let port = u16::try_from(e.src_port).expect("a port");
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        match e.event.as_str() {
            "command" => flows.entry(port).or_default().push(Line::Command {
                command: text(&e.fields, "command"),
                parameter: text(&e.fields, "parameter"),
            }),
            "response" => {
                let lines = e.fields["responses"].as_array().expect("responses");
                flows
                    .entry(port)
                    .or_default()
                    .extend(lines.iter().map(|l| Line::Reply {
                        code: text(l, "code"),
                        text: text(l, "parameter"),
                    }))
            }
            _ => {}
        }
    }
    flows
}

/// Wireshark's commands and reply lines, by client port, in order.
///
/// `tshark -T fields` gives one row per packet. A packet may hold several
/// reply lines: Wireshark 4 then lists every line's text (joined with the
/// aggregator) but the reply code once, so each text gets the row's code
/// (RFC 5321 4.2.1: every line of a reply has the same code). Rows of the
/// mail content carry no command and no reply.
fn wireshark_transcripts(capture: &Path, server_port: u16) -> BTreeMap<u16, Vec<Line>> {
    let rows = tshark_fields(
        capture,
        &[format!("tcp.port=={server_port},smtp")],
        "smtp",
        [
            "tcp.srcport",
            "tcp.dstport",
            "smtp.req.command",
            "smtp.req.parameter",
            "smtp.response.code",
            "smtp.rsp.parameter",
        ],
    );
    let mut flows: BTreeMap<u16, Vec<Line>> = BTreeMap::new();
    for row in &rows {
        let [src, dst, command, parameter, code, texts] = row;
        let src: u16 = src.parse().expect("tcp.srcport");
        let dst: u16 = dst.parse().expect("tcp.dstport");
        let client = if src == server_port { dst } else { src };
        let lines = flows.entry(client).or_default();
        if !command.is_empty() {
            assert!(
                !command.contains(AGGREGATOR),
                "one command per packet (no pipelining here): {row:?}"
            );
            lines.push(Line::Command {
                command: command.clone(),
                parameter: parameter.clone(),
            });
        }
        if !code.is_empty() {
            assert!(
                !code.contains(AGGREGATOR),
                "one reply code per row: {row:?}"
            );
            // A reply line without text is one empty text.
            lines.extend(texts.split(AGGREGATOR).map(|text| Line::Reply {
                code: code.clone(),
                text: text.to_string(),
            }));
        }
    }
    flows.retain(|_, lines| !lines.is_empty());
    flows
}

/// The commands of a transcript, upper-cased, with their parameters.
fn commands(transcript: &[Line]) -> Vec<(String, String)> {
    transcript
        .iter()
        .filter_map(|line| match line {
            Line::Command { command, parameter } => {
                Some((command.to_ascii_uppercase(), parameter.clone()))
            }
            Line::Reply { .. } => None,
        })
        .collect()
}

/// The one mail protoc-rs extracted from the flow of a client port.
fn extracted_mail(events: &[Event], client_port: u16) -> Vec<u8> {
    let extracts: Vec<&Event> = events
        .iter()
        .filter(|e| e.event == "extract" && e.src_port == u64::from(client_port))
        .collect();
    assert_eq!(extracts.len(), 1, "one mail per flow: {extracts:?}");
    let path = extracts[0].fields["path"].as_str().expect("extract path");
    let content = fs::read(path).expect("extracted file");
    assert_eq!(
        Some(content.len() as u64),
        extracts[0].fields["size"].as_u64(),
        "the record's size is the file's"
    );
    content
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
