//! The engine on Haka's reference capture (`reference/haka/smtp.pcap`).
//!
//! Expected figures checked once with tshark:
//! `tshark -r smtp.pcap -q -z conv,tcp` lists two TCP conversations, and
//! `tshark -r smtp.pcap -q -z follow,tcp,raw,1` shows the SMTP session
//! 192.168.10.10:41155 -> 192.168.20.1:25 with 118 bytes from the client
//! and 202 bytes from the server.

mod common;

use common::{record, shared};
use protoc_runtime::dissector::Direction;
use protoc_runtime::engine::CloseReason;

#[test]
fn smtp_pcap_has_two_flows_and_the_smtp_byte_counts() {
    let (recorder, warnings) = record(&shared("reference/haka/smtp.pcap"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(recorder.flows.len(), 2);
    assert_eq!(recorder.opened, recorder.closed);
    let smtp = recorder
        .flows
        .values()
        .find(|f| f.info.as_ref().is_some_and(|i| i.dst.port() == 25))
        .expect("an SMTP flow");
    let info = smtp.info.clone().unwrap();
    assert_eq!(info.src.to_string(), "192.168.10.10:41155");
    assert_eq!(info.dst.to_string(), "192.168.20.1:25");
    let up = &smtp.bytes[Direction::Up.index()];
    let down = &smtp.bytes[Direction::Down.index()];
    assert_eq!(up.len(), 118);
    assert_eq!(down.len(), 202);
    assert!(
        down.starts_with(b"220 "),
        "{:?}",
        String::from_utf8_lossy(down)
    );
    assert!(
        up.starts_with(b"EHLO") || up.starts_with(b"HELO"),
        "{:?}",
        String::from_utf8_lossy(up)
    );
    assert_eq!(smtp.gaps, [Vec::<u64>::new(), Vec::new()]);
    assert_eq!(smtp.ends, [1, 1]);
    assert!(!smtp.after_end);
    assert_eq!(smtp.closed, Some(CloseReason::Fin));
    // Flow ids follow the order of first packets: the HTTP flow comes first.
    assert_eq!(
        recorder.flows.keys().copied().collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(info.id, 2);
}
