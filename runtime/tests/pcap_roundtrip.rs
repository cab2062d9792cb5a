//! Reading a capture and writing its packets back gives the same capture.

mod common;

use protoc_runtime::capture::{CaptureReader, TsPrecision};
use protoc_runtime::pcap_writer::PcapWriter;

#[test]
fn reference_smtp_pcap_is_reproduced_byte_for_byte() {
    let path = common::shared("reference/haka/smtp.pcap");
    let original = std::fs::read(&path).unwrap();
    let mut reader = CaptureReader::open(&path).unwrap();
    let first = reader
        .next_packet()
        .map(|p| (p.link_type, p.data.to_vec(), p.ts_raw, p.orig_len))
        .unwrap();
    let snaplen = reader.snaplen().unwrap();
    assert_eq!(reader.ts_precision(), TsPrecision::Micro);
    let mut writer = PcapWriter::new(Vec::new(), first.0, reader.ts_precision(), snaplen).unwrap();
    writer.write_record(first.2, first.3, &first.1).unwrap();
    while let Some(pkt) = reader.next_packet() {
        writer.write_packet(&pkt).unwrap();
    }
    assert!(reader.warnings().is_empty());
    assert_eq!(writer.packets_written(), 48);
    let written = writer.into_inner();
    // The whole file, header included, is identical.
    assert_eq!(written.len(), original.len());
    assert!(written == original, "rewritten capture differs");
}

#[test]
fn nanosecond_precision_survives_a_round_trip() {
    let path = common::shared("reference/haka/smtp.pcap");
    let mut reader = CaptureReader::open(&path).unwrap();
    let mut writer = None;
    let mut originals = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let mut ts = pkt.ts_raw;
        ts.nsec += 123; // below a microsecond: only a nanosecond pcap keeps it
        let w = writer.get_or_insert_with(|| {
            PcapWriter::new(Vec::new(), pkt.link_type, TsPrecision::Nano, 65535).unwrap()
        });
        w.write_record(ts, pkt.orig_len, pkt.data).unwrap();
        originals.push((ts, pkt.data.to_vec()));
    }
    let bytes = writer.unwrap().into_inner();
    let mut again = CaptureReader::from_reader(std::io::Cursor::new(bytes), "memory").unwrap();
    let mut i = 0;
    while let Some(pkt) = again.next_packet() {
        assert_eq!(pkt.ts_raw, originals[i].0);
        assert_eq!(pkt.data, originals[i].1.as_slice());
        i += 1;
    }
    assert_eq!(i, originals.len());
    assert_eq!(again.ts_precision(), TsPrecision::Nano);
}
