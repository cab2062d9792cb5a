//! The seed's facts, end to end: `protoc-rs pcap` on the workshop's capture
//! must agree with what Haka printed (`../shared/reference/haka/*-ref.txt`)
//! and with the packets it let through (`smtp_spam_filter-ref.pcap`).
//!
//! The expected commands and responses are read from Haka's own output file,
//! not copied here, so this test checks our output against the reference.

mod common;

use common::{protoc, reference, run_json, Event};

/// One SMTP message as Haka's `debug.pprint` shows it.
#[derive(Debug, PartialEq)]
enum Message {
    Command {
        command: String,
        parameter: Option<String>,
    },
    Response(Vec<(String, String, String)>),
}

/// Parses `smtp_command_response-ref.txt`: blocks that start with `SMTP COMMAND` or
/// `SMTP RESPONSE`, with `key : "value"` lines (responses: `code`, `parameter`, `sep`).
fn haka_transcript() -> Vec<Message> {
    let text = std::fs::read_to_string(reference("smtp_command_response-ref.txt"))
        .expect("reference file");
    let mut messages = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let is_command = match line.trim() {
            "SMTP COMMAND" => true,
            "SMTP RESPONSE" => false,
            _ => continue,
        };
        // Collect `key : "value"` pairs until the block's closing brace at column 0.
        let mut pairs: Vec<(String, String)> = Vec::new();
        for l in lines.by_ref() {
            if l == "}" {
                break;
            }
            if let Some((k, v)) = l.trim().split_once(" : \"") {
                pairs.push((k.to_string(), v.trim_end_matches('"').to_string()));
            }
        }
        let get = |pairs: &[(String, String)], k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if is_command {
            messages.push(Message::Command {
                command: get(&pairs, "command").expect("command"),
                parameter: get(&pairs, "parameter"),
            });
        } else {
            // Pairs come in groups of three per response line, in pprint's key order.
            let lines: Vec<(String, String, String)> = pairs
                .chunks(3)
                .map(|c| {
                    (
                        get(c, "code").unwrap_or_default(),
                        get(c, "sep").unwrap_or_default(),
                        get(c, "parameter").unwrap_or_default(),
                    )
                })
                .collect();
            messages.push(Message::Response(lines));
        }
    }
    messages
}

fn our_transcript(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter(|e| e.proto == "smtp" && (e.event == "command" || e.event == "response"))
        .map(|e| {
            if e.event == "command" {
                Message::Command {
                    command: e.fields["command"].as_str().unwrap_or_default().to_string(),
                    parameter: e
                        .fields
                        .get("parameter")
                        .and_then(|p| p.as_str())
                        .map(str::to_string),
                }
            } else {
                let lines = e.fields["responses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                Message::Response(
                    lines
                        .iter()
                        .map(|l| {
                            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
                            (s("code"), s("sep"), s("parameter"))
                        })
                        .collect(),
                )
            }
        })
        .collect()
}

#[test]
fn commands_and_responses_match_hakas_transcript_in_order() {
    let expected = haka_transcript();
    let commands = expected
        .iter()
        .filter(|m| matches!(m, Message::Command { .. }))
        .count();
    assert_eq!(
        (commands, expected.len() - commands),
        (5, 7),
        "the reference has 5 commands and 7 responses"
    );
    let events = run_json(&["pcap", "samples/smtp.pcap"]);
    assert_eq!(our_transcript(&events), expected);

    // Every SMTP event belongs to the SMTP flow, with the client as src.
    for e in events.iter().filter(|e| e.proto == "smtp") {
        assert_eq!(
            (e.src_ip.as_str(), e.src_port),
            ("192.168.10.10", 41155),
            "{e:?}"
        );
        assert_eq!(
            (e.dest_ip.as_str(), e.dest_port),
            ("192.168.20.1", 25),
            "{e:?}"
        );
        let expected_dir = if e.event == "command" {
            "up"
        } else if e.event == "response" {
            "down"
        } else {
            e.dir.as_str()
        };
        assert_eq!(e.dir, expected_dir);
    }
    // The HTTP flow on port 80 is the HTTP spec's: no SMTP event on it.
    assert!(
        events
            .iter()
            .filter(|e| e.dest_port == 80)
            .all(|e| e.proto == "http"),
        "an SMTP event on the HTTP flow"
    );
    assert!(
        events
            .iter()
            .all(|e| e.event != "alert" && e.event != "parse_error"),
        "{events:?}"
    );
}

#[test]
fn the_partial_spec_alerts_on_the_incomplete_grammar_and_drops_the_flow() {
    let reference_text =
        std::fs::read_to_string(reference("smtp_partial-ref.txt")).expect("reference file");
    assert!(reference_text.contains("severity = high"));
    assert!(
        reference_text.contains("invalid smtp response")
            && reference_text.contains("incomplete grammar")
    );

    let out = protoc(&[
        "pcap",
        "samples/smtp.pcap",
        "--spec",
        "smtp_partial",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = common::parse_events(&out.stdout);
    let alerts: Vec<&Event> = events.iter().filter(|e| e.event == "alert").collect();
    assert_eq!(alerts.len(), 1, "{events:?}");
    let alert = alerts[0];
    assert_eq!(alert.raw["severity"], "high");
    let description = alert.raw["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("invalid smtp response"),
        "{description}"
    );
    assert!(description.contains("incomplete grammar"), "{description}");
    assert_eq!(alert.dest_port, 25);
    // The protocol violation is itself an event, before the spec's alert.
    let errors: Vec<&Event> = events.iter().filter(|e| e.event == "parse_error").collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    assert!(errors[0].fields["message"]
        .as_str()
        .unwrap_or_default()
        .contains("incomplete grammar"));
    assert!(errors[0].ts <= alert.ts);
    // Dropped: nothing of the flow is dissected after the alert.
    assert!(
        events
            .iter()
            .all(|e| e.event != "command" && e.event != "response"),
        "{events:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 drops") && stderr.contains("1 parse errors"),
        "{stderr}"
    );
}

#[test]
fn the_spam_filter_alerts_and_passes_exactly_the_packets_haka_passed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_pcap = dir.path().join("out.pcap");
    let out = protoc(&[
        "pcap",
        "samples/smtp.pcap",
        "--rules",
        "rules/spam_filter.rules",
        "--output-pcap",
        out_pcap.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = common::parse_events(&out.stdout);
    let alerts: Vec<&Event> = events.iter().filter(|e| e.event == "alert").collect();
    assert_eq!(alerts.len(), 1, "{events:?}");
    assert_eq!(alerts[0].raw["description"], "forbidden mail domain");
    assert_eq!(alerts[0].raw["severity"], "low");
    assert_eq!(alerts[0].raw["rule"], "forbidden_domain");
    // Nothing of the flow after the MAIL command.
    let mail = events
        .iter()
        .position(|e| e.event == "command" && e.fields["command"] == "MAIL")
        .expect("MAIL command");
    assert!(
        events[mail + 1..].iter().all(|e| e.event == "alert"),
        "{events:?}"
    );

    let ours = common::pcap_records(&std::fs::read(&out_pcap).expect("output pcap"));
    let haka = common::pcap_records(
        &std::fs::read(reference("smtp_spam_filter-ref.pcap")).expect("reference pcap"),
    );
    assert_eq!(ours.len(), haka.len(), "packet count");
    for (i, (a, b)) in ours.iter().zip(&haka).enumerate() {
        assert_eq!(a, b, "packet {} differs", i + 1);
    }
}

#[test]
fn the_mail_content_dump_matches_hakas_and_extraction_writes_the_mail() {
    let reference_text =
        std::fs::read_to_string(reference("smtp_mail_content-ref.txt")).expect("reference file");
    let start = reference_text.find("== Mail Content ==").expect("marker");
    let end = reference_text
        .find("== End Mail Content ==")
        .expect("marker")
        + "== End Mail Content ==".len();
    let expected_dump = &reference_text[start..end];

    let out = protoc(&[
        "pcap",
        "samples/smtp.pcap",
        "--rules",
        "rules/mail_content.rules",
        "--format",
        "text",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(expected_dump),
        "expected\n{expected_dump}\nin\n{text}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = protoc(&[
        "pcap",
        "samples/smtp.pcap",
        "--rules",
        "rules/mail_content.rules",
        "--extract-dir",
        dir.path().to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("extract dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mail: &[u8] = b"BLA BLA BLA ...\r\nMORE BLA BLA BLA ...";
    assert_eq!(std::fs::read(&files[0]).expect("extracted file"), mail);
    let events = common::parse_events(&out.stdout);
    let extract = events
        .iter()
        .find(|e| e.event == "extract")
        .expect("an extract record");
    assert_eq!(extract.fields["size"], mail.len());
    assert_eq!(
        extract.fields["path"]
            .as_str()
            .map(std::path::PathBuf::from)
            .as_ref(),
        Some(&files[0])
    );
}
