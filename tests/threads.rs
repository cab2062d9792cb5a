//! `protoc-rs pcap --threads 2` against the same command with one thread, and
//! against the seed's references: the flows split over two threads must give
//! the same events flow by flow, the same alerts and drops, the same
//! extracted mails, the same statistics and a byte-identical pass-through
//! capture (in input order, drops honoured).
//!
//! What legitimately differs with threads: flow ids (numbered per thread:
//! thread `i` of `n` hands out `i+1`, `i+1+n`, ...) and the order of lines
//! of different flows (merged chunk by chunk). So lines are compared flow by
//! flow, a flow named by its addresses, not its id.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{parse_events, pcap_records, protoc, reference, repo, zeek_traces, Event};

/// A flow's name that does not depend on the thread count.
type FlowName = (String, u64, String, u64);

/// One run of `protoc-rs pcap`: its lines by flow, its flow ids, the
/// extracted files' contents (sorted), the stats line's counts, the output pcap.
struct Run {
    by_flow: BTreeMap<FlowName, Vec<String>>,
    ids: Vec<u64>,
    files: Vec<Vec<u8>>,
    counts: String,
    pcap: Option<Vec<u8>>,
    events: Vec<Event>,
}

/// A line without its flow id, and without the extracted file's path (its
/// name carries the flow id, its directory is a fresh temporary one).
fn essence(e: &Event) -> String {
    let mut v = e.raw.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("flow");
        if let Some(fields) = o.get_mut("fields").and_then(|f| f.as_object_mut()) {
            fields.remove("path");
        }
    }
    v.to_string()
}

/// `protoc-rs pcap CAPTURE ARGS --format json --threads THREADS`, with a fresh
/// extract directory and output pcap when `extract` / `pass_through` ask.
fn run(capture: &Path, args: &[&str], threads: u32, extract: bool, pass_through: bool) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let mails = dir.path().join("mails");
    let out_pcap = dir.path().join("out.pcap");
    let threads = threads.to_string();
    let mut all: Vec<&str> = vec!["pcap", capture.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    all.extend(["--format", "json", "--threads", &threads]);
    if extract {
        all.extend(["--extract-dir", mails.to_str().expect("utf-8")]);
    }
    if pass_through {
        all.extend(["--output-pcap", out_pcap.to_str().expect("utf-8")]);
    }
    let out = protoc(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{all:?}: {stderr}");
    let events = parse_events(&out.stdout);
    let mut by_flow: BTreeMap<FlowName, Vec<String>> = BTreeMap::new();
    let mut ids = Vec::new();
    for e in &events {
        let name = (e.src_ip.clone(), e.src_port, e.dest_ip.clone(), e.dest_port);
        by_flow.entry(name).or_default().push(essence(e));
        ids.push(e.flow);
    }
    ids.sort_unstable();
    ids.dedup();
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(&mails)
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read(e.path()).expect("extracted file"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    // The counts of the stats line, without its timing.
    let counts = stderr
        .lines()
        .find_map(|l| l.strip_prefix("stats: "))
        .map(|l| l.split(" gaps").next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let pcap = pass_through.then(|| std::fs::read(&out_pcap).expect("output pcap"));
    Run {
        by_flow,
        ids,
        files,
        counts,
        pcap,
        events,
    }
}

/// One thread and two give the same results; returns the two-thread run.
fn assert_same_with_two_threads(capture: &Path, args: &[&str], extract: bool) -> Run {
    let pass_through = true;
    let one = run(capture, args, 1, extract, pass_through);
    let two = run(capture, args, 2, extract, pass_through);
    let what = format!("{} {args:?}", capture.display());
    assert!(!one.by_flow.is_empty(), "{what}: no event at all");
    assert_eq!(
        two.by_flow, one.by_flow,
        "{what}: events differ flow by flow"
    );
    assert_eq!(two.files, one.files, "{what}: extracted files differ");
    assert_eq!(two.counts, one.counts, "{what}: statistics differ");
    assert!(!two.counts.is_empty(), "{what}: no stats line");
    assert!(two.pcap == one.pcap, "{what}: pass-through captures differ");
    assert_eq!(two.ids.len(), one.ids.len(), "{what}: flow ids not unique");
    two
}

#[test]
fn the_seed_capture_gives_hakas_results_with_two_threads() {
    let seed = repo().join("samples/smtp.pcap");
    // Commands and responses, in order, as with one thread (the one-thread
    // run is checked against Haka's transcript by seed_reference.rs); the
    // reference's 5 commands and 7 responses are all there.
    let run = assert_same_with_two_threads(&seed, &[], false);
    let smtp: Vec<&Event> = run.events.iter().filter(|e| e.proto == "smtp").collect();
    let kinds = |kind: &str| smtp.iter().filter(|e| e.event == kind).count();
    assert_eq!((kinds("command"), kinds("response")), (5, 7));
    let transcript = std::fs::read_to_string(reference("smtp_command_response-ref.txt"))
        .expect("reference file");
    for e in smtp.iter().filter(|e| e.event == "command") {
        let command = e.fields["command"].as_str().unwrap_or_default();
        assert!(
            transcript.contains(&format!("command : \"{command}\"")),
            "{command} is not in Haka's transcript"
        );
    }

    // The partial spec: one parse error, one high alert, the flow dropped.
    let run = assert_same_with_two_threads(&seed, &["--spec", "smtp_partial"], false);
    let alerts: Vec<&Event> = run.events.iter().filter(|e| e.event == "alert").collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].raw["severity"], "high");
    assert!(run.counts.contains("1 drops"), "{}", run.counts);

    // The spam filter: the packets that pass are exactly those Haka passed.
    let run = assert_same_with_two_threads(&seed, &["--rules", "rules/spam_filter.rules"], false);
    let ours = pcap_records(run.pcap.as_deref().expect("output pcap"));
    let haka = pcap_records(
        &std::fs::read(reference("smtp_spam_filter-ref.pcap")).expect("reference pcap"),
    );
    assert!(ours == haka, "the passed packets differ from Haka's");

    // The mail dump: the mail Haka printed, extracted to a file.
    let run = assert_same_with_two_threads(&seed, &["--rules", "rules/mail_content.rules"], true);
    assert_eq!(
        run.files,
        vec![b"BLA BLA BLA ...\r\nMORE BLA BLA BLA ...".to_vec()]
    );
}

#[test]
fn zeeks_captures_give_the_same_results_with_two_threads() {
    // Real captures (Zeek's test suite): pcapng and gzip readers, IPv6 (which
    // every thread decodes, its engine keeping the flows of its shard), BDAT,
    // gaps, a one-sided session, STARTTLS, a CONNECT tunnel's handover; with
    // the shipped rules, so alerts, drops and extracted mails are compared too.
    let traces = zeek_traces();
    assert!(
        traces.len() >= 20,
        "the corpus has {} captures",
        traces.len()
    );
    let mut events = 0;
    let mut files = 0;
    for trace in &traces {
        let mut args = vec![
            "--rules",
            "rules/spam_filter.rules",
            "--rules",
            "rules/mail_content.rules",
        ];
        if trace.ends_with("http/connect-with-smtp.pcap") {
            args.extend(["--port", "http=8240"]);
        }
        let run = assert_same_with_two_threads(trace, &args, true);
        events += run.events.len();
        files += run.files.len();
    }
    // Enough to have compared something: every capture has events, and most
    // carry mails.
    assert!(
        events > 1500 && files >= 15,
        "{events} events, {files} files"
    );
}

/// `protoc-rs synth TRANSCRIPT OPTIONS -o DIR/s.pcap`.
fn synth(dir: &Path, transcript: &str, options: &[&str]) -> PathBuf {
    let pcap = dir.join("s.pcap");
    let transcript = repo().join("tests/transcripts").join(transcript);
    let mut args = vec![
        "synth",
        transcript.to_str().expect("utf-8"),
        "-o",
        pcap.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(options);
    let out = protoc(&args);
    assert!(
        out.status.success(),
        "synth {options:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pcap
}

#[test]
fn interleaved_sessions_however_cut_give_the_same_events_with_two_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = ["--rules", "rules/mail_content.rules"];
    for transcript in [
        "smtp-appendix.txt",
        "smtp-haka-reference.txt",
        "smtp-edges.txt",
        "smtp-large-body.txt",
    ] {
        for options in [
            &["--sessions", "12", "--segment-size", "7", "--seed", "3"][..],
            &["--sessions", "9", "--concurrency", "4", "--ipv6"],
            &[
                "--sessions",
                "10",
                "--split",
                "random",
                "--segment-size",
                "40",
                "--reorder",
                "--duplicate",
                "--ack-every",
                "2",
                "--seed",
                "5",
            ],
        ] {
            let pcap = synth(dir.path(), transcript, options);
            let run = assert_same_with_two_threads(&pcap, &rules, true);
            let sessions: usize = options
                .get(1)
                .and_then(|n| n.parse().ok())
                .expect("a session count");
            assert_eq!(run.by_flow.len(), sessions, "{transcript} {options:?}");
            assert_eq!(run.files.len(), sessions, "{transcript} {options:?}");
            // Both threads had flows: ids of thread 1 are odd, of thread 2 even.
            assert!(
                run.ids.iter().any(|id| id % 2 == 1) && run.ids.iter().any(|id| id % 2 == 0),
                "{transcript} {options:?}: one thread did everything: {:?}",
                run.ids
            );
            // Every session gives the same events as every other.
            let first = run.by_flow.values().next().expect("a flow");
            for events in run.by_flow.values() {
                let strip = |lines: &[String]| -> Vec<String> {
                    lines
                        .iter()
                        .map(|l| {
                            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
                            if let Some(o) = v.as_object_mut() {
                                for key in ["ts", "src_port"] {
                                    o.remove(key);
                                }
                                if let Some(f) = o.get_mut("fields").and_then(|f| f.as_object_mut())
                                {
                                    f.remove("chunks");
                                }
                            }
                            v.to_string()
                        })
                        .collect()
                };
                assert_eq!(strip(events), strip(first), "{transcript} {options:?}");
            }
        }
    }
}

/// More workers than two, over a capture of a dozen chunks (3.3 MB): chunks
/// are read by whichever worker gets there
/// first and may reach a worker out of order; every worker count gives one
/// thread's events flow by flow, the same files, statistics and
/// pass-through capture.
#[test]
fn three_and_four_threads_give_what_one_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = synth(
        dir.path(),
        "smtp-large-body.txt",
        &[
            "--sessions",
            "16",
            "--concurrency",
            "8",
            "--segment-size",
            "300",
            "--seed",
            "7",
        ],
    );
    let rules = ["--rules", "rules/mail_content.rules"];
    let one = run(&pcap, &rules, 1, true, true);
    assert!(
        one.by_flow.len() > 4 && one.files.len() > 4,
        "too little to compare"
    );
    for threads in [3, 4] {
        let many = run(&pcap, &rules, threads, true, true);
        assert_eq!(
            many.by_flow, one.by_flow,
            "{threads} threads: events differ"
        );
        assert_eq!(
            many.files, one.files,
            "{threads} threads: extracted files differ"
        );
        assert_eq!(
            many.counts, one.counts,
            "{threads} threads: statistics differ"
        );
        assert!(
            many.pcap == one.pcap,
            "{threads} threads: pass-through differs"
        );
        // Flow ids are numbered per thread: several threads had flows.
        let threads_used: std::collections::BTreeSet<u64> = many
            .ids
            .iter()
            .map(|id| (id - 1) % u64::from(threads))
            .collect();
        assert!(threads_used.len() > 1, "{threads} threads: {:?}", many.ids);
    }
}

#[test]
fn threads_read_stdin_too_and_refuse_zero() {
    let seed = std::fs::read(repo().join("samples/smtp.pcap")).expect("seed capture");
    let from_stdin = |threads: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
            .args(["pcap", "-", "--format", "json", "--threads", threads])
            .current_dir(repo())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("protoc-rs runs");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(&seed).expect("stdin written");
        }
        let out = child.wait_with_output().expect("protoc-rs ends");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = parse_events(&out.stdout).iter().map(essence).collect();
        lines.sort();
        lines
    };
    let two = from_stdin("2");
    // Haka's 5 commands and 7 responses are among them (the sample's HTTP
    // flow has a `response` of its own).
    let count = |kind: &str| {
        two.iter()
            .filter(|l| l.contains("\"proto\":\"smtp\""))
            .filter(|l| l.contains(&format!("\"event\":\"{kind}\"")))
            .count()
    };
    assert_eq!((count("command"), count("response")), (5, 7), "{two:#?}");
    assert_eq!(two, from_stdin("1"));
    let out = protoc(&["pcap", "samples/smtp.pcap", "--threads", "0"]);
    assert!(!out.status.success());
}
