//! End-to-end tests of `protoc-rs streams` and `protoc-rs synth`: the built
//! binary on the reference capture, on synth captures, on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

const REFERENCE: &str = "/work/shared/reference/haka/smtp.pcap";

fn protoc_rs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn transcript(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(name)
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect()
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn json_lines_describe_the_reference_flows() {
    let flows = json_lines(&stdout(&protoc_rs(&["streams", REFERENCE, "--json"])));
    assert_eq!(flows.len(), 2);
    let smtp = &flows[1];
    assert_eq!(smtp["flow"], 2);
    assert_eq!(smtp["src_ip"], "192.168.10.10");
    assert_eq!(smtp["src_port"], 41155);
    assert_eq!(smtp["dest_ip"], "192.168.20.1");
    assert_eq!(smtp["dest_port"], 25);
    assert_eq!(smtp["up_bytes"], 118);
    assert_eq!(smtp["down_bytes"], 202);
    assert_eq!(smtp["gaps"], 0);
    // The hashes are those of the bytes `--follow --dir` writes.
    for dir in ["up", "down"] {
        let raw = protoc_rs(&["streams", REFERENCE, "--follow", "2", "--dir", dir]);
        assert!(raw.status.success());
        assert_eq!(smtp[format!("{dir}_sha256")], hex_sha256(&raw.stdout));
    }
}

#[test]
fn the_table_has_a_header_and_one_aligned_row_per_flow() {
    let text = stdout(&protoc_rs(&["streams", REFERENCE]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with("FLOW") && lines[0].contains("CLIENT") && lines[0].contains("DOWN")
    );
    assert!(lines[2].contains("192.168.10.10:41155") && lines[2].contains("192.168.20.1:25"));
    let columns: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&columns[4..6], &["118", "202"]);
    // Aligned: the server column starts at the same place on every line.
    let at = |line: &str, what: &str| line.find(what).unwrap();
    assert_eq!(at(lines[0], "SERVER"), at(lines[1], "192.168.20.1:80"));
}

#[test]
fn follow_writes_both_directions_with_headers() {
    let output = protoc_rs(&["streams", REFERENCE, "--follow", "2"]);
    let text = stdout(&output);
    assert!(
        text.starts_with("==> up (192.168.10.10:41155 -> 192.168.20.1:25, 118 bytes"),
        "{text}"
    );
    assert!(
        text.contains("==> down (192.168.20.1:25 -> 192.168.10.10:41155, 202 bytes"),
        "{text}"
    );
    assert!(text.contains("HELO some_domain\n") && text.contains("221 2.0.0 Bye\r\n"));
    let missing = protoc_rs(&["streams", REFERENCE, "--follow", "9"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no flow 9"));
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(["streams", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(REFERENCE).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    let from_stdin = stdout(&output);
    assert_eq!(
        from_stdin,
        stdout(&protoc_rs(&["streams", REFERENCE, "--json"]))
    );
}

#[test]
fn synth_then_streams_gives_back_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("s.pcap");
    let pcap = pcap.to_str().unwrap();
    let t = transcript("smtp-haka-reference.txt");
    let args = [
        "synth",
        t.to_str().unwrap(),
        "-o",
        pcap,
        "--split",
        "random",
        "--segment-size",
        "4",
    ];
    let extra = [
        "--reorder",
        "--duplicate",
        "--seed",
        "7",
        "--sessions",
        "3",
        "--ipv6",
    ];
    let made = protoc_rs(&[&args[..], &extra[..]].concat());
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let flows = json_lines(&stdout(&protoc_rs(&["streams", pcap, "--json"])));
    let reference = json_lines(&stdout(&protoc_rs(&["streams", REFERENCE, "--json"])));
    assert_eq!(flows.len(), 3);
    for (i, flow) in flows.iter().enumerate() {
        assert_eq!(flow["src_ip"], "fd00::1");
        assert_eq!(flow["src_port"], 40000 + i);
        // Same reassembled bytes as the reference capture's SMTP flow.
        assert_eq!(flow["up_sha256"], reference[1]["up_sha256"]);
        assert_eq!(flow["down_sha256"], reference[1]["down_sha256"]);
    }
    // Deterministic: the same command writes the same file.
    let again = dir.path().join("again.pcap");
    let mut args2: Vec<&str> = [&args[..], &extra[..]].concat();
    args2[3] = again.to_str().unwrap();
    assert!(protoc_rs(&args2).status.success());
    assert_eq!(std::fs::read(pcap).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn synth_reports_transcript_errors_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "C: HELO\nZ: what\n").unwrap();
    let out = dir.path().join("o.pcap");
    let output = protoc_rs(&["synth", bad.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn bad_captures_give_a_clear_error_or_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let noise = dir.path().join("noise.pcap");
    std::fs::write(
        &noise,
        (0..2000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let output = protoc_rs(&["streams", noise.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is not a capture file") && stderr.contains("pcapng"),
        "{stderr}"
    );

    let cut = dir.path().join("cut.pcap");
    let bytes = std::fs::read(REFERENCE).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let output = protoc_rs(&["streams", cut.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("truncated") && stderr.contains("at byte"),
        "{stderr}"
    );
    assert_eq!(
        json_lines(&String::from_utf8_lossy(&output.stdout)).len(),
        2
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("many.pcap");
    let t = transcript("smtp-appendix.txt");
    let made = protoc_rs(&[
        "synth",
        t.to_str().unwrap(),
        "-o",
        pcap.to_str().unwrap(),
        "--sessions",
        "3000",
    ]);
    assert!(made.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(["streams", pcap.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let _ = std::io::Read::read(&mut out, &mut first).unwrap();
    drop(out);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
