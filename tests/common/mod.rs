//! Helpers shared by the end-to-end tests: run the built binary, read its
//! JSON events, find the shared reference data, compare pcap records, hash.
//! The live tests' processes are in `live`, tshark as an oracle in `tshark`.
#![allow(dead_code)]

pub mod live;
pub mod tshark;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run the binary from there).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of Haka's reference outputs, in `../shared/reference/haka/`.
pub fn reference(name: &str) -> PathBuf {
    repo().join("../shared/reference/haka").join(name)
}

/// A capture of the real-world corpus, in `../shared/corpus/`.
pub fn corpus(relative: &str) -> PathBuf {
    repo().join("../shared/corpus").join(relative)
}

/// Every capture of Zeek's test suite under `../shared/corpus/zeek/Traces/`,
/// sub-folders included, sorted.
pub fn zeek_traces() -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, into);
            } else {
                into.push(path);
            }
        }
    }
    let mut traces = Vec::new();
    walk(&corpus("zeek/Traces"), &mut traces);
    traces.sort();
    traces
}

/// Runs `protoc-rs ARGS` from the repository root.
pub fn protoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("protoc-rs runs")
}

/// One JSON event line, with the contract's fields pulled out.
#[derive(Debug, Clone)]
pub struct Event {
    pub ts: f64,
    pub proto: String,
    pub event: String,
    pub src_ip: String,
    pub src_port: u64,
    pub dest_ip: String,
    pub dest_port: u64,
    pub dir: String,
    pub flow: u64,
    pub fields: serde_json::Value,
    pub raw: serde_json::Value,
}

/// Parses JSON lines; panics with the line if one is not a valid event.
pub fn parse_events(stdout: &[u8]) -> Vec<Event> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let raw: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let s = |k: &str| {
                raw[k]
                    .as_str()
                    .unwrap_or_else(|| panic!("no string `{k}` in {line}"))
                    .to_string()
            };
            let n = |k: &str| {
                raw[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no number `{k}` in {line}"))
            };
            Event {
                ts: raw["ts"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("no ts in {line}")),
                proto: s("proto"),
                event: s("event"),
                src_ip: s("src_ip"),
                src_port: n("src_port"),
                dest_ip: s("dest_ip"),
                dest_port: n("dest_port"),
                dir: s("dir"),
                flow: n("flow"),
                fields: raw
                    .get("fields")
                    .cloned()
                    .unwrap_or(serde_json::Value::Null),
                raw,
            }
        })
        .collect()
}

/// Runs `protoc-rs ARGS --format json`, asserts success, returns the events.
pub fn run_json(args: &[&str]) -> Vec<Event> {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--format", "json"]);
    let out = protoc(&all);
    assert!(
        out.status.success(),
        "protoc-rs {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_events(&out.stdout)
}

/// The packet records of a classic little-endian microsecond pcap: (sec, usec, orig_len, data).
pub fn pcap_records(file: &[u8]) -> Vec<(u32, u32, u32, Vec<u8>)> {
    assert!(
        file.len() >= 24 && file[..4] == [0xd4, 0xc3, 0xb2, 0xa1],
        "not a LE microsecond pcap"
    );
    let u32_at = |o: usize| u32::from_le_bytes([file[o], file[o + 1], file[o + 2], file[o + 3]]);
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= file.len() {
        let caplen = u32_at(at + 8) as usize;
        let data = file[at + 16..at + 16 + caplen].to_vec();
        records.push((u32_at(at), u32_at(at + 4), u32_at(at + 12), data));
        at += 16 + caplen;
    }
    assert_eq!(at, file.len(), "trailing bytes after the last record");
    records
}

/// The alerts among `events`: (rule, description), in order.
pub fn alerts(events: &[Event]) -> Vec<(&str, &str)> {
    events
        .iter()
        .filter(|e| e.event == "alert")
        .map(|e| {
            (
                e.raw["rule"].as_str().unwrap_or_default(),
                e.raw["description"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

/// The SHA-256 of `bytes` in lower-case hex, as events and the mail server write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
