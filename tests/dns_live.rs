//! Real DNS on loopback, end to end, checked against Wireshark's own DNS
//! dissector (`tshark`), an oracle that owes nothing to protoc-rs.
//!
//! The test starts `dnsmasq` (in the foreground) on a free port of
//! 127.0.0.1 with A, AAAA, CNAME, MX, TXT (one and two strings), SRV and PTR
//! records and a local zone that answers NXDOMAIN, records the loopback with
//! `tcpdump`, asks every question with `dig` over UDP and again over TCP
//! (`+tcp`: the two-byte length prefix), stops the capture and runs
//! `protoc-rs pcap` with the built-in `specs/dns.proto` and the example rules
//! `rules/dns_watchlist.rules` over it. Every message must be there, in
//! order, with tshark's id, QR bit, question name and type, rcode, answer
//! count, answer types, A and AAAA addresses, CNAME, MX, TXT and PTR data.
//! Every child process is owned by a guard (`tests/common/live.rs`) that
//! kills it when the test ends; every wait is bounded. `.ci/run` installs
//! dnsmasq and dig (`dnsmasq-base`, `bind9-dnsutils`): a missing tool fails
//! the test.

mod common;

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

use common::live::{free_port, protoc_bounded, run_bounded, Guard, Tcpdump};
use common::tshark::{tshark_fields, values};
use common::{alerts, parse_events, Event};

/// The questions dig asks: (name, type), over UDP then over TCP.
const QUESTIONS: &[(&str, &str)] = &[
    ("a.example.test", "A"),
    ("a.example.test", "AAAA"),
    ("alias.example.test", "A"),
    ("example.test", "MX"),
    ("example.test", "TXT"),
    ("multi.example.test", "TXT"),
    ("_sip._tcp.example.test", "SRV"),
    ("nothere.example.test", "A"),
    ("c2.suspicious.org", "A"),
    ("1.2.0.192.in-addr.arpa", "PTR"),
];

#[test]
fn dig_against_dnsmasq_reads_as_wireshark_reads_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let server = Dnsmasq::start(work.path());
    let capture = Tcpdump::start(server.port, work.path());
    for (name, qtype) in QUESTIONS {
        for transport in ["+notcp", "+tcp"] {
            dig(server.port, name, qtype, transport);
        }
    }
    let pcap = capture.stop().pcap;

    let port = server.port.to_string();
    let out = protoc_bounded(&[
        "pcap",
        pcap.to_str().expect("utf-8 path"),
        "--port",
        &format!("dns={port}"),
        "--rules",
        "rules/dns_watchlist.rules",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "protoc-rs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = parse_events(&out.stdout);
    let messages: Vec<Message> = events
        .iter()
        .filter(|e| e.event == "query" || e.event == "answer")
        .map(Message::ours)
        .collect();
    let theirs = wireshark_messages(&pcap, server.port);

    // Two messages (query, answer) per question and transport.
    assert_eq!(
        theirs.len(),
        QUESTIONS.len() * 4,
        "tshark saw every message"
    );
    assert_eq!(messages.len(), theirs.len(), "one event per message");
    for (i, (ours, theirs)) in messages.iter().zip(&theirs).enumerate() {
        assert_eq!(ours, theirs, "message {i}");
    }

    // Both transports were read: half the flows are UDP, half TCP, and each
    // question was answered over both.
    let tcp_answers = messages.iter().filter(|m| m.qr).count();
    assert_eq!(tcp_answers, QUESTIONS.len() * 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" 0 parse errors"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The kinds of answer the issue lists, spelled as the spec writes them.
    let data_of = |name: &str, qtype: u64| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.event == "answer" && question(e) == (name.to_string(), qtype))
            .flat_map(|e| answers(e).into_iter().map(|(_, _, data)| data))
            .collect()
    };
    assert_eq!(data_of("a.example.test", 1), ["192.0.2.1", "192.0.2.1"]);
    assert_eq!(
        data_of("a.example.test", 28),
        ["2001:db8::1", "2001:db8::1"]
    );
    assert_eq!(
        data_of("example.test", 15),
        ["10 mail.example.test", "10 mail.example.test"]
    );
    assert_eq!(data_of("example.test", 16), ["v=spf1 -all", "v=spf1 -all"]);
    assert_eq!(
        data_of("alias.example.test", 1),
        ["a.example.test", "192.0.2.1", "a.example.test", "192.0.2.1"]
    );
    let srv = data_of("_sip._tcp.example.test", 33);
    assert_eq!(srv.len(), 2);
    assert!(
        srv.iter()
            .all(|d| d.starts_with("000000001") && d.len() % 2 == 0),
        "SRV data in hex: {srv:?}"
    );
    assert_eq!(
        data_of("1.2.0.192.in-addr.arpa", 12),
        ["a.example.test", "a.example.test"]
    );

    // The example rules: one alert per query for the watched domain, one
    // per NXDOMAIN answer (nothere.example.test and c2.suspicious.org).
    let alerts = alerts(&events);
    let count = |rule: &str| alerts.iter().filter(|(r, _)| *r == rule).count();
    assert_eq!(count("watched_domain"), 2, "{alerts:?}");
    assert!(alerts.contains(&(
        "watched_domain",
        "query for a watched domain: c2.suspicious.org"
    )));
    assert_eq!(count("no_such_name"), 4, "{alerts:?}");
}

/// One DNS message as both sides can tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    id: u64,
    qr: bool,
    name: String,
    qtype: u64,
    rcode: u64,
    /// The answer section: each record's type.
    answer_types: Vec<u64>,
    /// A, AAAA, CNAME, MX ("PREF NAME"), TXT and PTR data of the answers.
    addresses_v4: Vec<String>,
    addresses_v6: Vec<String>,
    names: Vec<String>,
    mx: Vec<String>,
    txt: Vec<String>,
}

impl Message {
    fn ours(event: &Event) -> Message {
        let (name, qtype) = question(event);
        let answers = answers(event);
        let data = |t: u64| -> Vec<String> {
            answers
                .iter()
                .filter(|(ty, _, _)| *ty == t)
                .map(|(_, _, d)| d.clone())
                .collect()
        };
        let mut names = data(5);
        names.extend(data(12));
        Message {
            id: event.fields["id"].as_u64().expect("id"),
            qr: event.event == "answer",
            name,
            qtype,
            rcode: event.fields["rcode"].as_u64().expect("rcode"),
            answer_types: answers.iter().map(|(t, _, _)| *t).collect(),
            addresses_v4: data(1),
            addresses_v6: data(28),
            names,
            mx: data(15),
            txt: data(16),
        }
    }
}

/// The first question of an event: (name, type).
fn question(event: &Event) -> (String, u64) {
    let q = &event.fields["questions"][0];
    (
        q["name"].as_str().unwrap_or_default().to_string(),
        q["type"].as_u64().unwrap_or_default(),
    )
}

/// The answers of an event: (type, ttl, data).
fn answers(event: &Event) -> Vec<(u64, u64, String)> {
    event.fields["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| {
            (
                a["type"].as_u64().expect("type"),
                a["ttl"].as_u64().expect("ttl"),
                a["data"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every DNS message of the capture as tshark reads it, in capture order.
///
/// tshark lists the records of every section together (answers first, in
/// order): the answer section is the first `dns.count.answers` of
/// `dns.resp.type`, and its A, AAAA, CNAME, MX, TXT and PTR values are the
/// first ones of their fields.
fn wireshark_messages(capture: &Path, port: u16) -> Vec<Message> {
    let rows = tshark_fields(
        capture,
        &[
            format!("udp.port=={port},dns"),
            format!("tcp.port=={port},dns"),
        ],
        "dns",
        [
            "dns.id",
            "dns.flags.response",
            "dns.qry.name",
            "dns.qry.type",
            "dns.flags.rcode",
            "dns.count.answers",
            "dns.resp.type",
            "dns.a",
            "dns.aaaa",
            "dns.cname",
            "dns.ptr.domain_name",
            "dns.mx.preference",
            "dns.mx.mail_exchange",
            "dns.txt",
        ],
    );
    let list =
        |cell: &str| -> Vec<String> { values(cell).into_iter().map(str::to_string).collect() };
    let number = |field: &str| -> u64 {
        match field.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).expect("hex number"),
            None if field.is_empty() => 0,
            None => field.parse().expect("number"),
        }
    };
    let mut messages = Vec::new();
    for [id, response, name, qtype, rcode, count, types, a, aaaa, cname, ptr, pref, mx, txt] in
        &rows
    {
        let count = usize::try_from(number(count)).expect("count");
        let types: Vec<u64> = values(types).into_iter().map(number).collect();
        let answer_types: Vec<u64> = types.iter().take(count).copied().collect();
        let answers_of = |t: u64| answer_types.iter().filter(|&&x| x == t).count();
        let first = |values: Vec<String>, t: u64| -> Vec<String> {
            values.into_iter().take(answers_of(t)).collect()
        };
        let mut names = first(list(cname), 5);
        names.extend(first(list(ptr), 12));
        let mx: Vec<String> = list(pref)
            .iter()
            .zip(list(mx))
            .map(|(p, x)| format!("{p} {x}"))
            .take(answers_of(15))
            .collect();
        // TXT strings are listed one by one; the spec joins a record's strings.
        let txt = if answers_of(16) > 0 {
            vec![list(txt).concat()]
        } else {
            Vec::new()
        };
        messages.push(Message {
            id: number(id),
            qr: response == "1" || response == "True",
            name: name.clone(),
            qtype: number(qtype),
            rcode: number(rcode),
            addresses_v4: first(list(a), 1),
            addresses_v6: first(list(aaaa), 28),
            answer_types,
            names,
            mx,
            txt,
        });
    }
    messages
}

/// `dig` asks one question over UDP (`+notcp`) or TCP (`+tcp`).
fn dig(port: u16, name: &str, qtype: &str, transport: &str) {
    let out = run_bounded(
        "dig",
        Command::new("dig")
            .args(["@127.0.0.1", "-p", &port.to_string(), name, qtype])
            .args([transport, "+tries=1", "+time=5"]),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("status:"),
        "dig {name} {qtype} {transport}: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// dnsmasq in the foreground on a free port of 127.0.0.1 (UDP and TCP),
/// answering from its command line only.
struct Dnsmasq {
    port: u16,
    _process: Guard,
}

impl Dnsmasq {
    /// Starts dnsmasq on a free port; another one if it exits (the port was
    /// taken in between), five times at most.
    fn start(work: &Path) -> Dnsmasq {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let log = work.join(format!("dnsmasq-{attempt}.log"));
            let mut process = Guard::spawn(
                "dnsmasq",
                Command::new("dnsmasq")
                    .args([
                        "--no-daemon",
                        "--bind-interfaces",
                        "--listen-address=127.0.0.1",
                    ])
                    .arg(format!("--port={port}"))
                    .args(["--no-resolv", "--no-hosts", "--no-poll", "--user=root"])
                    .args(["--local=/example.test/", "--local=/suspicious.org/"])
                    .arg("--host-record=a.example.test,192.0.2.1,2001:db8::1")
                    .arg("--host-record=mail.example.test,192.0.2.25")
                    .arg("--cname=alias.example.test,a.example.test")
                    .arg("--mx-host=example.test,mail.example.test,10")
                    .arg("--txt-record=example.test,v=spf1 -all")
                    .arg("--txt-record=multi.example.test,first,second")
                    .arg("--srv-host=_sip._tcp.example.test,a.example.test,5060")
                    .arg("--ptr-record=1.2.0.192.in-addr.arpa,a.example.test")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(File::create(&log).expect("dnsmasq log")),
            );
            // dnsmasq says it started once its sockets are bound, or exits.
            match process.wait_for_line(&log, "started, version") {
                Ok(_) => {
                    return Dnsmasq {
                        port,
                        _process: process,
                    }
                }
                Err(status) => assert!(
                    attempt < 5,
                    "dnsmasq exited ({status}) five times: {}",
                    fs::read_to_string(&log).unwrap_or_default()
                ),
            }
        }
    }
}
