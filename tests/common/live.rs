//! Live tests' plumbing, shared by `tests/live_smtp.rs` and
//! `tests/smtp_real.rs`: a Python SMTP server of `tests/live/` and the mails
//! it stores, `tcpdump` on the loopback, and child processes that are always
//! killed and reaped ([`Guard`]), with every wait bounded by [`STEP_LIMIT`].
//! `.ci/run` installs the tools: a missing one fails the test, never skips it.

use std::fs::{self, File};
use std::io::Read;
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
// The server and the capture

/// A Python SMTP server of `tests/live/` on 127.0.0.1, storing mails in a
/// directory as `smtp_sink.py` does (`NNN-PORT.eml` and `NNN-PORT.json`).
pub struct MailServer {
    pub port: u16,
    mail_dir: PathBuf,
    _process: Guard,
}

/// A mail as the server received it.
#[derive(Debug)]
pub struct StoredMail {
    pub client_port: u16,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub content: Vec<u8>,
}

impl MailServer {
    /// Starts `tests/live/SCRIPT MAIL_DIR ARGS...` and waits until it says
    /// `listening on PORT`.
    pub fn start(script: &'static str, args: &[&str], mail_dir: &Path, work: &Path) -> MailServer {
        let stdout = work.join("server.stdout");
        let stderr = work.join("server.stderr");
        let process = Guard::spawn(
            script,
            Command::new("python3")
                .arg(repo().join("tests/live").join(script))
                .arg(mail_dir)
                .args(args)
                // The server runs until its stdin closes: the guard holds it.
                .stdin(Stdio::piped())
                .stdout(File::create(&stdout).expect("server stdout"))
                .stderr(File::create(&stderr).expect("server stderr")),
        );
        let said = wait_for_text(&stdout, "listening on ", &stderr);
        let port = said
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the server's {said:?}"));
        MailServer {
            port,
            mail_dir: mail_dir.to_path_buf(),
            _process: process,
        }
    }

    /// The first `count` mails, in order of arrival, once all are stored.
    pub fn wait_for_mails(&self, count: usize) -> Vec<StoredMail> {
        let started = Instant::now();
        loop {
            let mut names: Vec<String> = fs::read_dir(&self.mail_dir)
                .expect("mail dir")
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
                .filter(|name| !name.starts_with('.'))
                .collect();
            if names.len() >= count {
                names.sort();
                return names.iter().take(count).map(|n| self.read(n)).collect();
            }
            assert!(started.elapsed() < STEP_LIMIT, "only {names:?} stored");
            thread::sleep(POLL);
        }
    }

    /// `NNN-PORT.json` (the envelope) and `NNN-PORT.eml` (the content).
    fn read(&self, name: &str) -> StoredMail {
        let meta: serde_json::Value = serde_json::from_slice(
            &fs::read(self.mail_dir.join(format!("{name}.json"))).expect("envelope"),
        )
        .expect("envelope JSON");
        let text = |v: &serde_json::Value| v.as_str().expect("a string").to_string();
        StoredMail {
            client_port: meta["peer_port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .expect("peer_port"),
            mail_from: text(&meta["mail_from"]),
            rcpt_tos: meta["rcpt_tos"]
                .as_array()
                .expect("rcpt_tos")
                .iter()
                .map(text)
                .collect(),
            content: fs::read(self.mail_dir.join(format!("{name}.eml"))).expect("content"),
        }
    }
}

/// `tcpdump` recording one TCP port on the loopback into `work/live.pcap`.
pub struct Tcpdump {
    stderr: PathBuf,
    process: Guard,
}

impl Tcpdump {
    pub fn start(port: u16, work: &Path) -> Tcpdump {
        let stderr = work.join("tcpdump.stderr");
        let process = Guard::spawn(
            "tcpdump",
            Command::new("tcpdump")
                .args(["-i", "lo", "-w"])
                .arg(work.join("live.pcap"))
                // Write each packet as it comes (-U) and get it from the kernel
                // at once (--immediate-mode: otherwise packets wait in a kernel
                // block that SIGINT may discard). -B: a 64 MiB kernel buffer,
                // so the 1 MB mail in 64 KiB loopback segments drops nothing.
                .args(["-U", "--immediate-mode", "-B", "65536"])
                // As root, tcpdump switches to the user `tcpdump` before it
                // opens the file, which may not write in our private tempdir.
                .args(["-Z", "root"])
                .arg(format!("tcp port {port}"))
                .stdout(Stdio::null())
                .stderr(File::create(&stderr).expect("tcpdump stderr")),
        );
        // tcpdump says so once the filter is installed and it reads packets.
        wait_for_text(&stderr, "listening on", &stderr);
        Tcpdump { stderr, process }
    }

    /// Stops tcpdump as a user would (SIGINT, so it flushes and says what it
    /// saw), checks that the kernel dropped nothing, returns the packet count.
    pub fn stop(mut self) -> u64 {
        // Let the last FIN/ACK reach the capture.
        thread::sleep(Duration::from_millis(300));
        let status = Command::new("kill")
            .args(["-INT", &self.process.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT tcpdump");
        let exit = self.process.wait();
        let said = fs::read_to_string(&self.stderr).unwrap_or_default();
        assert!(exit.success(), "tcpdump: {exit}: {said}");
        let count = |what: &str| -> u64 {
            said.lines()
                .find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no `{what}` in tcpdump's {said}"))
        };
        assert_eq!(count(" packets dropped by kernel"), 0, "{said}");
        let captured = count(" packets captured");
        assert!(captured > 0, "{said}");
        captured
    }
}

// ---------------------------------------------------------------------------
// Processes, bounded

/// A child process that is killed and reaped when the guard is dropped,
/// whichever way the test ends.
pub struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    pub fn spawn(name: &'static str, command: &mut Command) -> Guard {
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run {name} (is it installed? .ci/run installs it): {e}")
        });
        Guard { name, child }
    }

    /// Waits for the process to end, at most [`STEP_LIMIT`].
    pub fn wait(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < STEP_LIMIT,
                "{} still runs after {STEP_LIMIT:?}",
                self.name
            );
            thread::sleep(POLL);
        }
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
    let status = process.wait();
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Waits until `file` contains `needle` and returns its content; on timeout,
/// panics with what `diagnostics` holds.
pub fn wait_for_text(file: &Path, needle: &str, diagnostics: &Path) -> String {
    let started = Instant::now();
    loop {
        let text = fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) && text.ends_with('\n') {
            return text;
        }
        assert!(
            started.elapsed() < STEP_LIMIT,
            "no `{needle}` in {} after {STEP_LIMIT:?}: {}",
            file.display(),
            fs::read_to_string(diagnostics).unwrap_or_default()
        );
        thread::sleep(POLL);
    }
}
