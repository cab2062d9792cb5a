//! The live tests' process plumbing, one copy for all of them
//! (`live_smtp.rs`, `smtp_real.rs`, `dns_live.rs`, `http_live.rs`, and the
//! proxy's through `tests/live/harness.rs`): child processes that are always
//! killed and reaped ([`Guard`]), commands run to their end
//! ([`run_bounded`]), a port free for TCP and UDP ([`free_port`]), `tcpdump`
//! on one loopback port ([`Tcpdump`]), and the aiosmtpd server of
//! `tests/live/smtp_server.py` with the mails it stores ([`MailServer`]).
//!
//! Invariants: every wait is bounded (by [`STEP_LIMIT`] unless a caller
//! names a longer limit) and panics with what the process said when it runs
//! out; no child outlives its guard; signals go to our own children, by id.
//! `.ci/run` installs the tools: a missing one fails the test, never skips it.

use std::fs::{self, File};
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::repo;

/// The longest any one step (a client, a tool, a start-up) may take.
pub const STEP_LIMIT: Duration = Duration::from_secs(60);
/// How often a bounded wait looks again.
pub const POLL: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------
// Processes, bounded

/// A child process that is killed and reaped when the guard is dropped,
/// whichever way the test ends.
pub struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    /// Starts `command`; panics if it cannot run (a missing tool).
    pub fn spawn(name: &'static str, command: &mut Command) -> Guard {
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run {name} (is it installed? .ci/run installs it): {e}")
        });
        Guard { name, child }
    }

    /// Sends `signal` (`INT`, `TERM`) to this child, by its id.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to end, at most [`STEP_LIMIT`].
    pub fn wait(&mut self) -> ExitStatus {
        self.wait_within(STEP_LIMIT)
    }

    /// Waits for the process to end; panics if it still runs after `limit`.
    pub fn wait_within(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "{} still runs after {limit:?}",
                self.name
            );
            thread::sleep(POLL);
        }
    }

    /// Waits until the process has written, in `file`, a whole line that
    /// contains `needle`, and returns that line; `Err` with the exit status
    /// if the process ends first. Panics with the file after [`STEP_LIMIT`].
    pub fn wait_for_line(&mut self, file: &Path, needle: &str) -> Result<String, ExitStatus> {
        let started = Instant::now();
        loop {
            // Read before asking whether it ended: what it wrote before it
            // ended is then in the text.
            let exited = self.try_wait();
            let text = fs::read_to_string(file).unwrap_or_default();
            let whole_lines = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
            if let Some(line) = whole_lines.lines().find(|line| line.contains(needle)) {
                return Ok(line.to_string());
            }
            if let Some(status) = exited {
                return Err(status);
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "{} wrote no `{needle}` in {} after {STEP_LIMIT:?}: {text}",
                self.name,
                file.display()
            );
            thread::sleep(POLL);
        }
    }

    /// [`Guard::wait_for_line`] of a process that must not end first.
    pub fn expect_line(&mut self, file: &Path, needle: &str) -> String {
        self.wait_for_line(file, needle).unwrap_or_else(|status| {
            panic!(
                "{} ended ({status}) before it wrote `{needle}` in {}: {}",
                self.name,
                file.display(),
                fs::read_to_string(file).unwrap_or_default()
            )
        })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs a command to its end within [`STEP_LIMIT`], collecting its output.
pub fn run_bounded(name: &'static str, command: &mut Command) -> Output {
    run_within(name, command, STEP_LIMIT)
}

/// Runs a command to its end within `limit`, collecting its output; its
/// stdin is empty. Panics if it still runs after `limit`.
pub fn run_within(name: &'static str, command: &mut Command, limit: Duration) -> Output {
    let mut process = Guard::spawn(
        name,
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(process.child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(process.child.stderr.take().map(|p| Box::new(p) as _));
    let status = process.wait_within(limit);
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `protoc-rs ARGS` from the repository root within [`STEP_LIMIT`].
pub fn protoc_bounded(args: &[&str]) -> Output {
    run_bounded(
        "protoc-rs",
        Command::new(env!("CARGO_BIN_EXE_protoc-rs"))
            .args(args)
            .current_dir(repo()),
    )
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

// ---------------------------------------------------------------------------
// The capture

/// `tcpdump` recording one port of the loopback, TCP and UDP, into
/// `work/live.pcap`.
pub struct Tcpdump {
    pcap: PathBuf,
    stderr: PathBuf,
    process: Guard,
}

/// What [`Tcpdump::stop`] leaves: the capture file and its packet count.
pub struct Recording {
    pub pcap: PathBuf,
    pub packets: u64,
}

impl Tcpdump {
    /// Starts tcpdump and waits until it reads packets.
    pub fn start(port: u16, work: &Path) -> Tcpdump {
        let pcap = work.join("live.pcap");
        let stderr = work.join("tcpdump.stderr");
        let mut process = Guard::spawn(
            "tcpdump",
            Command::new("tcpdump")
                .args(["-i", "lo", "-w"])
                .arg(&pcap)
                // Write each packet as it comes (-U) and get it from the kernel
                // at once (--immediate-mode: otherwise packets wait in a kernel
                // block that SIGINT may discard). -B: a 64 MiB kernel buffer,
                // so a 1 MB mail in 64 KiB loopback segments drops nothing.
                .args(["-U", "--immediate-mode", "-B", "65536"])
                // As root, tcpdump switches to the user `tcpdump` before it
                // opens the file, which may not write in our private tempdir.
                .args(["-Z", "root"])
                .arg(format!("port {port}"))
                .stdout(Stdio::null())
                .stderr(File::create(&stderr).expect("tcpdump stderr")),
        );
        // tcpdump says so once the filter is installed and it reads packets.
        process.expect_line(&stderr, "listening on");
        Tcpdump {
            pcap,
            stderr,
            process,
        }
    }

    /// Stops tcpdump as a user would (SIGINT, so it flushes and says what it
    /// saw), checks that it captured packets and the kernel dropped none.
    pub fn stop(mut self) -> Recording {
        // Let the last FIN/ACK reach the capture.
        thread::sleep(Duration::from_millis(300));
        self.process.signal("INT");
        let exit = self.process.wait();
        let said = fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(exit.success(), "tcpdump: {exit}: {said}");
        let count = |what: &str| -> u64 {
            said.lines()
                .find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no `{what}` in tcpdump's {said}"))
        };
        assert_eq!(count(" packets dropped by kernel"), 0, "{said}");
        let packets = count(" packets captured");
        assert!(packets > 0, "{said}");
        Recording {
            pcap: self.pcap,
            packets,
        }
    }
}

// ---------------------------------------------------------------------------
// The SMTP server

/// `tests/live/smtp_server.py` (aiosmtpd) on 127.0.0.1, storing what it
/// receives in a directory of its own.
pub struct MailServer {
    pub port: u16,
    store: tempfile::TempDir,
    _process: Guard,
}

/// A mail as the server received it.
#[derive(Debug)]
pub struct StoredMail {
    /// 1, 2, ... in order of arrival.
    pub n: u64,
    pub client_port: u16,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub size: u64,
    pub sha256: String,
    /// The content, if the server was started with `--keep-content`.
    pub kept: Option<Vec<u8>>,
}

impl StoredMail {
    /// The content as the server keeps it (needs `--keep-content`).
    pub fn content(&self) -> &[u8] {
        self.kept
            .as_deref()
            .unwrap_or_else(|| panic!("mail {} not kept: no --keep-content", self.n))
    }
}

impl MailServer {
    /// Starts the server with `options` (`--keep-content`, `--extensions
    /// CERT KEY`) and waits until it says `listening on PORT`.
    pub fn start(options: &[&str]) -> MailServer {
        let store = tempfile::tempdir().expect("tempdir");
        let said = store.path().join("server.out");
        let out = File::create(&said).expect("server output");
        let mut process = Guard::spawn(
            "tests/live/smtp_server.py (aiosmtpd: .ci/run installs it)",
            Command::new("python3")
                .arg(repo().join("tests/live/smtp_server.py"))
                .arg("--store")
                .arg(store.path())
                .args(options)
                // The server runs until its stdin closes: the guard holds it.
                .stdin(Stdio::piped())
                .stdout(out.try_clone().expect("server output"))
                .stderr(out),
        );
        let line = process.expect_line(&said, "listening on ");
        let port = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the server's {line:?}"));
        MailServer {
            port,
            store,
            _process: process,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every `MAIL <address>` / `RCPT <address>` line the server received.
    pub fn commands(&self) -> String {
        fs::read_to_string(self.store.path().join("commands.log")).unwrap_or_default()
    }

    /// Every mail stored so far, in order of arrival.
    pub fn mails(&self) -> Vec<StoredMail> {
        let log = fs::read_to_string(self.store.path().join("envelopes.jsonl")).unwrap_or_default();
        // The server appends each line in one write: only a last line
        // without its line end can be partial.
        let whole_lines = log.rsplit_once('\n').map_or("", |(lines, _)| lines);
        whole_lines.lines().map(|line| self.read(line)).collect()
    }

    /// The first `count` mails, in order of arrival, once all are stored.
    pub fn wait_for_mails(&self, count: usize) -> Vec<StoredMail> {
        let started = Instant::now();
        loop {
            let mut mails = self.mails();
            if mails.len() >= count {
                mails.truncate(count);
                return mails;
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "only {} of {count} mails stored: {mails:?}",
                mails.len()
            );
            thread::sleep(POLL);
        }
    }

    /// One line of `envelopes.jsonl`, with `NNN.eml` if the server keeps it.
    fn read(&self, line: &str) -> StoredMail {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let number = |key: &str| {
            record[key]
                .as_u64()
                .unwrap_or_else(|| panic!("no number `{key}` in {line}"))
        };
        let text = |v: &serde_json::Value| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v} in {line}"))
                .to_string()
        };
        let n = number("n");
        let content = self.store.path().join(format!("{n:03}.eml"));
        StoredMail {
            n,
            client_port: u16::try_from(number("peer_port")).expect("a port"),
            mail_from: text(&record["mail_from"]),
            rcpt_tos: record["rcpt_tos"]
                .as_array()
                .unwrap_or_else(|| panic!("no rcpt_tos in {line}"))
                .iter()
                .map(text)
                .collect(),
            size: number("size"),
            sha256: text(&record["sha256"]),
            kept: content
                .exists()
                .then(|| fs::read(&content).expect("content")),
        }
    }
}
