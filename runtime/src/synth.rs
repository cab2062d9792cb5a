//! Synthetic captures from transcripts: `C:` / `S:` lines in, a valid
//! Ethernet/IPv4 (or IPv6)/TCP pcap out.
//!
//! One job: make test and benchmark captures whose reassembled streams are
//! known byte for byte, cut and shuffled in controlled ways.
//!
//! # Transcript format
//!
//! ```text
//! # A comment. Blank lines are ignored.
//! S: 220 foo.com Simple Mail Transfer Service Ready
//! C: EHLO bar.com
//! S: 250-foo.com greets bar.com
//! S: 250 DSN
//! C: HELO bare\n
//! C: DATA
//! C: @file body.eml
//! ```
//!
//! - `C:` lines are sent by the client (the initiator), `S:` lines by the
//!   server. One space after the colon is skipped; the rest is the line.
//! - Each line is sent followed by CRLF, unless it ends with an escaped line
//!   ending: a line ending in `\n` (backslash, n) is sent with that bare LF
//!   and no CRLF; a line ending in `\c` is sent with no line ending at all.
//! - Escapes: `\r`, `\n`, `\t`, `\\`, `\xHH` (one byte), `\c` (at the end only).
//! - `C: @file PATH` (or `S: @file PATH`) sends the bytes of a file verbatim,
//!   nothing added; `PATH` is relative to the transcript's directory.
//! - Consecutive lines of the same side form one message, sent at once (cut
//!   into segments); the other side then acknowledges it.
//!
//! # The capture
//!
//! A three-way handshake, then each message in transcript order, cut into
//! segments of at most `segment_size` bytes (or at random points with
//! [`Split::Random`]), each carrying the ACK of everything the other side has
//! sent, then a pure ACK from the receiver (with `ack_every`, also one every
//! few segments, as TCP stacks do); at the end the client sends FIN, the
//! server FIN+ACK, the client the last ACK. With `reorder` the segments of
//! each message are sent in a random order; with `duplicate` some are sent
//! twice. `sessions` copies of the session run interleaved packet by packet,
//! client ports counting up from the client's; with `concurrency` at most
//! that many are in flight, the next starting when one ends (sessions are
//! planned as they start, so memory follows the concurrency, not the count).
//! Everything random comes from one seeded generator: the same options give
//! the same bytes.
//!
//! Invariants: every segment is acknowledged only after it was sent, so a
//! reassembler never sees an ACK beyond data it has not been given (no false
//! gaps); timestamps increase by 100 µs per packet.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::capture::{LinkType, RawTimestamp, TsPrecision};
use crate::pcap_writer::{PcapWriteError, PcapWriter, DEFAULT_SNAPLEN};

/// Which side sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One message: consecutive lines of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub side: Side,
    pub bytes: Vec<u8>,
}

/// A parsed transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    pub messages: Vec<Message>,
}

/// Why a transcript could not be read or a capture written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("line {line}: cannot read `{path}`: {source}")]
    File {
        line: usize,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot read transcript `{path}`: {source}")]
    Transcript { path: PathBuf, source: io::Error },
    #[error("client {client} and server {server} are not of the same IP version")]
    MixedFamilies {
        client: SocketAddr,
        server: SocketAddr,
    },
    #[error("segment size must be between 1 and {MAX_SEGMENT_SIZE}, not {0}")]
    SegmentSize(usize),
    #[error("cannot build a packet: {0}")]
    Build(String),
    #[error(transparent)]
    Write(#[from] PcapWriteError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Transcript {
    /// Reads a transcript file; `@file` paths are relative to its directory.
    pub fn from_file(path: &Path) -> Result<Transcript, SynthError> {
        let text = fs::read_to_string(path).map_err(|source| SynthError::Transcript {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        Transcript::parse(&text, dir)
    }

    /// Parses a transcript; `@file` paths are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Transcript, SynthError> {
        let mut messages: Vec<Message> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (side, rest) = if let Some(rest) = trimmed.strip_prefix("C:") {
                (Side::Client, rest)
            } else if let Some(rest) = trimmed.strip_prefix("S:") {
                (Side::Server, rest)
            } else {
                let message = format!(
                    "expected `C:` or `S:` at the start of the line, found {:?}",
                    truncate(trimmed)
                );
                return Err(SynthError::Syntax { line, message });
            };
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let bytes = match rest.strip_prefix("@file ") {
                Some(file) => {
                    let path = dir.join(file.trim());
                    fs::read(&path).map_err(|source| SynthError::File { line, path, source })?
                }
                None => {
                    decode_line(rest).map_err(|message| SynthError::Syntax { line, message })?
                }
            };
            match messages.last_mut() {
                Some(last) if last.side == side => last.bytes.extend_from_slice(&bytes),
                _ => messages.push(Message { side, bytes }),
            }
        }
        Ok(Transcript { messages })
    }

    /// Everything one side sends, concatenated: its reassembled stream.
    pub fn stream(&self, side: Side) -> Vec<u8> {
        self.messages
            .iter()
            .filter(|m| m.side == side)
            .flat_map(|m| m.bytes.iter().copied())
            .collect()
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(20).collect()
}

/// Decodes one line's escapes and adds its line ending.
fn decode_line(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut chars = text.chars().peekable();
    let mut ending = &b"\r\n"[..];
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escape = chars
            .next()
            .ok_or("a line cannot end with a lone `\\` (write `\\\\`)")?;
        let at_end = chars.peek().is_none();
        match escape {
            'r' => out.push(b'\r'),
            'n' => {
                out.push(b'\n');
                if at_end {
                    ending = b"";
                }
            }
            't' => out.push(b'\t'),
            '\\' => out.push(b'\\'),
            'c' if at_end => ending = b"",
            'c' => return Err("`\\c` (no line ending) must end the line".to_string()),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("`\\x` needs two hex digits, found {hex:?}"))?;
                out.push(byte);
            }
            other => {
                return Err(format!(
                    "unknown escape `\\{other}` (known: \\r \\n \\t \\\\ \\xHH \\c)"
                ))
            }
        }
    }
    out.extend_from_slice(ending);
    Ok(out)
}

/// How messages are cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Segments of exactly `segment_size` bytes (the last one shorter).
    Fixed,
    /// Random lengths from 1 to `segment_size`.
    Random,
}

/// How to build the capture.
#[derive(Debug, Clone)]
pub struct Options {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Largest payload of one segment.
    pub segment_size: usize,
    pub split: Split,
    pub reorder: bool,
    pub duplicate: bool,
    pub seed: u64,
    /// Copies of the session, interleaved.
    pub sessions: usize,
    /// At most this many sessions in flight at once: when one ends, the next
    /// one starts. `0`: all of them at once.
    pub concurrency: usize,
    /// The receiver acknowledges every this many data segments within a
    /// message, as TCP stacks do (a sender may not have more than a window
    /// of bytes unacknowledged: stream engines that check windows, such as
    /// Suricata's, ignore data beyond it). `0`: only at the message's end.
    pub ack_every: usize,
    /// Time of the first packet.
    pub start: RawTimestamp,
    /// Initial sequence numbers (client, server) of the first session;
    /// `None`: random from the seed.
    pub isn: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000),
            server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 25),
            segment_size: 1460,
            split: Split::Fixed,
            reorder: false,
            duplicate: false,
            seed: 0,
            sessions: 1,
            concurrency: 0,
            ack_every: 0,
            start: RawTimestamp {
                sec: 1_402_490_912,
                nsec: 0,
            },
            isn: None,
        }
    }
}

impl Options {
    /// The default addresses, in IPv6 (`fd00::1` and `fd00::2`), same ports.
    pub fn ipv6(mut self) -> Options {
        self.client = SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            self.client.port(),
        );
        self.server = SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            self.server.port(),
        );
        self
    }
}

/// The largest payload that fits one IPv4 or IPv6 packet with its headers.
pub const MAX_SEGMENT_SIZE: usize = 65_000;

/// Time between two packets.
const PACKET_INTERVAL_NS: u64 = 100_000;
const WINDOW: u16 = 65_535;
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// One packet of a session's plan; the payload is a range of a message.
#[derive(Debug, Clone, Copy)]
struct Planned {
    from: Side,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    /// (message index, start, end) of the payload.
    payload: Option<(usize, usize, usize)>,
}

/// Plans one session's packets.
fn plan_session(
    transcript: &Transcript,
    options: &Options,
    isn: (u32, u32),
    rng: &mut StdRng,
) -> Vec<Planned> {
    let (client_isn, server_isn) = isn;
    let mut next = [client_isn.wrapping_add(1), server_isn.wrapping_add(1)];
    let index = |side: Side| match side {
        Side::Client => 0,
        Side::Server => 1,
    };
    let other = |side: Side| match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    };
    let mut plan = vec![
        Planned {
            from: Side::Client,
            seq: client_isn,
            ack: None,
            syn: true,
            fin: false,
            payload: None,
        },
        Planned {
            from: Side::Server,
            seq: server_isn,
            ack: Some(next[0]),
            syn: true,
            fin: false,
            payload: None,
        },
        Planned {
            from: Side::Client,
            seq: next[0],
            ack: Some(next[1]),
            syn: false,
            fin: false,
            payload: None,
        },
    ];
    for (m, message) in transcript.messages.iter().enumerate() {
        let from = message.side;
        let (me, peer) = (index(from), index(other(from)));
        let mut segments = Vec::new();
        let mut start = 0;
        while start < message.bytes.len() {
            let len = match options.split {
                Split::Fixed => options.segment_size,
                Split::Random => rng.gen_range(1..=options.segment_size),
            };
            let end = (start + len).min(message.bytes.len());
            let seq = next[me].wrapping_add(start as u32);
            segments.push(Planned {
                from,
                seq,
                ack: Some(next[peer]),
                syn: false,
                fin: false,
                payload: Some((m, start, end)),
            });
            start = end;
        }
        if options.duplicate {
            let copies: Vec<Planned> = segments
                .iter()
                .filter(|_| rng.gen_bool(0.25))
                .copied()
                .collect();
            segments.extend(copies);
        }
        if options.reorder {
            segments.shuffle(rng);
        }
        if options.ack_every > 0 {
            let receiver = other(from);
            segments = with_acks(segments, options.ack_every, |acked| Planned {
                from: receiver,
                seq: next[peer],
                ack: Some(next[me].wrapping_add(acked as u32)),
                syn: false,
                fin: false,
                payload: None,
            });
        }
        plan.extend(segments);
        next[me] = next[me].wrapping_add(message.bytes.len() as u32);
        if !message.bytes.is_empty() {
            let receiver = other(from);
            plan.push(Planned {
                from: receiver,
                seq: next[peer],
                ack: Some(next[me]),
                syn: false,
                fin: false,
                payload: None,
            });
        }
    }
    // Close: client FIN, server FIN+ACK, client ACK.
    let fin_client = Planned {
        from: Side::Client,
        seq: next[0],
        ack: Some(next[1]),
        syn: false,
        fin: true,
        payload: None,
    };
    next[0] = next[0].wrapping_add(1);
    let fin_server = Planned {
        from: Side::Server,
        seq: next[1],
        ack: Some(next[0]),
        syn: false,
        fin: true,
        payload: None,
    };
    next[1] = next[1].wrapping_add(1);
    let last_ack = Planned {
        from: Side::Client,
        seq: next[0],
        ack: Some(next[1]),
        syn: false,
        fin: false,
        payload: None,
    };
    plan.extend([fin_client, fin_server, last_ack]);
    plan
}

/// Puts a pure ACK from the receiver after every `every` data segments of one
/// message, acknowledging the bytes received in order so far (never a byte
/// not yet sent, whatever the order of the segments); `ack(n)` makes the ACK
/// of the message's first `n` bytes.
fn with_acks(segments: Vec<Planned>, every: usize, ack: impl Fn(usize) -> Planned) -> Vec<Planned> {
    let every = every.max(1);
    let count = segments.len();
    let mut out = Vec::with_capacity(count + count / every);
    // Received bytes beyond the in-order prefix: start → end, within the message.
    let mut beyond: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut in_order, mut acked) = (0usize, 0usize);
    for (k, segment) in segments.into_iter().enumerate() {
        if let Some((_, start, end)) = segment.payload {
            let known = beyond.entry(start).or_insert(end);
            *known = (*known).max(end);
        }
        while let Some(entry) = beyond.first_entry() {
            if *entry.key() > in_order {
                break;
            }
            in_order = in_order.max(entry.remove());
        }
        out.push(segment);
        // The last segment is acknowledged by the message's own final ACK.
        if (k + 1) % every == 0 && k + 1 < count && in_order > acked {
            out.push(ack(in_order));
            acked = in_order;
        }
    }
    out
}

/// Writes the capture of `transcript` under `options`; returns the number
/// of packets written.
pub fn write_pcap<W: Write>(
    transcript: &Transcript,
    options: &Options,
    out: W,
) -> Result<u64, SynthError> {
    if options.segment_size == 0 || options.segment_size > MAX_SEGMENT_SIZE {
        return Err(SynthError::SegmentSize(options.segment_size));
    }
    if options.client.is_ipv4() != options.server.is_ipv4() {
        return Err(SynthError::MixedFamilies {
            client: options.client,
            server: options.server,
        });
    }
    let mut rng = StdRng::seed_from_u64(options.seed);
    let sessions = options.sessions.max(1);
    let in_flight = match options.concurrency {
        0 => sessions,
        n => n.min(sessions),
    };
    let mut writer = PcapWriter::new(out, LinkType::ETHERNET, TsPrecision::Micro, DEFAULT_SNAPLEN)?;
    let start_ns = options.start.sec as i128 * 1_000_000_000 + i128::from(options.start.nsec);
    let mut frame = Vec::with_capacity(options.segment_size + 100);
    // The sessions in flight, in order of start: (session number, plan, cursor).
    let mut active: Vec<(usize, Vec<Planned>, usize)> = Vec::with_capacity(in_flight);
    let mut started = 0usize;
    let mut written = 0u64;
    // Round-robin over the sessions in flight, one packet each; a finished
    // session makes room for the next one, which joins the end of the round.
    loop {
        while active.len() < in_flight && started < sessions {
            let isn = match (started, options.isn) {
                (0, Some(isn)) => isn,
                _ => (rng.gen(), rng.gen()),
            };
            active.push((started, plan_session(transcript, options, isn, &mut rng), 0));
            started += 1;
        }
        if active.is_empty() {
            break;
        }
        for (s, plan, cursor) in active.iter_mut() {
            let Some(packet) = plan.get(*cursor) else {
                continue;
            };
            *cursor += 1;
            let client =
                SocketAddr::new(options.client.ip(), session_port(options.client.port(), *s));
            build_frame(&mut frame, transcript, packet, client, options.server)?;
            let ns = start_ns + i128::from(written) * i128::from(PACKET_INTERVAL_NS);
            let ts = RawTimestamp {
                sec: ns.div_euclid(1_000_000_000) as i64,
                nsec: ns.rem_euclid(1_000_000_000) as u32,
            };
            writer.write_record(ts, frame.len() as u32, &frame)?;
            written += 1;
        }
        active.retain(|(_, plan, cursor)| *cursor < plan.len());
    }
    writer.flush()?;
    Ok(written)
}

/// Client port of session `s`: counting up from `base`, wrapping within the
/// ephemeral range.
fn session_port(base: u16, s: usize) -> u16 {
    let span = 65_536 - 1024;
    let offset = (usize::from(base).saturating_sub(1024) + s) % span;
    (1024 + offset) as u16
}

fn build_frame(
    frame: &mut Vec<u8>,
    transcript: &Transcript,
    packet: &Planned,
    client: SocketAddr,
    server: SocketAddr,
) -> Result<(), SynthError> {
    let (src, dst, src_mac, dst_mac) = match packet.from {
        Side::Client => (client, server, CLIENT_MAC, SERVER_MAC),
        Side::Server => (server, client, SERVER_MAC, CLIENT_MAC),
    };
    let payload: &[u8] = packet
        .payload
        .and_then(|(m, start, end)| {
            transcript
                .messages
                .get(m)
                .and_then(|msg| msg.bytes.get(start..end))
        })
        .unwrap_or_default();
    let link = PacketBuilder::ethernet2(src_mac, dst_mac);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => link.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => link.ipv6(s.octets(), d.octets(), 64),
        // Families were checked equal in `write_pcap`.
        (s, d) => link.ipv6(to_v6(s).octets(), to_v6(d).octets(), 64),
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), packet.seq, WINDOW);
    if packet.syn {
        tcp = tcp.syn();
    }
    if packet.fin {
        tcp = tcp.fin();
    }
    if let Some(ack) = packet.ack {
        tcp = tcp.ack(ack);
    }
    if !payload.is_empty() {
        tcp = tcp.psh();
    }
    frame.clear();
    tcp.write(frame, payload)
        .map_err(|err| SynthError::Build(err.to_string()))
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_get_crlf_unless_they_ask_otherwise() {
        let t = Transcript::parse(
            "C: EHLO a\nC: bare\\n\nC: none\\c\nS: 250 \\x41\\t\\\\ ok\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(t.messages.len(), 2);
        assert_eq!(t.messages[0].bytes, b"EHLO a\r\nbare\nnone");
        assert_eq!(t.messages[1].bytes, b"250 A\t\\ ok\r\n");
        assert_eq!(t.stream(Side::Server), b"250 A\t\\ ok\r\n");
    }

    #[test]
    fn bad_lines_name_their_number() {
        let err = Transcript::parse("C: ok\nX: what\n", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = Transcript::parse("C: \\q\n", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown escape"), "{err}");
        let err = Transcript::parse("C: \\x4\n", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("two hex digits"), "{err}");
    }

    /// The client port of every packet of a capture, in order.
    fn client_ports(capture: Vec<u8>) -> Vec<u16> {
        let mut reader =
            crate::capture::CaptureReader::from_reader(io::Cursor::new(capture), "t").unwrap();
        let mut ports = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let sliced = etherparse::SlicedPacket::from_ethernet(packet.data).unwrap();
            let Some(etherparse::TransportSlice::Tcp(tcp)) = sliced.transport else {
                panic!("not TCP");
            };
            ports.push(tcp.source_port().max(tcp.destination_port()));
        }
        ports
    }

    #[test]
    fn ack_every_acknowledges_within_long_messages() {
        let t = Transcript::parse("C: HELO x\nS: 250 ok\n", Path::new(".")).unwrap();
        let body = vec![b'a'; 10_000];
        let t = Transcript {
            messages: [
                t.messages,
                vec![Message {
                    side: Side::Client,
                    bytes: body,
                }],
            ]
            .concat(),
        };
        let packets = |ack_every| {
            let options = Options {
                segment_size: 1000,
                ack_every,
                ..Options::default()
            };
            let mut out = Vec::new();
            write_pcap(&t, &options, &mut out).unwrap()
        };
        // 10 segments of the body: an ACK after the 2nd, 4th, 6th and 8th
        // (the 10th gets the message's own final ACK).
        assert_eq!(packets(2), packets(0) + 4);
        assert_eq!(packets(1), packets(0) + 9);
    }

    #[test]
    fn concurrency_bounds_the_sessions_in_flight() {
        let t = Transcript::parse("S: 220 hi\nC: HELO x\nS: 250 ok\n", Path::new(".")).unwrap();
        let options = Options {
            sessions: 5,
            seed: 3,
            ..Options::default()
        };
        let capture = |concurrency| {
            let mut out = Vec::new();
            write_pcap(
                &t,
                &Options {
                    concurrency,
                    ..options.clone()
                },
                &mut out,
            )
            .unwrap();
            out
        };
        // As many in flight as sessions is the same as no bound at all.
        assert_eq!(capture(0), capture(5));
        for bound in [1usize, 2, 3] {
            let ports = client_ports(capture(bound));
            let mut in_flight = Vec::new();
            for (i, port) in ports.iter().enumerate() {
                let last = !ports.get(i + 1..).unwrap_or_default().contains(port);
                if !in_flight.contains(port) {
                    in_flight.push(*port);
                }
                assert!(
                    in_flight.len() <= bound,
                    "bound {bound}: {in_flight:?} at packet {i}"
                );
                if last {
                    in_flight.retain(|p| p != port);
                }
            }
            let mut distinct = ports.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 5, "bound {bound}: every session is there");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_capture() {
        let t = Transcript::parse("S: 220 hi\nC: HELO x\nS: 250 ok\n", Path::new(".")).unwrap();
        let options = Options {
            split: Split::Random,
            segment_size: 3,
            reorder: true,
            duplicate: true,
            seed: 9,
            ..Options::default()
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_pcap(&t, &options, &mut a).unwrap();
        write_pcap(&t, &options, &mut b).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        write_pcap(
            &t,
            &Options {
                seed: 10,
                ..options
            },
            &mut c,
        )
        .unwrap();
        assert_ne!(a, c);
    }
}
