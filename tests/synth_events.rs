//! Events do not depend on how TCP cut the bytes: for each transcript, the
//! capture `synth` makes with full-size segments is the baseline, and the same
//! session split at every byte offset (1-byte segments), in small segments,
//! at random points, reordered, duplicated, over IPv6, and as several
//! sessions interleaved in one capture must give exactly the same events and
//! the same extracted mail, flow by flow.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{protoc, repo, run_json, Event};

/// An event without what legitimately varies between captures of the same
/// session (time, addresses, flow id).
fn essence(e: &Event) -> String {
    let mut v = e.raw.clone();
    if let Some(o) = v.as_object_mut() {
        for key in ["ts", "src_ip", "src_port", "dest_ip", "dest_port", "flow"] {
            o.remove(key);
        }
        // Chunk boundaries follow segment boundaries: the number of chunks may differ, their content may not.
        if let Some(fields) = o.get_mut("fields").and_then(|f| f.as_object_mut()) {
            fields.remove("chunks");
            // The extracted file's path is in a fresh temporary directory each run.
            fields.remove("path");
        }
    }
    v.to_string()
}

/// Events of each flow, in order, keyed by flow id.
fn by_flow(events: &[Event]) -> BTreeMap<u64, Vec<String>> {
    let mut flows: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in events {
        flows.entry(e.flow).or_default().push(essence(e));
    }
    flows
}

/// `protoc-rs synth TRANSCRIPT OPTIONS -o tmp.pcap`, then `protoc-rs pcap` on it
/// with the mail-content rule: the events of each flow, and the extracted mails.
fn events_of(transcript: &str, options: &[&str]) -> (BTreeMap<u64, Vec<String>>, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("s.pcap");
    let mut args = vec!["synth", transcript, "-o", pcap.to_str().expect("utf-8")];
    args.extend_from_slice(options);
    let out = protoc(&args);
    assert!(
        out.status.success(),
        "synth {options:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = dir.path().join("mails");
    let events = run_json(&[
        "pcap",
        pcap.to_str().expect("utf-8"),
        "--rules",
        "rules/mail_content.rules",
        "--extract-dir",
        mails.to_str().expect("utf-8"),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(&mails)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let contents = files
        .iter()
        .map(|f| std::fs::read(f).expect("extracted mail"))
        .collect();
    (by_flow(&events), contents)
}

/// The variants every transcript goes through, besides the baseline.
fn variants() -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = vec![
        // Every byte offset is a segment boundary.
        vec!["--segment-size".into(), "1".into()],
        vec!["--ipv6".into()],
    ];
    for size in [2, 3, 5, 7, 13] {
        v.push(vec!["--segment-size".into(), size.to_string()]);
    }
    for seed in 1..=4 {
        v.push(vec![
            "--split".into(),
            "random".into(),
            "--segment-size".into(),
            "9".into(),
            "--seed".into(),
            seed.to_string(),
        ]);
        v.push(vec![
            "--split".into(),
            "random".into(),
            "--segment-size".into(),
            "6".into(),
            "--reorder".into(),
            "--duplicate".into(),
            "--seed".into(),
            seed.to_string(),
        ]);
    }
    v
}

fn assert_cut_independent(transcript: &str, expected_events: usize) {
    let path = repo().join("tests/transcripts").join(transcript);
    let path = path.to_str().expect("utf-8");
    let (baseline, mails) = events_of(path, &[]);
    assert_eq!(baseline.len(), 1, "one flow: {baseline:?}");
    let flow = baseline.values().next().expect("one flow");
    assert_eq!(flow.len(), expected_events, "{flow:#?}");
    assert!(
        flow.iter()
            .all(|e| !e.contains("\"alert\"") && !e.contains("parse_error")),
        "{flow:#?}"
    );

    for options in variants() {
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let (flows, variant_mails) = events_of(path, &options);
        assert_eq!(flows.len(), 1, "{options:?}");
        assert_eq!(
            flows.values().next(),
            Some(flow),
            "events differ with {options:?}"
        );
        assert_eq!(
            variant_mails, mails,
            "extracted mails differ with {options:?}"
        );
    }

    // Several sessions at once, interleaved packet by packet: each flow gives the same events.
    let (flows, many_mails) = events_of(
        path,
        &["--sessions", "6", "--segment-size", "4", "--seed", "7"],
    );
    assert_eq!(flows.len(), 6);
    for (id, events) in &flows {
        assert_eq!(events, flow, "flow {id} of 6 interleaved sessions");
    }
    assert_eq!(many_mails.len(), 6 * mails.len());
    assert!(many_mails.iter().all(|m| mails.contains(m)));
}

#[test]
fn the_appendix_session_gives_the_same_events_however_it_is_cut() {
    // 5 commands, 7 replies, 1 mail content, 1 extracted file, 1 transaction.
    assert_cut_independent("smtp-appendix.txt", 15);
}

#[test]
fn the_haka_session_with_bare_lf_commands_gives_the_same_events_however_it_is_cut() {
    // 5 commands, 7 replies, 1 mail content, 1 extracted file, 1 transaction.
    assert_cut_independent("smtp-haka-reference.txt", 15);
}

#[test]
fn multi_line_replies_dot_stuffing_and_bare_lf_give_the_same_events_however_cut() {
    // 7 commands, 9 replies, 1 mail content, 1 extracted file, 1 transaction.
    assert_cut_independent("smtp-edges.txt", 19);
}

#[test]
fn the_edges_session_is_read_as_the_transcript_says() {
    let path = repo().join("tests/transcripts/smtp-edges.txt");
    let (flows, mails) = events_of(path.to_str().expect("utf-8"), &["--segment-size", "3"]);
    let events: Vec<serde_json::Value> = flows
        .values()
        .next()
        .expect("a flow")
        .iter()
        .map(|e| serde_json::from_str(e).expect("json"))
        .collect();
    // The three-line greeting is one response with its three lines.
    let greeting = &events[0]["fields"]["responses"];
    assert_eq!(greeting.as_array().map(Vec::len), Some(3), "{greeting}");
    assert_eq!(greeting[0]["sep"], "-");
    assert_eq!(greeting[2]["sep"], " ");
    assert_eq!(greeting[2]["parameter"], "last greeting line");
    let commands: Vec<(String, Option<String>)> = events
        .iter()
        .filter(|e| e["event"] == "command")
        .map(|e| {
            (
                e["fields"]["command"].as_str().unwrap_or("").to_string(),
                e["fields"]["parameter"].as_str().map(String::from),
            )
        })
        .collect();
    let expect = |c: &str, p: Option<&str>| (c.to_string(), p.map(String::from));
    assert_eq!(
        commands,
        vec![
            expect("EHLO", Some("client.example.test")),
            expect("HELP", Some("MAIL")),
            expect("NOOP", None),
            expect("MAIL", Some("FROM:<alice@example.test>")),
            expect("RCPT", Some("TO:<bob@example.test>")),
            expect("DATA", None),
            expect("QUIT", None),
        ]
    );
    // The mail as the server stores it: dot-stuffing undone, up to the end-of-data line.
    let body: &[u8] = b"Subject: edges\r\n\r\n.a line that started with a dot\r\na lone . inside a line\r\n..\r\nbare LF line\nlast line";
    assert_eq!(mails, vec![body.to_vec()]);
    assert!(Path::new(&path).exists());
}
