//! Classic pcap output: packets written back byte for byte.
//!
//! One job: write a little-endian classic pcap with a given link type and
//! timestamp precision (micro- or nanosecond magic), each record carrying the
//! packet's captured bytes, original length and timestamp unchanged. Used by
//! pass-through outputs (`--output-pcap`) and by `synth`.
//!
//! Invariants: reading a classic pcap and writing its packets with the same
//! link type, precision and snap length reproduces every record exactly
//! (tested on `reference/haka/smtp.pcap`); a packet of another link type is
//! refused rather than written under the wrong one.

use std::io::{self, Write};

use crate::capture::{LinkType, Packet, RawTimestamp, TsPrecision};

/// Why a packet could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PcapWriteError {
    #[error("packet of link type {found} cannot go into a pcap of link type {expected}")]
    LinkTypeMismatch { expected: LinkType, found: LinkType },
    #[error("timestamp {0:?} does not fit a classic pcap record")]
    TimestampOutOfRange(RawTimestamp),
    #[error("packet of {0} bytes is too large for a pcap record")]
    TooLarge(usize),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The default snap length written in headers.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Writes a classic pcap.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    link_type: LinkType,
    precision: TsPrecision,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(
        mut out: W,
        link_type: LinkType,
        precision: TsPrecision,
        snaplen: u32,
    ) -> io::Result<PcapWriter<W>> {
        let magic: u32 = match precision {
            TsPrecision::Micro => 0xa1b2_c3d4,
            TsPrecision::Nano => 0xa1b2_3c4d,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&magic.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&link_type.0.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            link_type,
            precision,
            packets: 0,
        })
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    pub fn packets_written(&self) -> u64 {
        self.packets
    }

    /// Writes a captured packet as it was read.
    pub fn write_packet(&mut self, pkt: &Packet<'_>) -> Result<(), PcapWriteError> {
        if pkt.link_type != self.link_type {
            return Err(PcapWriteError::LinkTypeMismatch {
                expected: self.link_type,
                found: pkt.link_type,
            });
        }
        self.write_record(pkt.ts_raw, pkt.orig_len, pkt.data)
    }

    /// Writes one record.
    pub fn write_record(
        &mut self,
        ts: RawTimestamp,
        orig_len: u32,
        data: &[u8],
    ) -> Result<(), PcapWriteError> {
        let sec = u32::try_from(ts.sec).map_err(|_| PcapWriteError::TimestampOutOfRange(ts))?;
        let frac = match self.precision {
            TsPrecision::Micro => ts.nsec / 1000,
            TsPrecision::Nano => ts.nsec,
        };
        let caplen = u32::try_from(data.len()).map_err(|_| PcapWriteError::TooLarge(data.len()))?;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&sec.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(data)?;
        self.packets += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}
