//! The dissector fuzz targets' inputs, replayed as an ordinary test.
//!
//! One job: keep every input that once broke a generated dissector
//! (`fuzz/regressions/{smtp,http,dns,features}_dissector/`) and every seed
//! (`fuzz/corpus/{smtp,http,dns,features}_dissector/`) passing the fuzz targets' own
//! checks on every `cargo test`, without cargo-fuzz: the session scripts run
//! fed whole, cut at their marks and byte by byte, and must give the same
//! events, with the bytes held within the parser caps. The checks are the
//! fuzz targets' (their `session` module, included by path); the heap bound
//! is left to the fuzzer (no counting allocator here).
//!
//! Regressions kept: a token too long failed where the piece crossing the cap
//! ended; too many bytes waiting for a grammar dropped the whole rest of the
//! feed; the other direction's waiting bytes were interleaved with the newer
//! rest of a feed instead of going first; bytes a `resync` skipped were never
//! settled (a server line without a line end was held back whole); an error
//! of a `resync` itself (its `unless` token too long) discarded the rest of
//! the feed before the `parse_error` transition could resynchronise again, so
//! what was lost depended on how the bytes were cut (`features_dissector`).

#[path = "../fuzz/fuzz_targets/session/mod.rs"]
mod session;

#[allow(dead_code)]
mod smtp {
    include!(concat!(env!("OUT_DIR"), "/smtp.rs"));
}

#[allow(dead_code)]
mod http {
    include!(concat!(env!("OUT_DIR"), "/http.rs"));
}

#[allow(dead_code)]
mod dns {
    include!(concat!(env!("OUT_DIR"), "/dns.rs"));
}

#[allow(dead_code)]
mod features {
    include!(concat!(env!("OUT_DIR"), "/fixtures/features.rs"));
}

use std::path::Path;
use std::sync::Mutex;

use protoc_runtime::dissector::{Dissector, HandoverTarget, SpecDescriptor};

/// One dissector fuzz target: its name, how it reads a script, its dissector.
struct Target {
    name: &'static str,
    parse: fn(&[u8]) -> session::Script,
    new_dissector: fn() -> Box<dyn Dissector>,
}

const SMTP: Target = Target {
    name: "smtp_dissector",
    parse: session::Script::parse,
    new_dissector: || (smtp::SPEC.new_dissector)(),
};

const HTTP: Target = Target {
    name: "http_dissector",
    parse: session::Script::parse,
    new_dissector: || (http::SPEC.new_dissector)(),
};

const DNS: Target = Target {
    name: "dns_dissector",
    parse: session::Script::parse_binary,
    new_dissector: || (dns::SPEC.new_dissector)(),
};

const FEATURES: Target = Target {
    name: "features_dissector",
    parse: session::Script::parse,
    new_dissector: || Box::new(features::ChunksDissector::new()),
};

/// Every file of `fuzz/<dir>/<target>/`, sorted; none if there is no such
/// directory (a target no input has broken yet has no regressions).
fn inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
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

/// The built-in specs, in the registry's order.
static SPECS: [&SpecDescriptor; 3] = [&dns::SPEC, &http::SPEC, &smtp::SPEC];

/// A handover's target among the built-in specs, as `protoc-rs pcap` finds it.
fn resolve(to: HandoverTarget) -> Option<fn() -> Box<dyn Dissector>> {
    session::find_spec(&SPECS, to)
}

/// The parser caps are process-wide and each script sets its own: one
/// script at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The records of `script` fed whole to `target`'s dissector, under the
/// script's limits (one test at a time: the limits are process-wide).
fn records_whole(target: &Target, script: &session::Script) -> Vec<(u64, session::Record)> {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let limits = session::limits_for(script);
    protoc_runtime::parse::Limits::set_process_default(limits);
    let (records, _) = session::run(
        script,
        session::Cutting::Whole,
        limits,
        target.new_dissector,
        &resolve,
        &|| 0,
    );
    records
}

/// Replays every input of `fuzz/<dir>/<target>/`; returns how many there were.
fn replay(dir: &str, target: &Target) -> usize {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let all = inputs(dir, target.name);
    for (name, bytes) in &all {
        let script = (target.parse)(bytes);
        let outcome = std::panic::catch_unwind(|| {
            session::check_script(&script, target.new_dissector, &resolve, &|| 0);
        });
        assert!(outcome.is_ok(), "{name} fails the fuzz target's checks");
    }
    all.len()
}

#[test]
fn every_regression_input_passes() {
    assert!(replay("regressions", &SMTP) >= 4);
    replay("regressions", &HTTP);
    replay("regressions", &DNS);
    assert!(replay("regressions", &FEATURES) >= 2);
}

#[test]
fn every_seed_passes() {
    assert!(replay("corpus", &SMTP) >= 10);
    assert!(replay("corpus", &HTTP) >= 10);
    assert!(replay("corpus", &DNS) >= 10);
    assert!(replay("corpus", &FEATURES) >= 10);
}

/// The binary scripts' escapes: `02 10` is a `0x00` (a step separator
/// otherwise), `02 11` a `0x01` (a cut mark otherwise), `02 12` a `0x02`.
#[test]
fn binary_scripts_escape_the_bytes_the_format_uses() {
    let script =
        session::Script::parse_binary(b"\x00C\x02\x10a\x01\x02\x11\x02\x12\x00D\x02\x10\x01b");
    let steps: Vec<String> = script.steps.iter().map(|s| format!("{s:?}")).collect();
    assert_eq!(
        steps,
        ["Data(Up, [0, 97, 1, 2], [2])", "Datagram(Up, [0, 98])"],
    );
    let text = session::Script::parse(b"\x00C\x02\x10\x00D\x02");
    let steps: Vec<String> = text.steps.iter().map(|s| format!("{s:?}")).collect();
    assert_eq!(steps, ["Data(Up, [2, 16], [])", "Data(Up, [68, 2], [])"]);
}

/// The HTTP seed from Zeek's CONNECT trace hands the tunnel over to SMTP:
/// the session follows it, and the SMTP events come however the bytes are
/// cut (the cut-invariance itself is `every_seed_passes`).
#[test]
fn a_connect_tunnel_is_handed_over_to_smtp() {
    let (_, bytes) = inputs("corpus", HTTP.name)
        .into_iter()
        .find(|(name, _)| name.ends_with("/zeek-connect"))
        .expect("the zeek-connect seed");
    let records = records_whole(&HTTP, &(HTTP.parse)(&bytes));
    let events: Vec<&str> = records
        .iter()
        .filter_map(|(_, record)| match record {
            session::Record::Event(_, name, _) => Some(*name),
            _ => None,
        })
        .collect();
    assert!(events.contains(&"request"), "{events:?}");
    assert!(events.contains(&"transaction"), "{events:?}");
    assert!(events.contains(&"command"), "{events:?}");
}

/// Found by `smtp_dissector` (pass B, on the merged code): client lines
/// that waited for the server's greeting were parsed, once a reply let
/// them, one message at a time, turn about with the server's newer bytes
/// of the same feed, so the server's last parse error came between the
/// client's two last commands when the server's bytes came in one piece,
/// after both when they came byte by byte. The older bytes go first, all
/// of them (`fuzz/regressions/smtp_dissector/older-waiting-bytes-yielded-to-newer`).
#[test]
fn older_waiting_bytes_go_first_all_of_them() {
    let script = (SMTP.parse)(b"\x00\x00C\nDATA\n\n\n\x00S250\n\n220\ne");
    let records = records_whole(&SMTP, &script);
    let said: Vec<String> = records
        .iter()
        .filter_map(|(_, record)| match record {
            session::Record::Event(dir, name, _) => Some(format!("{dir} {name}")),
            session::Record::ParseError(dir, _) => Some(format!("{dir} parse error")),
            _ => None,
        })
        .collect();
    let tail: Vec<&str> = said
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["up command", "up command", "down parse error"],
        "{said:?}"
    );
}
