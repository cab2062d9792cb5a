//! Capture input: classic pcap and pcapng files, plain or gzip-compressed, from
//! a path or stdin, read as a stream of [`Packet`]s.
//!
//! One job: give every captured packet with its link type, its timestamp (as
//! `f64` seconds and exactly as stored) and its original length, in file order.
//!
//! - classic pcap: both byte orders, micro- and nanosecond magic, the
//!   "modified" (Kuznetzov) format;
//! - pcapng: several sections, several interfaces with different link types and
//!   their own timestamp resolution (`if_tsresol`) and offset (`if_tsoffset`);
//! - gzip: detected by magic (`1f 8b`), see the `source` module;
//! - [`chunks`]: the same packets in shared multi-megabyte chunks (classic
//!   pcap read in place, without pcap-parser), for `--threads` and for
//!   reading without per-packet overhead.
//!
//! Invariants:
//! - no panic on file data: a file that is not a capture is an error naming
//!   the magic numbers expected; a truncated or corrupt capture ends the stream
//!   with a [`CaptureWarning`] naming the byte offset, and every packet before
//!   it has been returned;
//! - a record's lengths are checked before pcap-parser buffers it: a classic
//!   record claiming more than [`MAX_PACKET`] bytes, a pcapng block whose
//!   lengths are impossible or disagree, is corrupt (reading stops there,
//!   with a warning saying which length is wrong) rather than grown into;
//!   a record longer than the file's snap length is read, with one warning;
//! - pcap-parser's reader discipline: a block's bytes stay in the reader's
//!   buffer until the *next* call to [`CaptureReader::next_packet`], which
//!   `consume`s them first (so a [`Packet`] borrows the buffer, no copy);
//!   `Incomplete` means `refill`, `BufferTooSmall` means `grow` (up to
//!   [`MAX_RECORD_BUFFER`]), `UnexpectedEof` means the file is truncated.
//! - Byte offsets are positions in the uncompressed stream.

pub mod chunks;
mod source;

pub use chunks::{ChunkReader, PacketChunk};

use std::fmt;
use std::io::Read;
use std::path::Path;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

/// Initial size of the reader's buffer; it grows for larger records.
const INITIAL_BUFFER: usize = 1 << 20;
/// Largest record buffer we accept: a record claiming more is corrupt.
pub const MAX_RECORD_BUFFER: usize = 64 << 20;
/// The largest packet a classic pcap record may hold: libpcap's and
/// Wireshark's maximum snap length. A record claiming more is corrupt.
pub const MAX_PACKET: u32 = 262_144;

/// A link-layer type, as numbered by tcpdump.org (`LINKTYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the host's byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP on OpenBSD (`DLT_RAW` = 12) and on some other systems (14).
    pub const RAW_12: LinkType = LinkType(12);
    pub const RAW_14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, told apart by the version nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A timestamp exactly as the capture stores it, normalised to nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RawTimestamp {
    pub sec: i64,
    /// Always below 1_000_000_000.
    pub nsec: u32,
}

impl RawTimestamp {
    pub fn as_f64(self) -> f64 {
        self.sec as f64 + f64::from(self.nsec) * 1e-9
    }
}

/// The timestamp precision of a capture's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsPrecision {
    Micro,
    Nano,
}

/// One captured packet. `data` borrows the reader's buffer (or any slice, for
/// packets made in memory) and holds the captured bytes (`caplen` of them).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time, seconds since the epoch.
    pub ts: f64,
    pub ts_raw: RawTimestamp,
    pub link_type: LinkType,
    pub data: &'a [u8],
    /// The packet's length on the wire (may exceed `data.len()` when the
    /// capture's snap length cut it).
    pub orig_len: u32,
    /// Where the packet's record starts in the (uncompressed) capture.
    pub file_offset: u64,
    /// The pcapng interface id (0 for classic pcap).
    pub interface: u32,
}

/// Why a capture could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read `{name}`: {source}")]
    Open {
        name: String,
        source: std::io::Error,
    },
    #[error("cannot decompress `{name}` (gzip): {source}")]
    Gzip {
        name: String,
        source: std::io::Error,
    },
    #[error("`{name}` is empty: expected a pcap or pcapng capture")]
    Empty { name: String },
    #[error(
        "`{name}` is not a capture file: it starts with {found}; expected a pcap magic number \
         (a1b2c3d4 or a1b23c4d, in either byte order), the pcapng magic 0a0d0d0a, or gzip 1f8b"
    )]
    NotACapture { name: String, found: String },
    #[error("`{name}`: bad {format} header: {reason}")]
    BadHeader {
        name: String,
        format: &'static str,
        reason: String,
    },
}

/// Something wrong inside a capture, after which reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureWarning {
    /// Byte offset (in the uncompressed stream) of the record that failed.
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for CaptureWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

/// The container format, as recognised by its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap,
    PcapNg,
}

/// A pcapng interface: what its packets' link type and timestamps mean.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// Seconds added to every timestamp.
    offset_sec: i64,
}

/// What one block of the file turned out to be.
enum Step {
    /// A packet whose bytes are `start..end` of the reader's current data.
    Packet {
        meta: PacketMeta,
        start: usize,
        end: usize,
    },
    /// Any other block (header, interface, statistics...): read on.
    Skip,
    /// No more packets.
    End,
}

#[derive(Clone, Copy)]
struct PacketMeta {
    ts_raw: RawTimestamp,
    link_type: LinkType,
    orig_len: u32,
    interface: u32,
}

/// Reads packets from a capture, one at a time (a lending iterator: each
/// [`Packet`] borrows the reader until the next call).
pub struct CaptureReader {
    name: String,
    format: CaptureFormat,
    compressed: bool,
    inner: Box<dyn PcapReaderIterator + Send>,
    capacity: usize,
    /// Bytes of the last returned block, consumed at the next call.
    pending_consume: usize,
    /// Classic pcap: from the file header.
    pcap_link_type: Option<LinkType>,
    pcap_nanos: bool,
    pcap_snaplen: Option<u32>,
    /// A record longer than the snap length was reported (once per file).
    warned_snaplen: bool,
    /// Byte order of the file (pcap) or of the current section (pcapng).
    big_endian: bool,
    /// pcapng: the interfaces of the current section.
    interfaces: Vec<Interface>,
    last_ts: RawTimestamp,
    packets: u64,
    warnings: Vec<CaptureWarning>,
    done: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("compressed", &self.compressed)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Opens a capture file; `-` reads stdin.
    pub fn open(path: impl AsRef<Path>) -> Result<CaptureReader, CaptureError> {
        let path = path.as_ref();
        let source = source::open_path(path)?;
        Self::from_source(source, path.display().to_string())
    }

    /// Reads a capture from any byte stream (plain or gzip).
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        name: &str,
    ) -> Result<CaptureReader, CaptureError> {
        let source = source::open_reader(Box::new(reader), name)?;
        Self::from_source(source, name.to_string())
    }

    fn from_source(source: source::Source, name: String) -> Result<CaptureReader, CaptureError> {
        let format = recognise(&source.prefix, &name)?;
        // The buffer must hold the whole prefix so that pcap-parser's first
        // read (which must contain the file header) gets all of it.
        let capacity = INITIAL_BUFFER.max(source::PREFIX_LEN * 2);
        let inner: Box<dyn PcapReaderIterator + Send> = match format {
            CaptureFormat::Pcap => match LegacyPcapReader::new(capacity, source.reader) {
                Ok(reader) => Box::new(reader),
                Err(err) => return Err(bad_header(&name, "pcap", &err)),
            },
            CaptureFormat::PcapNg => match PcapNGReader::new(capacity, source.reader) {
                Ok(reader) => Box::new(reader),
                Err(err) => return Err(bad_header(&name, "pcapng", &err)),
            },
        };
        Ok(CaptureReader {
            name,
            format,
            compressed: source.compressed,
            inner,
            capacity,
            pending_consume: 0,
            pcap_link_type: None,
            pcap_nanos: false,
            pcap_snaplen: None,
            warned_snaplen: false,
            big_endian: false,
            interfaces: Vec::new(),
            last_ts: RawTimestamp::default(),
            packets: 0,
            warnings: Vec::new(),
            done: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Whether the file was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// The link type of the capture: the file header's (pcap), or the first
    /// interface's (pcapng). Known once the first packet has been read.
    pub fn link_type(&self) -> Option<LinkType> {
        self.pcap_link_type
            .or_else(|| self.interfaces.first().map(|i| i.link_type))
    }

    /// The snap length of a classic pcap's header (known once the first
    /// packet has been read); `None` for pcapng.
    pub fn snaplen(&self) -> Option<u32> {
        self.pcap_snaplen
    }

    /// The precision of the records' timestamps: nanosecond for a nanosecond
    /// pcap, or for a pcapng whose interfaces tick faster than microseconds.
    pub fn ts_precision(&self) -> TsPrecision {
        let fine = match self.format {
            CaptureFormat::Pcap => self.pcap_nanos,
            CaptureFormat::PcapNg => self.interfaces.iter().any(|i| i.units_per_sec > 1_000_000),
        };
        if fine {
            TsPrecision::Nano
        } else {
            TsPrecision::Micro
        }
    }

    /// What went wrong while reading (truncation, corruption), in order.
    pub fn warnings(&self) -> &[CaptureWarning] {
        &self.warnings
    }

    /// Takes the warnings gathered so far.
    pub fn take_warnings(&mut self) -> Vec<CaptureWarning> {
        std::mem::take(&mut self.warnings)
    }

    /// The next packet, or `None` at the end of the capture (or at the first
    /// truncated or corrupt record: see [`CaptureReader::warnings`]).
    pub fn next_packet(&mut self) -> Option<Packet<'_>> {
        if self.pending_consume > 0 {
            self.inner
                .consume(std::mem::take(&mut self.pending_consume));
        }
        loop {
            let file_offset = self.inner.consumed() as u64;
            match self.step() {
                Step::Skip => continue,
                Step::End => {
                    self.done = true;
                    return None;
                }
                Step::Packet { meta, start, end } => {
                    if start > end || end > self.inner.data().len() {
                        self.warn(
                            file_offset,
                            "packet data outside its record (reader bug)".to_string(),
                        );
                        self.done = true;
                        return None;
                    }
                    let data = self.inner.data().get(start..end).unwrap_or_default();
                    self.packets += 1;
                    return Some(Packet {
                        ts: meta.ts_raw.as_f64(),
                        ts_raw: meta.ts_raw,
                        link_type: meta.link_type,
                        data,
                        orig_len: meta.orig_len,
                        file_offset,
                        interface: meta.interface,
                    });
                }
            }
        }
    }

    /// Reads one block. Packets are left in the buffer (to be consumed on the
    /// next call); every other block is consumed here.
    fn step(&mut self) -> Step {
        if self.done {
            return Step::End;
        }
        let offset = self.inner.consumed() as u64;
        if let Some(problem) = self.impossible_lengths() {
            let what = match self.format {
                CaptureFormat::Pcap => "record",
                CaptureFormat::PcapNg => "block",
            };
            self.warn(offset, format!("corrupt {what}: {problem}; reading stops"));
            return Step::End;
        }
        let available = self.inner.data().len();
        let base = self.inner.data().as_ptr() as usize;
        let outcome = match self.inner.next() {
            Ok((len, block)) => Ok((len, {
                if let Some(big_endian) = byte_order(&block) {
                    self.big_endian = big_endian;
                }
                interpret(
                    &block,
                    base,
                    &mut self.pcap_link_type,
                    &mut self.pcap_nanos,
                    &mut self.pcap_snaplen,
                    &mut self.interfaces,
                    &mut self.last_ts,
                )
            })),
            Err(err) => Err(ReadProblem::from(err)),
        };
        match outcome {
            Ok((len, Interpreted::Packet { meta, start, end })) => {
                self.pending_consume = len;
                self.check_snaplen(offset, end.saturating_sub(start));
                Step::Packet { meta, start, end }
            }
            Ok((len, Interpreted::Other)) => {
                self.inner.consume(len);
                Step::Skip
            }
            Ok((len, Interpreted::Warning(message))) => {
                self.warn(offset, message);
                self.inner.consume(len);
                Step::Skip
            }
            Err(ReadProblem::Eof) => Step::End,
            Err(ReadProblem::Incomplete) => self.refill(offset, available),
            Err(ReadProblem::BufferTooSmall) => {
                if self.capacity >= MAX_RECORD_BUFFER {
                    self.warn(
                        offset,
                        format!(
                            "a record larger than {} MiB: corrupt capture, reading stops",
                            MAX_RECORD_BUFFER >> 20
                        ),
                    );
                    return Step::End;
                }
                self.capacity = (self.capacity * 2).min(MAX_RECORD_BUFFER);
                self.inner.grow(self.capacity);
                self.refill(offset, available)
            }
            Err(ReadProblem::Truncated) => {
                self.warn(
                    offset,
                    format!("capture truncated: the last record is incomplete ({available} bytes of it present)"),
                );
                Step::End
            }
            Err(ReadProblem::Corrupt(reason)) => {
                self.warn(offset, format!("corrupt record ({reason}), reading stops"));
                Step::End
            }
            Err(ReadProblem::Read) => {
                let hint = if self.compressed {
                    " (corrupt or truncated gzip data?)"
                } else {
                    ""
                };
                self.warn(offset, format!("read error{hint}, reading stops"));
                Step::End
            }
        }
    }

    /// Reads more input after an `Incomplete`. When a refill brings nothing
    /// new while input remains, the buffer is full: grow it.
    fn refill(&mut self, offset: u64, available_before: usize) -> Step {
        if self.inner.refill().is_err() {
            let hint = if self.compressed {
                " (corrupt or truncated gzip data?)"
            } else {
                ""
            };
            self.warn(offset, format!("read error{hint}, reading stops"));
            return Step::End;
        }
        let stalled = self.inner.data().len() == available_before && !self.inner.reader_exhausted();
        if stalled {
            if self.capacity >= MAX_RECORD_BUFFER {
                self.warn(
                    offset,
                    "a record too large to buffer: corrupt capture, reading stops".to_string(),
                );
                return Step::End;
            }
            self.capacity = (self.capacity * 2).min(MAX_RECORD_BUFFER);
            self.inner.grow(self.capacity);
        }
        Step::Skip
    }

    fn warn(&mut self, offset: u64, message: String) {
        self.warnings.push(CaptureWarning { offset, message });
    }

    /// What is impossible about the lengths of the record (pcap) or block
    /// (pcapng) at the start of the reader's data, as far as it is buffered.
    fn impossible_lengths(&self) -> Option<String> {
        let data = self.inner.data();
        match self.format {
            // Before the file header is returned, the data starts with it.
            CaptureFormat::Pcap if self.pcap_link_type.is_some() => {
                let caplen = read_u32(data, 8, self.big_endian)?;
                (caplen > MAX_PACKET).then(|| {
                    format!(
                        "it claims {caplen} bytes captured, more than the {MAX_PACKET} \
                         a packet may have"
                    )
                })
            }
            CaptureFormat::Pcap => None,
            CaptureFormat::PcapNg => impossible_block_lengths(data, self.big_endian),
        }
    }

    /// Reports the first packet longer than a classic pcap's snap length
    /// (read anyway: its record is consistent).
    fn check_snaplen(&mut self, offset: u64, captured: usize) {
        let Some(snaplen) = self.pcap_snaplen.filter(|&s| s > 0) else {
            return;
        };
        if self.warned_snaplen || captured <= snaplen as usize {
            return;
        }
        self.warned_snaplen = true;
        self.warn(
            offset,
            format!(
                "a packet of {captured} bytes captured, more than the file's snap length \
                 {snaplen}: read anyway (later ones are not reported)"
            ),
        );
    }
}

/// A `u32` at `at` in `data`, if buffered.
fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// The byte order a file header or section header block sets.
fn byte_order(block: &PcapBlockOwned<'_>) -> Option<bool> {
    match block {
        PcapBlockOwned::LegacyHeader(header) => Some(header.is_bigendian()),
        PcapBlockOwned::NG(Block::SectionHeader(shb)) => Some(shb.big_endian()),
        _ => None,
    }
}

/// What is impossible about the lengths of the pcapng block at the start of
/// `data` (a section header carries its own byte order), as far as buffered.
fn impossible_block_lengths(data: &[u8], section_big_endian: bool) -> Option<String> {
    const SHB_TYPE: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    const EPB_TYPE: u32 = 6;
    const EPB_HEADER: u32 = 32;
    let big_endian = if data.get(0..4)? == SHB_TYPE {
        data.get(8..12)? == [0x1a, 0x2b, 0x3c, 0x4d]
    } else {
        section_big_endian
    };
    let block_type = read_u32(data, 0, big_endian)?;
    let len = read_u32(data, 4, big_endian)?;
    if len < 12 {
        return Some(format!("block length {len} is less than the minimum, 12"));
    }
    if len % 4 != 0 {
        return Some(format!("block length {len} is not a multiple of 4"));
    }
    if len as usize > MAX_RECORD_BUFFER {
        return Some(format!(
            "block length {len} is more than the {} MiB a block may have",
            MAX_RECORD_BUFFER >> 20
        ));
    }
    if block_type == EPB_TYPE {
        if len < EPB_HEADER {
            return Some(format!(
                "packet block length {len} is less than its {EPB_HEADER}-byte header"
            ));
        }
        let caplen = read_u32(data, 20, big_endian)?;
        if u64::from(caplen) + u64::from(EPB_HEADER) > u64::from(len) {
            return Some(format!(
                "the packet block claims {caplen} bytes captured, more than its \
                 {len}-byte block holds"
            ));
        }
    }
    let trailer = read_u32(data, len as usize - 4, big_endian)?;
    if trailer != len {
        return Some(format!(
            "the block's trailing length {trailer} differs from its leading length {len}"
        ));
    }
    None
}

/// pcap-parser's errors, owned and sorted by what to do about them.
enum ReadProblem {
    Eof,
    Incomplete,
    BufferTooSmall,
    Truncated,
    Corrupt(String),
    Read,
}

impl From<PcapError<&[u8]>> for ReadProblem {
    fn from(err: PcapError<&[u8]>) -> Self {
        match err {
            PcapError::Eof => ReadProblem::Eof,
            PcapError::Incomplete(_) => ReadProblem::Incomplete,
            PcapError::BufferTooSmall => ReadProblem::BufferTooSmall,
            PcapError::UnexpectedEof => ReadProblem::Truncated,
            PcapError::ReadError => ReadProblem::Read,
            PcapError::HeaderNotRecognized => {
                ReadProblem::Corrupt("unrecognised header".to_string())
            }
            PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
                ReadProblem::Corrupt(format!("parse error: {kind:?}"))
            }
        }
    }
}

enum Interpreted {
    Packet {
        meta: PacketMeta,
        start: usize,
        end: usize,
    },
    Other,
    Warning(String),
}

/// Makes sense of one block: updates the per-file state (link type, pcapng
/// interfaces) and, for a packet, locates its bytes relative to `base` (the
/// start of the reader's data when the block was parsed).
fn interpret(
    block: &PcapBlockOwned<'_>,
    base: usize,
    pcap_link_type: &mut Option<LinkType>,
    pcap_nanos: &mut bool,
    pcap_snaplen: &mut Option<u32>,
    interfaces: &mut Vec<Interface>,
    last_ts: &mut RawTimestamp,
) -> Interpreted {
    let locate = |data: &[u8]| -> Option<(usize, usize)> {
        let start = (data.as_ptr() as usize).checked_sub(base)?;
        Some((start, start.checked_add(data.len())?))
    };
    match block {
        PcapBlockOwned::LegacyHeader(header) => {
            *pcap_link_type = Some(LinkType(header.network.0 as u32));
            *pcap_nanos = header.is_nanosecond_precision();
            *pcap_snaplen = Some(header.snaplen);
            Interpreted::Other
        }
        PcapBlockOwned::Legacy(record) => {
            let Some(link_type) = *pcap_link_type else {
                return Interpreted::Warning("pcap record before the file header".to_string());
            };
            let units = if *pcap_nanos {
                1_000_000_000
            } else {
                1_000_000
            };
            let ts_raw = timestamp(i64::from(record.ts_sec), u64::from(record.ts_usec), units);
            *last_ts = ts_raw;
            let Some((start, end)) = locate(record.data) else {
                return Interpreted::Warning("pcap record outside the buffer".to_string());
            };
            let meta = PacketMeta {
                ts_raw,
                link_type,
                orig_len: record.origlen,
                interface: 0,
            };
            Interpreted::Packet { meta, start, end }
        }
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            interfaces.clear();
            Interpreted::Other
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            let units_per_sec = idb.ts_resolution().filter(|&u| u > 0);
            interfaces.push(Interface {
                link_type: LinkType(u32::from(idb.linktype.0 as u16)),
                units_per_sec: units_per_sec.unwrap_or(1_000_000),
                offset_sec: idb.ts_offset(),
            });
            match units_per_sec {
                Some(_) => Interpreted::Other,
                None => Interpreted::Warning(format!(
                    "interface {} has an invalid timestamp resolution ({}); microseconds assumed",
                    interfaces.len() - 1,
                    idb.if_tsresol
                )),
            }
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let Some(interface) = interfaces.get(epb.if_id as usize) else {
                return Interpreted::Warning(format!(
                    "packet for undeclared interface {}, skipped",
                    epb.if_id
                ));
            };
            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            let ts_raw = ticks_timestamp(ticks, interface.units_per_sec, interface.offset_sec);
            *last_ts = ts_raw;
            let data = pcap_parser::traits::PcapNGPacketBlock::packet_data(epb);
            let Some((start, end)) = locate(data) else {
                return Interpreted::Warning("packet block outside the buffer".to_string());
            };
            let meta = PacketMeta {
                ts_raw,
                link_type: interface.link_type,
                orig_len: epb.origlen,
                interface: epb.if_id,
            };
            Interpreted::Packet { meta, start, end }
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            // A simple packet block has no timestamp: it gets the previous packet's.
            let Some(interface) = interfaces.first() else {
                return Interpreted::Warning(
                    "simple packet block before any interface, skipped".to_string(),
                );
            };
            let data = pcap_parser::traits::PcapNGPacketBlock::packet_data(spb);
            let Some((start, end)) = locate(data) else {
                return Interpreted::Warning("packet block outside the buffer".to_string());
            };
            let meta = PacketMeta {
                ts_raw: *last_ts,
                link_type: interface.link_type,
                orig_len: spb.origlen,
                interface: 0,
            };
            Interpreted::Packet { meta, start, end }
        }
        PcapBlockOwned::NG(_) => Interpreted::Other,
    }
}

/// A classic pcap timestamp: seconds and a fraction in `units` per second.
/// An out-of-range fraction is carried into the seconds.
fn timestamp(sec: i64, frac: u64, units: u64) -> RawTimestamp {
    let sec = sec + (frac / units) as i64;
    let nsec = (frac % units) * (1_000_000_000 / units);
    RawTimestamp {
        sec,
        nsec: nsec as u32,
    }
}

/// A pcapng timestamp: `ticks` at `units_per_sec` since the epoch, plus `offset_sec`.
fn ticks_timestamp(ticks: u64, units_per_sec: u64, offset_sec: i64) -> RawTimestamp {
    // Saturating: `if_tsoffset` is any i64 the file says.
    let sec = i64::try_from(ticks / units_per_sec)
        .unwrap_or(i64::MAX)
        .saturating_add(offset_sec);
    let frac = u128::from(ticks % units_per_sec);
    let nsec = frac * 1_000_000_000 / u128::from(units_per_sec);
    RawTimestamp {
        sec,
        nsec: nsec as u32,
    }
}

/// Recognises the container by its magic number.
fn recognise(prefix: &[u8], name: &str) -> Result<CaptureFormat, CaptureError> {
    const PCAP_MAGICS: [[u8; 4]; 6] = [
        [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
        [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
        [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
        [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
        [0x34, 0xcd, 0xb2, 0xa1], // modified pcap, little-endian
        [0xa1, 0xb2, 0xcd, 0x34], // modified pcap, big-endian
    ];
    const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
    if prefix.is_empty() {
        return Err(CaptureError::Empty {
            name: name.to_string(),
        });
    }
    let head: Vec<u8> = prefix.iter().copied().take(4).collect();
    if head.as_slice() == PCAPNG_MAGIC {
        return Ok(CaptureFormat::PcapNg);
    }
    if PCAP_MAGICS
        .iter()
        .any(|magic| magic.as_slice() == head.as_slice())
    {
        return Ok(CaptureFormat::Pcap);
    }
    let found = head
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    let found = if head.len() < 4 {
        format!("only {} bytes ({found})", head.len())
    } else {
        format!("bytes {found}")
    };
    Err(CaptureError::NotACapture {
        name: name.to_string(),
        found,
    })
}

fn bad_header(name: &str, format: &'static str, err: &PcapError<&'static [u8]>) -> CaptureError {
    let reason = match err {
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            "the file ends inside its header".to_string()
        }
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("parse error {kind:?}")
        }
        other => other.to_string(),
    };
    CaptureError::BadHeader {
        name: name.to_string(),
        format,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_timestamps_carry_out_of_range_fractions() {
        assert_eq!(
            timestamp(10, 1_500_000, 1_000_000),
            RawTimestamp {
                sec: 11,
                nsec: 500_000_000
            }
        );
        assert_eq!(
            timestamp(10, 7, 1_000_000_000),
            RawTimestamp { sec: 10, nsec: 7 }
        );
    }

    #[test]
    fn pcapng_ticks_convert_at_any_resolution() {
        assert_eq!(
            ticks_timestamp(1_500, 1_000, 0),
            RawTimestamp {
                sec: 1,
                nsec: 500_000_000
            }
        );
        assert_eq!(
            ticks_timestamp(3, 2, 100),
            RawTimestamp {
                sec: 101,
                nsec: 500_000_000
            }
        );
    }

    /// An interface's `if_tsoffset` is any i64 the file says: added to a
    /// large tick count it overflowed (a panic in debug builds).
    #[test]
    fn pcapng_timestamp_offsets_saturate() {
        assert_eq!(ticks_timestamp(1 << 62, 1, i64::MAX).sec, i64::MAX);
        assert_eq!(ticks_timestamp(u64::MAX, 1, 0).sec, i64::MAX);
        assert_eq!(ticks_timestamp(0, 1, i64::MIN).sec, i64::MIN);
    }

    #[test]
    fn impossible_block_lengths_read_either_byte_order() {
        // A big-endian section header block of 28 bytes, intact.
        let mut shb = vec![0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d];
        shb.extend_from_slice(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        shb.extend_from_slice(&[0, 0, 0, 28]);
        assert_eq!(impossible_block_lengths(&shb, false), None);
        // Its trailing length damaged.
        let mut bad = shb.clone();
        bad[27] = 24;
        let problem = impossible_block_lengths(&bad, false).unwrap_or_default();
        assert!(problem.contains("trailing length 24"), "{problem}");
        // Too few bytes to tell: no verdict, and no panic.
        for cut in 0..shb.len() {
            assert_eq!(impossible_block_lengths(&shb[..cut], true), None);
        }
        assert_eq!(read_u32(&shb, usize::MAX - 2, true), None);
    }

    #[test]
    fn recognise_names_the_bytes_found() {
        let err = recognise(b"PK\x03\x04rest", "x.zip")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("bytes 50 4b 03 04"), "{err}");
        assert!(err.contains("a1b2c3d4"), "{err}");
        assert!(matches!(
            recognise(&[0x0a, 0x0d, 0x0d, 0x0a], "x"),
            Ok(CaptureFormat::PcapNg)
        ));
        assert!(matches!(
            recognise(&[0xd4, 0xc3, 0xb2, 0xa1], "x"),
            Ok(CaptureFormat::Pcap)
        ));
        assert!(matches!(
            recognise(&[], "x"),
            Err(CaptureError::Empty { .. })
        ));
    }
}
