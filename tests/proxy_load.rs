//! Load test of `protoc-rs proxy`, bounded in count and time, loopback only:
//! 2,000 real SMTP sessions, 200 at once, against a real server (aiosmtpd),
//! first directly (the baseline), then through the proxy with the spam
//! filter. Every session must complete and every mail arrive. Prints the
//! figures that `docs/PROXY.md` quotes: sessions/s, latency percentiles
//! (direct, proxied, added) and the proxy's peak RSS.

mod common;
#[path = "live/harness.rs"]
mod harness;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::live::{run_within, MailServer};
use common::repo;
use harness::{code_and_text, Proxy};

const SESSIONS: u64 = 2000;
const CONCURRENCY: u64 = 200;

/// Runs the load client against `target`; its JSON result.
fn load(target: &str, tag: &str) -> serde_json::Value {
    let (code, output) = code_and_text(run_within(
        "load.py",
        Command::new("python3")
            .arg(repo().join("tests/live/load.py"))
            .args(["--target", target, "--tag", tag, "--deadline", "240"])
            .args(["--sessions", &SESSIONS.to_string()])
            .args(["--concurrency", &CONCURRENCY.to_string()]),
        Duration::from_secs(300),
    ));
    let line = output
        .lines()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("no result from load.py ({code:?}):\n{output}"));
    let result: serde_json::Value = serde_json::from_str(line).expect("JSON result");
    assert_eq!(code, Some(0), "load.py against {target}: {result}");
    result
}

#[test]
fn two_thousand_sessions_two_hundred_at_once_all_delivered() {
    let server = MailServer::start(&[]);
    let proxy = Proxy::start(
        &server.addr(),
        &["--spec", "smtp", "--rules", "rules/spam_filter.rules"],
    );
    let direct = load(&server.addr(), "direct");
    let proxied = load(&proxy.addr(), "proxy");
    let run = proxy.stop();

    for result in [&direct, &proxied] {
        assert_eq!(result["completed"].as_u64(), Some(SESSIONS), "{result}");
        assert_eq!(result["failed"].as_u64(), Some(0), "{result}");
    }
    let delivered: HashSet<String> = server
        .mails()
        .into_iter()
        .map(|mail| mail.mail_from)
        .filter(|from| from.starts_with("load-proxy-"))
        .collect();
    assert_eq!(
        delivered.len() as u64,
        SESSIONS,
        "distinct mails delivered through the proxy"
    );
    assert_eq!(run.stat("sessions"), SESSIONS as f64, "{}", run.stderr);
    assert_eq!(run.stat("completed"), SESSIONS as f64, "{}", run.stderr);
    assert_eq!(run.stat("errors"), 0.0);
    assert_eq!(run.stat("dropped"), 0.0);

    let figure = |result: &serde_json::Value, key: &str| result[key].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "load: {SESSIONS} sessions, {CONCURRENCY} at once\n  \
         direct:  {:.0} sessions/s, session p50 {:.1} ms p99 {:.1} ms, command RTT p50 {:.2} ms p99 {:.2} ms\n  \
         proxied: {:.0} sessions/s, session p50 {:.1} ms p99 {:.1} ms, command RTT p50 {:.2} ms p99 {:.2} ms\n  \
         added p99 command RTT {:.2} ms; proxy peak RSS {:.1} MB, peak {} concurrent sessions",
        figure(&direct, "sessions_per_s"),
        figure(&direct, "session_ms_p50"),
        figure(&direct, "session_ms_p99"),
        figure(&direct, "rtt_ms_p50"),
        figure(&direct, "rtt_ms_p99"),
        figure(&proxied, "sessions_per_s"),
        figure(&proxied, "session_ms_p50"),
        figure(&proxied, "session_ms_p99"),
        figure(&proxied, "rtt_ms_p50"),
        figure(&proxied, "rtt_ms_p99"),
        figure(&proxied, "rtt_ms_p99") - figure(&direct, "rtt_ms_p99"),
        run.peak_rss_mb(),
        run.stats().split("peak ").nth(1).and_then(|s| s.split(' ').next()).unwrap_or("?"),
    );
    // Memory stays bounded: far below what holding every session's traffic would take.
    assert!(run.peak_rss_mb() < 200.0, "{}", run.stats());
}
