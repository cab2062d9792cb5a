//! `protoc-rs proxy` with real parts: a real SMTP server (aiosmtpd, recording
//! every MAIL FROM it receives and every message it stores) and real clients
//! (Python smtplib, swaks), all on loopback. A clean multi-MB mail arrives
//! byte-exact; a mail from suspicious.org raises "forbidden mail domain" and
//! the server never sees its MAIL FROM; an untouched session is
//! byte-identical both ways; idle sessions time out; SIGTERM drains, then
//! closes, and prints the stats.

mod common;
#[path = "live/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::live::{protoc_bounded, MailServer};
use common::sha256_hex;
use harness::{mail_of_size, smtplib_send, swaks_send, Proxy};

const SPAM_RULES: &str = "rules/spam_filter.rules";

fn events_named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[test]
fn a_clean_multi_megabyte_mail_arrives_byte_exact() {
    let server = MailServer::start(&["--keep-content"]);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("relayed.pcap");
    let proxy = Proxy::start(
        &server.addr(),
        &[
            "--spec",
            "smtp",
            "--rules",
            SPAM_RULES,
            "--output-pcap",
            pcap.to_str().unwrap(),
        ],
    );
    let mail = mail_of_size(3 * 1024 * 1024, "three megabytes");
    let message = dir.path().join("mail.eml");
    std::fs::write(&message, &mail).unwrap();

    let (code, output) = smtplib_send(
        &proxy.addr(),
        "alice@example.org",
        "bob@example.com",
        &message,
    );
    assert_eq!(code, Some(0), "smtplib through the proxy: {output}");
    let run = proxy.stop();

    let stored = server.mails();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].mail_from, "alice@example.org");
    assert_eq!(stored[0].sha256, sha256_hex(&mail));
    assert!(
        stored[0].content() == mail,
        "the stored mail differs from the one sent"
    );

    // The rules saw the whole mail, unstuffed, in many chunks (streamed, not
    // held whole): everything but the last CRLF, which belongs to the end of data.
    let events = run.events();
    let contents = events_named(&events, "mail_content");
    assert_eq!(contents.len(), 1);
    assert_eq!(
        contents[0]["fields"]["size"].as_u64(),
        Some(mail.len() as u64 - 2)
    );
    assert!(
        contents[0]["fields"]["chunks"].as_u64().unwrap_or(0) > 10,
        "{}",
        contents[0]
    );
    assert!(events_named(&events, "alert").is_empty());
    assert_eq!(run.stat("completed"), 1.0, "{}", run.stderr);
    assert_eq!(run.stat("dropped"), 0.0);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);

    // The relayed-traffic capture reads back with the same events.
    let replay = protoc_bounded(&[
        "pcap",
        "--format",
        "json",
        "--port",
        &format!("smtp={}", server.port),
        pcap.to_str().unwrap(),
    ]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let replayed: Vec<serde_json::Value> = String::from_utf8_lossy(&replay.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names = |events: &[serde_json::Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["event"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(&replayed), names(&events));
    // Fields match too, except how many chunks the mail came in (that
    // depends on the segmentation).
    let fields = |events: &[serde_json::Value]| -> Vec<serde_json::Value> {
        events
            .iter()
            .map(|e| {
                let mut fields = e["fields"].clone();
                if let Some(object) = fields.as_object_mut() {
                    object.remove("chunks");
                }
                fields
            })
            .collect()
    };
    assert_eq!(fields(&replayed), fields(&events));
}

#[test]
fn swaks_through_the_proxy_stores_what_swaks_stores_directly() {
    let server = MailServer::start(&["--keep-content"]);
    let proxy = Proxy::start(&server.addr(), &["--spec", "smtp", "--rules", SPAM_RULES]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.eml");
    std::fs::write(&data, mail_of_size(1024 * 1024, "one megabyte by swaks")).unwrap();

    let (direct, output) = swaks_send(
        &server.addr(),
        "carol@example.org",
        "bob@example.com",
        &data,
    );
    assert_eq!(direct, Some(0), "swaks to the server: {output}");
    let (proxied, output) =
        swaks_send(&proxy.addr(), "carol@example.org", "bob@example.com", &data);
    assert_eq!(proxied, Some(0), "swaks through the proxy: {output}");
    let run = proxy.stop();

    let stored = server.mails();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored[0].content().len() > 1024 * 1024);
    assert!(
        stored[0].content() == stored[1].content(),
        "the proxied mail differs from the direct one"
    );
    assert_eq!(run.stat("completed"), 1.0, "{}", run.stderr);
}

#[test]
fn a_mail_from_suspicious_org_never_reaches_the_server() {
    let server = MailServer::start(&[]);
    let proxy = Proxy::start(&server.addr(), &["--spec", "smtp", "--rules", SPAM_RULES]);
    let dir = tempfile::tempdir().unwrap();
    let message = dir.path().join("spam.eml");
    std::fs::write(&message, mail_of_size(4096, "buy now")).unwrap();

    let (code, output) = smtplib_send(
        &proxy.addr(),
        "spammer@suspicious.org",
        "bob@example.com",
        &message,
    );
    assert_eq!(code, Some(3), "smtplib should be disconnected: {output}");
    let (code, output) = swaks_send(
        &proxy.addr(),
        "other@suspicious.org",
        "bob@example.com",
        &message,
    );
    assert_ne!(code, Some(0), "swaks should fail: {output}");
    assert!(
        output.contains("MAIL FROM:<other@suspicious.org>"),
        "{output}"
    );
    // The proxy goes on serving: a clean mail still passes.
    let (code, output) = smtplib_send(
        &proxy.addr(),
        "alice@example.org",
        "bob@example.com",
        &message,
    );
    assert_eq!(code, Some(0), "{output}");
    let run = proxy.stop();

    let seen = server.commands();
    assert!(!seen.contains("suspicious.org"), "the server saw: {seen}");
    assert!(
        seen.contains("MAIL alice@example.org"),
        "the server saw: {seen}"
    );
    let stored = server.mails();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].mail_from, "alice@example.org");

    let events = run.events();
    let alerts = events_named(&events, "alert");
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for alert in alerts {
        assert_eq!(alert["description"], "forbidden mail domain");
        assert_eq!(alert["rule"], "forbidden_domain");
    }
    assert_eq!(run.stat("dropped"), 2.0, "{}", run.stderr);
    assert_eq!(run.stat("rule drops"), 2.0);
    assert_eq!(run.stat("completed"), 1.0);
}

/// One SMTP session, line by line: (from the client?, bytes).
fn scripted_session() -> Vec<(bool, Vec<u8>)> {
    let mut body = Vec::new();
    for i in 0..3000u32 {
        body.extend_from_slice(format!("line {i} with 8-bit bytes ").as_bytes());
        body.extend_from_slice(&[0xc3, 0xa9, 0xff, b'\t']);
        body.extend_from_slice(if i % 11 == 0 { b"\n" } else { b"\r\n" });
        if i % 13 == 0 {
            body.extend_from_slice(b"..stuffed\r\n");
        }
    }
    body.extend_from_slice(b"\r\n.\r\n");
    let lines: Vec<(bool, &[u8])> = vec![
        (false, b"220 mx.test ESMTP ready\r\n"),
        (true, b"ehlo client.test\r\n"),
        (
            false,
            b"250-mx.test\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 HELP\r\n",
        ),
        (true, b"NOOP\r\n"),
        (false, b"250 OK\r\n"),
        (true, b"HELP mail\n"),
        (false, b"214 read the RFC\r\n"),
        (true, b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\n"),
        (false, b"250 OK\r\n"),
        (true, b"RCPT TO:<b@example.com>\r\n"),
        (false, b"250 OK\r\n"),
        (true, b"DATA\r\n"),
        (false, b"354 go ahead\r\n"),
        (true, &body),
        (false, b"250 queued\r\n"),
        (true, b"QUIT\r\n"),
        (false, b"221 bye\r\n"),
    ];
    lines.into_iter().map(|(c, b)| (c, b.to_vec())).collect()
}

/// Plays one side of `script` on `stream`: writes its own turns, reads the
/// other side's; returns everything it read. Ends by closing its side and
/// reading to EOF.
fn play(mut stream: TcpStream, script: &[(bool, Vec<u8>)], client: bool) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = Vec::new();
    for (from_client, bytes) in script {
        if *from_client == client {
            // Odd-sized writes, to cut messages anywhere.
            for piece in bytes.chunks(977) {
                stream.write_all(piece).unwrap();
            }
        } else {
            let mut buf = vec![0; bytes.len()];
            stream.read_exact(&mut buf).unwrap();
            received.extend_from_slice(&buf);
        }
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream.read_to_end(&mut received).unwrap();
    received
}

#[test]
fn an_untouched_session_is_byte_identical_both_ways() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let proxy = Proxy::start(&upstream, &["--spec", "smtp", "--rules", SPAM_RULES]);
    let script = scripted_session();
    let server_script = script.clone();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        play(stream, &server_script, false)
    });
    let at_client = play(TcpStream::connect(proxy.addr).unwrap(), &script, true);
    let at_server = server.join().unwrap();
    let run = proxy.stop();

    let sent = |from_client: bool| -> Vec<u8> {
        script
            .iter()
            .filter(|(c, _)| *c == from_client)
            .flat_map(|(_, b)| b.clone())
            .collect()
    };
    assert!(
        at_server == sent(true),
        "the server did not get the client's bytes as sent"
    );
    assert!(
        at_client == sent(false),
        "the client did not get the server's bytes as sent"
    );
    // It was inspected, not bypassed: every command and reply is an event.
    let events = run.events();
    assert_eq!(events_named(&events, "command").len(), 7);
    assert_eq!(events_named(&events, "response").len(), 9);
    assert_eq!(events_named(&events, "mail_content").len(), 1);
    assert_eq!(run.stat("completed"), 1.0, "{}", run.stderr);
    assert_eq!(run.stat("finished then relayed"), 1.0);
}

#[test]
fn an_idle_session_is_closed_after_the_idle_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let proxy = Proxy::start(&upstream, &["--spec", "smtp", "--idle-timeout", "0.5"]);
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"220 hello\r\n").unwrap();
        let mut rest = Vec::new();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.read_to_end(&mut rest);
        rest
    });
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"220 hello\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    assert_eq!(
        server.join().unwrap(),
        b"",
        "the server got EOF and nothing else"
    );
    let run = proxy.stop();
    assert_eq!(run.stat("timed out"), 1.0, "{}", run.stderr);
}

#[test]
fn sigterm_drains_then_closes_open_sessions_and_prints_the_stats() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let proxy = Proxy::start(&upstream, &["--spec", "smtp", "--drain-timeout", "1"]);
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"220 hello\r\n").unwrap();
        let mut rest = Vec::new();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let _ = stream.read_to_end(&mut rest);
    });
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut greeting = [0u8; 11];
    client.read_exact(&mut greeting).unwrap();
    let started = Instant::now();
    proxy.request_shutdown();
    // While the open session drains, nobody new is accepted.
    thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(proxy.addr).is_err(),
        "the proxy still accepts"
    );
    let run = proxy.wait();
    let took = started.elapsed();
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(
        took >= Duration::from_millis(900),
        "stopped after {took:?}: no drain"
    );
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    server.join().unwrap();
    assert!(
        run.stderr.contains("shutting down; 1 session(s) open"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stat("closed at shutdown"), 1.0, "{}", run.stderr);
}

#[test]
fn an_unreachable_upstream_closes_the_client_and_is_counted() {
    // A port nothing listens on: bind, note it, close.
    let upstream = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let proxy = Proxy::start(&upstream, &["--spec", "smtp"]);
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got);
    assert!(got.is_empty());
    let run = proxy.stop();
    assert_eq!(run.stat("upstream failures"), 1.0, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach upstream"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_spec_comes_from_the_ports_or_the_proxy_refuses_to_start() {
    let run =
        |args: &[&str]| protoc_bounded(&[&["proxy", "--listen", "127.0.0.1:0"], args].concat());
    let refused = run(&["--upstream", "127.0.0.1:9"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("no spec for port 9"), "{message}");
    assert!(message.contains("--port NAME=9"), "{message}");

    let unknown = run(&["--upstream", "127.0.0.1:9", "--spec", "nosuch"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no spec named `nosuch`"));

    // `--port smtp=PORT` names the spec of the upstream port: it starts.
    let proxy = Proxy::start("127.0.0.1:9", &["--port", "smtp=9"]);
    let run = proxy.stop();
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("through spec smtp"), "{}", run.stderr);
    assert_eq!(run.stat("sessions"), 0.0);
}

#[test]
fn a_second_signal_closes_open_sessions_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    let proxy = Proxy::start(&upstream, &["--spec", "smtp", "--drain-timeout", "60"]);
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"220 hello\r\n").unwrap();
        let mut rest = Vec::new();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let _ = stream.read_to_end(&mut rest);
    });
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    let mut greeting = [0u8; 11];
    client.read_exact(&mut greeting).unwrap();
    let started = Instant::now();
    proxy.request_shutdown();
    thread::sleep(Duration::from_millis(300));
    let run = proxy.stop();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the second signal did not cut the drain short"
    );
    assert_eq!(run.stat("closed at shutdown"), 1.0, "{}", run.stderr);
    server.join().unwrap();
}
