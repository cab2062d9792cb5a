//! The real-world corpus: Zeek's SMTP test captures
//! (`../shared/corpus/zeek/Traces/`) through `protoc-rs pcap`, checked against
//! what Zeek logged for them (`../shared/corpus/zeek/Baseline/`).
//!
//! - Every capture, whatever its format (pcap, pcapng, gzip), runs without a
//!   crash and is read to its last packet, with every built-in spec.
//! - Every mail Zeek logged (smtp.log) is one of our `transaction` events,
//!   with its sender, recipients and reply code; Zeek's `message/rfc822`
//!   files are our extracted mails (size and SHA-1); the commands and
//!   replies Zeek printed are ours, in order.
//! - Where Zeek and we differ (a row that is no mail, a gap), the test says
//!   why and asserts what we do instead; SMTP inside an HTTP CONNECT tunnel
//!   is read after the HTTP spec hands the connection over.
//!
//! Expected values are read from the baseline files, not copied here.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{corpus, parse_events, protoc, zeek_traces, Event};

// ---------------------------------------------------------------------------
// Every capture

#[test]
fn every_capture_runs_without_a_crash_and_is_read_to_its_last_packet() {
    let traces = zeek_traces();
    assert!(
        traces.len() >= 19,
        "the corpus holds 19 captures: {traces:?}"
    );
    let extract_dir = tempfile::tempdir().expect("tempdir");
    for trace in &traces {
        let packets = capinfos_packets(trace);
        let variants: [Vec<&str>; 4] = [
            vec![],
            vec![
                "--rules",
                "rules/mail_content.rules",
                "--extract-dir",
                extract_dir.path().to_str().expect("UTF-8 path"),
            ],
            // Every TCP flow through the SMTP grammar: TLS, HTTP, chat...
            vec!["--spec", "smtp"],
            vec!["--spec", "smtp_partial"],
        ];
        for extra in &variants {
            let run = Run::new(trace, extra);
            // Exit status 2 would mean the capture was not read whole; every
            // capture of the corpus is whole (capinfos reads it through), so
            // anything but 0 is a bug in our reader. And the reader stops at
            // no packet: the stats count every one.
            assert!(
                run.stderr.contains(&format!("stats: {packets} packets, ")),
                "{} {extra:?}: capinfos counts {packets} packets: {}",
                trace.display(),
                run.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Flows the seed grammar reads

/// `smtp.pcap`'s second session (EHLO, MAIL, three RCPT, DATA) is read whole:
/// smtp.log's facts hold, and the mail is Zeek's `message/rfc822` file.
#[test]
fn smtp_pcap_second_session_matches_smtp_log_and_the_whole_mail_file() {
    let extract_dir = tempfile::tempdir().expect("tempdir");
    let run = Run::new(
        &trace("smtp.pcap"),
        &[
            "--rules",
            "rules/mail_content.rules",
            "--extract-dir",
            extract_dir.path().to_str().expect("UTF-8 path"),
        ],
    );
    let log = zeek_log("scripts.base.protocols.smtp.basic/smtp.log");
    let row = log
        .iter()
        .find(|r| r["id.orig_p"] == "49648")
        .expect("the second session in smtp.log");
    let flow = run.flow_of(row);
    assert_matches_smtp_log(&flow, row);
    assert!(flow
        .iter()
        .all(|e| e.event != "alert" && e.event != "parse_error"));

    // last_reply: the reply to the end of the mail content.
    let content_at = flow
        .iter()
        .position(|e| e.event == "mail_content")
        .expect("the mail content");
    let reply = flow[content_at..]
        .iter()
        .find(|e| e.event == "response")
        .expect("the reply to the content");
    assert_eq!(last_reply_line(reply), row["last_reply"]);

    // Zeek's files.log lists the MIME parts of the mail (here one text/plain
    // part of 204 bytes), not the mail: the whole message is the
    // `message/rfc822` file of the rfc822 file-analysis test, its size and
    // SHA-1 in files.cut. Zeek's message includes the CRLF that ends its last
    // line; ours stops before it, because the seed grammar's end token
    // DATA_END (`\r\n.\r\n`) begins with that CRLF. So Zeek's size is ours + 2.
    let files =
        zeek_log("scripts.base.protocols.smtp.rfc822-msg-file-analysis-multi-session/files.cut");
    let message = files
        .iter()
        .find(|f| f["uid"] == row["uid"] && f["mime_type"] == "message/rfc822")
        .expect("the message/rfc822 file of the session");
    let mail = extracted_mail(&flow);
    assert_eq!((mail.len() + 2).to_string(), message["seen_bytes"]);
    assert_eq!(sha1([mail.as_slice(), b"\r\n"].concat()), message["sha1"]);
    let mime_parts = zeek_log("scripts.base.protocols.smtp.attachment/files.log");
    let part = mime_parts
        .iter()
        .find(|f| f["uid"] == row["uid"])
        .expect("the session's MIME part");
    let part_size: usize = part["seen_bytes"].parse().expect("seen_bytes");
    assert!(part_size < mail.len(), "a part is smaller than its mail");
}

/// 600 recipients, and as many To, Cc and Received headers: more than Zeek
/// logs (its `output` shows each list cut at its limit, and weird.log says
/// why). The seed grammar reads it all: every RCPT, and the whole mail.
#[test]
fn many_addresses_are_read_past_zeeks_limits() {
    let extract_dir = tempfile::tempdir().expect("tempdir");
    let run = Run::new(
        &trace("smtp/smtp-many-addresses.pcap.gz"),
        &[
            "--rules",
            "rules/mail_content.rules",
            "--extract-dir",
            extract_dir.path().to_str().expect("UTF-8 path"),
        ],
    );
    let dir = "scripts.base.protocols.smtp.address-limits";
    let limits: BTreeMap<String, usize> = baseline_text(&format!("{dir}/output"))
        .lines()
        .filter_map(|l| {
            let (name, n) = l.split_once(", ")?;
            Some((name.to_string(), n.trim().parse().ok()?))
        })
        .collect();
    assert_eq!(
        limits.keys().collect::<Vec<_>>(),
        ["cc", "path", "rcptto", "to"],
        "{limits:?}"
    );
    let weird = zeek_log(&format!("{dir}/weird.log"));
    let names: BTreeSet<&str> = weird.iter().map(|w| w["name"].as_str()).collect();
    for name in [
        "smtp_too_many_rcptto_addresses",
        "smtp_too_many_to_addresses",
        "smtp_too_many_cc_addresses",
        "smtp_max_path_length_exceeded",
    ] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    let row = weird
        .iter()
        .find(|w| w["name"] == "smtp_too_many_rcptto_addresses")
        .expect("weird row");
    let flow = run.flow_of(row);

    let rcpts: BTreeSet<String> = commands(&flow, "RCPT").iter().map(|p| address(p)).collect();
    assert!(rcpts.len() > limits["rcptto"], "{} recipients", rcpts.len());
    let headers = header_counts(&extracted_mail(&flow));
    assert!(headers["to"] > limits["to"], "{headers:?}");
    assert!(headers["cc"] > limits["cc"], "{headers:?}");
    // Zeek's path: the Received headers' hosts, then the connection's two.
    assert!(headers["received"] > limits["path"], "{headers:?}");
    assert_session_completes(&flow);
}

/// A mail whose header block is 400 kB: Zeek stops reading MIME headers at
/// 65536 bytes (weird.log). The seed grammar does not parse MIME; it streams
/// the whole content through, and the session completes.
#[test]
fn oversized_mime_header_streams_through_whole() {
    let extract_dir = tempfile::tempdir().expect("tempdir");
    let run = Run::new(
        &trace("smtp/mime-header-size-limit.pcap.gz"),
        &[
            "--rules",
            "rules/mail_content.rules",
            "--extract-dir",
            extract_dir.path().to_str().expect("UTF-8 path"),
        ],
    );
    let dir = "scripts.base.protocols.smtp.mime-header-size-limit";
    let weird = zeek_log(&format!("{dir}/weird.log"));
    let row = weird
        .iter()
        .find(|w| w["name"] == "exceeded_mime_max_header_bytes")
        .expect("the weird");
    let limit: usize = row["addl"].parse().expect("the limit in addl");
    let conn = zeek_log(&format!("{dir}/conn.log"));
    assert_eq!(conn[0]["service"], "smtp");

    let flow = run.flow_of(row);
    let mail = extracted_mail(&flow);
    let header_block = find(&mail, b"\r\n\r\n").expect("an empty line after the headers");
    assert!(header_block > limit, "{header_block} header bytes");
    assert_session_completes(&flow);
}

// ---------------------------------------------------------------------------
// Transactions: every mail Zeek logged is one of our `transaction` events

/// Captures whose every smtp.log row is a mail (its content was sent), and
/// the Zeek test that logged them.
const MAIL_CASES: &[(&str, &str)] = &[
    ("smtp.pcap", "basic"),
    ("smtp-attachment-msg.pcap", "attachment-msg"),
    ("smtp-one-side-only.pcap", "one-side"),
    ("smtp/rfc3030-bdat-0-last.pcap", "bdat-0-last"),
    ("smtp/rfc3030-bdat-example1.pcap", "bdat"),
    ("smtp/rfc3030-bdat-multipart.pcap", "bdat-multipart"),
    (
        "smtp/rfc3030-bdat-multipart-chunked.pcap",
        "bdat-multipart-chunked",
    ),
    (
        "smtp/smtp-bdat-pipeline-8bitmime.pcap",
        "bdat-pipeline-8bitmime",
    ),
    ("smtp/smtp-bdat-gap.pcap", "bdat-gap"),
    (
        "smtp-mail-transactions-invalid.pcap",
        "mail-transactions-invalid",
    ),
];

/// Each mail row of smtp.log is one `transaction`, in order: the same
/// sender, recipients and reply code (`last_reply`), and the flow's HELO.
/// Covered on the way: AUTH LOGIN before the mail (smtp.pcap's first
/// session), PIPELINING (MAIL, RCPT and BDAT in one segment; EHLO before the
/// greeting), BDAT in one chunk, in 27 chunks and `BDAT 0 LAST`, a gap inside
/// a BDAT chunk, and captures of the client's side only (no reply, so
/// Zeek's last_reply is empty, like ours).
///
/// Where Zeek logs a row that is no mail (`mail-transactions-invalid`: a
/// DATA refused with 503, whose "mail" lines the server answers 500 as
/// commands), we have no transaction: the row's reply is the 500 answering
/// a line we read as a command; `rows_without_a_mail_are_what_zeek_says`
/// tests those.
#[test]
fn every_mail_zeek_logged_is_a_transaction_with_its_sender_recipients_and_reply() {
    for (file, test) in MAIL_CASES {
        let run = Run::new(&trace(file), &[]);
        let log = zeek_log(&format!("scripts.base.protocols.smtp.{test}/smtp.log"));
        let mut next_of_flow: BTreeMap<u64, usize> = BTreeMap::new();
        let mut matched = 0;
        for row in &log {
            let flow = run.flow_of(row);
            let helo = [commands(&flow, "EHLO"), commands(&flow, "HELO")].concat();
            assert_eq!(helo.first(), Some(&row["helo"]), "{file}: {row:?}");
            if is_refused_data_row(&flow, row) {
                continue;
            }
            let transactions: Vec<&&Event> =
                flow.iter().filter(|e| e.event == "transaction").collect();
            let next = next_of_flow.entry(flow[0].flow).or_default();
            let tx = transactions
                .get(*next)
                .unwrap_or_else(|| panic!("{file}: no transaction for {row:?}: {flow:?}"));
            *next += 1;
            matched += 1;
            assert_eq!(tx.fields["mail_from"], row["mailfrom"].as_str(), "{file}");
            let ours: BTreeSet<&str> = tx.fields["rcpt_to"]
                .as_array()
                .expect("rcpt_to")
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            let zeek: BTreeSet<&str> = row["rcptto"].split(',').collect();
            assert_eq!(ours, zeek, "{file}");
            let zeek_code = row["last_reply"].get(..3).unwrap_or_default();
            assert_eq!(
                tx.fields["reply"].as_str().unwrap_or_default(),
                zeek_code,
                "{file}: {row:?}"
            );
        }
        let ours = run
            .events
            .iter()
            .filter(|e| e.event == "transaction")
            .count();
        assert_eq!(ours, matched, "{file}: a transaction Zeek did not log");
        assert!(
            run.events.iter().all(|e| e.event != "alert"),
            "{file}: no alert"
        );
    }
}

/// A row of `mail-transactions-invalid` whose transaction had no mail: its
/// last reply is a 500 answering one of the lines that followed a refused
/// DATA, and our flow has that refusal and those lines as commands.
fn is_refused_data_row(flow: &[&Event], row: &Row) -> bool {
    if !row["last_reply"].starts_with("500 ") {
        return false;
    }
    let refused_data = flow.iter().any(|e| {
        e.event == "response"
            && e.fields["command"] == "DATA"
            && e.fields["responses"][0]["code"] == "503"
    });
    let answered_500 = flow.iter().any(|e| {
        e.event == "response"
            && last_reply_line(e) == row["last_reply"]
            && e.fields["command"] == "HELLO,"
    });
    assert!(refused_data && answered_500, "{row:?}: {flow:?}");
    true
}

/// Zeek's printed requests (`out`) are our commands, in order, for the BDAT
/// captures: BDAT's `size` and `last` fields are its parameter.
#[test]
fn bdat_sessions_give_zeeks_commands_in_order() {
    for test in [
        "bdat-0-last",
        "bdat",
        "bdat-multipart",
        "bdat-multipart-chunked",
        "bdat-pipeline-8bitmime",
    ] {
        let (file, _) = MAIL_CASES
            .iter()
            .find(|(_, t)| *t == test)
            .expect("a mail case");
        let dir = format!("scripts.base.protocols.smtp.{test}");
        let run = Run::new(&trace(file), &[]);
        let row = &zeek_log(&format!("{dir}/smtp.log"))[0];
        let flow = run.flow_of(row);
        let zeek = zeek_transcripts(&format!("{dir}/out"));
        assert_eq!(our_lines(&flow, false), zeek[&row["uid"]], "{test}");
    }
}

/// Zeek's `message/rfc822` files (its rfc822 file-analysis tests) are our
/// mails: BDAT mails byte for byte; DATA mails plus the CRLF that ends their
/// last line (Zeek keeps it, and so do servers; the seed's end-of-data token
/// `\r\n.\r\n` begins with it, and Haka's mail dump stops before it). The
/// `transaction` event's size is the extracted file's.
#[test]
fn mails_are_zeeks_message_files() {
    let cases = [
        // (capture, rfc822 test, the smtp.log naming its flows, CRLF added)
        (
            "smtp.pcap",
            "rfc822-msg-file-analysis-multi-session",
            Some("basic"),
            true,
        ),
        (
            "smtp-attachment-msg.pcap",
            "rfc822-msg-file-analysis",
            None,
            true,
        ),
        (
            "smtp/rfc3030-bdat-nonascii.pcap",
            "rfc822-msg-file-analysis-binary",
            None,
            false,
        ),
        (
            "smtp/smtp-bdat-pipeline-8bitmime.pcap",
            "rfc822-msg-file-analysis-multi-mail",
            None,
            false,
        ),
    ];
    for (file, test, log, crlf) in cases {
        let extract_dir = tempfile::tempdir().expect("tempdir");
        let run = Run::new(
            &trace(file),
            &[
                "--rules",
                "rules/mail_content.rules",
                "--extract-dir",
                extract_dir.path().to_str().expect("UTF-8 path"),
            ],
        );
        let files = zeek_log(&format!("scripts.base.protocols.smtp.{test}/files.cut"));
        let messages: Vec<&Row> = files
            .iter()
            .filter(|f| f["mime_type"] == "message/rfc822")
            .collect();
        assert!(!messages.is_empty(), "{test}");
        let mut by_uid: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
        for message in &messages {
            let flow = match log {
                Some(log) => {
                    let rows = zeek_log(&format!("scripts.base.protocols.smtp.{log}/smtp.log"));
                    let row = rows
                        .iter()
                        .find(|r| r["uid"] == message["uid"])
                        .expect("the message's session");
                    run.flow_of(row)
                }
                None => {
                    let flows = run.flows();
                    assert_eq!(flows.len(), 1, "{file}");
                    flows.into_iter().next().expect("one flow")
                }
            };
            let mails = by_uid
                .entry(message["uid"].as_str())
                .or_insert_with(|| extracted_mails(&flow));
            assert!(!mails.is_empty(), "{file}: a mail for {message:?}");
            let mail = mails.remove(0);
            let zeek_bytes = if crlf {
                [mail.as_slice(), b"\r\n"].concat()
            } else {
                mail.clone()
            };
            assert_eq!(
                zeek_bytes.len().to_string(),
                message["seen_bytes"],
                "{file}"
            );
            assert_eq!(sha1(zeek_bytes), message["sha1"], "{file}");
            let sizes: Vec<u64> = flow
                .iter()
                .filter(|e| e.event == "transaction")
                .filter_map(|e| e.fields["size"].as_u64())
                .collect();
            assert!(sizes.contains(&(mail.len() as u64)), "{file}: {sizes:?}");
        }
    }
}

/// A gap of 1000 bytes inside `BDAT 200` (100 bytes seen): the chunk ends in
/// the gap, its stream is cut short (Zeek's first message file: the same 100
/// bytes, 1000 missing); the lost segment is reported as a `gap` event, and
/// parsing starts again at the DATA command that follows it: its mail is
/// complete. Zeek's second message file has 86 bytes where the client sent
/// 78 (76 and the last line's CRLF): Zeek's BDAT state still expected bytes
/// at that DATA (its weird.log: `smtp_bdat_remaining_at_end_data`); we count
/// what the server queued.
#[test]
fn a_gap_inside_a_bdat_chunk_is_reported_and_the_next_mail_read() {
    let extract_dir = tempfile::tempdir().expect("tempdir");
    let run = Run::new(
        &trace("smtp/smtp-bdat-gap.pcap"),
        &[
            "--rules",
            "rules/mail_content.rules",
            "--extract-dir",
            extract_dir.path().to_str().expect("UTF-8 path"),
        ],
    );
    let dir = "scripts.base.protocols.smtp.rfc822-msg-file-analysis-gap";
    let files = zeek_log(&format!("{dir}/files.cut"));
    let first = files
        .iter()
        .find(|f| f["mime_type"] == "message/rfc822" && f["missing_bytes"] != "0")
        .expect("the BDAT message");
    let zeek_mail = std::fs::read(baseline(&format!("{dir}/extract_files.mail"))).expect("mail");
    let flows = run.flows();
    let flow = &flows[0];
    let gaps: Vec<&&Event> = flow.iter().filter(|e| e.event == "gap").collect();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].fields["len"].to_string(), first["missing_bytes"]);
    let mails = extracted_mails(flow);
    assert_eq!(mails.len(), 2, "{flow:?}");
    assert_eq!(mails[0], zeek_mail);
    assert_eq!(mails[0].len().to_string(), first["seen_bytes"]);
    assert!(mails[1].starts_with(b"From: sender@example.com\r\n"));
    assert!(mails[1].ends_with(b"Hello!"));
    let tx: Vec<&&Event> = flow.iter().filter(|e| e.event == "transaction").collect();
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].fields["method"], "DATA");
    assert_eq!(tx[0].fields["size"].as_u64(), Some(mails[1].len() as u64));
    assert_eq!(tx[0].fields["complete"], false, "bytes of it were lost");
}

/// Zeek logs a row for every transaction, mail or not; ours are mails. The
/// rows without one, and what we say instead:
/// - an invalid BDAT line (a size past 64 bits, a negative size, no size, a
///   word that is not LAST): a `parse_error` and a low alert, then the
///   server's 521 answers that line and the session goes on to QUIT;
/// - STARTTLS (`tls` T): the 220 answers STARTTLS, a `starttls` event
///   follows, then nothing (the rest is TLS) and no alert.
#[test]
fn rows_without_a_mail_are_what_zeek_says() {
    let invalid = [
        (
            "smtp/smtp-bdat-cmd-chunk-size-overflow.pcap",
            "bdat-chunk-size-overflow",
            "invalid chunk size",
        ),
        (
            "smtp/smtp-bdat-cmd-chunk-size-overflow2.pcap",
            "bdat-chunk-size-overflow2",
            "invalid chunk size",
        ),
        (
            "smtp/smtp-bdat-cmd-negative-chunk-size.pcap",
            "bdat-negative-chunk-size",
            "token CHUNK_SIZE does not match",
        ),
        ("smtp/smtp-bdat-cmd-invalid.pcapng", "bdat-cmd-invalid", ""),
    ];
    for (file, test, error) in invalid {
        let dir = format!("scripts.base.protocols.smtp.{test}");
        let run = Run::new(&trace(file), &[]);
        let zeek = zeek_transcripts(&format!("{dir}/out"));
        for row in zeek_log(&format!("{dir}/smtp.log")) {
            let flow = run.flow_of(&row);
            assert!(flow.iter().all(|e| e.event != "transaction"));
            let errors: Vec<&&Event> = flow.iter().filter(|e| e.event == "parse_error").collect();
            assert_eq!(errors.len(), 1, "{file}: {flow:?}");
            let message = errors[0].fields["message"].as_str().unwrap_or_default();
            assert!(message.contains(error), "{message}");
            let alerts: Vec<&&Event> = flow.iter().filter(|e| e.event == "alert").collect();
            assert_eq!(alerts.len(), 1);
            assert_eq!(alerts[0].raw["severity"], "low");
            let reply = flow
                .iter()
                .find(|e| e.event == "response" && e.fields["command"] == "INVALID COMMAND")
                .expect("the reply to the invalid line");
            assert_eq!(last_reply_line(reply), row["last_reply"], "{file}");
            // Zeek's transcript, but for the BDAT line we could not parse.
            let zeek_lines: Vec<Line> = zeek[&row["uid"]]
                .iter()
                .filter(|l| !matches!(l, Line::Command { command, .. } if command == "BDAT"))
                .cloned()
                .collect();
            assert_eq!(our_lines(&flow, true), zeek_lines, "{file}");
            assert_eq!(commands(&flow, "QUIT").len(), 1, "the session goes on");
        }
    }

    let run = Run::new(&trace("tls/smtp-starttls.pcap"), &[]);
    let row = &zeek_log("scripts.base.protocols.smtp.starttls/smtp.log")[0];
    assert_eq!(row["tls"], "T");
    let flow = run.flow_of(row);
    assert_eq!(commands(&flow, "EHLO"), [row["helo"].clone()]);
    let (last, before) = flow.split_last().expect("events");
    assert_eq!(last.event, "starttls", "{flow:?}");
    let reply = before.last().expect("the reply");
    assert_eq!(reply.fields["command"], "STARTTLS");
    assert_eq!(last_reply_line(reply), row["last_reply"]);
    assert!(flow
        .iter()
        .all(|e| e.event != "alert" && e.event != "parse_error"));
}

/// `smtp-multi-addr.pcap`: RCPT and DATA in one segment (intel.log saw the
/// recipient); the transaction has it.
#[test]
fn pipelined_rcpt_and_data_give_the_transaction() {
    let run = Run::new(&trace("smtp-multi-addr.pcap"), &[]);
    let intel = zeek_log("scripts.policy.frameworks.intel.seen.smtp/intel.log");
    let seen = intel
        .iter()
        .find(|r| r["seen.where"] == "SMTP::IN_RCPT_TO")
        .expect("the RCPT TO intel hit");
    let flow = run.flow_of(seen);
    let tx = flow
        .iter()
        .find(|e| e.event == "transaction")
        .expect("the transaction");
    assert_eq!(tx.fields["rcpt_to"][0], seen["seen.indicator"].as_str());
    assert_eq!(tx.fields["reply"], "250");
    assert!(flow
        .iter()
        .all(|e| e.event != "alert" && e.event != "parse_error"));
}

/// SMTP inside an HTTP CONNECT tunnel to port 8240 (Zeek: tunnel.log
/// `Tunnel::HTTP`, http.log the CONNECT, then smtp.log the mail). Port 8240
/// is no port of ours: no event. Mapped to HTTP with `--port`, the HTTP spec
/// reads the CONNECT and its 200, then hands the connection over (`handover
/// port`) to the spec of the port asked for, 25: SMTP. From there the flow
/// gives the transaction Zeek logged. One difference: the client sends
/// `CONNECT host:25 / HTTP/1.0`, and Zeek's URI keeps the stray ` /`, which
/// our spec reads and ignores.
#[test]
fn smtp_in_an_http_connect_tunnel_is_read_after_the_handover() {
    let capture = trace("http/connect-with-smtp.pcap");
    let tunnel = zeek_log("scripts.base.protocols.http.http-connect/tunnel.log");
    assert_eq!(tunnel[0]["tunnel_type"], "Tunnel::HTTP");
    let http = &zeek_log("scripts.base.protocols.http.http-connect/http.log")[0];
    let row = &zeek_log("scripts.base.protocols.http.http-connect/smtp.log")[0];
    assert_eq!(row["id.resp_p"], "8240");

    assert!(Run::new(&capture, &[]).events.is_empty());
    let run = Run::new(&capture, &["--port", "http=8240"]);
    let flow = run.flow_of(row);
    // HTTP first: the CONNECT and its answer, as Zeek logged them.
    let request = flow
        .iter()
        .find(|e| e.proto == "http" && e.event == "request")
        .expect("the CONNECT request");
    assert_eq!(request.fields["method"], http["method"].as_str());
    assert_eq!(
        Some(request.fields["uri"].as_str().unwrap_or_default()),
        http["uri"].strip_suffix(" /")
    );
    let response = flow
        .iter()
        .find(|e| e.proto == "http" && e.event == "response")
        .expect("the CONNECT response");
    assert_eq!(response.fields["code"].to_string(), http["status_code"]);
    assert_eq!(response.fields["reason"], http["status_msg"].as_str());
    // Then SMTP, every event after the handover.
    let handed_at = flow
        .iter()
        .position(|e| e.proto == "smtp")
        .expect("SMTP events");
    assert!(flow[handed_at..].iter().all(|e| e.proto == "smtp"));
    let smtp: Vec<&Event> = flow[handed_at..].to_vec();
    assert_matches_smtp_log(&smtp, row);
    assert_session_completes(&smtp);
    let tx = smtp
        .iter()
        .find(|e| e.event == "transaction")
        .expect("the transaction");
    assert_eq!(tx.fields["mail_from"], row["mailfrom"].as_str());
    assert_eq!(
        format!(
            "{} {}",
            tx.fields["reply"].as_str().unwrap_or_default(),
            tx.fields["reply_text"].as_str().unwrap_or_default()
        ),
        row["last_reply"]
    );
}

/// Our commands (and reply lines, with `replies`) in Zeek's terms: BDAT's
/// parameter is its size and LAST.
fn our_lines(flow: &[&Event], replies: bool) -> Vec<Line> {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut lines = Vec::new();
    for e in flow {
        match e.event.as_str() {
            "command" => {
                let command = text(&e.fields, "command");
                let parameter = if command.eq_ignore_ascii_case("BDAT") {
                    [text(&e.fields, "size"), text(&e.fields, "last")]
                        .iter()
                        .filter(|p| !p.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    text(&e.fields, "parameter")
                };
                lines.push(Line::Command { command, parameter });
            }
            "response" if replies => {
                let responses = e.fields["responses"].as_array().expect("responses");
                lines.extend(responses.iter().map(|l| Line::Reply {
                    code: text(l, "code"),
                    text: text(l, "parameter"),
                }));
            }
            _ => {}
        }
    }
    lines
}

// ---------------------------------------------------------------------------
// Our side: runs, flows, assertions

/// One `protoc-rs pcap --format json` run over a capture.
struct Run {
    events: Vec<Event>,
    stderr: String,
}

impl Run {
    /// Runs and checks what every run must: exit 0, no panic, a stats line,
    /// every stdout line a JSON event.
    fn new(capture: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["pcap", path_str(capture), "--format", "json"];
        args.extend(extra);
        let out = protoc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "protoc-rs {args:?}: {}: {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains("stats: "), "{args:?}: {stderr}");
        Run {
            events: parse_events(&out.stdout),
            stderr,
        }
    }

    /// The events of each flow, in flow order.
    fn flows(&self) -> Vec<Vec<&Event>> {
        let mut flows: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
        for e in &self.events {
            flows.entry(e.flow).or_default().push(e);
        }
        flows.into_values().collect()
    }

    /// The events of the flow a Zeek log row names (`id.orig_h`, `id.orig_p`,
    /// `id.resp_h`, `id.resp_p`); asserts there are some.
    fn flow_of(&self, row: &Row) -> Vec<&Event> {
        let flow: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| {
                e.src_ip == row["id.orig_h"]
                    && e.src_port.to_string() == row["id.orig_p"]
                    && e.dest_ip == row["id.resp_h"]
                    && e.dest_port.to_string() == row["id.resp_p"]
            })
            .collect();
        assert!(!flow.is_empty(), "no event for Zeek's {row:?}");
        assert!(
            flow.iter().all(|e| e.flow == flow[0].flow),
            "one flow id per 4-tuple"
        );
        flow
    }
}

/// The one mail extracted from a flow (the run needs `--extract-dir`);
/// checks its record's size against the file and the stream's summary.
fn extracted_mail(flow: &[&Event]) -> Vec<u8> {
    let records: Vec<&&Event> = flow.iter().filter(|e| e.event == "extract").collect();
    assert_eq!(records.len(), 1, "one mail: {flow:?}");
    let path = records[0].fields["path"].as_str().expect("path");
    let mail = std::fs::read(path).expect("extracted file");
    let size = Some(mail.len() as u64);
    assert_eq!(records[0].fields["size"].as_u64(), size);
    let summary = flow
        .iter()
        .find(|e| e.event == "mail_content")
        .expect("mail_content summary");
    assert_eq!(summary.fields["size"].as_u64(), size);
    mail
}

/// Every mail extracted from a flow, in order (the run needs `--extract-dir`).
fn extracted_mails(flow: &[&Event]) -> Vec<Vec<u8>> {
    flow.iter()
        .filter(|e| e.event == "extract")
        .map(|e| {
            let path = e.fields["path"].as_str().expect("path");
            std::fs::read(path).expect("extracted file")
        })
        .collect()
}

/// A flow's commands of one verb (any case; all commands for `""`), their parameters.
fn commands(flow: &[&Event], verb: &str) -> Vec<String> {
    flow.iter()
        .filter(|e| e.event == "command")
        .filter(|e| {
            verb.is_empty()
                || e.fields["command"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(verb))
        })
        .map(|e| {
            e.fields["parameter"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// smtp.log's `helo`, `mailfrom` and `rcptto` (a set) are our HELO/EHLO
/// parameter and the addresses of our MAIL and RCPT parameters.
fn assert_matches_smtp_log(flow: &[&Event], row: &Row) {
    let helo = [commands(flow, "EHLO"), commands(flow, "HELO")].concat();
    assert_eq!(helo, [row["helo"].clone()], "{row:?}");
    let mail_from: Vec<String> = commands(flow, "MAIL").iter().map(|p| address(p)).collect();
    assert_eq!(mail_from, [row["mailfrom"].clone()], "{row:?}");
    let ours: BTreeSet<String> = commands(flow, "RCPT").iter().map(|p| address(p)).collect();
    let zeek: BTreeSet<String> = row["rcptto"].split(',').map(str::to_string).collect();
    assert_eq!(ours, zeek, "{row:?}");
}

/// The session ends as SMTP says: QUIT, then 221; no alert, no parse error.
fn assert_session_completes(flow: &[&Event]) {
    assert!(flow
        .iter()
        .all(|e| e.event != "alert" && e.event != "parse_error"));
    let last_command = flow.iter().rev().find(|e| e.event == "command");
    assert_eq!(
        last_command.and_then(|e| e.fields["command"].as_str()),
        Some("QUIT")
    );
    let last = flow.last().expect("events");
    assert_eq!(last.event, "response");
    assert_eq!(last.fields["responses"][0]["code"], "221");
}

/// The address of a MAIL/RCPT parameter: `FROM:<a@b> SIZE=1` → `a@b`.
fn address(parameter: &str) -> String {
    let value = parameter
        .split_once(':')
        .map_or(parameter, |(_, v)| v)
        .trim_start();
    match value.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or_default().to_string(),
        None => value.split(' ').next().unwrap_or_default().to_string(),
    }
}

/// How many header lines of each name (lower-cased) a mail has.
fn header_counts(mail: &[u8]) -> BTreeMap<String, usize> {
    let end = find(mail, b"\r\n\r\n").unwrap_or(mail.len());
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&mail[..end]).split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue; // a folded continuation
        }
        if let Some((name, _)) = line.split_once(':') {
            *counts.entry(name.to_ascii_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn last_reply_line(response: &Event) -> String {
    let lines = response.fields["responses"].as_array().expect("responses");
    let last = lines.last().expect("a line");
    let text = |k: &str| last[k].as_str().unwrap_or_default().to_string();
    format!("{} {}", text("code"), text("parameter"))
}

// ---------------------------------------------------------------------------
// Zeek's side: logs and printed transcripts

/// One row of a Zeek log, by field name.
type Row = BTreeMap<String, String>;

fn baseline(relative: &str) -> PathBuf {
    corpus("zeek/Baseline").join(relative)
}

fn baseline_text(relative: &str) -> String {
    std::fs::read_to_string(baseline(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// A Zeek log: the ASCII format (`#fields` names the columns) or a
/// `zeek-cut` output (its first line names them). `-` and `(empty)` read as "".
fn zeek_log(relative: &str) -> Vec<Row> {
    let text = baseline_text(relative);
    let mut fields: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(names) = line.strip_prefix("#fields\t") {
            fields = Some(names.split('\t').map(str::to_string).collect());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let values = line.split('\t').map(|v| match v {
            "-" | "(empty)" => String::new(),
            v => v.to_string(),
        });
        match &fields {
            None => fields = Some(line.split('\t').map(str::to_string).collect()),
            Some(names) => rows.push(names.iter().cloned().zip(values).collect()),
        }
    }
    rows
}

/// One line of a session: a command, or one line of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Command { command: String, parameter: String },
    Reply { code: String, text: String },
}

/// A Zeek test's `out`: its smtp_request / smtp_reply prints, by uid. Two
/// formats: `uid, T, CMD, ARG` (requests only), or `smtp_request, uid, T,
/// CMD, ARG` and `smtp_reply, uid, F, CODE, CMD, MSG` (one per reply line).
fn zeek_transcripts(relative: &str) -> BTreeMap<String, Vec<Line>> {
    let mut sessions: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for line in baseline_text(relative).lines() {
        let parts: Vec<&str> = line.splitn(6, ", ").collect();
        let (uid, entry) = match parts[..] {
            ["smtp_reply", uid, "F", code, _command, text] => (
                uid,
                Line::Reply {
                    code: code.to_string(),
                    text: text.to_string(),
                },
            ),
            ["smtp_request", uid, "T", command, parameter] | [uid, "T", command, parameter] => (
                uid,
                Line::Command {
                    command: command.to_string(),
                    parameter: parameter.to_string(),
                },
            ),
            _ => continue,
        };
        sessions.entry(uid.to_string()).or_default().push(entry);
    }
    assert!(!sessions.is_empty(), "no transcript in {relative}");
    sessions
}

// ---------------------------------------------------------------------------
// Files and tools

fn trace(relative: &str) -> PathBuf {
    corpus("zeek/Traces").join(relative)
}

/// The packet count Wireshark's `capinfos` reads in a capture.
fn capinfos_packets(capture: &Path) -> u64 {
    let out = Command::new("capinfos")
        .args(["-c", "-M"])
        .arg(capture)
        .output()
        .expect("capinfos runs (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "capinfos {}: {text}",
        capture.display()
    );
    text.lines()
        .find_map(|l| l.strip_prefix("Number of packets:")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text}"))
}

/// The SHA-1 of `bytes`, in hex, by coreutils' `sha1sum` (Zeek logs SHA-1).
fn sha1(bytes: Vec<u8>) -> String {
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha1sum runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().expect("sha1sum output");
    writer.join().expect("writer").expect("write to sha1sum");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(' ').next().unwrap_or_default().to_string()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
