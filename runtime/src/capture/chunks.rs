//! Capture input in shared chunks: the packets of a capture, a few
//! megabytes at a time, in buffers that several threads can read at once.
//!
//! One job: read a capture once and hand out [`PacketChunk`]s — consecutive
//! whole packets in one reference-counted buffer — so that `--threads` can
//! give every thread the same packets without copying them, and one thread
//! can read its packets without per-packet overhead.
//!
//! - classic pcap (either byte order, micro- or nanoseconds), plain or gzip:
//!   the file's bytes are read straight into the chunk's buffer and the
//!   records are found in place (no per-packet copy); a record cut by the
//!   end of a read is carried over to the next chunk;
//! - every other input (pcapng, the "modified" pcap format, a header
//!   pcap-parser must judge): read by [`CaptureReader`], its packets copied
//!   into chunks.
//!
//! Invariants:
//! - the packets, their order, bytes, timestamps and file offsets, and the
//!   warnings are exactly [`CaptureReader`]'s for the same file (a test
//!   compares them on intact, damaged and cut captures): a record claiming
//!   more than [`MAX_PACKET`] bytes is corrupt and ends reading, a record
//!   longer than the snap length is read with one warning, a record cut by
//!   the end of the file is a warning naming the bytes present;
//! - a chunk holds at most [`CHUNK_SIZE`] bytes of packets, or the size
//!   [`ChunkReader::with_chunk_size`] sets (a record larger than that makes a
//!   chunk of its own; a record never exceeds [`MAX_PACKET`] plus its header,
//!   far less than [`CHUNK_SIZE`]): memory follows the number of chunks
//!   alive, never the capture's size; the first chunks hold less
//!   ([`FIRST_CHUNK_SIZE`], then twice as much each time);
//! - buffers are reused once no [`PacketChunk`] refers to them any more;
//! - a [`ChunkReader`] is `Send` (its streams are): `--threads` workers take
//!   turns reading it behind a mutex.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use super::{
    recognise, source, timestamp, CaptureError, CaptureFormat, CaptureReader, CaptureWarning,
    LinkType, Packet, RawTimestamp, TsPrecision, MAX_PACKET,
};

/// How many bytes of packets one chunk holds, at most.
pub const CHUNK_SIZE: usize = 2 << 20;

/// How many bytes of packets the first chunk holds, at most; each next chunk
/// may hold twice as many as the one before, up to the chunk size. A small
/// capture then costs a small buffer (each page of a new buffer is a page
/// fault), and the first packets reach the dissectors (every `--threads`
/// worker waits for them) without a whole chunk read first.
pub const FIRST_CHUNK_SIZE: usize = 64 << 10;

/// Length of a classic pcap file header and of a record header.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Where one packet lies in its chunk, and what the capture says of it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ts_raw: RawTimestamp,
    link_type: LinkType,
    start: usize,
    end: usize,
    orig_len: u32,
    file_offset: u64,
    interface: u32,
}

/// The contents of a chunk.
#[derive(Debug, Default)]
struct ChunkData {
    /// The buffer: its first `filled` bytes hold the packets' records. (Its
    /// length stays when the buffer is reused, so that reading into it never
    /// has to zero it again.)
    bytes: Vec<u8>,
    filled: usize,
    slots: Vec<Slot>,
    /// The number (from 0, in file order) of the chunk's first packet.
    first: u64,
}

/// Consecutive whole packets of a capture in one shared buffer. Cloning is
/// cheap (a reference count).
#[derive(Debug, Clone)]
pub struct PacketChunk {
    data: Arc<ChunkData>,
}

impl PacketChunk {
    /// The number (from 0, in file order) of the chunk's first packet.
    pub fn first_packet(&self) -> u64 {
        self.data.first
    }

    pub fn len(&self) -> usize {
        self.data.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.slots.is_empty()
    }

    /// Packet `i` of the chunk.
    pub fn get(&self, i: usize) -> Option<Packet<'_>> {
        let slot = self.data.slots.get(i)?;
        Some(Packet {
            ts: slot.ts_raw.as_f64(),
            ts_raw: slot.ts_raw,
            link_type: slot.link_type,
            data: self.data.bytes.get(slot.start..slot.end)?,
            orig_len: slot.orig_len,
            file_offset: slot.file_offset,
            interface: slot.interface,
        })
    }

    /// The packets, in file order.
    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Each packet's link type and bytes, in file order (packet `i` of the
    /// chunk is the `i`th): the cheap walk for finding packets' flows.
    pub fn frames(&self) -> impl Iterator<Item = (LinkType, &[u8])> {
        let bytes = &self.data.bytes;
        self.data.slots.iter().map(move |slot| {
            let frame = bytes.get(slot.start..slot.end).unwrap_or_default();
            (slot.link_type, frame)
        })
    }

    /// Each packet's time ([`Packet::ts`]), in file order.
    pub fn times(&self) -> impl Iterator<Item = f64> + '_ {
        self.data.slots.iter().map(|slot| slot.ts_raw.as_f64())
    }
}

/// A classic pcap file header, as far as the fast path needs it.
#[derive(Debug, Clone, Copy)]
struct ClassicHeader {
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
    link_type: LinkType,
}

/// The fast path's state: the stream after the file header.
struct Classic {
    header: ClassicHeader,
    stream: Box<dyn Read + Send>,
    compressed: bool,
    /// Bytes read but not yet made into packets (a record cut by a read).
    carry: Vec<u8>,
    /// File offset of `carry`'s first byte.
    offset: u64,
    warned_snaplen: bool,
    exhausted: bool,
}

enum Mode {
    Classic(Box<Classic>),
    /// Anything else: pcap-parser through [`CaptureReader`], packets copied.
    Copying(Box<CaptureReader>),
}

/// Reads a capture chunk by chunk (see the module doc).
pub struct ChunkReader {
    mode: Mode,
    /// Buffers of chunks handed out, reused when no one holds them any more.
    pool: Vec<Arc<ChunkData>>,
    /// Bytes of packets per chunk, at most (but one record always fits).
    chunk_size: usize,
    /// Bytes of packets the next chunk may hold: [`FIRST_CHUNK_SIZE`] at
    /// first, doubling with each chunk up to `chunk_size`.
    ramp: usize,
    packets: u64,
    warnings: Vec<CaptureWarning>,
    done: bool,
}

impl ChunkReader {
    /// Opens a capture file; `-` reads stdin.
    pub fn open(path: impl AsRef<Path>) -> Result<ChunkReader, CaptureError> {
        let path = path.as_ref();
        let source = source::open_path(path)?;
        ChunkReader::from_source(source, path.display().to_string())
    }

    /// Reads a capture from any byte stream (plain or gzip), as
    /// [`CaptureReader::from_reader`] does.
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        name: &str,
    ) -> Result<ChunkReader, CaptureError> {
        let source = source::open_reader(Box::new(reader), name)?;
        ChunkReader::from_source(source, name.to_string())
    }

    fn from_source(source: source::Source, name: String) -> Result<ChunkReader, CaptureError> {
        let format = recognise(&source.prefix, &name)?;
        let header = match format {
            CaptureFormat::Pcap => classic_header(&source.prefix),
            CaptureFormat::PcapNg => None,
        };
        let mode = match header {
            Some(header) => {
                // The stream yields the prefix first: skip the file header in it.
                let mut stream = source.reader;
                let mut file_header = [0u8; FILE_HEADER];
                stream
                    .read_exact(&mut file_header)
                    .map_err(|source| CaptureError::Open {
                        name: name.clone(),
                        source,
                    })?;
                Mode::Classic(Box::new(Classic {
                    header,
                    stream,
                    compressed: source.compressed,
                    carry: Vec::new(),
                    offset: FILE_HEADER as u64,
                    warned_snaplen: false,
                    exhausted: false,
                }))
            }
            None => Mode::Copying(Box::new(CaptureReader::from_source(source, name)?)),
        };
        Ok(ChunkReader::with_mode(mode))
    }

    /// Sets how many bytes of packets a chunk holds, at most (at least 1;
    /// [`CHUNK_SIZE`] by default). A record larger than that still makes a
    /// chunk of its own. Small sizes are for tests: they cut records across
    /// reads all the time.
    pub fn with_chunk_size(mut self, bytes: usize) -> ChunkReader {
        self.chunk_size = bytes.max(1);
        self
    }

    fn with_mode(mode: Mode) -> ChunkReader {
        ChunkReader {
            mode,
            pool: Vec::new(),
            chunk_size: CHUNK_SIZE,
            ramp: FIRST_CHUNK_SIZE,
            packets: 0,
            warnings: Vec::new(),
            done: false,
        }
    }

    /// Whether packets are copied into chunks (every input but classic pcap)
    /// rather than read in place.
    pub fn copies_packets(&self) -> bool {
        matches!(self.mode, Mode::Copying(_))
    }

    /// Packets handed out so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// The link type of the capture (see [`CaptureReader::link_type`]).
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.mode {
            Mode::Classic(classic) => Some(classic.header.link_type),
            Mode::Copying(reader) => reader.link_type(),
        }
    }

    /// The snap length of a classic pcap (see [`CaptureReader::snaplen`]).
    pub fn snaplen(&self) -> Option<u32> {
        match &self.mode {
            Mode::Classic(classic) => Some(classic.header.snaplen),
            Mode::Copying(reader) => reader.snaplen(),
        }
    }

    /// The records' timestamp precision (see [`CaptureReader::ts_precision`]).
    pub fn ts_precision(&self) -> TsPrecision {
        match &self.mode {
            Mode::Classic(classic) if classic.header.nanos => TsPrecision::Nano,
            Mode::Classic(_) => TsPrecision::Micro,
            Mode::Copying(reader) => reader.ts_precision(),
        }
    }

    /// Takes the warnings gathered so far (truncation, corruption), in order.
    pub fn take_warnings(&mut self) -> Vec<CaptureWarning> {
        if let Mode::Copying(reader) = &mut self.mode {
            self.warnings.extend(reader.take_warnings());
        }
        std::mem::take(&mut self.warnings)
    }

    /// The next chunk of packets; `None` at the end of the capture (or at
    /// the first truncated or corrupt record: see [`ChunkReader::take_warnings`]).
    pub fn next_chunk(&mut self) -> Option<PacketChunk> {
        if self.done {
            return None;
        }
        let mut data = self.spare();
        data.first = self.packets;
        let size = self.chunk_size.min(self.ramp);
        self.ramp = self.ramp.saturating_mul(2);
        match &mut self.mode {
            Mode::Classic(classic) => {
                // A read that ends inside a record header leaves no whole
                // record (with a chunk size below a record): read on.
                while !self.done && data.slots.is_empty() {
                    self.done = classic.fill(&mut data, size, &mut self.warnings);
                }
            }
            Mode::Copying(reader) => {
                data.bytes.clear();
                while data.bytes.len() < size {
                    let Some(packet) = reader.next_packet() else {
                        self.done = true;
                        break;
                    };
                    let start = data.bytes.len();
                    data.bytes.extend_from_slice(packet.data);
                    data.slots.push(Slot {
                        ts_raw: packet.ts_raw,
                        link_type: packet.link_type,
                        start,
                        end: data.bytes.len(),
                        orig_len: packet.orig_len,
                        file_offset: packet.file_offset,
                        interface: packet.interface,
                    });
                }
                data.filled = data.bytes.len();
            }
        }
        if data.slots.is_empty() {
            self.done = true;
            return None;
        }
        self.packets += data.slots.len() as u64;
        let data = Arc::new(data);
        self.pool.push(Arc::clone(&data));
        Some(PacketChunk { data })
    }

    /// An empty chunk, reusing the buffers of one no one holds any more.
    fn spare(&mut self) -> ChunkData {
        let free = self
            .pool
            .iter()
            .position(|data| Arc::strong_count(data) == 1);
        let mut data = free
            .map(|i| self.pool.swap_remove(i))
            .and_then(|data| Arc::try_unwrap(data).ok())
            .unwrap_or_else(|| ChunkData {
                bytes: Vec::with_capacity(self.chunk_size),
                ..ChunkData::default()
            });
        data.filled = 0;
        data.slots.clear();
        data
    }
}

/// The file header of a classic pcap, if the fast path reads this format.
fn classic_header(prefix: &[u8]) -> Option<ClassicHeader> {
    let bytes = prefix.get(..FILE_HEADER)?;
    let magic = u32::from_le_bytes(*bytes.first_chunk::<4>()?);
    let (big_endian, nanos) = match magic {
        0xa1b2_c3d4 => (false, false),
        0xa1b2_3c4d => (false, true),
        0xd4c3_b2a1 => (true, false),
        0x4d3c_b2a1 => (true, true),
        // The modified format and anything odd: pcap-parser's path.
        _ => return None,
    };
    let u32_at = |at: usize| read_u32(bytes, at, big_endian);
    Some(ClassicHeader {
        big_endian,
        nanos,
        snaplen: u32_at(16)?,
        link_type: LinkType(u32_at(20)?),
    })
}

fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let four = *bytes.get(at..)?.first_chunk::<4>()?;
    Some(if big_endian {
        u32::from_be_bytes(four)
    } else {
        u32::from_le_bytes(four)
    })
}

impl Classic {
    /// Reads into `data` and finds the whole records in it. Returns whether
    /// the capture is over (its end, a corrupt record, a read error).
    fn fill(
        &mut self,
        data: &mut ChunkData,
        chunk_size: usize,
        warnings: &mut Vec<CaptureWarning>,
    ) -> bool {
        let carried = self.carry.len();
        let size = chunk_size.max(self.carried_record_len());
        if data.bytes.len() < size {
            data.bytes.resize(size, 0);
        }
        if let Some(head) = data.bytes.get_mut(..carried) {
            head.copy_from_slice(&self.carry);
        }
        self.carry.clear();
        let read_failed = self.read_into(data, carried, size);
        if self.records(data, warnings) {
            return true;
        }
        if read_failed {
            // As pcap-parser's reader: every whole record before the failure
            // counts, then a warning at the first one not wholly read.
            let hint = if self.compressed {
                " (corrupt or truncated gzip data?)"
            } else {
                ""
            };
            warnings.push(CaptureWarning {
                offset: self.offset,
                message: format!("read error{hint}, reading stops"),
            });
            return true;
        }
        if self.exhausted {
            if !self.carry.is_empty() {
                warnings.push(CaptureWarning {
                    offset: self.offset,
                    message: format!(
                        "capture truncated: the last record is incomplete ({} bytes of it present)",
                        self.carry.len()
                    ),
                });
            }
            return true;
        }
        false
    }

    /// How many bytes the record begun in `carry` needs: all of it when its
    /// header says (and the length is not corrupt), else a header's worth
    /// more. A read of that size always completes the header or the record.
    fn carried_record_len(&self) -> usize {
        match read_u32(&self.carry, 8, self.header.big_endian) {
            Some(caplen) if caplen <= MAX_PACKET => RECORD_HEADER + caplen as usize,
            _ => self.carry.len() + RECORD_HEADER,
        }
    }

    /// Reads after the first `filled` bytes of the chunk's buffer until it
    /// holds `size` bytes or the stream ends or fails; says whether it failed.
    fn read_into(&mut self, data: &mut ChunkData, mut filled: usize, size: usize) -> bool {
        let bytes = data.bytes.get_mut(..size).unwrap_or_default();
        let mut failed = false;
        while filled < bytes.len() {
            match self
                .stream
                .read(bytes.get_mut(filled..).unwrap_or_default())
            {
                Ok(0) => {
                    self.exhausted = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.exhausted = true;
                    failed = true;
                    break;
                }
            }
        }
        data.filled = filled;
        failed
    }

    /// Makes a slot of every whole record in `data.bytes`, and carries the
    /// bytes of a record cut at its end over to the next chunk. Returns
    /// whether a corrupt record ended the capture (with a warning).
    fn records(&mut self, data: &mut ChunkData, warnings: &mut Vec<CaptureWarning>) -> bool {
        let header = self.header;
        let units = if header.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        let mut pos = 0;
        let mut corrupt = false;
        let bytes = data.bytes.get(..data.filled).unwrap_or_default();
        while let Some(record) = bytes.get(pos..) {
            // The captured length is checked as soon as it is there, as
            // `CaptureReader` does before buffering a record.
            let Some(caplen) = read_u32(record, 8, header.big_endian) else {
                break;
            };
            if caplen > MAX_PACKET {
                warnings.push(CaptureWarning {
                    offset: self.offset,
                    message: format!(
                        "corrupt record: it claims {caplen} bytes captured, more than the \
                         {MAX_PACKET} a packet may have; reading stops"
                    ),
                });
                corrupt = true;
                break;
            }
            let end = RECORD_HEADER + caplen as usize;
            let (Some(ts_sec), Some(ts_frac), Some(orig_len), true) = (
                read_u32(record, 0, header.big_endian),
                read_u32(record, 4, header.big_endian),
                read_u32(record, 12, header.big_endian),
                record.len() >= end,
            ) else {
                break;
            };
            if !self.warned_snaplen && header.snaplen > 0 && caplen > header.snaplen {
                self.warned_snaplen = true;
                warnings.push(CaptureWarning {
                    offset: self.offset,
                    message: format!(
                        "a packet of {caplen} bytes captured, more than the file's snap length \
                         {}: read anyway (later ones are not reported)",
                        header.snaplen
                    ),
                });
            }
            data.slots.push(Slot {
                ts_raw: timestamp(i64::from(ts_sec), u64::from(ts_frac), units),
                link_type: header.link_type,
                start: pos + RECORD_HEADER,
                end: pos + end,
                orig_len,
                file_offset: self.offset,
                interface: 0,
            });
            pos += end;
            self.offset += end as u64;
        }
        if !corrupt {
            self.carry
                .extend_from_slice(bytes.get(pos..).unwrap_or_default());
        }
        data.filled = pos;
        corrupt
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../../../samples/smtp.pcap");

    /// Packets (as debug text) and warnings of `CaptureReader`.
    fn by_capture_reader(bytes: &[u8]) -> (Vec<String>, Vec<CaptureWarning>) {
        let mut reader = CaptureReader::from_reader(Cursor::new(bytes.to_vec()), "t")
            .unwrap_or_else(|e| panic!("opens: {e}"));
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet() {
            packets.push(format!("{p:?}"));
        }
        (packets, reader.take_warnings())
    }

    /// The same through `ChunkReader` with chunks of `chunk_size` bytes.
    fn by_chunk_reader(bytes: &[u8], chunk_size: usize) -> (Vec<String>, Vec<CaptureWarning>) {
        let mut reader = ChunkReader::from_reader(Cursor::new(bytes.to_vec()), "t")
            .unwrap_or_else(|e| panic!("opens: {e}"))
            .with_chunk_size(chunk_size);
        assert!(!reader.copies_packets());
        let mut packets = Vec::new();
        while let Some(chunk) = reader.next_chunk() {
            assert_eq!(chunk.first_packet(), packets.len() as u64);
            packets.extend(chunk.packets().map(|p| format!("{p:?}")));
        }
        (packets, reader.take_warnings())
    }

    /// Chunks smaller than a record, than a record header, of one byte: every
    /// read ends inside a record, which is carried over whole; the packets
    /// and warnings stay `CaptureReader`'s, on the intact sample and on the
    /// sample cut inside its last record's header and inside its data.
    #[test]
    fn tiny_chunks_read_what_the_capture_reader_reads() {
        let intact = by_capture_reader(SAMPLE);
        assert!(intact.0.len() > 10, "{}", intact.0.len());
        assert!(intact.1.is_empty());
        for cut in [
            SAMPLE.len(),
            SAMPLE.len() - 1,
            SAMPLE.len() - 60,
            24 + 10,
            24 + 16,
        ] {
            let bytes = &SAMPLE[..cut];
            let expected = by_capture_reader(bytes);
            for chunk_size in [1, 2, 15, 16, 17, 100, 1500, CHUNK_SIZE] {
                assert_eq!(
                    by_chunk_reader(bytes, chunk_size),
                    expected,
                    "cut at {cut}, chunks of {chunk_size}"
                );
            }
        }
    }

    /// A chunk size of 1 still holds one whole record per chunk.
    #[test]
    fn a_one_byte_chunk_size_gives_a_record_per_chunk() {
        let mut reader = ChunkReader::from_reader(Cursor::new(SAMPLE.to_vec()), "t")
            .unwrap_or_else(|e| panic!("opens: {e}"))
            .with_chunk_size(0);
        let mut chunks = 0;
        while let Some(chunk) = reader.next_chunk() {
            assert_eq!(chunk.len(), 1);
            chunks += 1;
        }
        assert_eq!(chunks, by_capture_reader(SAMPLE).0.len());
    }

    /// The first chunk holds at most [`FIRST_CHUNK_SIZE`] bytes of records,
    /// each next one at most twice the one before, up to [`CHUNK_SIZE`],
    /// which the later chunks fill but for less than a record; the packets
    /// stay `CaptureReader`'s.
    #[test]
    fn the_first_chunks_are_small_and_grow_to_the_chunk_size() {
        let mut bytes = SAMPLE.to_vec();
        while bytes.len() < 4 * CHUNK_SIZE {
            bytes.extend_from_slice(&SAMPLE[FILE_HEADER..]);
        }
        let largest_record = 1600;
        let mut reader = ChunkReader::from_reader(Cursor::new(bytes.clone()), "t")
            .unwrap_or_else(|e| panic!("opens: {e}"));
        let mut sizes = Vec::new();
        let mut packets = Vec::new();
        while let Some(chunk) = reader.next_chunk() {
            sizes.push(
                chunk
                    .packets()
                    .map(|p| RECORD_HEADER + p.data.len())
                    .sum::<usize>(),
            );
            packets.extend(chunk.packets().map(|p| format!("{p:?}")));
        }
        assert_eq!(packets, by_capture_reader(&bytes).0);
        assert!(sizes[0] <= FIRST_CHUNK_SIZE, "{sizes:?}");
        assert!(sizes[0] > FIRST_CHUNK_SIZE - largest_record, "{sizes:?}");
        for pair in sizes.windows(2) {
            assert!(
                pair[1] <= (2 * pair[0] + largest_record).min(CHUNK_SIZE),
                "{sizes:?}"
            );
        }
        let full = sizes
            .iter()
            .filter(|&&size| size > CHUNK_SIZE - largest_record);
        assert!(full.count() >= 2, "{sizes:?}");
    }
}
