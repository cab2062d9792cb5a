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

/// Whether to try every offset and every byte: in an optimised build
/// (`cargo test --release`, as CI runs it) all of this file's tests take
/// under a second. A debug build takes samples, because there each run
/// spends milliseconds zeroing the reader's 1 MiB buffer (the 5,889 cuts of
/// the sample alone take about two minutes).
const EXHAUSTIVE: bool = !cfg!(debug_assertions);

/// Offsets between the dense neighbourhoods.
const STRIDE: usize = if EXHAUSTIVE { 1 } else { 13 };

/// Cut at every byte offset (see [`EXHAUSTIVE`]): before the end of the file
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

/// The first `k` packets of the intact sample, reader-level, as bytes.
fn packet_data(bytes: Vec<u8>) -> (Vec<Vec<u8>>, Vec<CaptureWarning>) {
    let mut reader = CaptureReader::from_reader(Cursor::new(bytes), "damaged").unwrap();
    let mut packets = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        packets.push(pkt.data.to_vec());
    }
    (packets, reader.take_warnings())
}

/// A snap length smaller than the packets: the records are consistent, so
/// every packet is read, with one warning naming the first such record.
#[test]
fn packets_longer_than_the_snap_length_are_read_with_a_warning() {
    let intact = sample();
    let mut damaged = intact.clone();
    set_u32_le(&mut damaged, 16, 64);
    let run = run(damaged).unwrap();
    assert_eq!(run.packets, 48);
    let warnings = warning_texts(&run.capture_warnings);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(run.capture_warnings[0].offset, 24);
    assert!(
        warnings[0].contains("74 bytes") && warnings[0].contains("snap length 64"),
        "{warnings:?}"
    );
    let mut oracle = Oracle::new(intact);
    assert!(&run.flows == oracle.flows(48));
}

/// A record whose captured length is absurd stops reading at that record,
/// with a warning naming its offset and the length it claims; the packets
/// before it give their flows.
#[test]
fn a_huge_captured_length_stops_reading_at_its_record() {
    let intact = sample();
    let records = pcap_records(&intact);
    let mut oracle = Oracle::new(intact.clone());
    for (index, caplen) in [
        (13usize, u32::MAX),
        (13, 0x7fff_ffff),
        (20, 300_000),
        (47, 70_000_000),
    ] {
        let (start, _) = records[index];
        let mut damaged = intact.clone();
        set_u32_le(&mut damaged, start + 8, caplen);
        let run = run(damaged).unwrap();
        assert_eq!(run.packets, index as u64, "caplen {caplen}");
        let warnings = warning_texts(&run.capture_warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(run.capture_warnings[0].offset, start as u64);
        assert!(
            warnings[0].contains(&format!("{caplen} bytes")) && warnings[0].contains("corrupt"),
            "caplen {caplen}: {warnings:?}"
        );
        assert!(&run.flows == oracle.flows(index), "caplen {caplen}");
    }
}

/// A captured length a little wrong puts the reader out of step: whatever
/// it then reads, the packets before the damage are intact and a warning
/// names an offset at or after the damaged record.
#[test]
fn a_slightly_wrong_captured_length_is_reported_after_its_record() {
    let intact = sample();
    let records = pcap_records(&intact);
    let (good, _) = packet_data(intact.clone());
    for index in [1usize, 13, 17, 30] {
        for delta in [-10i64, -1, 1, 10] {
            let (start, end) = records[index];
            let caplen = (end - start - 16) as i64 + delta;
            let mut damaged = intact.clone();
            set_u32_le(&mut damaged, start + 8, caplen as u32);
            let (packets, warnings) = packet_data(damaged.clone());
            assert!(packets.len() > index, "record {index} {delta:+}");
            assert_eq!(packets[..index], good[..index], "record {index} {delta:+}");
            let texts = warning_texts(&warnings);
            assert!(
                warnings.iter().any(|w| w.offset >= start as u64),
                "record {index} {delta:+}: {texts:?}"
            );
            // And through the engine: no panic, every flow closed.
            let _ = run(damaged).unwrap();
        }
    }
}

/// Bytes that are no capture at all: an error naming what was expected.
#[test]
fn a_random_file_is_not_a_capture() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let err = run(random.clone()).expect_err("random bytes are not a capture");
    let text = err.to_string();
    assert!(matches!(err, CaptureError::NotACapture { .. }), "{text}");
    let head: Vec<String> = random[..4].iter().map(|b| format!("{b:02x}")).collect();
    assert!(text.contains(&head.join(" ")), "{text}");
    assert!(text.contains("expected a pcap magic number"), "{text}");
    assert!(text.contains("pcapng"), "{text}");

    // A valid pcap header followed by random bytes: a warning at byte 24.
    let mut garbage = sample()[..24].to_vec();
    garbage.extend_from_slice(&random);
    let run = run(garbage).unwrap();
    assert!(run.flows.is_empty());
    let warnings = warning_texts(&run.capture_warnings);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("at byte 24: "), "{warnings:?}");
}

/// The sample's packets written as pcapng (little-endian, one Ethernet
/// interface at microsecond resolution), with each packet block's range.
fn sample_as_pcapng() -> (Vec<u8>, Vec<(usize, usize)>) {
    fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) -> (usize, usize) {
        let start = out.len();
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        out.extend_from_slice(&block_type.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(start + 8 + padded, 0);
        out.extend_from_slice(&len.to_le_bytes());
        (start, out.len())
    }
    let pcap = sample();
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    block(&mut out, 1, &idb);
    let mut blocks = Vec::new();
    for (start, end) in pcap_records(&pcap) {
        let sec = u64::from(u32::from_le_bytes(
            pcap[start..start + 4].try_into().unwrap(),
        ));
        let usec = u64::from(u32::from_le_bytes(
            pcap[start + 4..start + 8].try_into().unwrap(),
        ));
        let ticks = sec * 1_000_000 + usec;
        let data = &pcap[start + 16..end];
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ticks as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        blocks.push(block(&mut out, 6, &epb));
    }
    (out, blocks)
}

#[test]
fn the_pcapng_copy_gives_the_same_flows() {
    let (pcapng, blocks) = sample_as_pcapng();
    assert_eq!(blocks.len(), 48);
    let run = run(pcapng).unwrap();
    assert!(
        run.capture_warnings.is_empty(),
        "{:?}",
        run.capture_warnings
    );
    let mut oracle = Oracle::new(sample());
    assert!(&run.flows == oracle.flows(48));
}

/// A pcapng cut at every offset (see [`EXHAUSTIVE`]): inside the section
/// header, an error; inside a later block, a warning naming that block's
/// offset; the packet blocks before the cut give their flows.
#[test]
fn truncated_pcapng_at_every_offset() {
    let (intact, blocks) = sample_as_pcapng();
    let first_block = blocks[0].0;
    // Section header and interface block are "records" too.
    let mut all_blocks = vec![(0, 28), (28, first_block)];
    all_blocks.extend_from_slice(&blocks);
    let mut oracle = Oracle::new(sample());
    for cut in cut_points(intact.len(), &all_blocks[1..]) {
        let result = run(intact[..cut].to_vec());
        let run = match result {
            Ok(run) => run,
            Err(err) => {
                assert!(cut < 28, "cut {cut}: {err}");
                continue;
            }
        };
        assert!(cut >= 28, "cut {cut}: a cut section header opened");
        let whole = blocks.iter().filter(|b| b.1 <= cut).count();
        assert_eq!(run.packets, whole as u64, "cut {cut}");
        let warnings = warning_texts(&run.capture_warnings);
        match all_blocks.iter().find(|b| b.0 < cut && cut < b.1) {
            Some(&(start, _)) => {
                assert_eq!(warnings.len(), 1, "cut {cut}: {warnings:?}");
                assert_eq!(run.capture_warnings[0].offset, start as u64, "cut {cut}");
                assert!(warnings[0].contains("truncated"), "cut {cut}: {warnings:?}");
            }
            None => assert!(warnings.is_empty(), "cut {cut}: {warnings:?}"),
        }
        assert!(&run.flows == oracle.flows(whole), "cut {cut}");
    }
}

/// pcapng blocks with lengths that cannot be: reading stops at the block,
/// with a warning naming its offset and the length that is wrong.
#[test]
fn pcapng_blocks_with_bad_lengths() {
    let (intact, blocks) = sample_as_pcapng();
    let mut oracle = Oracle::new(sample());
    let index = 17;
    let (start, end) = blocks[index];
    let len = (end - start) as u32;
    // (what to write where, relative to the block, and what the warning says)
    let cases: Vec<(usize, u32, String)> = vec![
        (4, 8, "block length 8 is less than the minimum, 12".into()),
        (
            4,
            len + 2,
            format!("block length {} is not a multiple of 4", len + 2),
        ),
        (
            4,
            0x7fff_fff0,
            "more than the 64 MiB a block may have".into(),
        ),
        (
            4,
            28,
            "packet block length 28 is less than its 32-byte header".into(),
        ),
        // The "trailing length" is then read from the next block's header.
        (
            4,
            len + 8,
            format!("differs from its leading length {}", len + 8),
        ),
        (
            end - start - 4,
            len - 4,
            format!("trailing length {} differs", len - 4),
        ),
        (
            20,
            len,
            format!("claims {len} bytes captured, more than its {len}-byte block"),
        ),
        (20, u32::MAX, "claims 4294967295 bytes captured".into()),
    ];
    for (at, value, expected) in cases {
        let mut damaged = intact.clone();
        set_u32_le(&mut damaged, start + at, value);
        let run = run(damaged).unwrap();
        let warnings = warning_texts(&run.capture_warnings);
        assert_eq!(warnings.len(), 1, "{expected}: {warnings:?}");
        assert_eq!(run.capture_warnings[0].offset, start as u64, "{warnings:?}");
        assert!(
            warnings[0].contains("corrupt block") && warnings[0].contains(&expected),
            "expected {expected:?}: {warnings:?}"
        );
        assert_eq!(run.packets, index as u64, "{expected}");
        assert!(&run.flows == oracle.flows(index), "{expected}");
    }
}

/// What a gzip decoder yields from `gz` before its first error.
fn inflate_until_error(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut decoder = flate2::read::MultiGzDecoder::new(gz);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A gzip-compressed capture cut short, at every offset:
/// the packets whose records inflate whole are read and give their flows; the
/// cut is a warning naming the offset (in the uncompressed stream) of the
/// record it broke.
#[test]
fn a_gzip_capture_cut_short() {
    let intact = sample();
    let records = pcap_records(&intact);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&intact).unwrap();
    let gz = encoder.finish().unwrap();
    let mut oracle = Oracle::new(intact.clone());
    let mut opened = 0;
    // Every offset (debug build: all in the gzip header and trailer, every
    // fifth in between).
    let cuts = (0..gz.len()).filter(|&c| EXHAUSTIVE || c < 64 || c + 16 >= gz.len() || c % 5 == 0);
    for cut in cuts {
        let inflated = inflate_until_error(&gz[..cut]);
        let run = match run(gz[..cut].to_vec()) {
            Ok(run) => run,
            Err(err) => {
                // Not even the file header inflates.
                assert!(inflated.len() < 24, "cut {cut}: {err}");
                let text = err.to_string();
                assert!(
                    text.contains("gzip")
                        || text.contains("ends inside its header")
                        || text.contains("expected a pcap"),
                    "cut {cut}: {text}"
                );
                continue;
            }
        };
        opened += 1;
        let whole = records.iter().filter(|r| r.1 <= inflated.len()).count();
        assert_eq!(run.packets, whole as u64, "cut {cut}");
        let warnings = warning_texts(&run.capture_warnings);
        assert_eq!(warnings.len(), 1, "cut {cut}: {warnings:?}");
        let broken = records.get(whole).map_or(intact.len(), |r| r.0);
        assert_eq!(run.capture_warnings[0].offset, broken as u64, "cut {cut}");
        assert!(warnings[0].contains("gzip"), "cut {cut}: {warnings:?}");
        assert!(&run.flows == oracle.flows(whole), "cut {cut}");
    }
    assert!(opened > gz.len() / 10, "only {opened} cuts opened");
}

/// Every byte of the record headers flipped, one at a time, in every record
/// (in a debug build: the first three, a few in the middle, SMTP commands and
/// replies, and the last). Timestamps are
/// free-form (a flipped one may close flows as idle, so only "no panic,
/// every flow closed" is asserted); a flipped original length changes
/// nothing the engine sees; a flipped captured length stops reading or puts
/// the reader out of step, with a warning at or after the damaged record. In
/// every case the packets before the damaged record are read intact.
#[test]
fn every_record_header_byte_flipped() {
    let intact = sample();
    let records = pcap_records(&intact);
    let (good, _) = packet_data(intact.clone());
    let mut oracle = Oracle::new(intact.clone());
    let indices: Vec<usize> = if EXHAUSTIVE {
        (0..records.len()).collect()
    } else {
        vec![0, 1, 2, 13, 17, 24, 30, 47]
    };
    for index in indices {
        let (start, _) = records[index];
        for field_byte in 0..16 {
            let mut damaged = intact.clone();
            damaged[start + field_byte] ^= 0xff;
            let context = format!("record {index} header byte {field_byte}");
            let (packets, warnings) = packet_data(damaged.clone());
            assert!(packets.len() >= index, "{context}");
            assert_eq!(packets[..index], good[..index], "{context}");
            match field_byte {
                0..=7 => {
                    assert_eq!(packets, good, "{context}");
                    assert!(warnings.is_empty(), "{context}: {warnings:?}");
                    let _ = run(damaged).unwrap();
                }
                8..=11 => {
                    assert!(
                        warnings.iter().any(|w| w.offset >= start as u64),
                        "{context}: {warnings:?}"
                    );
                }
                _ => {
                    assert_eq!(packets, good, "{context}");
                    assert!(warnings.is_empty(), "{context}: {warnings:?}");
                    let run = run(damaged).unwrap();
                    assert!(&run.flows == oracle.flows(48), "{context}");
                }
            }
        }
    }
}
