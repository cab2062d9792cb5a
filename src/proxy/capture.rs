//! `--output-pcap`: the relayed traffic as a synthetic capture.
//!
//! The proxy has no packets, only the bytes it wrote to each side, so it makes
//! packets up: per session a three-way handshake, then each relayed write as
//! Ethernet/IP/TCP segments of at most [`SEGMENT_SIZE`] bytes carrying the ACK
//! of everything the other side sent, then a FIN per side. The client is the
//! real client's address, the server the upstream's. Reading the file back
//! (`protoc-rs pcap`, tshark) shows each session's relayed bytes, exactly.
//!
//! (The runtime's `synth` module builds its packets from transcripts and does
//! not expose its frame builder, so this module builds its own with etherparse.)
//!
//! Invariants: within a session, sequence numbers count every relayed byte of
//! a side, so the reassembled streams are the relayed bytes in order; each
//! side sends at most one FIN; timestamps are wall-clock time.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use etherparse::PacketBuilder;
use protoc_runtime::capture::{LinkType, RawTimestamp, TsPrecision};
use protoc_runtime::dissector::Direction;
use protoc_runtime::pcap_writer::{PcapWriteError, PcapWriter, DEFAULT_SNAPLEN};

/// Largest payload of one made-up segment (an Ethernet MSS).
pub const SEGMENT_SIZE: usize = 1460;
const WINDOW: u16 = 65_535;
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// The capture file being written.
pub struct CaptureFile {
    writer: PcapWriter<BufWriter<File>>,
    frame: Vec<u8>,
}

/// One session's TCP connection as the capture shows it.
#[derive(Debug, Clone)]
pub struct TcpTrack {
    client: SocketAddr,
    server: SocketAddr,
    /// Next sequence number of (client, server).
    next_seq: [u32; 2],
    /// Whether (client, server) sent its FIN.
    fin_sent: [bool; 2],
}

impl CaptureFile {
    /// Creates `path` and writes the pcap header (Ethernet, microseconds).
    pub fn create(path: &Path) -> io::Result<CaptureFile> {
        let file = File::create(path)?;
        let writer = PcapWriter::new(
            BufWriter::new(file),
            LinkType::ETHERNET,
            TsPrecision::Micro,
            DEFAULT_SNAPLEN,
        )?;
        Ok(CaptureFile {
            writer,
            frame: Vec::with_capacity(SEGMENT_SIZE + 128),
        })
    }

    /// Writes the handshake of a new session; `seed` picks its initial
    /// sequence numbers (any value will do; the flow id keeps them distinct).
    pub fn open(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        seed: u64,
    ) -> io::Result<TcpTrack> {
        let client_isn = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        let server_isn = client_isn.rotate_left(16) ^ 0x5A5A_5A5A;
        let mut track = TcpTrack {
            client,
            server,
            next_seq: [client_isn, server_isn],
            fin_sent: [false, false],
        };
        self.segment(&track, Direction::Up, Flags::SYN, &[])?;
        track.next_seq[0] = client_isn.wrapping_add(1);
        self.segment(&track, Direction::Down, Flags::SYN_ACK, &[])?;
        track.next_seq[1] = server_isn.wrapping_add(1);
        self.segment(&track, Direction::Up, Flags::ACK, &[])?;
        Ok(track)
    }

    /// Writes `payload`, relayed in direction `dir`, as data segments.
    pub fn data(&mut self, track: &mut TcpTrack, dir: Direction, payload: &[u8]) -> io::Result<()> {
        for piece in payload.chunks(SEGMENT_SIZE) {
            self.segment(track, dir, Flags::PSH_ACK, piece)?;
            let seq = &mut track.next_seq[dir.index()];
            *seq = seq.wrapping_add(piece.len() as u32);
        }
        Ok(())
    }

    /// Writes the FIN of the side sending in direction `dir`, once.
    pub fn fin(&mut self, track: &mut TcpTrack, dir: Direction) -> io::Result<()> {
        if track.fin_sent[dir.index()] {
            return Ok(());
        }
        self.segment(track, dir, Flags::FIN_ACK, &[])?;
        track.fin_sent[dir.index()] = true;
        let seq = &mut track.next_seq[dir.index()];
        *seq = seq.wrapping_add(1);
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    fn segment(
        &mut self,
        track: &TcpTrack,
        dir: Direction,
        flags: Flags,
        payload: &[u8],
    ) -> io::Result<()> {
        let (src, dst, src_mac, dst_mac) = match dir {
            Direction::Up => (track.client, track.server, CLIENT_MAC, SERVER_MAC),
            Direction::Down => (track.server, track.client, SERVER_MAC, CLIENT_MAC),
        };
        let seq = track.next_seq[dir.index()];
        let ack = track.next_seq[dir.reverse().index()];
        let link = PacketBuilder::ethernet2(src_mac, dst_mac);
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => link.ipv4(s.octets(), d.octets(), 64),
            (s, d) => link.ipv6(to_v6(s).octets(), to_v6(d).octets(), 64),
        };
        let mut tcp = ip.tcp(src.port(), dst.port(), seq, WINDOW);
        if flags.syn {
            tcp = tcp.syn();
        }
        if flags.fin {
            tcp = tcp.fin();
        }
        if flags.ack {
            tcp = tcp.ack(ack);
        }
        if flags.psh {
            tcp = tcp.psh();
        }
        self.frame.clear();
        tcp.write(&mut self.frame, payload)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err.to_string()))?;
        let len = u32::try_from(self.frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        self.writer
            .write_record(now(), len, &self.frame)
            .map_err(|err| match err {
                PcapWriteError::Io(err) => err,
                other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
            })
    }
}

/// The TCP flags of a made-up segment.
#[derive(Debug, Clone, Copy)]
struct Flags {
    syn: bool,
    ack: bool,
    psh: bool,
    fin: bool,
}

impl Flags {
    const SYN: Flags = Flags {
        syn: true,
        ack: false,
        psh: false,
        fin: false,
    };
    const SYN_ACK: Flags = Flags {
        syn: true,
        ack: true,
        psh: false,
        fin: false,
    };
    const ACK: Flags = Flags {
        syn: false,
        ack: true,
        psh: false,
        fin: false,
    };
    const PSH_ACK: Flags = Flags {
        syn: false,
        ack: true,
        psh: true,
        fin: false,
    };
    const FIN_ACK: Flags = Flags {
        syn: false,
        ack: true,
        psh: false,
        fin: true,
    };
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Wall-clock time as a capture timestamp.
fn now() -> RawTimestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    RawTimestamp {
        sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nsec: since.subsec_nanos(),
    }
}
