//! Large mails, many at once: each extracted file is exactly the mail the
//! client meant to send (its dot-stuffing undone), whatever its size, with
//! several sessions interleaved packet by packet in one capture.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{protoc, run_json, Event};
use sha2::{Digest, Sha256};

/// A mail body of about `size` bytes: CRLF lines, some starting with dots
/// (which the client must stuff), one holding a lone dot, one made of dots.
fn original_body(size: usize, seed: u64) -> Vec<u8> {
    let mut body = String::with_capacity(size + 128);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut line = 0u64;
    while body.len() < size {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        match (x >> 33) % 11 {
            0 => body.push_str(".starts with a dot"),
            1 => body.push_str("a lone . in the middle"),
            2 => body.push_str("..."),
            3 => body.push_str(""),
            _ => {
                let _ = write!(body, "line {line} of the mail, seed {seed}, {:x}", x);
            }
        }
        body.push_str("\r\n");
        line += 1;
    }
    body.into_bytes()
}

/// RFC 5321 §4.5.2: a line that starts with a dot gets one more.
fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 50);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A capture of `synth_args` sessions (`--sessions`, `--split`, ...) each
/// sending `original`, dot-stuffed, as its mail; written in `dir`.
fn capture_of_mails(dir: &Path, original: &[u8], synth_args: &[&str]) -> PathBuf {
    std::fs::write(dir.join("body.eml"), stuffed(original)).expect("body");
    let transcript = "S: 220 mx ESMTP\n\
                      C: EHLO client\n\
                      S: 250 mx\n\
                      C: MAIL FROM:<a@example.test>\n\
                      S: 250 OK\n\
                      C: RCPT TO:<b@example.test>\n\
                      S: 250 OK\n\
                      C: DATA\n\
                      S: 354 go ahead\n\
                      C: @file body.eml\n\
                      C: .\n\
                      S: 250 queued\n\
                      C: QUIT\n\
                      S: 221 bye\n";
    let session = dir.join("session.txt");
    std::fs::write(&session, transcript).expect("transcript");
    let pcap = dir.join("many.pcap");
    let mut args = vec!["synth", text(&session), "-o", text(&pcap)];
    args.extend_from_slice(synth_args);
    let out = protoc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pcap
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

/// The events of `pcap` through the mail-content rules, each mail extracted
/// into `mails`.
fn run_extracting(pcap: &Path, mails: &Path) -> Vec<Event> {
    run_json(&[
        "pcap",
        text(pcap),
        "--rules",
        "rules/mail_content.rules",
        "--extract-dir",
        text(mails),
    ])
}

/// `count` transactions, each carrying the digest `hash`.
fn assert_transaction_digests(events: &[Event], count: usize, hash: &str) {
    let transactions: Vec<_> = events.iter().filter(|e| e.event == "transaction").collect();
    assert_eq!(transactions.len(), count);
    for t in &transactions {
        assert_eq!(t.fields["sha256"], hash, "{:?}", t.raw);
    }
}

#[test]
fn multi_megabyte_stuffed_mails_in_concurrent_flows_extract_to_the_original_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = original_body(3 << 20, 42);
    let pcap = capture_of_mails(
        dir.path(),
        &original,
        &[
            "--sessions",
            "8",
            "--split",
            "random",
            "--segment-size",
            "1460",
            "--seed",
            "3",
        ],
    );

    let events = run_extracting(&pcap, &dir.path().join("mails"));

    // The content ends where the end-of-data line `\r\n.\r\n` starts, as in the
    // seed (Haka's grammar): the body's last CRLF belongs to that line.
    let expected = &original[..original.len() - 2];
    let expected_hash = sha256_hex(expected);
    let extracts: Vec<_> = events.iter().filter(|e| e.event == "extract").collect();
    assert_eq!(extracts.len(), 8, "one extracted mail per session");
    let mut flows: Vec<u64> = extracts.iter().map(|e| e.flow).collect();
    flows.sort_unstable();
    flows.dedup();
    assert_eq!(flows.len(), 8, "each from its own flow");
    for e in &extracts {
        assert_eq!(e.fields["size"], expected.len(), "{:?}", e.raw);
        assert_eq!(e.fields["sha256"], expected_hash.as_str(), "{:?}", e.raw);
        let path = e.fields["path"].as_str().expect("a path");
        let written = std::fs::read(path).expect("extracted file");
        assert_eq!(written.len(), expected.len());
        assert_eq!(sha256_hex(&written), expected_hash, "{path}");
    }
    // The transactions' digests are the extraction's (the mail is hashed
    // once, by the extraction, and the spec's `mail_content.sha256` takes it).
    assert_transaction_digests(&events, 8, &expected_hash);
    assert!(events
        .iter()
        .all(|e| e.event != "alert" && e.event != "parse_error"));
}

/// Enough mails in flight at once (40 of 48 sessions, cut at random) that
/// their digests are computed 16 and 32 streams side by side (on a CPU with
/// AVX-512; see `runtime::sha256`): every transaction's `sha256`, in the
/// JSON pipeline (the spec's stream book hashes) and with extraction (the
/// extractor does), is the mail's.
#[test]
fn digests_of_many_mails_in_flight_are_each_the_mails_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = original_body(150_000, 7);
    let pcap = capture_of_mails(
        dir.path(),
        &original,
        &[
            "--sessions",
            "48",
            "--concurrency",
            "40",
            "--split",
            "random",
            "--seed",
            "11",
        ],
    );
    let expected_hash = sha256_hex(&original[..original.len() - 2]);
    let json_only = run_json(&["pcap", text(&pcap)]);
    let extracting = run_extracting(&pcap, &dir.path().join("mails"));
    for events in [&json_only, &extracting] {
        assert_transaction_digests(events, 48, &expected_hash);
    }
    let extracts: Vec<_> = extracting.iter().filter(|e| e.event == "extract").collect();
    assert_eq!(extracts.len(), 48);
    for e in &extracts {
        assert_eq!(e.fields["sha256"], expected_hash.as_str(), "{:?}", e.raw);
    }
}
