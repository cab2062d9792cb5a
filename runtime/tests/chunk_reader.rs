//! `ChunkReader` against `CaptureReader`: on every capture at hand and on
//! classic pcaps made big-endian, nanosecond, gzip-compressed, cut at many
//! places, with a corrupt record, over a small snap length, or larger than
//! a chunk, both readers give the same packets (bytes, timestamps, link
//! types, lengths, offsets), the same warnings and the same open errors.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use protoc_runtime::capture::chunks::CHUNK_SIZE;
use protoc_runtime::capture::{CaptureReader, ChunkReader, Packet};
use protoc_runtime::synth::{write_pcap, Options, Split, Transcript};

/// What a reader says of a packet.
fn describe(p: &Packet<'_>) -> String {
    format!(
        "{:?} {:?} link {} orig {} at {} if {} {:?}",
        p.ts_raw, p.ts, p.link_type, p.orig_len, p.file_offset, p.interface, p.data
    )
}

/// Everything `CaptureReader` reports: packets, then warnings; or its open error.
fn by_capture_reader(path: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let mut reader = CaptureReader::open(path).map_err(|e| e.to_string())?;
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet() {
        packets.push(describe(&p));
    }
    let warnings = reader
        .take_warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    Ok((packets, warnings))
}

/// The same through `ChunkReader`; also checks the chunks' numbering.
fn by_chunk_reader(path: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let mut reader = ChunkReader::open(path).map_err(|e| e.to_string())?;
    // Classic pcap is read in place; pcapng and the rest are copied.
    let pcapng = std::fs::read(path).is_ok_and(|b| b.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
    if pcapng {
        assert!(reader.copies_packets(), "{}", path.display());
    } else if std::fs::read(path).is_ok_and(|b| b.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1])) {
        assert!(!reader.copies_packets(), "{}", path.display());
    }
    let mut packets = Vec::new();
    while let Some(chunk) = reader.next_chunk() {
        assert_eq!(chunk.first_packet(), packets.len() as u64);
        assert!(!chunk.is_empty());
        packets.extend(chunk.packets().map(|p| describe(&p)));
    }
    assert_eq!(reader.packets_read(), packets.len() as u64);
    assert!(reader.next_chunk().is_none(), "a chunk after the end");
    let warnings = reader
        .take_warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    Ok((packets, warnings))
}

fn assert_same(path: &Path) {
    let expected = by_capture_reader(path);
    let got = by_chunk_reader(path);
    assert!(got == expected, "{}: readers differ", path.display());
}

fn shared_captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".pcap"))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&common::shared("corpus"), &mut out);
    walk(&common::shared("reference"), &mut out);
    out
}

#[test]
fn every_shared_capture_reads_the_same() {
    let captures = shared_captures();
    assert!(captures.len() >= 10, "{captures:?}");
    assert!(captures
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".pcapng")));
    assert!(captures
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".gz")));
    for path in captures {
        assert_same(&path);
    }
}

/// A classic little-endian microsecond pcap larger than two chunks, cut at
/// random points so that records straddle the chunks' ends.
fn big_capture() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/transcripts");
    let t = Transcript::from_file(&dir.join("smtp-large-body.txt")).unwrap();
    let options = Options {
        sessions: 90,
        split: Split::Random,
        segment_size: 1400,
        seed: 4,
        ..Options::default()
    };
    let mut pcap = Vec::new();
    write_pcap(&t, &options, &mut pcap).unwrap();
    assert!(pcap.len() > 2 * CHUNK_SIZE, "{}", pcap.len());
    pcap
}

/// Record offsets of a little-endian classic pcap.
fn record_offsets(pcap: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        out.push(at);
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    out
}

/// The same capture in big-endian byte order, and/or with nanosecond stamps.
fn convert(pcap: &[u8], big_endian: bool, nanos: bool) -> Vec<u8> {
    let u32_le = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
    let put = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let mut out = Vec::new();
    put(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    let (major, minor) = (2u16, 4u16);
    for v in [major, minor] {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }
    for at in [8, 12, 16, 20] {
        put(&mut out, u32_le(at));
    }
    for at in record_offsets(pcap) {
        let caplen = u32_le(at + 8) as usize;
        put(&mut out, u32_le(at));
        put(
            &mut out,
            u32_le(at + 4) * if nanos { 1000 } else { 1 } + u32::from(nanos) * 7,
        );
        put(&mut out, u32_le(at + 8));
        put(&mut out, u32_le(at + 12));
        out.extend_from_slice(&pcap[at + 16..at + 16 + caplen]);
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn byte_orders_precisions_compression_and_chunk_edges_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let big = big_capture();
    let mut variants: Vec<(&str, Vec<u8>)> = vec![("le-micro", big.clone())];
    variants.push(("be-micro", convert(&big, true, false)));
    variants.push(("le-nano", convert(&big, false, true)));
    variants.push(("be-nano", convert(&big, true, true)));
    variants.push(("gzip", gzip(&big)));
    // A gzip stream cut short: a read error after the records before the cut.
    let gz = gzip(&big);
    variants.push(("gzip-cut", gz[..gz.len() * 2 / 3].to_vec()));
    // A snap length below the packets' sizes: one warning, every packet read.
    let mut small_snaplen = big.clone();
    small_snaplen[16..20].copy_from_slice(&100u32.to_le_bytes());
    variants.push(("snaplen", small_snaplen));
    // A record claiming more than a packet may have, in the second chunk.
    let offsets = record_offsets(&big);
    let late = offsets
        .iter()
        .copied()
        .find(|&at| at > CHUNK_SIZE + 1000)
        .unwrap();
    let mut corrupt = big.clone();
    corrupt[late + 8..late + 12].copy_from_slice(&1_000_000u32.to_le_bytes());
    variants.push(("corrupt", corrupt));
    for (name, bytes) in variants {
        let path = dir.path().join(format!("{name}.pcap"));
        std::fs::write(&path, &bytes).unwrap();
        let (packets, warnings) = by_chunk_reader(&path).unwrap();
        assert!(packets.len() > 1000, "{name}: {}", packets.len());
        match name {
            "snaplen" | "corrupt" | "gzip-cut" => assert_eq!(warnings.len(), 1, "{name}"),
            _ => assert!(warnings.is_empty(), "{name}: {warnings:?}"),
        }
        assert_same(&path);
    }
}

#[test]
fn captures_cut_anywhere_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let reference = std::fs::read(common::shared("reference/haka/smtp.pcap")).unwrap();
    let big = big_capture();
    let offsets = record_offsets(&big);
    // Around a record crossing the first chunk's end, and around the file's end.
    let crossing = offsets
        .iter()
        .copied()
        .find(|&at| at > CHUNK_SIZE - 1500)
        .unwrap();
    let mut cuts: Vec<(Vec<u8>, usize)> = Vec::new();
    for cut in (0..80).chain([reference.len() - 1, reference.len() - 17]) {
        cuts.push((reference.clone(), cut.min(reference.len())));
    }
    for delta in [0, 1, 11, 12, 15, 16, 17, 100] {
        cuts.push((big.clone(), crossing + delta));
        cuts.push((big.clone(), CHUNK_SIZE + delta));
    }
    for (i, (bytes, cut)) in cuts.into_iter().enumerate() {
        let path = dir.path().join(format!("cut-{i}.pcap"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert_same(&path);
    }
}

#[test]
fn files_that_are_not_captures_fail_to_open_alike() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("zip", &b"PK\x03\x04 not a capture at all"[..]),
        ("short", &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0][..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let expected = by_capture_reader(&path);
        assert!(expected.is_err(), "{name}");
        assert_eq!(by_chunk_reader(&path), expected, "{name}");
    }
}
