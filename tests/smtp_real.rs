//! SMTP as real clients and servers speak it, through the built-in spec
//! (`specs/smtp.proto`): pipelining, BDAT, AUTH, STARTTLS, a refused DATA,
//! lower-case and unknown verbs, bare LF, long lines, empty mails, lost
//! segments. Each session is a transcript (`tests/transcripts/smtp-*.txt`)
//! made into a capture by `protoc-rs synth`, whole and cut in many ways (the
//! events may not depend on the cuts), then read by `protoc-rs pcap` with
//! the mail-content rule. Lost segments are made with `editcap`, which
//! deletes a packet of such a capture. The live half of the test, with real
//! clients against a real server, is at the end of the file.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::live::{protoc_bounded, run_bounded, MailServer, StoredMail, Tcpdump};
use common::tshark::{tshark_fields, values};
use common::{parse_events, protoc, repo, sha256_hex, Event};

/// A session read by `protoc-rs pcap`: its events, and the mails extracted.
struct Session {
    events: Vec<Event>,
    mails: Vec<Vec<u8>>,
    stderr: String,
}

impl Session {
    /// Reads `capture` with the mail-content rule.
    fn read(capture: &Path) -> Session {
        let dir = tempfile::tempdir().expect("tempdir");
        let mails_dir = dir.path().join("mails");
        let out = protoc(&[
            "pcap",
            path_str(capture),
            "--format",
            "json",
            "--rules",
            "rules/mail_content.rules",
            "--extract-dir",
            path_str(&mails_dir),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let events = parse_events(&out.stdout);
        // Extracted files in the order of their records.
        let mails = events
            .iter()
            .filter(|e| e.event == "extract")
            .map(|e| std::fs::read(e.fields["path"].as_str().expect("path")).expect("mail"))
            .collect();
        Session {
            events,
            mails,
            stderr,
        }
    }

    /// `transcript` (a file of `tests/transcripts/`) made into a capture with
    /// `options`, then read.
    fn of(transcript: &str, options: &[&str]) -> Session {
        let dir = tempfile::tempdir().expect("tempdir");
        let capture = synth(transcript, options, dir.path());
        Session::read(&capture)
    }

    fn named(&self, event: &str) -> Vec<&Event> {
        self.events.iter().filter(|e| e.event == event).collect()
    }

    /// What the session says, without what depends on the capture (times,
    /// addresses, chunk counts, file paths).
    fn essence(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| {
                let mut fields = e.fields.clone();
                if let Some(o) = fields.as_object_mut() {
                    o.remove("chunks");
                    o.remove("path");
                }
                format!("{} {} {}", e.dir, e.event, fields)
            })
            .collect()
    }

    /// The `command` field of each response: the command it answers.
    fn answered(&self) -> Vec<String> {
        self.named("response")
            .iter()
            .map(|e| e.fields["command"].as_str().unwrap_or("-").to_string())
            .collect()
    }

    /// The verbs of the command events, as sent.
    fn verbs(&self) -> Vec<String> {
        self.named("command")
            .iter()
            .map(|e| e.fields["command"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn assert_clean(&self) {
        for e in &self.events {
            assert!(
                !matches!(e.event.as_str(), "alert" | "parse_error" | "gap"),
                "{e:?}\n{}",
                self.stderr
            );
        }
    }
}

/// `protoc-rs synth` of a transcript into `dir`; the capture's path.
fn synth(transcript: &str, options: &[&str], dir: &Path) -> PathBuf {
    let capture = dir.join("session.pcap");
    let source = repo().join("tests/transcripts").join(transcript);
    let mut args = vec!["synth", path_str(&source), "-o", path_str(&capture)];
    args.extend_from_slice(options);
    let out = protoc(&args);
    assert!(
        out.status.success(),
        "synth {transcript} {options:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    capture
}

/// The transcript's session, whole; and asserts that every cut of it (every
/// byte a segment, small and random segments, reordered and duplicated ones)
/// gives the same events and mails.
fn session(transcript: &str) -> Session {
    let whole = Session::of(transcript, &[]);
    let variants: [&[&str]; 5] = [
        &["--segment-size", "1"],
        &["--segment-size", "3"],
        &["--split", "random", "--segment-size", "9", "--seed", "1"],
        &[
            "--split",
            "random",
            "--segment-size",
            "6",
            "--reorder",
            "--duplicate",
            "--seed",
            "2",
        ],
        &["--ipv6"],
    ];
    for options in variants {
        let cut = Session::of(transcript, options);
        assert_eq!(cut.essence(), whole.essence(), "{transcript} {options:?}");
        assert_eq!(cut.mails, whole.mails, "{transcript} {options:?}");
    }
    whole
}

/// A transaction's facts: (sender, recipients, method, size, sha256, reply).
fn facts(tx: &Event) -> (String, Vec<String>, String, u64, String, String) {
    let s = |k: &str| tx.fields[k].as_str().unwrap_or("-").to_string();
    let rcpt = tx.fields["rcpt_to"]
        .as_array()
        .expect("rcpt_to")
        .iter()
        .map(|r| r.as_str().unwrap_or_default().to_string())
        .collect();
    let size = tx.fields["size"].as_u64().expect("size");
    (
        s("mail_from"),
        rcpt,
        s("method"),
        size,
        s("sha256"),
        s("reply"),
    )
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

// ---------------------------------------------------------------------------
// Sessions

#[test]
fn pipelined_commands_each_get_their_reply_and_each_mail_its_transaction() {
    let s = session("smtp-pipelining.txt");
    s.assert_clean();
    assert_eq!(
        s.answered(),
        strings(&[
            "-", "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "DATA END", "MAIL", "RCPT", "DATA",
            "DATA END", "QUIT"
        ])
    );
    // The refused recipient is the one answered 550.
    let refused = s
        .named("response")
        .into_iter()
        .find(|e| e.fields["responses"][0]["code"] == "550")
        .expect("the 550");
    assert_eq!(refused.fields["command"], "RCPT");
    assert_eq!(
        s.mails,
        [
            b"Subject: first\r\n\r\none".to_vec(),
            b"Subject: second\r\n\r\ntwo".to_vec()
        ]
    );
    let tx: Vec<_> = s.named("transaction").into_iter().map(facts).collect();
    assert_eq!(
        tx,
        [
            (
                "alice@example.test".to_string(),
                strings(&["bob@example.test", "nobody@example.test"]),
                "DATA".to_string(),
                s.mails[0].len() as u64,
                sha256_hex(&s.mails[0]),
                "250".to_string()
            ),
            (
                "carol@example.test".to_string(),
                strings(&["dave@example.test"]),
                "DATA".to_string(),
                s.mails[1].len() as u64,
                sha256_hex(&s.mails[1]),
                "250".to_string()
            ),
        ]
    );
    // Each transaction comes right after the reply that accepts its mail.
    for tx in s.named("transaction") {
        let at = s
            .events
            .iter()
            .position(|e| std::ptr::eq(e, tx))
            .expect("at");
        assert_eq!(s.events[at - 1].fields["command"], "DATA END");
        assert_eq!(
            tx.fields["reply_text"],
            s.events[at - 1].fields["responses"][0]["parameter"]
        );
    }
}

#[test]
fn bdat_chunks_make_one_mail_byte_exact_and_a_bad_size_is_a_parse_error() {
    let s = session("smtp-bdat.txt");
    // Two chunks, one mail, no dot-stuffing undone; then `BDAT 0 LAST`.
    assert_eq!(
        s.mails,
        [
            b"Subject: chunks\r\n\r\n.not stuffed\r\nend of mail".to_vec(),
            Vec::new()
        ]
    );
    let tx: Vec<_> = s.named("transaction").into_iter().map(facts).collect();
    assert_eq!(tx.len(), 2);
    assert_eq!(
        tx[0],
        (
            "alice@example.test".to_string(),
            strings(&["bob@example.test"]),
            "BDAT".to_string(),
            s.mails[0].len() as u64,
            sha256_hex(&s.mails[0]),
            "250".to_string()
        )
    );
    assert_eq!((tx[1].0.as_str(), tx[1].3), ("carol@example.test", 0));
    assert_eq!(tx[1].4, sha256_hex(b""));
    // The chunks' commands: their size and LAST (any case) are fields.
    let bdat: Vec<(String, String)> = s
        .named("command")
        .iter()
        .filter(|e| {
            e.fields["command"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case("bdat"))
        })
        .map(|e| {
            let f = |k: &str| e.fields[k].as_str().unwrap_or("-").to_string();
            (f("size"), f("last"))
        })
        .collect();
    assert_eq!(
        bdat,
        [
            ("19".to_string(), "-".to_string()),
            ("25".to_string(), "last".to_string()),
            ("0".to_string(), "LAST".to_string())
        ]
    );
    assert_eq!(
        s.answered(),
        strings(&[
            "-",
            "EHLO",
            "MAIL",
            "RCPT",
            "BDAT",
            "BDAT LAST",
            "MAIL",
            "RCPT",
            "BDAT LAST",
            "MAIL",
            "RCPT",
            "INVALID COMMAND",
            "QUIT"
        ])
    );
    // `BDAT 99999999999999999999 LAST`: a parse error and a low alert, no
    // crash, no mail; the session goes on.
    let errors = s.named("parse_error");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].fields["message"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid chunk size"));
    let alerts = s.named("alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].raw["severity"], "low");
    assert_eq!(s.verbs().last().map(String::as_str), Some("QUIT"));
}

#[test]
fn auth_exchanges_are_not_commands() {
    let s = session("smtp-auth.txt");
    s.assert_clean();
    assert_eq!(
        s.verbs(),
        strings(&["EHLO", "AUTH", "AUTH", "AUTH", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"]),
        "the base64 lines and the `*` are no commands"
    );
    let auth_replies: Vec<String> = s
        .named("response")
        .iter()
        .filter(|e| e.fields["command"] == "AUTH")
        .map(|e| {
            e.fields["responses"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        auth_replies,
        strings(&["334", "334", "535", "334", "501", "334", "235", "503"])
    );
    let text = s
        .events
        .iter()
        .map(|e| e.raw.to_string())
        .collect::<String>();
    for secret in ["YWxpY2U=", "d3Jvbmc=", "dGltIGI5MTNh"] {
        assert!(!text.contains(secret), "a client AUTH line is in an event");
    }
    assert_eq!(s.named("transaction").len(), 1);
}

#[test]
fn starttls_stops_parsing_quietly() {
    let s = session("smtp-starttls.txt");
    s.assert_clean();
    let last = s.events.last().expect("events");
    assert_eq!(last.event, "starttls");
    assert_eq!(s.answered().last().map(String::as_str), Some("STARTTLS"));
    assert_eq!(s.named("command").len(), 2, "EHLO and STARTTLS, then TLS");
}

#[test]
fn a_refused_data_leaves_commands_commands_and_mail_lines_are_content() {
    let s = session("smtp-refused-data.txt");
    s.assert_clean();
    // The RCPT pipelined after the refused DATA is a command; once the 354
    // opens the mail, RCPT and QUIT lines are content.
    assert_eq!(
        s.verbs(),
        strings(&["EHLO", "MAIL", "DATA", "RCPT", "DATA", "QUIT"])
    );
    assert_eq!(
        s.answered(),
        strings(&["-", "EHLO", "MAIL", "DATA", "RCPT", "DATA", "DATA END", "QUIT"])
    );
    assert_eq!(
        s.mails,
        [b"RCPT TO:<not-a-command@example.test>\r\nQUIT".to_vec()]
    );
    let tx = s.named("transaction");
    assert_eq!(tx.len(), 1);
    assert_eq!(
        tx[0].fields["rcpt_to"],
        serde_json::json!(["hidden@example.test"])
    );
}

#[test]
fn lenient_verbs_bare_lf_long_lines_and_an_empty_mail() {
    let s = session("smtp-lenient.txt");
    s.assert_clean();
    assert_eq!(
        s.verbs(),
        strings(&[
            "ehlo", "XCLIENT", "vrfy", "EXPN", "HELP", "NOOP", "rset", "mail", "rcpt", "data",
            "MAIL", "RCPT", "DATA", "QUIT"
        ])
    );
    let params: Vec<String> = s
        .named("command")
        .iter()
        .map(|e| e.fields["parameter"].as_str().unwrap_or("-").to_string())
        .collect();
    assert_eq!(params[1], "NAME=spike.example.test");
    assert_eq!(params[4], "-", "HELP without a parameter");
    assert_eq!(params[5], "nothing", "NOOP with one");
    assert_eq!(
        s.answered()[1..8],
        strings(&["EHLO", "XCLIENT", "VRFY", "EXPN", "HELP", "NOOP", "RSET"])
    );
    let long_line = "x".repeat(5000);
    let first = format!("a bare LF line\n{long_line}\r\nlast line");
    assert_eq!(s.mails, [first.into_bytes(), Vec::new()]);
    let tx: Vec<_> = s.named("transaction").into_iter().map(facts).collect();
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0].0, "alice@example.test", "lower-case `mail from:`");
    assert_eq!(tx[0].1, strings(&["bob@example.test"]));
    assert_eq!((tx[1].3, tx[1].4.as_str()), (0, sha256_hex(b"").as_str()));
}

#[test]
fn the_seed_session_still_reads_as_haka_read_it_with_its_transaction() {
    let s = session("smtp-haka-reference.txt");
    s.assert_clean();
    let tx = s.named("transaction");
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].fields["mail_from"], "hacker@suspicious.org");
    assert_eq!(tx[0].fields["size"].as_u64(), Some(s.mails[0].len() as u64));
}

// ---------------------------------------------------------------------------
// Lost segments

/// The frame numbers of the packets whose TCP payload contains `text`.
fn frames_with(capture: &Path, text: &str) -> Vec<u32> {
    let filter = format!("tcp.payload contains \"{text}\"");
    tshark_fields(capture, &[], &filter, ["frame.number"])
        .iter()
        .map(|[frame]| frame.parse().expect("frame.number"))
        .collect()
}

/// `capture` without packet `frame` (editcap), in `dir`.
fn without_frame(capture: &Path, frame: u32, dir: &Path) -> PathBuf {
    let out_path = dir.join(format!("without-{frame}.pcap"));
    let out = run_bounded(
        "editcap",
        Command::new("editcap")
            .arg(capture)
            .arg(&out_path)
            .arg(frame.to_string()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_path
}

#[test]
fn a_gap_inside_a_mail_skips_to_its_end_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 100-byte segments: the 5000-byte line spans many.
    let capture = synth("smtp-lenient.txt", &["--segment-size", "100"], dir.path());
    let frames = frames_with(&capture, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert!(frames.len() > 10, "{frames:?}");
    let lost = frames[frames.len() / 2];
    let s = Session::read(&without_frame(&capture, lost, dir.path()));
    let gaps = s.named("gap");
    assert_eq!(gaps.len(), 1, "{:?}", s.events);
    assert_eq!(gaps[0].fields["len"], 100);
    assert!(s.named("alert").is_empty() && s.named("parse_error").is_empty());
    // The first mail is cut short and marked incomplete; the session goes on
    // at its end: the empty mail, QUIT.
    let tx: Vec<&Event> = s.named("transaction");
    assert_eq!(tx.len(), 2);
    assert_eq!(tx[0].fields["complete"], false);
    assert_eq!(tx[0].fields["reply"], "250");
    assert!(tx[0].fields["size"].as_u64() < Some(5000));
    assert_eq!(tx[1].fields["complete"], true);
    assert_eq!(tx[1].fields["mail_from"], "carol@example.test");
    assert_eq!(s.verbs().last().map(String::as_str), Some("QUIT"));
    // Nothing is invented: no command out of the mail's bytes.
    assert!(
        s.verbs().iter().all(|v| !v.contains('x')),
        "{:?}",
        s.verbs()
    );
}

#[test]
fn a_gap_between_commands_restarts_at_the_next_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = synth("smtp-lenient.txt", &[], dir.path());
    let frames = frames_with(&capture, "EXPN staff");
    assert_eq!(frames.len(), 1);
    let s = Session::read(&without_frame(&capture, frames[0], dir.path()));
    let gaps = s.named("gap");
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].dir, "up");
    assert!(s.named("alert").is_empty() && s.named("parse_error").is_empty());
    assert!(!s.verbs().contains(&"EXPN".to_string()));
    // The reply to the lost command answers no known command; the next
    // command and everything after are read as usual.
    let answered = s.answered();
    let help = answered
        .iter()
        .position(|c| c == "HELP")
        .expect("HELP answered");
    assert_eq!(answered[help - 1], "-", "{answered:?}");
    assert_eq!(s.named("transaction").len(), 2);
}

#[test]
fn a_gap_inside_a_bdat_chunk_is_absorbed_and_parsing_stays_in_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = synth("smtp-bdat.txt", &["--segment-size", "8"], dir.path());
    // The client's first message puts `.not stuffed` at bytes 102..114: the
    // 8-byte segment 104..112, `ot stuff`, lies inside the second chunk.
    let frames = frames_with(&capture, "ot stuff");
    assert_eq!(frames.len(), 1, "{frames:?}");
    let s = Session::read(&without_frame(&capture, frames[0], dir.path()));
    assert_eq!(s.named("gap").len(), 1);
    // The chunk's 8 lost bytes are counted, not guessed: the mail has the rest,
    // the transaction says it is incomplete, and every later command is read.
    let tx = s.named("transaction");
    assert_eq!(tx.len(), 2, "{:?}", s.events);
    assert_eq!(tx[0].fields["complete"], false);
    assert_eq!(tx[0].fields["size"].as_u64(), Some(44 - 8));
    assert_eq!(s.mails[0].len(), 44 - 8);
    assert_eq!(tx[1].fields["mail_from"], "carol@example.test");
    assert_eq!(
        s.answered(),
        strings(&[
            "-",
            "EHLO",
            "MAIL",
            "RCPT",
            "BDAT",
            "BDAT LAST",
            "MAIL",
            "RCPT",
            "BDAT LAST",
            "MAIL",
            "RCPT",
            "INVALID COMMAND",
            "QUIT"
        ])
    );
}

// ---------------------------------------------------------------------------
// Live: real clients against a real server

/// One mail a client sends in the live test, and how.
struct LiveClient {
    name: &'static str,
    /// `swaks` options besides server, EHLO, sender, recipient and subject;
    /// `None`: `tests/live/send_edges.py`.
    swaks: Option<&'static [&'static str]>,
    from: &'static str,
    to: &'static str,
}

const AUTH: [&str; 4] = ["--auth-user", "alice", "--auth-password", "secret"];

fn live_clients() -> Vec<LiveClient> {
    vec![
        LiveClient {
            name: "pipelining and AUTH PLAIN",
            swaks: Some(&["--pipeline", "--auth", "PLAIN"]),
            from: "pipelined@example.org",
            to: "one@example.net",
        },
        LiveClient {
            name: "AUTH LOGIN",
            swaks: Some(&["--auth", "LOGIN"]),
            from: "login@example.org",
            to: "one@example.net",
        },
        LiveClient {
            name: "AUTH CRAM-MD5",
            swaks: Some(&["--auth", "CRAM-MD5"]),
            from: "cram@example.org",
            to: "one@example.net",
        },
        LiveClient {
            name: "STARTTLS",
            swaks: Some(&["--tls"]),
            from: "tls@example.org",
            to: "one@example.net",
        },
        LiveClient {
            name: "smtplib edge cases",
            swaks: None,
            from: "",
            to: "",
        },
    ]
}

impl LiveClient {
    fn send(&self, port: u16) {
        let output = match self.swaks {
            Some(options) => {
                let mut command = Command::new("swaks");
                command
                    .args(["--server", &format!("127.0.0.1:{port}")])
                    .args([
                        "--ehlo",
                        "client.test",
                        "--from",
                        self.from,
                        "--to",
                        self.to,
                    ])
                    .args(["--header", "Subject: protoc-rs live"])
                    .args(options);
                if options.contains(&"--auth") {
                    command.args(AUTH);
                }
                run_bounded("swaks", &mut command)
            }
            None => run_bounded(
                "send_edges.py",
                Command::new("python3")
                    .arg(repo().join("tests/live/send_edges.py"))
                    .arg(port.to_string()),
            ),
        };
        assert!(
            output.status.success(),
            "{}: {}\n{}",
            self.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Wireshark's commands (`smtp.req.command`), by client port, in order.
fn wireshark_commands(capture: &Path, server_port: u16) -> BTreeMap<u16, Vec<String>> {
    let rows = tshark_fields(
        capture,
        &[format!("tcp.port=={server_port},smtp")],
        "smtp.req",
        ["tcp.srcport", "smtp.req.command"],
    );
    let mut flows: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for [port, commands] in &rows {
        let port: u16 = port.parse().expect("tcp.srcport");
        flows.entry(port).or_default().extend(
            values(commands)
                .into_iter()
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        );
    }
    flows
}

#[test]
fn real_clients_pipelining_authenticating_and_starting_tls_read_as_the_server_saw_them() {
    let work = tempfile::tempdir().expect("tempdir");
    let extract_dir = work.path().join("extracted");
    let (cert, key) = (work.path().join("cert.pem"), work.path().join("key.pem"));
    let made = run_bounded(
        "openssl",
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=mx.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let server = MailServer::start(&[
        "--keep-content",
        "--extensions",
        path_str(&cert),
        path_str(&key),
    ]);
    let capture = Tcpdump::start(server.port, work.path());
    let clients = live_clients();
    for client in &clients {
        client.send(server.port);
    }
    // Four swaks mails (one inside TLS), three of smtplib.
    let stored = server.wait_for_mails(7);
    let recording = capture.stop();
    let (capture_file, packets) = (recording.pcap, recording.packets);

    let port_arg = format!("smtp={}", server.port);
    let out = protoc_bounded(&[
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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "stats: {packets} packets, {} flows",
            clients.len()
        )),
        "{stderr}"
    );
    let events = parse_events(&out.stdout);
    for e in &events {
        assert!(
            !matches!(e.event.as_str(), "alert" | "parse_error" | "gap"),
            "real SMTP reads cleanly: {e:?}"
        );
    }
    let of_port = |port: u16, name: &str| -> Vec<&Event> {
        events
            .iter()
            .filter(|e| e.src_port == u64::from(port) && e.event == name)
            .collect()
    };

    // Client ports in the order the clients ran (the server numbers mails so).
    let mut ports: Vec<u16> = Vec::new();
    for mail in &stored {
        if !ports.contains(&mail.client_port) {
            ports.push(mail.client_port);
        }
    }
    assert_eq!(ports.len(), clients.len(), "{stored:?}");

    // Every mail outside TLS: its envelope and content are the server's.
    let tls_port = ports[3];
    for port in ports.iter().copied().filter(|p| *p != tls_port) {
        let theirs: Vec<&StoredMail> = stored.iter().filter(|m| m.client_port == port).collect();
        let transactions = of_port(port, "transaction");
        let extracts = of_port(port, "extract");
        assert_eq!(transactions.len(), theirs.len(), "client port {port}");
        assert_eq!(extracts.len(), theirs.len(), "client port {port}");
        for ((mail, tx), extract) in theirs.iter().zip(&transactions).zip(&extracts) {
            assert_eq!(tx.fields["mail_from"], mail.mail_from.as_str());
            assert_eq!(tx.fields["rcpt_to"], serde_json::json!(mail.rcpt_tos));
            assert_eq!(tx.fields["reply"], "250");
            let ours = std::fs::read(extract.fields["path"].as_str().expect("path")).expect("mail");
            // The server keeps the CRLF that ends the last line; the seed's
            // end-of-data token begins with it. An empty mail is empty on both.
            let expected = if mail.content().is_empty() {
                Vec::new()
            } else {
                [ours.as_slice(), b"\r\n"].concat()
            };
            assert_eq!(expected, mail.content(), "client port {port}");
            assert_eq!(tx.fields["size"].as_u64(), Some(ours.len() as u64));
            assert_eq!(tx.fields["sha256"], sha256_hex(&ours).as_str());
        }
    }

    // The TLS session: the STARTTLS and its 220, then nothing more to read.
    let tls_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.src_port == u64::from(tls_port))
        .collect();
    assert_eq!(
        tls_events.last().map(|e| e.event.as_str()),
        Some("starttls")
    );
    assert!(of_port(tls_port, "transaction").is_empty());
    assert!(
        stored.iter().any(|m| m.client_port == tls_port),
        "the mail went inside TLS"
    );

    // AUTH: the client's base64 lines are no commands; pipelining: MAIL,
    // RCPT and DATA left in one segment, and each reply has its command.
    for port in &ports[..3] {
        let verbs: Vec<String> = of_port(*port, "command")
            .iter()
            .map(|e| e.fields["command"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            verbs,
            strings(&["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"])
        );
        let answered: Vec<String> = of_port(*port, "response")
            .iter()
            .map(|e| e.fields["command"].as_str().unwrap_or("-").to_string())
            .collect();
        assert_eq!(answered.first().map(String::as_str), Some("-"));
        assert_eq!(
            answered
                .iter()
                .rev()
                .take(5)
                .rev()
                .cloned()
                .collect::<Vec<_>>(),
            strings(&["MAIL", "RCPT", "DATA", "DATA END", "QUIT"])
        );
    }
    let wire = std::fs::read(&capture_file).expect("capture");
    assert!(
        wire.windows(15).any(|w| w == b">\r\nRCPT TO:<one"),
        "swaks --pipeline sent MAIL and RCPT together"
    );

    // Wireshark reads the same commands, where it reads them: its SMTP
    // dissector takes a verb's first four characters (STARTTLS reads STAR),
    // and it enters mail mode on the DATA command alone: after the DATA the
    // server refused (503), it takes NOOP, RCPT and the next DATA for mail
    // lines, up to the empty mail's end. We read them as the commands they
    // are (the server answered each), so for that flow Wireshark's list is
    // ours without those three.
    let wireshark = wireshark_commands(&capture_file, server.port);
    for port in &ports {
        let commands = of_port(*port, "command");
        let mut ours: Vec<String> = commands
            .iter()
            .map(|e| {
                let verb = e.fields["command"].as_str().unwrap_or_default();
                verb.chars().take(4).collect::<String>()
            })
            .collect();
        if *port == ports[4] {
            let refused = of_port(*port, "response")
                .iter()
                .filter(|e| e.fields["command"] == "DATA")
                .position(|e| e.fields["responses"][0]["code"] == "503")
                .expect("the refused DATA");
            assert_eq!(refused, 1, "the second DATA of the session");
            let second_data = ours
                .iter()
                .enumerate()
                .filter(|(_, v)| v.eq_ignore_ascii_case("DATA"))
                .nth(1)
                .map(|(i, _)| i)
                .expect("the refused DATA command");
            let hidden: Vec<String> = ours.drain(second_data + 1..second_data + 4).collect();
            assert_eq!(hidden, strings(&["NOOP", "RCPT", "DATA"]));
        }
        assert_eq!(Some(&ours), wireshark.get(port), "client port {port}");
    }
}
