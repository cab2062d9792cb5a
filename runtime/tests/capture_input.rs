//! Capture input: formats (byte orders, precisions, pcapng interfaces, gzip)
//! and bad input (truncation, corruption, files that are not captures).

mod common;

use std::io::{Cursor, Write};

use protoc_runtime::capture::{CaptureError, CaptureFormat, CaptureReader, LinkType, TsPrecision};
use protoc_runtime::engine::{Engine, EngineConfig};
use rand::{Rng, SeedableRng};

fn reference() -> Vec<u8> {
    std::fs::read(common::shared("reference/haka/smtp.pcap")).unwrap()
}

/// Record boundaries of a little-endian classic pcap, walked independently
/// of the reader: (offset, record length).
fn records(pcap: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, 16 + caplen));
        at += 16 + caplen;
    }
    out
}

fn read_all(bytes: Vec<u8>) -> (Vec<(f64, Vec<u8>)>, Vec<String>) {
    let mut reader = CaptureReader::from_reader(Cursor::new(bytes), "test").unwrap();
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet() {
        packets.push((p.ts, p.data.to_vec()));
    }
    (
        packets,
        reader.warnings().iter().map(|w| w.to_string()).collect(),
    )
}

/// Flows of a capture in memory: (up bytes, down bytes) by flow id.
fn streams(bytes: Vec<u8>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut reader = CaptureReader::from_reader(Cursor::new(bytes), "test").unwrap();
    let mut engine = Engine::new(common::Recorder::default(), EngineConfig::default());
    engine.run(&mut reader);
    engine
        .into_handler()
        .flows
        .values()
        .map(|f| (f.bytes[0].clone(), f.bytes[1].clone()))
        .collect()
}

#[test]
fn a_truncated_capture_warns_with_the_offset_and_keeps_what_came_before() {
    let full = reference();
    let recs = records(&full);
    assert_eq!(recs.len(), 48);
    for &(index, into) in &[(0usize, 3usize), (1, 16), (10, 20), (30, 1), (47, 40)] {
        let (start, len) = recs[index];
        let cut = start + into.min(len - 1);
        let (packets, warnings) = read_all(full[..cut].to_vec());
        assert_eq!(packets.len(), index, "cut at {cut}: packets before the cut");
        assert_eq!(warnings.len(), 1, "cut at {cut}: {warnings:?}");
        assert!(
            warnings[0].starts_with(&format!("at byte {start}:")),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].contains("truncated"), "{}", warnings[0]);
    }
    // A cut exactly between records is a clean end.
    let (start, _) = recs[20];
    let (packets, warnings) = read_all(full[..start].to_vec());
    assert_eq!((packets.len(), warnings.len()), (20, 0));
}

#[test]
fn an_engine_reports_truncation_among_its_warnings() {
    let full = reference();
    let cut = records(&full)[40].0 + 5;
    let mut reader =
        CaptureReader::from_reader(Cursor::new(full[..cut].to_vec()), "cut.pcap").unwrap();
    let mut engine = Engine::new(common::Recorder::default(), EngineConfig::default());
    engine.run(&mut reader);
    assert_eq!(engine.stats().packets, 40);
    assert_eq!(engine.stats().warnings, 1);
    assert!(
        engine.warnings()[0].starts_with("cut.pcap: at byte"),
        "{:?}",
        engine.warnings()
    );
}

#[test]
fn files_that_are_not_captures_are_refused_clearly() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let random: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
    let err = CaptureReader::from_reader(Cursor::new(random), "noise.bin").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CaptureError::NotACapture { .. }), "{text}");
    assert!(
        text.contains("noise.bin") && text.contains("a1b2c3d4") && text.contains("0a0d0d0a"),
        "{text}"
    );
    assert!(matches!(
        CaptureReader::from_reader(Cursor::new(Vec::new()), "e").unwrap_err(),
        CaptureError::Empty { .. }
    ));
    let short = reference()[..10].to_vec();
    let err = CaptureReader::from_reader(Cursor::new(short), "short").unwrap_err();
    assert!(matches!(err, CaptureError::BadHeader { .. }), "{err}");
    let err = CaptureReader::open("/nonexistent/x.pcap").unwrap_err();
    assert!(matches!(err, CaptureError::Open { .. }), "{err}");
}

#[test]
fn corrupted_captures_never_panic() {
    let full = reference();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..300 {
        let mut bytes = full.clone();
        for _ in 0..rng.gen_range(1..20) {
            let at = rng.gen_range(24..bytes.len());
            bytes[at] = rng.gen();
        }
        let cut = rng.gen_range(24..=bytes.len());
        bytes.truncate(cut);
        let mut reader = CaptureReader::from_reader(Cursor::new(bytes), "fuzz").unwrap();
        let mut engine = Engine::new(common::Recorder::default(), EngineConfig::default());
        engine.run(&mut reader);
        let recorder = engine.into_handler();
        assert_eq!(recorder.opened, recorder.closed);
    }
}

#[test]
fn a_huge_record_length_is_corruption_not_an_allocation() {
    let mut bytes = reference();
    let second = records(&bytes)[1].0;
    bytes[second + 8..second + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (packets, warnings) = read_all(bytes);
    assert_eq!(packets.len(), 1);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!("at byte {second}:")),
        "{warnings:?}"
    );
}

/// Byte-swaps a little-endian classic pcap into a big-endian one.
fn to_big_endian(le: &[u8]) -> Vec<u8> {
    let mut be = le.to_vec();
    let swap32 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
    let swap16 = |b: &mut [u8], at: usize| b[at..at + 2].reverse();
    swap32(&mut be, 0);
    swap16(&mut be, 4);
    swap16(&mut be, 6);
    for at in [8, 12, 16, 20] {
        swap32(&mut be, at);
    }
    for (start, _) in records(le) {
        for field in 0..4 {
            swap32(&mut be, start + 4 * field);
        }
    }
    be
}

#[test]
fn big_endian_and_gzip_captures_read_the_same() {
    let le = reference();
    let expected = streams(le.clone());
    let be = to_big_endian(&le);
    assert_ne!(be, le);
    assert_eq!(streams(be.clone()), expected);
    let (a, _) = read_all(le.clone());
    let (b, _) = read_all(be);
    assert_eq!(a, b, "timestamps and bytes");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Written in flushed chunks, as a streaming compressor would: a truncated
    // file still decompresses up to its last flush point.
    for chunk in le.chunks(512) {
        gz.write_all(chunk).unwrap();
        gz.flush().unwrap();
    }
    let gz = gz.finish().unwrap();
    let reader = CaptureReader::from_reader(Cursor::new(gz.clone()), "x.gz").unwrap();
    assert!(reader.compressed());
    assert_eq!(streams(gz.clone()), expected);
    // A truncated gzip: a warning, and the packets decompressed before it.
    let (packets, warnings) = read_all(gz[..gz.len() * 2 / 3].to_vec());
    assert!(
        !packets.is_empty() && packets.len() < 48,
        "{}",
        packets.len()
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

/// A pcapng block: type, body, padded, with both lengths.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = (12 + body.len()) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&len.to_le_bytes());
    out
}

fn interface(link_type: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&link_type.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&65535u32.to_le_bytes());
    if let Some(resol) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[resol, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    block(1, &body)
}

fn enhanced_packet(if_id: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&if_id.to_le_bytes());
    body.extend_from_slice(&((ticks >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ticks as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

#[test]
fn pcapng_interfaces_keep_their_link_types_and_resolutions() {
    let le = reference();
    let recs = records(&le);
    let frames: Vec<&[u8]> = recs
        .iter()
        .map(|&(at, len)| &le[at + 16..at + len])
        .collect();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut file = block(0x0a0d_0d0a, &shb);
    // Interface 0: Ethernet, microseconds (default). Interface 1: raw IP, nanoseconds.
    file.extend(interface(1, None));
    file.extend(interface(101, Some(9)));
    // The reference's frames alternate between the interfaces; on interface
    // 1 the Ethernet header is stripped (raw IP).
    let base_us: u64 = 1_402_490_912_000_000;
    for (i, frame) in frames.iter().enumerate() {
        if i % 2 == 0 {
            file.extend(enhanced_packet(0, base_us + i as u64, frame));
        } else {
            file.extend(enhanced_packet(
                1,
                (base_us + i as u64) * 1000 + 7,
                &frame[14..],
            ));
        }
    }
    let mut reader = CaptureReader::from_reader(Cursor::new(file.clone()), "two.pcapng").unwrap();
    assert_eq!(reader.format(), CaptureFormat::PcapNg);
    let mut i = 0;
    while let Some(p) = reader.next_packet() {
        let (link, nsec) = if i % 2 == 0 {
            (LinkType::ETHERNET, (i as u32) * 1000)
        } else {
            (LinkType::RAW, (i as u32) * 1000 + 7)
        };
        assert_eq!(p.link_type, link, "packet {i}");
        assert_eq!(p.ts_raw.sec, 1_402_490_912);
        assert_eq!(p.ts_raw.nsec, nsec, "packet {i}");
        assert_eq!(p.interface, (i % 2) as u32);
        i += 1;
    }
    assert_eq!(i, 48);
    assert!(reader.warnings().is_empty(), "{:?}", reader.warnings());
    assert_eq!(reader.ts_precision(), TsPrecision::Nano);
    // Same flows and bytes as the original.
    assert_eq!(streams(file.clone()), streams(le));
    // Truncated pcapng: a warning, the packets before it.
    let (packets, warnings) = read_all(file[..file.len() - 30].to_vec());
    assert_eq!(packets.len(), 47);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}
