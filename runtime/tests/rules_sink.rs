//! The rules engine over a fake event stream: conditions, alerts, drops,
//! logs, and extraction to files, text dumps and JSON summaries.

use std::path::{Path, PathBuf};

use protoc_runtime::dissector::{Direction, EventSink, FlowInfo, Severity, Verdict};
use protoc_runtime::expr::{BinOp, Expr, ExprKind, Func, Template, TemplatePart, Type};
use protoc_runtime::output::{Format, OutputSink};
use protoc_runtime::parse::{SinkDigests, StreamBook};
use protoc_runtime::rules::{file_suffix, Rule, RuleAction, RuleOrigin, RuleSet, RulesSink};
use protoc_runtime::value::Value;
use sha2::{Digest, Sha256};

// ---- building rules by hand (the compiler's checker does this from text) ----

fn var(name: &str) -> Expr {
    Expr {
        kind: ExprKind::Var(name.into()),
        ty: Type::Str,
    }
}

fn lit(s: &str) -> Expr {
    Expr {
        kind: ExprKind::Lit(Value::Str(s.into())),
        ty: Type::Str,
    }
}

fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        ty: Type::Bool,
    }
}

fn lower(e: Expr) -> Expr {
    Expr {
        kind: ExprKind::Call(Func::Lower, vec![e]),
        ty: Type::Str,
    }
}

fn matches(e: Expr, pattern: &str) -> Expr {
    Expr {
        kind: ExprKind::Match(Box::new(e), pattern.into()),
        ty: Type::Bool,
    }
}

fn text(s: &str) -> Template {
    Template {
        parts: vec![TemplatePart::Text(s.into())],
    }
}

fn alert(description: Template) -> RuleAction {
    RuleAction::Alert {
        severity: Severity::Low,
        description,
    }
}

fn rule(name: &str, event: &str, when: Option<Expr>, actions: Vec<RuleAction>) -> Rule {
    Rule {
        name: name.into(),
        spec: "smtp".into(),
        event: event.into(),
        when,
        actions,
        origin: RuleOrigin {
            file: PathBuf::from("test.rules"),
            line: 1,
        },
    }
}

/// The seed's spam filter: a MAIL command from suspicious.org.
fn spam_filter() -> Rule {
    let is_mail = bin(BinOp::Eq, lower(var("command")), lit("mail"));
    let suspicious = matches(var("parameter"), r"@suspicious\.org");
    rule(
        "forbidden_domain",
        "command",
        Some(bin(BinOp::And, is_mail, suspicious)),
        vec![alert(text("forbidden mail domain")), RuleAction::Drop],
    )
}

fn extract(label: &str) -> Rule {
    rule(
        "dump_mail",
        "mail_content",
        None,
        vec![RuleAction::Extract {
            label: label.into(),
        }],
    )
}

// ---- a fake event stream ----

fn flow(id: u64) -> FlowInfo {
    FlowInfo {
        id,
        src: format!("192.168.10.10:{}", 41000 + id).parse().unwrap(),
        dst: "192.168.20.1:25".parse().unwrap(),
    }
}

fn command(cmd: &str, parameter: &str) -> Value {
    Value::Record(vec![
        ("command".into(), Value::Str(cmd.into())),
        ("parameter".into(), Value::Str(parameter.into())),
    ])
}

fn sink(rules: Vec<Rule>, format: Format) -> RulesSink<Vec<u8>> {
    let mut sink = RulesSink::new(RuleSet { rules }, OutputSink::new(Vec::new(), format));
    for id in 1..=3 {
        sink.set_proto(id, "smtp");
    }
    sink
}

fn json_lines(sink: RulesSink<Vec<u8>>) -> Vec<serde_json::Value> {
    let out = String::from_utf8(sink.into_output().into_inner()).unwrap();
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn send_stream(sink: &mut RulesSink<Vec<u8>>, id: u64, chunks: &[&[u8]]) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        verdicts.push(sink.stream(&flow(id), Direction::Up, 2.0, "mail_content", chunk, last));
    }
    verdicts
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

// ---- conditions, alerts, drops ----

#[test]
fn spam_filter_alerts_and_drops_only_the_suspicious_mail() {
    let mut sink = sink(vec![spam_filter()], Format::Json);
    let helo = sink.event(
        &flow(1),
        Direction::Up,
        1.0,
        "command",
        &command("HELO", "x"),
    );
    let good = sink.event(
        &flow(1),
        Direction::Up,
        1.1,
        "command",
        &command("MAIL", "FROM:<a@example.org>"),
    );
    let bad = sink.event(
        &flow(1),
        Direction::Up,
        1.2,
        "command",
        &command("mail", "FROM:<a@suspicious.org>"),
    );
    assert_eq!(helo, Verdict::Continue);
    assert_eq!(good, Verdict::Continue);
    assert_eq!(bad, Verdict::Drop);
    let counts = sink.counts();
    assert_eq!((counts.alerts, counts.drops), (1, 1));
    assert_eq!(sink.output().counts().alerts, 1);

    let lines = json_lines(sink);
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["command", "command", "command", "alert"]);
    let alert = &lines[3];
    assert_eq!(alert["rule"], "forbidden_domain");
    assert_eq!(alert["severity"], "low");
    assert_eq!(alert["description"], "forbidden mail domain");
    assert_eq!(alert["proto"], "smtp");
    assert_eq!(alert["src_port"], 41001);
}

#[test]
fn drop_runs_the_rest_of_its_rule_but_no_later_rule() {
    let first = rule(
        "first",
        "command",
        None,
        vec![RuleAction::Drop, alert(text("after drop"))],
    );
    let second = rule("second", "command", None, vec![alert(text("later rule"))]);
    let mut sink = sink(vec![first, second], Format::Json);
    let verdict = sink.event(&flow(1), Direction::Up, 1.0, "command", &command("X", ""));
    assert_eq!(verdict, Verdict::Drop);
    let lines = json_lines(sink);
    let descriptions: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["description"].as_str())
        .collect();
    assert_eq!(descriptions, ["after drop"]);
}

#[test]
fn rules_run_in_file_order_and_interpolate_fields() {
    let described = |name: &str, prefix: &str| {
        rule(
            name,
            "command",
            None,
            vec![alert(Template {
                parts: vec![
                    TemplatePart::Text(prefix.into()),
                    TemplatePart::Expr(var("parameter")),
                ],
            })],
        )
    };
    let mut sink = sink(
        vec![described("b", "1:"), described("a", "2:")],
        Format::Json,
    );
    sink.event(
        &flow(1),
        Direction::Up,
        1.0,
        "command",
        &command("MAIL", "FROM:<x@y>"),
    );
    let lines = json_lines(sink);
    assert_eq!(lines[1]["rule"], "b");
    assert_eq!(lines[1]["description"], "1:FROM:<x@y>");
    assert_eq!(lines[2]["rule"], "a");
    assert_eq!(lines[2]["description"], "2:FROM:<x@y>");
}

#[test]
fn rules_only_hook_their_protocol_and_event() {
    let mut sink = sink(vec![spam_filter()], Format::Json);
    sink.set_proto(7, "other");
    let bad = command("MAIL", "FROM:<a@suspicious.org>");
    assert_eq!(
        sink.event(&flow(7), Direction::Up, 1.0, "command", &bad),
        Verdict::Continue
    );
    assert_eq!(
        sink.event(&flow(8), Direction::Up, 1.0, "command", &bad),
        Verdict::Continue,
        "a flow whose protocol is unknown runs no rule"
    );
    assert_eq!(
        sink.event(&flow(1), Direction::Down, 1.0, "response", &bad),
        Verdict::Continue
    );
    assert_eq!(sink.counts().alerts, 0);
}

#[test]
fn a_missing_field_is_null_and_an_invalid_regex_never_matches() {
    let missing = rule(
        "missing",
        "command",
        Some(bin(BinOp::Eq, var("nope"), lit(""))),
        vec![alert(text("missing"))],
    );
    let invalid = rule(
        "invalid",
        "command",
        Some(matches(var("command"), "(")),
        vec![alert(text("invalid"))],
    );
    let negated = rule(
        "negated",
        "command",
        Some(Expr {
            kind: ExprKind::Unary(
                protoc_runtime::expr::UnOp::Not,
                Box::new(matches(var("command"), "(")),
            ),
            ty: Type::Bool,
        }),
        vec![alert(text("negated"))],
    );
    let mut sink = sink(vec![missing, invalid, negated], Format::Json);
    sink.event(&flow(1), Direction::Up, 1.0, "command", &command("(", ""));
    let lines = json_lines(sink);
    let rules: Vec<&str> = lines.iter().filter_map(|l| l["rule"].as_str()).collect();
    assert_eq!(rules, ["negated"]);
}

#[test]
fn log_writes_a_record_naming_the_rule() {
    let logging = rule(
        "trace_commands",
        "command",
        None,
        vec![RuleAction::Log(Template {
            parts: vec![
                TemplatePart::Text("saw ".into()),
                TemplatePart::Expr(var("command")),
            ],
        })],
    );
    let mut sink = sink(vec![logging], Format::Json);
    sink.event(
        &flow(1),
        Direction::Up,
        1.0,
        "command",
        &command("QUIT", ""),
    );
    assert_eq!(sink.counts().logs, 1);
    let lines = json_lines(sink);
    assert_eq!(lines[1]["event"], "log");
    assert_eq!(lines[1]["fields"]["rule"], "trace_commands");
    assert_eq!(lines[1]["fields"]["message"], "saw QUIT");
}

#[test]
fn spec_alerts_parse_errors_and_gaps_pass_through() {
    let mut sink = sink(vec![], Format::Json);
    sink.alert(&flow(1), Direction::Down, 1.0, Severity::High, "bad reply");
    sink.parse_error(&flow(1), Direction::Up, 1.1, "unknown command");
    sink.gap(&flow(1), Direction::Up, 1.2, 42);
    assert_eq!(sink.output().counts().parse_errors, 1);
    let lines = json_lines(sink);
    assert_eq!(lines[0]["description"], "bad reply");
    assert!(lines[0].get("rule").is_none());
    assert_eq!(lines[1]["event"], "parse_error");
    assert_eq!(lines[2]["event"], "gap");
    assert_eq!(lines[2]["fields"]["len"], 42);
}

// ---- extraction ----

#[test]
fn text_output_dumps_the_content_between_label_lines() {
    let mut sink = sink(vec![extract("Mail Content")], Format::Text);
    send_stream(
        &mut sink,
        2,
        &[b"BLA BLA BLA ...\r\n", b"MORE BLA BLA BLA ..."],
    );
    let out = String::from_utf8(sink.into_output().into_inner()).unwrap();
    let dump =
        "== Mail Content ==\nBLA BLA BLA ...\r\nMORE BLA BLA BLA ...\n== End Mail Content ==\n";
    assert!(out.starts_with(dump), "got {out:?}");
    // The output's own stream summary follows the dump, not inside it.
    assert!(out[dump.len()..].starts_with("mail_content: smtp flow 2"));
}

#[test]
fn json_output_without_a_directory_records_size_and_hash_only() {
    let mut sink = sink(vec![extract("mail")], Format::Json);
    send_stream(&mut sink, 1, &[b"hello ", b"world"]);
    assert_eq!(sink.counts().extracted_streams, 1);
    assert_eq!(sink.counts().extracted_bytes, 11);
    let lines = json_lines(sink);
    let record = lines.iter().find(|l| l["event"] == "extract").unwrap();
    assert_eq!(record["fields"]["label"], "mail");
    assert_eq!(record["fields"]["size"], 11);
    assert_eq!(record["fields"]["sha256"], sha256_hex(b"hello world"));
    assert!(record["fields"].get("path").is_none());
    assert_eq!(record["dir"], "up");
    assert_eq!(record["flow"], 1);
}

#[test]
fn streams_go_to_numbered_files_even_with_one_file_open_at_a_time() {
    // Buffered (the default), and written through chunk by chunk.
    for max_buffer in [None, Some(0)] {
        streams_go_to_numbered_files(max_buffer);
    }
}

fn streams_go_to_numbered_files(max_buffer: Option<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("Mail Content")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap()
        .with_max_open_files(1);
    if let Some(max) = max_buffer {
        sink = sink.with_max_extract_buffer(max);
    }
    // Two flows interleaved, chunk by chunk: each write evicts the other file.
    let parts: [(u64, &[u8], bool); 6] = [
        (1, b"one-a ", false),
        (2, b"two-a ", false),
        (1, b"one-b ", false),
        (2, b"two-b", true),
        (1, b"one-c", true),
        (1, b"second mail of flow 1", true),
    ];
    for (id, chunk, last) in parts {
        let verdict = sink.stream(&flow(id), Direction::Up, 3.0, "mail_content", chunk, last);
        assert_eq!(verdict, Verdict::Continue);
    }
    assert_eq!(sink.counts().extracted_streams, 3);
    assert_eq!(sink.counts().extract_errors, 0);

    // In the order the streams end (and their records are written).
    let expected: [(&str, &[u8]); 3] = [
        ("2-1.mail_content", b"two-a two-b"),
        ("1-1.mail_content", b"one-a one-b one-c"),
        ("1-2.mail_content", b"second mail of flow 1"),
    ];
    for (name, content) in expected {
        assert_eq!(read(&dir.path().join(name)), content, "{name}");
    }
    let lines = json_lines(sink);
    let records: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "extract").collect();
    assert_eq!(records.len(), 3);
    for (record, (name, content)) in records.iter().zip(expected.iter().copied()) {
        let fields = &record["fields"];
        assert_eq!(fields["label"], "Mail Content");
        assert_eq!(
            fields["path"],
            dir.path().join(name).display().to_string().as_str()
        );
        assert_eq!(fields["size"], content.len());
        assert_eq!(fields["sha256"], sha256_hex(content));
        assert!(fields.get("complete").is_none());
    }
}

#[test]
fn large_interleaved_streams_are_written_whole_through_buffers_and_evictions() {
    let dir = tempfile::tempdir().unwrap();
    // Three streams of 300 KB in 10 KB chunks, interleaved, one file open at a
    // time and a buffer cap smaller than their buffers together: files are
    // flushed when full, when over the cap, evicted and reopened.
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap()
        .with_max_open_files(1)
        .with_max_extract_buffer(100_000);
    let content = |id: u64| -> Vec<u8> {
        (0..300_000u32)
            .map(|i| (i.wrapping_mul(31) as u64 + id * 7) as u8)
            .collect()
    };
    let contents: Vec<Vec<u8>> = (1..=3).map(content).collect();
    for offset in (0..300_000).step_by(10_000) {
        for (i, bytes) in contents.iter().enumerate() {
            let chunk = &bytes[offset..offset + 10_000];
            let last = offset + 10_000 == bytes.len();
            let flow_id = i as u64 + 1;
            sink.stream(
                &flow(flow_id),
                Direction::Up,
                1.0,
                "mail_content",
                chunk,
                last,
            );
        }
    }
    assert_eq!(sink.counts().extract_errors, 0);
    for (i, bytes) in contents.iter().enumerate() {
        let path = dir.path().join(format!("{}-1.mail", i + 1));
        assert!(read(&path) == *bytes, "{} differs", path.display());
    }
    let lines = json_lines(sink);
    let records: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "extract").collect();
    assert_eq!(records.len(), 3);
    for (record, bytes) in records.iter().zip(&contents) {
        assert_eq!(record["fields"]["sha256"], sha256_hex(bytes));
        assert_eq!(record["fields"]["size"], bytes.len());
    }
}

#[test]
fn the_extract_record_follows_the_end_of_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap();
    send_stream(&mut sink, 1, &[b"a", b"b", b""]);
    let lines = json_lines(sink);
    let kinds: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["extract", "mail_content"]);
}

#[test]
fn an_empty_stream_gives_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap();
    send_stream(&mut sink, 3, &[b""]);
    assert_eq!(read(&dir.path().join("3-1.mail")), b"");
    let lines = json_lines(sink);
    assert_eq!(lines[0]["fields"]["size"], 0);
    assert_eq!(lines[0]["fields"]["sha256"], sha256_hex(b""));
}

#[test]
fn a_flow_forgotten_mid_stream_ends_its_extraction_as_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap();
    sink.stream(
        &flow(1),
        Direction::Up,
        1.0,
        "mail_content",
        b"partial",
        false,
    );
    sink.forget(1);
    assert_eq!(read(&dir.path().join("1-1.mail")), b"partial");
    let lines = json_lines(sink);
    let record = lines.iter().find(|l| l["event"] == "extract").unwrap();
    assert_eq!(record["fields"]["complete"], false);
    assert_eq!(record["fields"]["size"], 7);
}

#[test]
fn the_end_of_the_run_closes_extractions_left_open() {
    let mut sink = sink(vec![extract("Mail Content")], Format::Text);
    sink.stream(&flow(1), Direction::Up, 1.0, "mail_content", b"cut", false);
    let out = String::from_utf8(sink.into_output().into_inner()).unwrap();
    assert_eq!(
        out,
        "== Mail Content ==\ncut\n== End (incomplete) Mail Content ==\n"
    );
}

#[test]
fn a_rule_on_a_stream_runs_once_per_stream() {
    let alerting = rule(
        "big_mail",
        "mail_content",
        None,
        vec![alert(text("mail")), RuleAction::Drop],
    );
    let mut sink = sink(vec![alerting], Format::Json);
    let first = send_stream(&mut sink, 1, &[b"a", b"b", b"c"]);
    assert_eq!(first, [Verdict::Drop, Verdict::Continue, Verdict::Continue]);
    let second = send_stream(&mut sink, 1, &[b"d"]);
    assert_eq!(second, [Verdict::Drop]);
    assert_eq!(sink.counts().alerts, 2);
}

#[test]
fn a_large_stream_is_written_whole_and_hashed_incrementally() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap();
    let chunk: Vec<u8> = (0..65_536u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut hasher = Sha256::new();
    let chunks = 64; // 4 MiB
    for i in 0..chunks {
        hasher.update(&chunk);
        sink.stream(
            &flow(1),
            Direction::Up,
            1.0,
            "mail_content",
            &chunk,
            i + 1 == chunks,
        );
    }
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = dir.path().join("1-1.mail");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * 65_536);
    assert_eq!(sha256_hex(&read(&file)), expected);
    let lines = json_lines(sink);
    assert_eq!(lines[0]["fields"]["sha256"], expected);
}

#[test]
fn an_unwritable_directory_is_reported_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("gone");
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(&target)
        .unwrap();
    std::fs::remove_dir(&target).unwrap();
    send_stream(&mut sink, 1, &[b"abc", b"def"]);
    assert_eq!(sink.counts().extract_errors, 1);
    let lines = json_lines(sink);
    let record = &lines[0]["fields"];
    assert!(record["error"].as_str().unwrap().contains("cannot open"));
    assert_eq!(record["size"], 6, "size and hash still cover the stream");
    assert_eq!(record["sha256"], sha256_hex(b"abcdef"));
}

#[test]
fn labels_become_safe_file_suffixes() {
    assert_eq!(file_suffix("mail"), "mail");
    assert_eq!(file_suffix("Mail Content"), "mail_content");
    assert_eq!(file_suffix("../../etc/passwd"), "______etc_passwd");
    assert_eq!(file_suffix("a-b_c"), "a-b_c");
    assert_eq!(file_suffix("  "), "data");
}

/// What a parser does with each chunk: the sink first, then the flow's
/// stream book, which may take the sink's digest.
fn stream_through_book(
    sink: &mut RulesSink<Vec<u8>>,
    book: &mut StreamBook,
    id: u64,
    event: &'static str,
    chunks: &[&[u8]],
) {
    let info = flow(id);
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        sink.stream(&info, Direction::Up, 2.0, event, chunk, last);
        let digests = SinkDigests {
            flow: &info,
            sink: &mut *sink,
        };
        book.record_with(event, Direction::Up, chunk, last, Some(digests));
    }
}

#[test]
fn an_extracted_stream_is_hashed_once_and_its_digest_is_the_dissectors_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(vec![extract("mail")], Format::Json)
        .with_extract_dir(dir.path())
        .unwrap();
    let mut book = StreamBook::new(&["mail_content", "other"]);

    // Extracted: the sink says it hashes the stream, and hands the digest on.
    let info = flow(1);
    sink.stream(&info, Direction::Up, 2.0, "mail_content", b"hello ", false);
    assert!(sink.hashes_stream(&info, Direction::Up, "mail_content"));
    book.record_with(
        "mail_content",
        Direction::Up,
        b"hello ",
        false,
        Some(SinkDigests {
            flow: &info,
            sink: &mut sink,
        }),
    );
    stream_through_book(&mut sink, &mut book, 1, "mail_content", &[b"world"]);
    assert_eq!(book.get("mail_content").sha256, sha256_hex(b"hello world"));
    // Taken once.
    assert_eq!(
        sink.stream_digest(&info, Direction::Up, "mail_content"),
        None
    );

    // A stream of one chunk: extraction started and ended in one call.
    stream_through_book(&mut sink, &mut book, 2, "mail_content", &[b"one piece"]);
    assert_eq!(book.get("mail_content").sha256, sha256_hex(b"one piece"));

    // Not extracted (no rule on the event): the book hashes it itself.
    let info3 = flow(3);
    sink.stream(&info3, Direction::Up, 2.0, "other", b"abc", false);
    assert!(!sink.hashes_stream(&info3, Direction::Up, "other"));
    let mut book3 = StreamBook::new(&["other"]);
    book3.record_with(
        "other",
        Direction::Up,
        b"abc",
        false,
        Some(SinkDigests {
            flow: &info3,
            sink: &mut sink,
        }),
    );
    stream_through_book(&mut sink, &mut book3, 3, "other", &[b"def"]);
    assert_eq!(book3.get("other").sha256, sha256_hex(b"abcdef"));

    // The extract records carry the same digests, and the files the bytes.
    let lines = json_lines(sink);
    let records: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "extract").collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["fields"]["sha256"], sha256_hex(b"hello world"));
    assert_eq!(records[1]["fields"]["sha256"], sha256_hex(b"one piece"));
    assert_eq!(read(&dir.path().join("1-1.mail")), b"hello world");
}
