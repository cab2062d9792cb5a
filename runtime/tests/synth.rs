//! Golden equivalence tests with `synth`: however a transcript's session is
//! cut, reordered, duplicated or replicated, reassembly gives back exactly
//! the transcript's two streams; and tshark agrees.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use protoc_runtime::capture::CaptureReader;
use protoc_runtime::dissector::Direction;
use protoc_runtime::engine::{CloseReason, Engine, EngineConfig};
use protoc_runtime::synth::{write_pcap, Options, Side, Split, Transcript};
use sha2::{Digest, Sha256};

fn transcripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts")
}

fn transcript(name: &str) -> Transcript {
    Transcript::from_file(&transcripts_dir().join(name)).unwrap()
}

/// Synthesises and reassembles; returns each flow's (up, down) bytes by id.
fn reassemble(t: &Transcript, options: &Options) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pcap = Vec::new();
    write_pcap(t, options, &mut pcap).unwrap();
    let mut reader = CaptureReader::from_reader(Cursor::new(pcap), "synth").unwrap();
    let mut engine = Engine::new(common::Recorder::default(), EngineConfig::default());
    engine.run(&mut reader);
    assert!(engine.warnings().is_empty(), "{:?}", engine.warnings());
    assert_eq!(engine.stats().gaps, 0);
    let recorder = engine.into_handler();
    recorder
        .flows
        .values()
        .map(|f| {
            assert_eq!(f.closed, Some(CloseReason::Fin));
            assert_eq!(f.ends, [1, 1]);
            (
                f.bytes[Direction::Up.index()].clone(),
                f.bytes[Direction::Down.index()].clone(),
            )
        })
        .collect()
}

fn sha(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn assert_single_session(t: &Transcript, options: &Options, what: &str) {
    let flows = reassemble(t, options);
    assert_eq!(flows.len(), 1, "{what}");
    let (up, down) = &flows[0];
    assert!(
        sha(up) == sha(&t.stream(Side::Client)),
        "{what}: client stream differs"
    );
    assert!(
        sha(down) == sha(&t.stream(Side::Server)),
        "{what}: server stream differs"
    );
}

#[test]
fn every_fixed_segment_size_gives_the_same_streams() {
    for name in ["smtp-appendix.txt", "smtp-haka-reference.txt"] {
        let t = transcript(name);
        let longest = t.messages.iter().map(|m| m.bytes.len()).max().unwrap();
        for segment_size in 1..=longest {
            let options = Options {
                segment_size,
                ..Options::default()
            };
            assert_single_session(&t, &options, &format!("{name}, segments of {segment_size}"));
        }
    }
}

#[test]
fn random_splits_reordering_and_duplicates_give_the_same_streams() {
    for name in [
        "smtp-appendix.txt",
        "smtp-haka-reference.txt",
        "smtp-large-body.txt",
    ] {
        let t = transcript(name);
        for seed in 0..12 {
            for (reorder, duplicate) in [(false, false), (true, false), (false, true), (true, true)]
            {
                let options = Options {
                    split: Split::Random,
                    segment_size: 1 + (seed as usize * 37) % 200,
                    reorder,
                    duplicate,
                    seed,
                    // Intermediate ACKs (none, every segment, every 2 or 3):
                    // never beyond the bytes sent, so never a false gap.
                    ack_every: seed as usize % 4,
                    ..Options::default()
                };
                assert_single_session(&t, &options, &format!("{name}, {options:?}"));
            }
        }
    }
}

#[test]
fn sequence_numbers_wrapping_around_change_nothing() {
    let t = transcript("smtp-large-body.txt");
    for isn in [
        (u32::MAX, u32::MAX - 1),
        (u32::MAX - 1000, u32::MAX - 70_000),
        (0, 0),
    ] {
        let options = Options {
            isn: Some(isn),
            segment_size: 999,
            reorder: true,
            seed: 5,
            ..Options::default()
        };
        assert_single_session(&t, &options, &format!("isn {isn:?}"));
    }
}

#[test]
fn ipv6_and_interleaved_sessions_give_the_same_streams() {
    let t = transcript("smtp-appendix.txt");
    assert_single_session(&t, &Options::default().ipv6(), "ipv6");
    let options = Options {
        sessions: 25,
        split: Split::Random,
        segment_size: 9,
        reorder: true,
        seed: 3,
        ..Options::default()
    };
    let flows = reassemble(&t, &options);
    assert_eq!(flows.len(), 25);
    for (up, down) in flows {
        assert!(up == t.stream(Side::Client) && down == t.stream(Side::Server));
    }
}

/// tshark reads synth captures without complaint and follows the same bytes.
#[test]
fn tshark_follows_the_transcript_bytes_from_a_messy_synth_capture() {
    let dir = tempfile::tempdir().unwrap();
    for (name, options) in [
        (
            "smtp-appendix.txt",
            Options {
                split: Split::Random,
                segment_size: 5,
                reorder: true,
                duplicate: true,
                seed: 1,
                ..Options::default()
            },
        ),
        (
            "smtp-large-body.txt",
            Options {
                segment_size: 1000,
                ..Options::default().ipv6()
            },
        ),
    ] {
        let t = transcript(name);
        let path = dir.path().join(format!("{name}.pcap"));
        let mut pcap = Vec::new();
        write_pcap(&t, &options, &mut pcap).unwrap();
        std::fs::write(&path, pcap).unwrap();
        let (node0, client, server) = common::tshark_follow(&path, 0);
        assert_eq!(node0, options.client.to_string());
        assert!(
            client == t.stream(Side::Client),
            "{name}: tshark's client bytes differ"
        );
        assert!(
            server == t.stream(Side::Server),
            "{name}: tshark's server bytes differ"
        );
        // Nothing malformed or suspicious in tshark's reading of it.
        let output = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args(["-q", "-z", "expert,warn"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.lines().all(|l| l.starts_with("Running as user")),
            "tshark complained: {stderr}"
        );
        let report = String::from_utf8_lossy(&output.stdout);
        let complaints: Vec<&str> = report
            .lines()
            .filter(|l| l.contains("Malformed") || l.contains("Errors (") || l.contains("checksum"))
            .collect();
        assert!(complaints.is_empty(), "{name}: {complaints:?}");
        // Reordered segments draw sequence warnings; an orderly capture none.
        if !options.reorder && !options.duplicate {
            assert!(!report.contains("Warns ("), "{name}: {report}");
        }
    }
}

/// The Haka transcript rebuilds the reference capture's SMTP streams exactly.
#[test]
fn the_haka_transcript_matches_the_reference_capture() {
    let t = transcript("smtp-haka-reference.txt");
    let (recorder, _) = common::record(&common::shared("reference/haka/smtp.pcap"));
    let smtp = recorder.flows.get(&2).unwrap();
    assert!(smtp.bytes[0] == t.stream(Side::Client));
    assert!(smtp.bytes[1] == t.stream(Side::Server));
    assert_eq!(
        (t.stream(Side::Client).len(), t.stream(Side::Server).len()),
        (118, 202)
    );
}
