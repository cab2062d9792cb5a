//! Packet decoding: from a captured frame to the TCP segment inside it.
//!
//! One job: peel the link layer (Ethernet with stacked 802.1Q/802.1ad VLAN
//! tags, Linux SLL and SLL2, raw IPv4/IPv6, BSD loopback), the IP layer (IPv4,
//! IPv6 with extension headers) and find the TCP header, with etherparse 0.16.
//! IP fragments (v4 and v6) are reassembled here, first-arrived bytes winning,
//! in a pool with hard caps (datagrams and bytes) and a timeout: etherparse's
//! own pool has none, so this module keeps its own.
//!
//! Invariants:
//! - never panics on packet bytes: every length is checked by etherparse or by
//!   an explicit `get`; a frame too short for its headers is [`Decoded::Malformed`];
//! - the TCP payload is exactly what the IP length says (Ethernet padding and
//!   bytes cut by the snap length are never mistaken for payload: a frame cut
//!   inside its IP datagram is `Malformed` and its bytes become a gap later);
//! - the fragment pool never holds more than [`DefragLimits::max_datagrams`]
//!   datagrams nor [`DefragLimits::max_bytes`] bytes: the oldest datagram is
//!   evicted first;
//! - the common frame (Ethernet II, IPv4 without fragmentation, a whole TCP
//!   header) takes a short path that reads the few fields the runtime needs
//!   and decodes exactly as the general path does (a property test checks
//!   it on mutated frames); anything else, or anything doubtful, takes the
//!   general path. Only fragments change the decoder's state.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use etherparse::{EtherType, IpNumber, NetSlice, SlicedPacket, TcpSlice, TransportSlice, UdpSlice};
use rustc_hash::FxHashMap;

use crate::capture::LinkType;
use crate::flow::ShardKey;

/// The TCP flags the runtime looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// A decoded TCP segment. `payload` borrows the frame (or, for a reassembled
/// IP datagram, the decoder's buffer).
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

/// A decoded UDP datagram. `payload` borrows the frame (or, for a
/// reassembled IP datagram, the decoder's buffer).
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
    /// IP, but neither TCP nor UDP (ICMP...).
    OtherIp,
    /// An IP fragment, held until its datagram is complete.
    FragmentHeld,
    /// Not IP (ARP, LLDP...).
    NotIp,
    /// A link type this decoder does not know.
    UnsupportedLink(LinkType),
    /// Too short for its headers, or inconsistent lengths.
    Malformed(String),
}

/// Caps on the IP fragment pool.
#[derive(Debug, Clone, Copy)]
pub struct DefragLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes buffered over all datagrams.
    pub max_bytes: usize,
    /// Seconds (capture time) after which an incomplete datagram is dropped.
    pub timeout: f64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 1024,
            max_bytes: 16 << 20,
            timeout: 30.0,
        }
    }
}

/// Counters of the decoding stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub fragments: u64,
    pub datagrams_reassembled: u64,
    /// Incomplete datagrams dropped to respect the pool's caps.
    pub fragments_evicted: u64,
    /// Incomplete datagrams dropped after the timeout.
    pub fragments_expired: u64,
    /// Fragments whose offsets or lengths made no sense.
    pub fragments_invalid: u64,
}

/// Decodes frames; owns the fragment pool and the buffer of the last
/// reassembled datagram.
#[derive(Debug, Default)]
pub struct Decoder {
    defrag: Defragmenter,
    reassembled: Vec<u8>,
}

impl Decoder {
    /// The fragment pool's caps.
    pub fn limits(&self) -> &DefragLimits {
        &self.defrag.limits
    }

    pub fn new(limits: DefragLimits) -> Decoder {
        Decoder {
            defrag: Defragmenter {
                limits,
                ..Defragmenter::default()
            },
            reassembled: Vec::new(),
        }
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.defrag.stats
    }

    /// Bytes held by the fragment pool.
    pub fn buffered_fragment_bytes(&self) -> usize {
        self.defrag.bytes
    }

    /// Decodes one frame of link type `link`, captured at `ts`.
    pub fn decode<'a>(&'a mut self, link: LinkType, frame: &'a [u8], ts: f64) -> Decoded<'a> {
        if link == LinkType::ETHERNET {
            if let Some(segment) = ethernet_ipv4_tcp(frame) {
                return Decoded::Tcp(segment);
            }
        }
        self.decode_general(link, frame, ts)
    }

    /// [`Decoder::decode`] through etherparse, for every frame.
    fn decode_general<'a>(&'a mut self, link: LinkType, frame: &'a [u8], ts: f64) -> Decoded<'a> {
        let sliced = match slice_link(link, frame) {
            Ok(sliced) => sliced,
            Err(decoded) => return decoded,
        };
        let Some(net) = &sliced.net else {
            return Decoded::NotIp;
        };
        let (src_ip, dst_ip) = addresses(net);
        let Some(ip_payload) = net.ip_payload_ref() else {
            return Decoded::NotIp;
        };
        if let Some((fragment, bytes)) = fragment_of(net, frame) {
            let key = FragKey {
                src: src_ip,
                dst: dst_ip,
                id: fragment.id,
                proto: fragment.proto,
            };
            return match self
                .defrag
                .add(key, fragment, bytes, ts, &mut self.reassembled)
            {
                Some(proto) if proto == IpNumber::TCP => {
                    tcp_segment(src_ip, dst_ip, &self.reassembled)
                }
                Some(proto) if proto == IpNumber::UDP => {
                    udp_datagram(src_ip, dst_ip, &self.reassembled)
                }
                Some(_) => Decoded::OtherIp,
                None => Decoded::FragmentHeld,
            };
        }
        match &sliced.transport {
            Some(TransportSlice::Tcp(tcp)) => Decoded::Tcp(segment_from(src_ip, dst_ip, tcp)),
            Some(TransportSlice::Udp(udp)) => Decoded::Udp(datagram_from(src_ip, dst_ip, udp)),
            Some(_) => Decoded::OtherIp,
            None if ip_payload.ip_number == IpNumber::TCP => {
                Decoded::Malformed("TCP header missing".to_string())
            }
            None => Decoded::OtherIp,
        }
    }
}

/// The [`ShardKey`] of the connection of a frame that takes the short path
/// (Ethernet II, IPv4 not fragmented, TCP), read straight from its bytes:
/// the key of the endpoints [`Decoder::decode`] would find, without a
/// decoder. `None` for every other frame (those may change a decoder's
/// state: IP fragments). What finds each packet's shard when a capture is
/// split over threads.
#[inline]
pub fn tcp_shard_key(link: LinkType, frame: &[u8]) -> Option<ShardKey> {
    if link != LinkType::ETHERNET {
        return None;
    }
    let (ip, tcp, _) = ethernet_ipv4_tcp_headers(frame)?;
    let word = |bytes: &[u8], at: usize| Some(u32::from_be_bytes(*bytes.get(at..)?.first_chunk()?));
    let port = |at: usize| Some(u16::from_be_bytes(*tcp.get(at..)?.first_chunk()?));
    Some(ShardKey::v4(
        word(ip, 12)?,
        port(0)?,
        word(ip, 16)?,
        port(2)?,
    ))
}

/// The short path: an Ethernet II frame (no VLAN tag) carrying an IPv4
/// datagram that is not a fragment, carrying TCP with a whole header. `None`
/// for anything else, including every inconsistent length: the general path
/// then decides (and reports what is wrong).
fn ethernet_ipv4_tcp(frame: &[u8]) -> Option<TcpSegment<'_>> {
    let (ip, tcp, data_offset) = ethernet_ipv4_tcp_headers(frame)?;
    let be16 = |at: usize| Some(u16::from_be_bytes(*tcp.get(at..)?.first_chunk()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(*tcp.get(at..)?.first_chunk()?));
    let src = Ipv4Addr::from(*ip.get(12..)?.first_chunk::<4>()?);
    let dst = Ipv4Addr::from(*ip.get(16..)?.first_chunk::<4>()?);
    let flags = *tcp.get(13)?;
    Some(TcpSegment {
        src: SocketAddr::new(IpAddr::V4(src), be16(0)?),
        dst: SocketAddr::new(IpAddr::V4(dst), be16(2)?),
        seq: be32(4)?,
        ack: be32(8)?,
        flags: TcpFlags {
            fin: flags & 0x01 != 0,
            syn: flags & 0x02 != 0,
            rst: flags & 0x04 != 0,
            ack: flags & 0x10 != 0,
        },
        payload: tcp.get(data_offset..)?,
    })
}

/// The short path's checks: the frame's IPv4 header, its TCP segment (header
/// and payload) and the TCP header's length, if it takes the short path.
#[inline]
fn ethernet_ipv4_tcp_headers(frame: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    let be16 = |bytes: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(*bytes.get(at..)?.first_chunk::<2>()?))
    };
    if be16(frame, 12)? != 0x0800 {
        return None;
    }
    let ip = frame.get(14..)?;
    let version_ihl = *ip.first()?;
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(be16(ip, 2)?);
    let fragmenting = be16(ip, 6)? & 0x3fff != 0; // more-fragments flag or an offset
    if version_ihl >> 4 != 4
        || header_len < 20
        || total_len < header_len
        || total_len > ip.len()
        || fragmenting
        || *ip.get(9)? != 6
    {
        return None;
    }
    let tcp = ip.get(header_len..total_len)?;
    let data_offset = usize::from(*tcp.get(12)? >> 4) * 4;
    if data_offset < 20 || data_offset > tcp.len() {
        return None;
    }
    Some((ip, tcp, data_offset))
}

/// Slices a frame from its link layer down, or says why not.
fn slice_link(link: LinkType, frame: &[u8]) -> Result<SlicedPacket<'_>, Decoded<'static>> {
    let malformed = |err: etherparse::err::packet::SliceError| Decoded::Malformed(err.to_string());
    match link {
        LinkType::ETHERNET => SlicedPacket::from_ethernet(frame).map_err(malformed),
        LinkType::LINUX_SLL => SlicedPacket::from_linux_sll(frame).map_err(malformed),
        LinkType::LINUX_SLL2 => {
            // SLL2: protocol type (2), reserved (2), interface index (4),
            // ARPHRD type (2), packet type (1), address length (1), address (8).
            let (Some(&proto), Some(rest)) = (frame.first_chunk::<2>(), frame.get(20..)) else {
                return Err(Decoded::Malformed(
                    "frame shorter than a Linux SLL2 header".to_string(),
                ));
            };
            let ether_type = EtherType(u16::from_be_bytes(proto));
            SlicedPacket::from_ether_type(ether_type, rest).map_err(malformed)
        }
        LinkType::NULL | LinkType::LOOP => {
            let (Some(&family), Some(rest)) = (frame.first_chunk::<4>(), frame.get(4..)) else {
                return Err(Decoded::Malformed(
                    "frame shorter than a loopback header".to_string(),
                ));
            };
            // NULL stores the family in the capturing host's byte order: accept both.
            let value = if link == LinkType::LOOP {
                u32::from_be_bytes(family)
            } else {
                u32::from_le_bytes(family).min(u32::from_be_bytes(family))
            };
            match value {
                // AF_INET everywhere; AF_INET6 on BSDs (24), FreeBSD (28), macOS (30), Linux (10).
                2 | 10 | 24 | 28 | 30 => SlicedPacket::from_ip(rest).map_err(malformed),
                _ => Err(Decoded::NotIp),
            }
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 | LinkType::IPV4 | LinkType::IPV6 => {
            SlicedPacket::from_ip(frame).map_err(malformed)
        }
        other => Err(Decoded::UnsupportedLink(other)),
    }
}

fn addresses(net: &NetSlice<'_>) -> (IpAddr, IpAddr) {
    match net {
        NetSlice::Ipv4(v4) => {
            let header = v4.header();
            (
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
            )
        }
        NetSlice::Ipv6(v6) => {
            let header = v6.header();
            (
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
            )
        }
    }
}

fn segment_from<'a>(src: IpAddr, dst: IpAddr, tcp: &TcpSlice<'a>) -> TcpSegment<'a> {
    TcpSegment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
    }
}

fn tcp_segment(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> Decoded<'_> {
    match TcpSlice::from_slice(datagram) {
        Ok(tcp) => Decoded::Tcp(segment_from(src, dst, &tcp)),
        Err(err) => Decoded::Malformed(format!("reassembled datagram: {err}")),
    }
}

fn datagram_from<'a>(src: IpAddr, dst: IpAddr, udp: &UdpSlice<'a>) -> UdpDatagram<'a> {
    UdpDatagram {
        src: SocketAddr::new(src, udp.source_port()),
        dst: SocketAddr::new(dst, udp.destination_port()),
        payload: udp.payload(),
    }
}

fn udp_datagram(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> Decoded<'_> {
    match UdpSlice::from_slice(datagram) {
        Ok(udp) => Decoded::Udp(datagram_from(src, dst, &udp)),
        Err(err) => Decoded::Malformed(format!("reassembled datagram: {err}")),
    }
}

/// What the IP header says about one fragment.
#[derive(Debug, Clone, Copy)]
struct Fragment {
    id: u32,
    /// The protocol of the datagram's payload.
    proto: IpNumber,
    /// Offset of this fragment's bytes in the datagram's payload.
    offset: usize,
    more: bool,
}

/// The fragment a packet is, if it is one (offset or more-fragments set),
/// with the bytes it carries. `frame` is the slice `net` was cut from.
///
/// IPv6 fragment headers are read here, not through etherparse 0.16, whose
/// `Ipv6FragmentHeaderSlice` reads the offset and M flag in a layout that is
/// not RFC 8200's (it takes the M flag from the top bit of the fourth byte).
/// For the same reason the payload is located from the fragment header's
/// position, not taken from etherparse's payload slice.
fn fragment_of<'a>(net: &NetSlice<'a>, frame: &'a [u8]) -> Option<(Fragment, &'a [u8])> {
    match net {
        NetSlice::Ipv4(v4) => {
            let header = v4.header();
            let fragment = Fragment {
                id: u32::from(header.identification()),
                proto: header.protocol(),
                offset: usize::from(header.fragments_offset().byte_offset()),
                more: header.more_fragments(),
            };
            let fragmenting = fragment.more || fragment.offset != 0;
            fragmenting.then_some((fragment, v4.payload().payload))
        }
        NetSlice::Ipv6(v6) => {
            let raw = v6
                .extensions()
                .clone()
                .into_iter()
                .find_map(|ext| match ext {
                    etherparse::Ipv6ExtensionSlice::Fragment(frag) => Some(frag.slice()),
                    _ => None,
                })?;
            let [next_header, _, high, low, a, b, c, d] = *raw.first_chunk::<8>()?;
            let fragment = Fragment {
                id: u32::from_be_bytes([a, b, c, d]),
                proto: IpNumber(next_header),
                offset: ((usize::from(high) << 5) | usize::from(low >> 3)) * 8,
                more: low & 1 == 1,
            };
            if !fragment.more && fragment.offset == 0 {
                return None;
            }
            let header = v6.header();
            let base = frame.as_ptr() as usize;
            let start = (raw.as_ptr() as usize).checked_sub(base)? + raw.len();
            let end = (header.slice().as_ptr() as usize).checked_sub(base)?
                + 40
                + usize::from(header.payload_length());
            Some((fragment, frame.get(start..end)?))
        }
    }
}

/// A datagram's identity: RFC 791 (v4) and RFC 8200 (v6) both key on
/// addresses, identification and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: IpNumber,
}

/// A datagram being reassembled.
#[derive(Debug)]
struct Datagram {
    first_seen: f64,
    data: Vec<u8>,
    /// Byte ranges of `data` received, sorted, disjoint and not touching.
    covered: Vec<(usize, usize)>,
    /// The payload's length, known once the last fragment arrived.
    total: Option<usize>,
}

/// The largest IP payload a fragment may reach (IPv4's 16-bit total length).
const MAX_DATAGRAM: usize = 65_535;

#[derive(Debug, Default)]
struct Defragmenter {
    limits: DefragLimits,
    datagrams: FxHashMap<FragKey, Datagram>,
    /// Sum of `data.len()` over `datagrams`.
    bytes: usize,
    stats: DecodeStats,
}

impl Defragmenter {
    /// Adds a fragment. When it completes its datagram, the payload is moved
    /// into `out` and its protocol returned.
    fn add(
        &mut self,
        key: FragKey,
        frag: Fragment,
        bytes: &[u8],
        ts: f64,
        out: &mut Vec<u8>,
    ) -> Option<IpNumber> {
        self.stats.fragments += 1;
        self.expire(ts);
        let end = frag
            .offset
            .checked_add(bytes.len())
            .filter(|&end| end <= MAX_DATAGRAM);
        let Some(end) = end else {
            self.stats.fragments_invalid += 1;
            return None;
        };
        if !self.datagrams.contains_key(&key) {
            self.make_room(end);
            if self.limits.max_datagrams == 0 || end > self.limits.max_bytes {
                self.stats.fragments_evicted += 1;
                return None;
            }
            let datagram = Datagram {
                first_seen: ts,
                data: Vec::new(),
                covered: Vec::new(),
                total: None,
            };
            self.datagrams.insert(key, datagram);
        }
        let datagram = self.datagrams.get_mut(&key)?;
        let grow = end.saturating_sub(datagram.data.len());
        if grow > 0 && self.bytes + grow > self.limits.max_bytes {
            self.bytes -= datagram.data.len();
            self.datagrams.remove(&key);
            self.stats.fragments_evicted += 1;
            return None;
        }
        let inconsistent = match datagram.total {
            Some(total) => end > total || (!frag.more && end != total),
            None => !frag.more && datagram.covered.last().is_some_and(|&(_, last)| last > end),
        };
        if inconsistent {
            self.stats.fragments_invalid += 1;
            return None;
        }
        if !frag.more {
            datagram.total = Some(end);
        }
        if grow > 0 {
            datagram.data.resize(end, 0);
            self.bytes += grow;
        }
        fill_uncovered(datagram, frag.offset, bytes);
        let complete = datagram
            .total
            .is_some_and(|total| datagram.covered.as_slice() == [(0, total)]);
        if !complete {
            return None;
        }
        let datagram = self.datagrams.remove(&key)?;
        self.bytes -= datagram.data.len();
        self.stats.datagrams_reassembled += 1;
        *out = datagram.data;
        Some(frag.proto)
    }

    /// Drops datagrams older than the timeout.
    fn expire(&mut self, now: f64) {
        let timeout = self.limits.timeout;
        let before = self.datagrams.len();
        let mut freed = 0;
        self.datagrams.retain(|_, d| {
            let keep = now - d.first_seen <= timeout;
            if !keep {
                freed += d.data.len();
            }
            keep
        });
        self.bytes -= freed;
        self.stats.fragments_expired += (before - self.datagrams.len()) as u64;
    }

    /// Evicts the oldest datagrams until one more of `incoming` bytes fits.
    fn make_room(&mut self, incoming: usize) {
        while !self.datagrams.is_empty()
            && (self.datagrams.len() >= self.limits.max_datagrams
                || self.bytes + incoming > self.limits.max_bytes)
        {
            let oldest = self
                .datagrams
                .iter()
                .min_by(|a, b| a.1.first_seen.total_cmp(&b.1.first_seen))
                .map(|(key, _)| *key);
            let Some(oldest) = oldest else { break };
            if let Some(d) = self.datagrams.remove(&oldest) {
                self.bytes -= d.data.len();
                self.stats.fragments_evicted += 1;
            }
        }
    }
}

/// Copies the parts of `bytes` (at `offset`) not yet covered: the first
/// fragment to bring a byte wins. Keeps `covered` sorted and merged.
fn fill_uncovered(datagram: &mut Datagram, offset: usize, bytes: &[u8]) {
    let end = offset + bytes.len();
    let mut pos = offset;
    let mut pieces = Vec::new();
    for &(start, stop) in &datagram.covered {
        if stop <= pos || start >= end {
            continue;
        }
        if start > pos {
            pieces.push((pos, start));
        }
        pos = pos.max(stop);
    }
    if pos < end {
        pieces.push((pos, end));
    }
    for &(start, stop) in &pieces {
        if let (Some(dst), Some(src)) = (
            datagram.data.get_mut(start..stop),
            bytes.get(start - offset..stop - offset),
        ) {
            dst.copy_from_slice(src);
        }
    }
    datagram.covered.push((offset, end));
    datagram.covered.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(datagram.covered.len());
    for &(start, stop) in &datagram.covered {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(stop),
            _ => merged.push((start, stop)),
        }
    }
    datagram.covered = merged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 25, 1000, 65535)
            .ack(77);
        let mut frame = Vec::new();
        let _ = builder.write(&mut frame, payload);
        frame
    }

    /// What a decoding says, comparable.
    fn summary(decoded: &Decoded<'_>) -> String {
        match decoded {
            Decoded::Tcp(seg) => format!("{seg:?}"),
            other => format!("not a segment: {other:?}"),
        }
    }

    proptest::proptest! {
        /// The short path says what the general path says, on TCP frames
        /// (with options, flags, padding) whose bytes were then overwritten
        /// or cut anywhere; so does the shard key read from the bytes.
        #[test]
        fn the_short_path_decodes_as_the_general_path(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            flags in 0u8..64,
            options in 0usize..3,
            padding in 0usize..8,
            edits in proptest::collection::vec((0usize..120, proptest::num::u8::ANY), 0..4),
            cut in 0usize..140,
        ) {
            let mut tcp = etherparse::TcpHeader::new(40000, 25, 7, 1000);
            tcp.syn = flags & 1 != 0;
            tcp.ack = flags & 2 != 0;
            tcp.fin = flags & 4 != 0;
            tcp.rst = flags & 8 != 0;
            tcp.acknowledgment_number = 99;
            let nops = vec![etherparse::TcpOptionElement::Noop; options * 4];
            let _ = tcp.set_options(&nops);
            let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp_header(tcp);
            let mut frame = Vec::new();
            let _ = builder.write(&mut frame, &payload);
            frame.extend(std::iter::repeat_n(0u8, padding));
            for (at, byte) in edits {
                if let Some(b) = frame.get_mut(at) {
                    *b = byte;
                }
            }
            frame.truncate(cut.max(1));
            // The shard key read from the bytes is the key of the endpoints
            // the short path finds, and there only.
            let short_key = ethernet_ipv4_tcp(&frame).map(|short| ShardKey::of(short.src, short.dst));
            proptest::prop_assert_eq!(tcp_shard_key(LinkType::ETHERNET, &frame), short_key);
            if let Some(short) = ethernet_ipv4_tcp(&frame) {
                let mut decoder = Decoder::default();
                let general = summary(&decoder.decode_general(LinkType::ETHERNET, &frame, 0.0));
                proptest::prop_assert_eq!(summary(&Decoded::Tcp(short)), general);
            }
        }
    }

    #[test]
    fn the_short_path_takes_the_common_frame_and_leaves_the_rest() {
        let frame = tcp_frame(b"hello");
        assert!(ethernet_ipv4_tcp(&frame).is_some());
        // A fragment (more-fragments flag), a VLAN tag, a cut datagram: general path.
        let mut fragment = frame.clone();
        fragment[14 + 6] |= 0x20;
        assert!(ethernet_ipv4_tcp(&fragment).is_none());
        let mut tagged = frame.clone();
        tagged[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(ethernet_ipv4_tcp(&tagged).is_none());
        assert!(ethernet_ipv4_tcp(&frame[..frame.len() - 1]).is_none());
    }

    #[test]
    fn ethernet_tcp_is_decoded() {
        let frame = tcp_frame(b"hello");
        let mut decoder = Decoder::default();
        match decoder.decode(LinkType::ETHERNET, &frame, 0.0) {
            Decoded::Tcp(seg) => {
                assert_eq!(seg.src, "10.0.0.1:1234".parse().unwrap());
                assert_eq!(seg.dst, "10.0.0.2:25".parse().unwrap());
                assert_eq!(seg.seq, 1000);
                assert_eq!(seg.ack, 77);
                assert!(seg.flags.ack && !seg.flags.syn);
                assert_eq!(seg.payload, b"hello");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut frame = tcp_frame(b"");
        frame.extend_from_slice(&[0u8; 6]);
        let mut decoder = Decoder::default();
        let Decoded::Tcp(seg) = decoder.decode(LinkType::ETHERNET, &frame, 0.0) else {
            panic!("not tcp")
        };
        assert!(seg.payload.is_empty());
    }

    #[test]
    fn every_truncation_is_malformed_never_a_panic() {
        let frame = tcp_frame(b"some payload");
        let mut decoder = Decoder::default();
        for cut in 0..frame.len() {
            let decoded = decoder.decode(LinkType::ETHERNET, &frame[..cut], 0.0);
            assert!(
                matches!(decoded, Decoded::Malformed(_) | Decoded::NotIp),
                "cut {cut}: {decoded:?}"
            );
        }
    }

    #[test]
    fn loopback_and_sll2_carry_ip() {
        let frame = tcp_frame(b"x");
        let ip = &frame[14..];
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        let mut decoder = Decoder::default();
        assert!(matches!(
            decoder.decode(LinkType::NULL, &null, 0.0),
            Decoded::Tcp(_)
        ));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(ip);
        assert!(matches!(
            decoder.decode(LinkType::LINUX_SLL2, &sll2, 0.0),
            Decoded::Tcp(_)
        ));
        assert!(matches!(
            decoder.decode(LinkType::RAW, ip, 0.0),
            Decoded::Tcp(_)
        ));
        assert!(matches!(
            decoder.decode(LinkType(147), ip, 0.0),
            Decoded::UnsupportedLink(LinkType(147))
        ));
    }

    #[test]
    fn stacked_vlan_tags_and_linux_sll_carry_ip() {
        let frame = tcp_frame(b"vlan");
        // 802.1ad outer tag, then 802.1Q inner tag, then IPv4.
        let mut stacked = frame[..12].to_vec();
        stacked.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8]);
        stacked.extend_from_slice(&frame[12..]);
        let mut decoder = Decoder::default();
        let Decoded::Tcp(seg) = decoder.decode(LinkType::ETHERNET, &stacked, 0.0) else {
            panic!("not tcp")
        };
        assert_eq!(seg.payload, b"vlan");
        // Linux cooked capture v1: 16-byte header ending with the protocol.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&frame[14..]);
        let Decoded::Tcp(seg) = decoder.decode(LinkType::LINUX_SLL, &sll, 0.0) else {
            panic!("not tcp")
        };
        assert_eq!(seg.payload, b"vlan");
    }

    /// Splits the IP payload of `frame` (Ethernet/IPv4) into fragments of
    /// `size` bytes (a multiple of 8), each a full Ethernet/IPv4 frame.
    fn fragments(frame: &[u8], size: usize) -> Vec<Vec<u8>> {
        let (eth_ip, payload) = frame.split_at(14 + 20);
        let mut out = Vec::new();
        for (i, chunk) in payload.chunks(size).enumerate() {
            let mut f = eth_ip.to_vec();
            let total = (20 + chunk.len()) as u16;
            f[14 + 2..14 + 4].copy_from_slice(&total.to_be_bytes());
            let offset = (i * size / 8) as u16;
            let more = (i + 1) * size < payload.len();
            let flags = if more { 0x2000 } else { 0 } | offset;
            f[14 + 6..14 + 8].copy_from_slice(&flags.to_be_bytes());
            f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
            f.extend_from_slice(chunk);
            out.push(f);
        }
        out
    }

    #[test]
    fn ipv4_fragments_reassemble_in_any_order() {
        let payload: Vec<u8> = (0..200u8).collect();
        let frame = tcp_frame(&payload);
        let mut frags = fragments(&frame, 64);
        frags.reverse();
        let mut decoder = Decoder::default();
        let last = frags.len() - 1;
        for (i, f) in frags.iter().enumerate() {
            let decoded = decoder.decode(LinkType::ETHERNET, f, 0.0);
            if i < last {
                assert!(matches!(decoded, Decoded::FragmentHeld), "{decoded:?}");
            } else {
                let Decoded::Tcp(seg) = decoded else {
                    panic!("not reassembled: {decoded:?}")
                };
                assert_eq!(seg.payload, payload.as_slice());
            }
        }
        assert_eq!(decoder.stats().datagrams_reassembled, 1);
        assert_eq!(decoder.buffered_fragment_bytes(), 0);
    }

    #[test]
    fn fragment_pool_is_capped() {
        let limits = DefragLimits {
            max_datagrams: 4,
            max_bytes: 1 << 20,
            timeout: 30.0,
        };
        let mut decoder = Decoder::new(limits);
        for id in 0..100u16 {
            let mut frame = tcp_frame(&[7u8; 100]);
            frame[14 + 4..14 + 6].copy_from_slice(&id.to_be_bytes());
            let first = fragments(&frame, 64).into_iter().next().unwrap();
            assert!(matches!(
                decoder.decode(LinkType::ETHERNET, &first, 0.0),
                Decoded::FragmentHeld
            ));
            assert!(decoder.defrag.datagrams.len() <= 4);
        }
        assert_eq!(decoder.stats().fragments_evicted, 96);
    }

    /// An IPv6 packet's payload cut into fragments (RFC 8200 fragment
    /// headers) of `size` bytes, a multiple of 8. (The same layout written by
    /// hand into a pcap is shown by tshark as `off=48 more=y`.)
    fn ipv6_fragments(payload: &[u8], size: usize) -> Vec<Vec<u8>> {
        let builder = PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64).tcp(4000, 25, 77, 1000);
        let mut packet = Vec::new();
        let _ = builder.write(&mut packet, payload);
        let (header, transport) = packet.split_at(40);
        let mut out = Vec::new();
        for (i, chunk) in transport.chunks(size).enumerate() {
            let mut f = header.to_vec();
            f[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
            f[6] = 44; // next header: fragment
            let more = (i + 1) * size < transport.len();
            let offset = ((i * size / 8) as u16) << 3 | u16::from(more);
            f.extend_from_slice(&[6, 0]);
            f.extend_from_slice(&offset.to_be_bytes());
            f.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            f.extend_from_slice(chunk);
            out.push(f);
        }
        out
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let payload: Vec<u8> = (0..150u8).collect();
        let mut frags = ipv6_fragments(&payload, 48);
        assert!(frags.len() >= 3);
        frags.swap(0, 2);
        let mut decoder = Decoder::default();
        let last = frags.len() - 1;
        for (i, f) in frags.iter().enumerate() {
            let decoded = decoder.decode(LinkType::RAW, f, 0.0);
            if i < last {
                assert!(matches!(decoded, Decoded::FragmentHeld), "{decoded:?}");
            } else {
                let Decoded::Tcp(seg) = decoded else {
                    panic!("not reassembled: {decoded:?}")
                };
                assert_eq!(seg.payload, payload.as_slice());
                assert_eq!(seg.seq, 77);
                assert_eq!(seg.dst.port(), 25);
            }
        }
    }
}
