//! Real HTTP on loopback, end to end, checked against Wireshark's own HTTP
//! dissector (`tshark`) and against the files the server served.
//!
//! The test starts Python's `http.server` (HTTP/1.1, so connections stay
//! open) on a free port of 127.0.0.1 over a directory with a small page and
//! a 1 MiB binary file, records the loopback with `tcpdump`, and sends with
//! `curl`: three requests on one kept-alive connection (the page, the binary
//! file, a missing page: 404), a HEAD, a POST with a chunked body, a form
//! POST, a path traversal and an admin page (`--path-as-is`); and, from a raw
//! socket, three pipelined requests in one segment. It then runs `protoc-rs
//! pcap` with the built-in `specs/http.proto`, the example rules
//! `rules/http_suspicious.rules` and an extraction rule for bodies. Every
//! request's method and URI and every response's code must be tshark's, in
//! order, per connection — except on the pipelined connection, where tshark
//! takes the answer to HEAD for one with a 1 MiB body and misses the 404
//! after it: there the oracle is what the client received (the status lines
//! of the answers, in order). The extracted 1 MiB body must be the served file,
//! byte for byte; the chunked upload must come out de-chunked; the rules
//! must fire where they should. `.ci/run` installs curl, tcpdump and tshark;
//! a missing tool fails the test.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::live::{free_port, protoc_bounded, run_bounded, Guard, Tcpdump};
use common::tshark::{tshark_fields, values};
use common::{alerts, parse_events, Event};

/// A transcript item of one connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Request { method: String, uri: String },
    Response { code: u64 },
}

#[test]
fn curl_and_pipelined_requests_read_as_wireshark_reads_them() {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("www");
    fs::create_dir(&root).expect("web root");
    let page = b"<html><body>hello</body></html>\n".to_vec();
    fs::write(root.join("index.html"), &page).expect("page");
    let big: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("big.bin"), &big).expect("binary file");

    let port = free_port();
    let server_log = work.path().join("server.log");
    let mut server = Guard::spawn(
        "python3 -m http.server",
        Command::new("python3")
            .args(["-u", "-m", "http.server", &port.to_string()])
            .args([
                "--bind",
                "127.0.0.1",
                "--protocol",
                "HTTP/1.1",
                "--directory",
            ])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(File::create(&server_log).expect("server log"))
            .stderr(Stdio::null()),
    );
    server.expect_line(&server_log, "Serving HTTP");
    let capture = Tcpdump::start(port, work.path());

    let base = format!("http://127.0.0.1:{port}");
    // Keep-alive: one connection, three requests, the last a 404.
    curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        &format!("{base}/index.html"),
        &format!("{base}/big.bin"),
        &format!("{base}/missing.html"),
    ]);
    curl(&["-I", "-o", "/dev/null", &format!("{base}/index.html")]);
    let upload = work.path().join("upload.txt");
    fs::write(&upload, b"chunked upload body").expect("upload");
    curl(&[
        "-o",
        "/dev/null",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", upload.display()),
        &format!("{base}/upload"),
    ]);
    curl(&[
        "-o",
        "/dev/null",
        "--data",
        "a=1&b=2",
        &format!("{base}/form"),
    ]);
    curl(&[
        "-o",
        "/dev/null",
        "--path-as-is",
        &format!("{base}/../../etc/passwd"),
    ]);
    curl(&["-o", "/dev/null", &format!("{base}/admin/")]);
    let pipelined_codes = pipelined(port);
    let pcap = capture.stop().pcap;

    let extract_rules = work.path().join("bodies.rules");
    fs::write(
        &extract_rules,
        "rule bodies on http.body { extract \"body\"; }\n",
    )
    .expect("rules");
    let extract_dir = work.path().join("bodies");
    let out = protoc_bounded(&[
        "pcap",
        pcap.to_str().expect("utf-8"),
        "--port",
        &format!("http={port}"),
        "--rules",
        "rules/http_suspicious.rules",
        "--rules",
        extract_rules.to_str().expect("utf-8"),
        "--extract-dir",
        extract_dir.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "protoc-rs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" 0 parse errors"), "{stderr}");
    let events = parse_events(&out.stdout);

    let ours = our_transcripts(&events);
    let mut theirs = wireshark_transcripts(&pcap, port);
    assert_eq!(ours.len(), 7, "seven connections: {ours:?}");
    assert_eq!(theirs.len(), 7, "seven connections: {theirs:?}");
    let (&last, _) = ours.iter().last().expect("a connection");
    // The pipelined connection: tshark's requests, the client's answers.
    let client_saw: Vec<Item> = theirs
        .remove(&last)
        .unwrap_or_default()
        .into_iter()
        .filter(|item| matches!(item, Item::Request { .. }))
        .chain(pipelined_codes.iter().map(|&code| Item::Response { code }))
        .collect();
    theirs.insert(last, client_saw);
    assert_eq!(ours, theirs);

    // Keep-alive: the first connection had three requests and three answers.
    let first = ours.values().next().expect("a connection");
    assert_eq!(
        first,
        &vec![
            request("GET", "/index.html"),
            Item::Response { code: 200 },
            request("GET", "/big.bin"),
            Item::Response { code: 200 },
            request("GET", "/missing.html"),
            Item::Response { code: 404 },
        ]
    );
    // Pipelining: three requests before any answer, answered in order; the
    // HEAD's answer has no body even though it names a 1 MiB file.
    let pipelined = ours.values().last().expect("a connection");
    assert_eq!(
        pipelined,
        &vec![
            request("GET", "/index.html"),
            request("HEAD", "/big.bin"),
            request("GET", "/nothere"),
            Item::Response { code: 200 },
            Item::Response { code: 200 },
            Item::Response { code: 404 },
        ]
    );

    // The bodies, as extracted by the rule: the 1 MiB file byte for byte
    // (once, from the GET; the HEAD's answer has none), the page, and the
    // chunked upload without its chunk framing.
    let bodies: Vec<Vec<u8>> = fs::read_dir(&extract_dir)
        .expect("extract dir")
        .map(|e| fs::read(e.expect("entry").path()).expect("extracted body"))
        .collect();
    assert_eq!(bodies.iter().filter(|b| **b == big).count(), 1);
    assert_eq!(
        bodies.iter().filter(|b| **b == page).count(),
        2,
        "two GETs of the page; its HEAD has no body"
    );
    assert_eq!(
        bodies
            .iter()
            .filter(|b| b.as_slice() == b"chunked upload body")
            .count(),
        1
    );

    // The example rules.
    let alerts = alerts(&events);
    assert!(
        alerts.contains(&("path_traversal", "path traversal: GET /../../etc/passwd")),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&("admin_page", "administration page requested: /admin/")),
        "{alerts:?}"
    );
    assert_eq!(
        alerts.iter().filter(|(r, _)| *r == "server_error").count(),
        2,
        "the two POSTs get 501: {alerts:?}"
    );
}

fn request(method: &str, uri: &str) -> Item {
    Item::Request {
        method: method.into(),
        uri: uri.into(),
    }
}

fn curl(args: &[&str]) {
    let out = run_bounded(
        "curl",
        Command::new("curl")
            .args(["-s", "--max-time", "20"])
            .args(args),
    );
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three requests in one write, then the answers until the server closes
/// (its 404 closes the connection: it is last); returns the answers' codes,
/// read from their status lines.
fn pipelined(port: u16) -> Vec<u64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
        .write_all(
            b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n\
              HEAD /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n\
              GET /nothere HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .expect("send");
    let mut answers = Vec::new();
    stream.read_to_end(&mut answers).expect("answers");
    let text = String::from_utf8_lossy(&answers);
    let codes: Vec<u64> = text
        .split('\n')
        .filter_map(|line| line.strip_prefix("HTTP/1.1 "))
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect();
    assert_eq!(codes.len(), 3, "{text}");
    codes
}

/// Our requests and responses per connection (by client port), in order.
fn our_transcripts(events: &[Event]) -> BTreeMap<u64, Vec<Item>> {
    let mut flows: BTreeMap<u64, Vec<Item>> = BTreeMap::new();
    for e in events {
        let item = match e.event.as_str() {
            "request" => request(
                e.fields["method"].as_str().unwrap_or_default(),
                e.fields["uri"].as_str().unwrap_or_default(),
            ),
            "response" => Item::Response {
                code: e.fields["code"].as_u64().expect("code"),
            },
            _ => continue,
        };
        flows.entry(e.src_port).or_default().push(item);
    }
    flows
}

/// tshark's requests and responses per connection, in order. A frame may
/// carry several pipelined requests (their fields come aggregated).
fn wireshark_transcripts(capture: &Path, port: u16) -> BTreeMap<u64, Vec<Item>> {
    let rows = tshark_fields(
        capture,
        &[format!("tcp.port=={port},http")],
        "http",
        [
            "tcp.srcport",
            "tcp.dstport",
            "http.request.method",
            "http.request.uri",
            "http.response.code",
        ],
    );
    let mut flows: BTreeMap<u64, Vec<Item>> = BTreeMap::new();
    for [src, dst, methods, uris, codes] in &rows {
        let src: u64 = src.parse().expect("port");
        let dst: u64 = dst.parse().expect("port");
        let client = if src == u64::from(port) { dst } else { src };
        let items = flows.entry(client).or_default();
        for (method, uri) in values(methods).into_iter().zip(values(uris)) {
            items.push(request(method, uri));
        }
        for code in values(codes) {
            items.push(Item::Response {
                code: code.parse().expect("code"),
            });
        }
    }
    flows
}
