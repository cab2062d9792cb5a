//! Damaged captures, built in memory from real ones (`samples/smtp.pcap`, a
//! pcapng written here from it, a gzip of it).
//!
//! One job: prove the bad-input promises of the capture runtime (issue 3 item
//! 6, issue 7 item 3): no panic; a warning naming the byte offset and the
//! problem for a damaged record, or an error naming what was expected for a
//! file that is no capture; every packet before the damage still read, and
//! the flows they carry still reassembled to the same bytes.
//!
//! The oracle for "the same bytes": the undamaged capture's first `k` packets
//! run through an engine, where `k` is the number of records that lie wholly
//! before the damage. Each flow (ids, endpoints, bytes and gaps of both
//! directions, how it closed) must be identical.

mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::Path;

use common::{Recorded, Recorder};
use protoc_runtime::capture::{CaptureError, CaptureReader, CaptureWarning};
use protoc_runtime::engine::{Engine, EngineConfig};

/// What a run over some capture bytes gave.
#[derive(Debug)]
struct Run {
    flows: BTreeMap<u64, Recorded>,
    capture_warnings: Vec<CaptureWarning>,
    packets: u64,
}

fn sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/smtp.pcap");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs capture bytes through an engine with a [`Recorder`], reading at most
/// `limit` packets.
fn run_limited(bytes: Vec<u8>, limit: usize) -> Result<Run, CaptureError> {
    let mut reader = CaptureReader::from_reader(Cursor::new(bytes), "damaged")?;
    let mut engine = Engine::new(Recorder::default(), EngineConfig::default());
    let mut packets = 0;
    while packets < limit as u64 {
        let Some(pkt) = reader.next_packet() else {
            break;
        };
        engine.process(&pkt);
        packets += 1;
    }
    let capture_warnings = reader.take_warnings();
    engine.finish();
    let recorder = engine.into_handler();
    assert_eq!(recorder.opened, recorder.closed, "a flow was never closed");
    Ok(Run {
        flows: recorder.flows,
        capture_warnings,
        packets,
    })
}

fn run(bytes: Vec<u8>) -> Result<Run, CaptureError> {
    run_limited(bytes, usize::MAX)
}

/// The flows of the first `k` packets of an intact capture.
struct Oracle {
    intact: Vec<u8>,
    cache: BTreeMap<usize, BTreeMap<u64, Recorded>>,
}

impl Oracle {
    fn new(intact: Vec<u8>) -> Oracle {
        Oracle {
            intact,
            cache: BTreeMap::new(),
        }
    }

    fn flows(&mut self, k: usize) -> &BTreeMap<u64, Recorded> {
        let intact = &self.intact;
        self.cache.entry(k).or_insert_with(|| {
            let run = run_limited(intact.clone(), k).expect("the intact capture opens");
            assert!(run.capture_warnings.is_empty());
            assert_eq!(run.packets, k as u64);
            run.flows
        })
    }
}

/// Byte ranges of the records of a little-endian classic pcap.
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut records = Vec::new();
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        records.push((pos, pos + 16 + caplen));
        pos += 16 + caplen;
    }
    assert_eq!(pos, bytes.len(), "the sample is a well-formed pcap");
    records
}

/// Byte lengths of each flow's two directions, for messages.
fn byte_counts(flows: &BTreeMap<u64, Recorded>) -> Vec<(u64, usize, usize)> {
    flows
        .iter()
        .map(|(id, f)| (*id, f.bytes[0].len(), f.bytes[1].len()))
        .collect()
}

fn warning_texts(warnings: &[CaptureWarning]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}

fn set_u32_le(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn the_sample_has_two_flows_with_data() {
    let run = run(sample()).unwrap();
    assert!(run.capture_warnings.is_empty());
    assert_eq!(run.packets, 48);
    let counts = byte_counts(&run.flows);
    // Checked with `tshark -r samples/smtp.pcap -q -z conv,tcp` and
    // `-z follow,tcp,raw,N`: HTTP 106 up / 1153 down, SMTP 118 up / 202 down.
    assert_eq!(counts, vec![(1, 106, 1153), (2, 118, 202)]);
}

/// Where to cut a capture made of `records`: every offset up to the end of
/// the third record; around each record boundary, the last two bytes of the
/// record before, the boundary, the first two bytes of the record header and
/// the last two with the first data byte; and every [`STRIDE`]th offset.
fn cut_points(len: usize, records: &[(usize, usize)]) -> Vec<usize> {
    let dense_until = records.get(2).map_or(len, |r| r.1);
    let mut cuts: Vec<usize> = (0..=dense_until).collect();
    for &(start, _) in records {
        cuts.extend(start.saturating_sub(2)..=start + 2);
        cuts.extend(start + 15..=start + 17);
    }
    cuts.retain(|&c| c <= len);
    cuts.extend((0..=len).step_by(STRIDE));
    cuts.push(len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Offsets between the dense neighbourhoods. With `STRIDE = 1` the test
/// covers every offset of the sample; it passed so (5,889 cuts, about two
/// minutes in a debug build, most of it spent zeroing the reader's 1 MiB
/// buffer), and runs with a sample by default to stay quick.
const STRIDE: usize = 13;

/// Cut at (a dense sample of) every byte offset: before the end of the file
/// header it is an error; inside a record, a warning naming the record's
/// offset and how much of it is present; at a record boundary, a clean end.
/// In every case the records before the cut give exactly the flows they give
/// intact.
#[test]
fn truncated_at_every_offset() {
    let intact = sample();
    let records = pcap_records(&intact);
    let mut oracle = Oracle::new(intact.clone());
    for cut in cut_points(intact.len(), &records) {
        let result = run(intact[..cut].to_vec());
        let run = match (cut, result) {
            (0, Err(err)) => {
                assert!(matches!(err, CaptureError::Empty { .. }), "{err}");
                assert!(err.to_string().contains("expected a pcap or pcapng"));
                continue;
            }
            (1..=3, Err(err)) => {
                let text = err.to_string();
                assert!(text.contains(&format!("only {cut} bytes")), "{text}");
                continue;
            }
            (4..=23, Err(err)) => {
                let text = err.to_string();
                assert!(text.contains("bad pcap header"), "cut {cut}: {text}");
                assert!(text.contains("ends inside its header"), "cut {cut}: {text}");
                continue;
            }
            (24.., Ok(run)) => run,
            (_, Err(err)) => panic!("cut {cut}: unexpected error {err}"),
            (_, Ok(_)) => panic!("cut {cut}: a file shorter than its header opened"),
        };
        let whole = records.iter().filter(|r| r.1 <= cut).count();
        assert_eq!(run.packets, whole as u64, "cut {cut}");
        let warnings = warning_texts(&run.capture_warnings);
        match records.iter().find(|r| r.0 < cut && cut < r.1) {
            Some(&(start, _)) => {
                assert_eq!(warnings.len(), 1, "cut {cut}: {warnings:?}");
                assert_eq!(run.capture_warnings[0].offset, start as u64, "cut {cut}");
                let present = format!("{} bytes of it present", cut - start);
                assert!(
                    warnings[0].contains("truncated") && warnings[0].contains(&present),
                    "cut {cut}: {warnings:?}"
                );
            }
            None => assert!(warnings.is_empty(), "cut {cut}: {warnings:?}"),
        }
        let expected = oracle.flows(whole);
        assert!(
            &run.flows == expected,
            "cut {cut}: flows differ: {:?} vs {:?}",
            byte_counts(&run.flows),
            byte_counts(expected)
        );
    }
}
