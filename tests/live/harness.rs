//! Real parts for the proxy's live tests: an aiosmtpd server recording what
//! it sees (`smtp_server.py`), the `protoc-rs proxy` binary, and real clients
//! (Python smtplib through `send_mail.py`, swaks). Everything listens on
//! 127.0.0.1 with ports picked by the kernel; every wait is bounded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    repo().join("tests/live").join(name)
}

/// Reads `stream` line by line in a thread: lines go to the channel as they
/// come, and the thread returns everything at EOF.
fn collect_lines<R: Read + Send + 'static>(
    stream: R,
) -> (mpsc::Receiver<String>, JoinHandle<String>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (rx, handle)
}

/// Waits for a line starting with `prefix`; returns its rest.
fn wait_for_line(lines: &mpsc::Receiver<String>, prefix: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_string();
                }
            }
            Err(_) => panic!("{what} did not print `{prefix}` in time"),
        }
    }
}

/// Sends SIGTERM to the child `pid` (by its id, nothing else).
fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Waits up to `limit` for `child` to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A real SMTP server (aiosmtpd) storing what it receives in a temp directory.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub store: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server; `keep_content` stores each message's bytes.
    pub fn start(keep_content: bool) -> SmtpServer {
        let store = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("python3");
        command
            .arg(script("smtp_server.py"))
            .arg("--store")
            .arg(store.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if keep_content {
            command.arg("--keep-content");
        }
        let mut child = command.spawn().expect(
            "python3 runs tests/live/smtp_server.py (needs aiosmtpd: pip install aiosmtpd)",
        );
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, _) = collect_lines(stdout);
        let port = wait_for_line(
            &lines,
            "listening on ",
            "the aiosmtpd server (is aiosmtpd installed?)",
        )
        .parse()
        .expect("a port number");
        SmtpServer { child, port, store }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every `MAIL <address>` / `RCPT <address>` line the server received.
    pub fn commands(&self) -> String {
        std::fs::read_to_string(self.store.path().join("commands.log")).unwrap_or_default()
    }

    /// One JSON object per accepted message.
    pub fn envelopes(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.store.path().join("envelopes.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("an envelope record"))
            .collect()
    }

    /// The stored content of message `n` (1-based; needs `keep_content`).
    pub fn content(&self, n: u64) -> Vec<u8> {
        std::fs::read(self.store.path().join(format!("{n}.eml"))).expect("stored content")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        terminate(self.child.id());
        if wait_exit(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A running `protoc-rs proxy`.
pub struct Proxy {
    child: Child,
    pub addr: SocketAddr,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

/// What a proxy run printed, once it has stopped.
pub struct ProxyRun {
    pub status: Option<ExitStatus>,
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
    /// Starts `protoc-rs proxy` in front of `upstream`, with JSON output and `extra` arguments.
    pub fn start(upstream: &str, extra: &[&str]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(["--format", "json"])
            .args(extra)
            .current_dir(repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("protoc-rs runs");
        let (_, stdout) = collect_lines(child.stdout.take().expect("piped stdout"));
        let (lines, stderr) = collect_lines(child.stderr.take().expect("piped stderr"));
        let listening = wait_for_line(&lines, "proxy: listening on ", "the proxy");
        let addr = listening
            .split(',')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in `{listening}`"));
        Proxy {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Sends SIGTERM (a shutdown request) without waiting.
    pub fn request_shutdown(&self) {
        terminate(self.child.id());
    }

    /// SIGTERM, then waits for the exit and collects the output.
    pub fn stop(self) -> ProxyRun {
        self.request_shutdown();
        self.wait()
    }

    /// Waits for the exit (after a shutdown request) and collects the output.
    pub fn wait(mut self) -> ProxyRun {
        let status = wait_exit(&mut self.child, Duration::from_secs(30));
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        ProxyRun {
            status,
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

/// Runs a command with a time limit; returns (exit code, stdout + stderr).
pub fn run_bounded(command: &mut Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let (_, out) = collect_lines(child.stdout.take().expect("piped stdout"));
    let (_, err) = collect_lines(child.stderr.take().expect("piped stderr"));
    let status = wait_exit(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = out.join().unwrap_or_default() + &err.join().unwrap_or_default();
    (status.and_then(|s| s.code()), text)
}

/// Sends `message` with Python's smtplib; returns (exit code, output):
/// 0 sent, 3 disconnected by the other side.
pub fn smtplib_send(server: &str, sender: &str, to: &str, message: &Path) -> (Option<i32>, String) {
    run_bounded(
        Command::new("python3")
            .arg(script("send_mail.py"))
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
        Duration::from_secs(120),
    )
}

/// Sends the file `data` as the DATA of a mail with swaks.
pub fn swaks_send(server: &str, sender: &str, to: &str, data: &Path) -> (Option<i32>, String) {
    run_bounded(
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
        Duration::from_secs(120),
    )
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

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
