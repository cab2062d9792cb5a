//! The `smtp_dissector` fuzz target's inputs, replayed as an ordinary test.
//!
//! One job: keep every input that once broke the generated SMTP dissector
//! (`fuzz/regressions/smtp_dissector/`) and every seed
//! (`fuzz/corpus/smtp_dissector/`) passing the fuzz target's own checks on
//! every `cargo test`, without cargo-fuzz: the session scripts run fed whole,
//! cut at their marks and byte by byte, and must give the same events, with
//! the bytes held within the parser caps. The checks are the fuzz target's
//! (its `session` module, included by path); the heap bound is left to the
//! fuzzer (no counting allocator here).
//!
//! Regressions kept: a token too long failed where the piece crossing the cap
//! ended; too many bytes waiting for a grammar dropped the whole rest of the
//! feed; the other direction's waiting bytes were interleaved with the newer
//! rest of a feed instead of going first.

#[path = "../fuzz/fuzz_targets/session/mod.rs"]
mod session;

#[allow(dead_code)]
mod smtp {
    include!(concat!(env!("OUT_DIR"), "/smtp.rs"));
}

use std::path::Path;
use std::sync::Mutex;

/// Every file of `fuzz/<dir>/smtp_dissector/`, sorted.
fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join("smtp_dissector");
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(&file).expect("readable");
            (file.display().to_string(), bytes)
        })
        .collect()
}

/// The parser caps are process-wide and each script sets its own: one
/// script at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn replay(dir: &str) -> usize {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let all = inputs(dir);
    for (name, bytes) in &all {
        let script = session::Script::parse(bytes);
        let outcome = std::panic::catch_unwind(|| {
            session::check_script(&script, smtp::SPEC.new_dissector, &|| 0);
        });
        assert!(outcome.is_ok(), "{name} fails the fuzz target's checks");
    }
    all.len()
}

#[test]
fn every_regression_input_passes() {
    assert!(replay("regressions") >= 3);
}

#[test]
fn every_seed_passes() {
    assert!(replay("corpus") >= 10);
}
