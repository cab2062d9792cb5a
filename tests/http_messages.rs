//! The HTTP dissector generated from `specs/http.proto`, fed hand-made
//! conversations: a chunked response (with an extension and trailers), a
//! response read until the server closes, an interim `100 Continue`, header
//! names in any case, HEAD, 204 and 304 answers without bodies, and every
//! conversation cut at every byte. The events and the body streams must be
//! the same however the bytes come.

#[path = "fixtures/recorder.rs"]
mod recorder;

#[allow(dead_code)]
mod http {
    include!(concat!(env!("OUT_DIR"), "/http.rs"));
}

use protoc_runtime::dissector::Direction;
use protoc_runtime::value::Value;
use recorder::{bytewise, feed, whole, Entry, Recorder};

/// What the dissector reports for `segments`: requests as `> METHOD URI`,
/// responses as `< CODE`, body streams as `body(dir): CONTENT` with their
/// `last` count, alerts as `!TEXT`.
fn run(
    segments: &[(Direction, &[u8])],
    cut: &mut dyn FnMut(usize, usize) -> Vec<usize>,
) -> Vec<String> {
    let segments: Vec<(Direction, Vec<u8>)> =
        segments.iter().map(|(d, b)| (*d, b.to_vec())).collect();
    let mut dissector = http::HttpDissector::new();
    let mut recorder = Recorder::default();
    feed(&mut dissector, &mut recorder, &segments, cut);
    recorder
        .entries
        .iter()
        .map(|entry| match entry {
            Entry::Event {
                name: "request",
                fields,
                ..
            } => format!(
                "> {} {}",
                fields.field("method").as_str().unwrap_or("?"),
                fields.field("uri").as_str().unwrap_or("?")
            ),
            Entry::Event { fields, .. } => {
                format!("< {}", fields.field("code").as_int().unwrap_or(-1))
            }
            Entry::Stream {
                dir, bytes, lasts, ..
            } => format!("body({dir}): {} [{lasts}]", String::from_utf8_lossy(bytes)),
            Entry::Alert { description, .. } => format!("!{description}"),
        })
        .collect()
}

/// `segments` read the same whole, byte by byte, and cut in two anywhere.
fn reads(segments: &[(Direction, &[u8])], expected: &[&str]) {
    assert_eq!(run(segments, &mut whole), expected, "whole");
    assert_eq!(run(segments, &mut bytewise), expected, "byte by byte");
    let longest = segments.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    for split in 1..longest {
        let mut cut = |_: usize, len: usize| vec![split.min(len), len.saturating_sub(split)];
        assert_eq!(run(segments, &mut cut), expected, "cut at {split}");
    }
}

const UP: Direction = Direction::Up;
const DOWN: Direction = Direction::Down;

#[test]
fn a_chunked_response_streams_its_content_without_the_chunk_framing() {
    reads(
        &[
            (UP, b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
            (
                DOWN,
                b"HTTP/1.1 200 OK\r\ntransfer-ENCODING: Chunked\r\n\r\n\
                  5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
            ),
        ],
        &["> GET /c", "body(down): hello, world [1]", "< 200"],
    );
}

#[test]
fn a_response_without_length_reads_until_the_server_closes() {
    reads(
        &[
            (UP, b"GET /old HTTP/1.0\r\n\r\n"),
            (
                DOWN,
                b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\nall of it\nuntil the end",
            ),
        ],
        &[
            "> GET /old",
            "body(down): all of it\nuntil the end [1]",
            "< 200",
        ],
    );
}

#[test]
fn interim_answers_head_204_and_304_have_no_body() {
    reads(
        &[
            (
                UP,
                b"POST /up HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            ),
            (DOWN, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (
                UP,
                b"data\
                  HEAD /big HTTP/1.1\r\n\r\n\
                  GET /gone HTTP/1.1\r\n\r\n\
                  GET /same HTTP/1.1\r\n\r\n",
            ),
            (
                DOWN,
                b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\
                  HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n\
                  HTTP/1.1 204 No Content\r\n\r\n\
                  HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            ),
        ],
        &[
            "< 100",
            "body(up): data [1]",
            "> POST /up",
            "> HEAD /big",
            "> GET /gone",
            "> GET /same",
            "body(down): ok [1]",
            "< 201",
            "< 200",
            "< 204",
            "< 304",
        ],
    );
}

#[test]
fn headers_keep_their_names_and_values_for_events() {
    let mut recorder = Recorder::default();
    let mut dissector = http::HttpDissector::new();
    feed(
        &mut dissector,
        &mut recorder,
        &[(
            UP,
            b"GET / HTTP/1.1\r\nHost:  example.test  \r\nX-Empty:\r\n\r\n".to_vec(),
        )],
        &mut whole,
    );
    let Some(Entry::Event { fields, .. }) = recorder.entries.first() else {
        panic!("{:?}", recorder.entries);
    };
    let header = |name: &str, value: &str| {
        Value::Record(vec![
            ("name".into(), Value::Str(name.into())),
            ("value".into(), Value::Str(value.into())),
        ])
    };
    assert_eq!(
        fields.field("headers"),
        &Value::List(vec![header("Host", "example.test"), header("X-Empty", "")])
    );
    assert_eq!(fields.field("version"), &Value::Str("HTTP/1.1".into()));
}

#[test]
fn something_that_is_not_http_is_reported_and_parsing_stops() {
    let said = run(
        &[
            (UP, b"\x16\x03\x01\x02\x00 not http\r\n\r\n"),
            (UP, b"GET / HTTP/1.1\r\n\r\n"),
        ],
        &mut whole,
    );
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("!invalid http message: "), "{said:?}");
}

/// A CONNECT answered with a 2xx opens a tunnel: the dissector hands the
/// connection over (`handover port`, to the port the CONNECT names) and
/// stops. The bytes after the answer, whether they came in its segment or
/// later, are the next spec's: `take_handover` gives those it had received,
/// and the user feeds it the later ones. Whatever the cuts, the next spec
/// gets exactly the tunnel's bytes.
#[test]
fn a_connect_tunnel_hands_the_bytes_after_its_answer_over() {
    use protoc_runtime::dissector::{Cx, Dissector, HandoverTarget};
    let segments: [(Direction, &[u8]); 4] = [
        (
            UP,
            b"CONNECT mail.example:25 HTTP/1.1\r\nHost: mail.example:25\r\n\r\n",
        ),
        (
            DOWN,
            b"HTTP/1.1 200 Connection established\r\n\r\n220 mail ESMTP\r\n",
        ),
        (UP, b"EHLO client\r\n"),
        (DOWN, b"250 mail\r\n"),
    ];
    let longest = segments.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
    for split in 1..=longest {
        let mut dissector = http::HttpDissector::new();
        let mut recorder = Recorder::default();
        let flow = recorder::flow();
        let mut handed_to = None;
        let mut tunnel: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (dir, bytes) in segments {
            for piece in bytes.chunks(split) {
                if handed_to.is_some() {
                    tunnel[dir.index()].extend_from_slice(piece);
                    continue;
                }
                let mut cx = Cx {
                    flow: &flow,
                    now: 0.0,
                    sink: &mut recorder,
                };
                dissector.feed(dir, piece, &mut cx);
                if let Some(handover) = dissector.take_handover() {
                    assert_eq!(handover.dir, DOWN, "cut every {split}");
                    handed_to = Some(handover.to);
                    tunnel = handover.rest;
                }
            }
        }
        assert_eq!(
            handed_to,
            Some(HandoverTarget::Port(25)),
            "cut every {split}"
        );
        assert_eq!(
            String::from_utf8_lossy(&tunnel[DOWN.index()]),
            "220 mail ESMTP\r\n250 mail\r\n",
            "cut every {split}"
        );
        assert_eq!(
            String::from_utf8_lossy(&tunnel[UP.index()]),
            "EHLO client\r\n",
            "cut every {split}"
        );
        let events: Vec<String> = recorder
            .entries
            .iter()
            .filter_map(|entry| match entry {
                Entry::Event { name, fields, .. } => Some(format!(
                    "{name} {}",
                    fields
                        .field("method")
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| fields.field("code").as_int().map(|c| c.to_string()))
                        .unwrap_or_default()
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            events,
            ["request CONNECT", "response 200"],
            "cut every {split}"
        );
    }
}
