//! The proxy's live tests' own parts: the `protoc-rs proxy` binary
//! ([`Proxy`], and what a run printed, [`ProxyRun`]), real clients (Python
//! smtplib through `send_mail.py`, swaks) and mails of a given size. The
//! processes, the SMTP server and every bounded wait are `tests/common/live.rs`'s;
//! a test that includes this file also declares `mod common;`. Everything
//! listens on 127.0.0.1 with ports picked by the kernel.
#![allow(dead_code)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use crate::common::live::{run_within, Guard};
use crate::common::repo;

/// A client may take this long to send a mail (a few MB, through the proxy).
const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// A running `protoc-rs proxy`, its output going to files of its own.
pub struct Proxy {
    pub addr: SocketAddr,
    process: Guard,
    output: tempfile::TempDir,
}

/// What a proxy run printed, once it has stopped.
pub struct ProxyRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ProxyRun {
    /// The `stats:` line.
    pub fn stats(&self) -> &str {
        self.stderr
            .lines()
            .find(|line| line.starts_with("stats:"))
            .unwrap_or_else(|| panic!("no stats line in:\n{}", self.stderr))
    }

    /// The number before `label` in the stats line (`3 dropped` → 3).
    pub fn stat(&self, label: &str) -> f64 {
        let stats = self.stats().trim_start_matches("stats:");
        stats
            .split([',', '(', ')'])
            .filter_map(|part| part.trim().split_once(' '))
            .find(|(_, rest)| *rest == label)
            .and_then(|(number, _)| number.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in: {stats}"))
    }

    /// The proxy's peak resident set size, from `peak RSS N MB`.
    pub fn peak_rss_mb(&self) -> f64 {
        let stats = self.stats();
        stats
            .split("peak RSS ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS in: {stats}"))
    }

    /// The JSON events printed on stdout.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl Proxy {
    /// Starts `protoc-rs proxy` in front of `upstream`, with JSON output and
    /// `extra` arguments, and waits until it listens.
    pub fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let output = tempfile::tempdir().expect("tempdir");
        let stdout = output.path().join("stdout");
        let stderr = output.path().join("stderr");
        let mut process = Guard::spawn(
            "protoc-rs proxy",
            Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
                .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
                .args(["--format", "json"])
                .args(extra)
                .current_dir(repo())
                .stdin(Stdio::null())
                .stdout(File::create(&stdout).expect("proxy stdout"))
                .stderr(File::create(&stderr).expect("proxy stderr")),
        );
        let line = process.expect_line(&stderr, "proxy: listening on ");
        let addr = line
            .split("proxy: listening on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in `{line}`"));
        Proxy {
            addr,
            process,
            output,
        }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Sends SIGTERM (a shutdown request) without waiting.
    pub fn request_shutdown(&self) {
        self.process.signal("TERM");
    }

    /// SIGTERM, then waits for the exit and collects the output.
    pub fn stop(self) -> ProxyRun {
        self.request_shutdown();
        self.wait()
    }

    /// Waits for the exit (after a shutdown request), at most 30 s, and
    /// collects the output.
    pub fn wait(mut self) -> ProxyRun {
        let status = self.process.wait_within(Duration::from_secs(30));
        let read =
            |name: &str| std::fs::read_to_string(self.output.path().join(name)).unwrap_or_default();
        ProxyRun {
            status,
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }
}

/// A client's exit code and everything it printed (stdout, then stderr).
pub fn code_and_text(output: Output) -> (Option<i32>, String) {
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

/// Sends `message` with Python's smtplib; returns (exit code, output):
/// 0 sent, 3 disconnected by the other side.
pub fn smtplib_send(server: &str, sender: &str, to: &str, message: &Path) -> (Option<i32>, String) {
    let output = run_within(
        "send_mail.py",
        Command::new("python3")
            .arg(repo().join("tests/live/send_mail.py"))
            .args([
                "--server",
                server,
                "--sender",
                sender,
                "--to",
                to,
                "--message",
            ])
            .arg(message),
        CLIENT_LIMIT,
    );
    code_and_text(output)
}

/// Sends the file `data` as the DATA of a mail with swaks.
pub fn swaks_send(server: &str, sender: &str, to: &str, data: &Path) -> (Option<i32>, String) {
    let output = run_within(
        "swaks",
        Command::new("swaks")
            .args([
                "--server",
                server,
                "--from",
                sender,
                "--to",
                to,
                "--helo",
                "client.example",
            ])
            .arg("--data")
            .arg(data)
            .args(["--timeout", "60"]),
        CLIENT_LIMIT,
    );
    code_and_text(output)
}

/// A mail of about `size` bytes with CRLF line endings: headers, then lines
/// of varied length, some starting with dots (dot-stuffed on the wire).
pub fn mail_of_size(size: usize, subject: &str) -> Vec<u8> {
    let mut mail =
        format!("From: sender@example.org\r\nTo: bob@example.com\r\nSubject: {subject}\r\n\r\n")
            .into_bytes();
    let mut n = 0u64;
    while mail.len() < size {
        n += 1;
        match n % 7 {
            0 => mail.extend_from_slice(b".a line starting with a dot\r\n"),
            3 => mail.extend_from_slice(b"..two dots\r\n"),
            5 => mail.extend_from_slice(b"\r\n"),
            _ => {
                let width = (n * 37 % 180) as usize;
                let line: String = (0..width)
                    .map(|i| char::from(b'a' + ((n as usize + i) % 26) as u8))
                    .collect();
                mail.extend_from_slice(format!("{n:08} {line}\r\n").as_bytes());
            }
        }
    }
    mail
}
