//! Binary numbers and bit fields: `u16be`, `u32le`, `i8`, `u4`, `flag`,
//! `padding 3`, `padding align 32` in a spec.
//!
//! One [`Bits`] per record parser reads them all, one at a time: it holds
//! the unread low bits of the byte a bit field started (bits are read most
//! significant first, as Haka and the network do), and the progress of the
//! number being read, so a number split across segments resumes where it
//! stopped.
//!
//! Invariants:
//! - a byte is consumed from the input as soon as its first bit is read;
//!   [`Bits::left`] of its bits then remain for the next number, and the
//!   checker makes every record end on a byte boundary (so `left` is 0
//!   between records);
//! - little-endian numbers are whole bytes and start on a byte boundary
//!   (checked by the compiler), and are read byte by byte;
//! - `read` never consumes more bits than its width; on `NeedMore` the bits
//!   read so far are kept and the next call goes on with them.

use super::{Input, ParseCx, Site, Step, Stop};

/// How a number is laid out: width in bits (1 to 64), byte order, sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    pub bits: u32,
    pub little_endian: bool,
    pub signed: bool,
}

impl NumberFormat {
    /// `uN` / `iN`, big-endian.
    pub const fn big(bits: u32, signed: bool) -> NumberFormat {
        NumberFormat {
            bits,
            little_endian: false,
            signed,
        }
    }

    /// `uNle` / `iNle`.
    pub const fn little(bits: u32, signed: bool) -> NumberFormat {
        NumberFormat {
            bits,
            little_endian: true,
            signed,
        }
    }
}

/// The bit cursor of one record parser and the number in progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits {
    /// The byte whose low `left` bits are not read yet.
    byte: u8,
    left: u32,
    /// The number being read: its bits so far, and how many.
    value: u64,
    got: u32,
    /// Bits still to skip for the `padding` in progress, once computed.
    skipping: Option<u64>,
}

impl Bits {
    /// Unread bits of the current byte (0: on a byte boundary).
    pub fn left(&self) -> u32 {
        self.left
    }

    /// Reads one number as an `i64`: unsigned numbers of 64 bits keep their
    /// bit pattern (values of 2^63 and more read negative).
    pub fn read(
        &mut self,
        format: NumberFormat,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<i64> {
        let bits = format.bits;
        if bits == 0 || bits > 64 {
            return Err(cx.error(input, site, format!("invalid number width {bits}")));
        }
        if format.little_endian {
            if !bits.is_multiple_of(8) || self.left != 0 {
                return Err(cx.error(
                    input,
                    site,
                    "a little-endian number must be whole bytes on a byte boundary",
                ));
            }
            while self.got < bits {
                let byte = input.peek().ok_or(Stop::NeedMore)?;
                input.advance(1);
                self.value |= u64::from(byte) << self.got;
                self.got += 8;
            }
        } else {
            while self.got < bits {
                if self.left == 0 {
                    self.byte = input.peek().ok_or(Stop::NeedMore)?;
                    input.advance(1);
                    self.left = 8;
                }
                let take = self.left.min(bits - self.got);
                let chunk = (u64::from(self.byte) >> (self.left - take)) & mask(take);
                self.value = (self.value << take) | chunk;
                self.left -= take;
                self.got += take;
            }
        }
        let raw = std::mem::take(&mut self.value);
        self.got = 0;
        Ok(
            if format.signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
                (raw | !mask(bits)) as i64
            } else {
                raw as i64
            },
        )
    }

    /// `flag`: one bit, as a boolean.
    pub fn flag(&mut self, input: &mut Input<'_>, cx: &ParseCx<'_>, site: Site) -> Step<bool> {
        Ok(self.read(NumberFormat::big(1, false), input, cx, site)? == 1)
    }

    /// `padding N`: skips `bits` bits.
    pub fn skip(&mut self, bits: u64, input: &mut Input<'_>) -> Step<()> {
        let remaining = *self.skipping.get_or_insert(bits);
        self.skip_remaining(remaining, input)
    }

    /// `padding align N`: skips to the next multiple of `bits` bits from
    /// the start of the message (nothing when already there).
    pub fn align(
        &mut self,
        bits: u64,
        input: &mut Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<()> {
        if bits == 0 {
            return Err(cx.error(input, site, "alignment of 0 bits"));
        }
        let remaining = match self.skipping {
            Some(remaining) => remaining,
            None => {
                let position = input
                    .message_offset()
                    .saturating_mul(8)
                    .saturating_sub(u64::from(self.left));
                let remaining = (bits - position % bits) % bits;
                self.skipping = Some(remaining);
                remaining
            }
        };
        self.skip_remaining(remaining, input)
    }

    fn skip_remaining(&mut self, mut remaining: u64, input: &mut Input<'_>) -> Step<()> {
        loop {
            if remaining == 0 {
                self.skipping = None;
                return Ok(());
            }
            if self.left > 0 {
                let take = u64::from(self.left).min(remaining);
                self.left -= take as u32;
                remaining -= take;
            } else if remaining >= 8 {
                let chunk = input.chunk().len() as u64;
                if chunk == 0 {
                    self.skipping = Some(remaining);
                    return Err(Stop::NeedMore);
                }
                let bytes = chunk.min(remaining / 8);
                input.advance(bytes as usize);
                remaining -= bytes * 8;
            } else {
                let Some(byte) = input.peek() else {
                    self.skipping = Some(remaining);
                    return Err(Stop::NeedMore);
                };
                input.advance(1);
                self.byte = byte;
                self.left = 8;
            }
        }
    }
}

/// The low `bits` bits set.
fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Severity, Verdict};
    use crate::parse::Pending;
    use crate::value::Value;

    struct Quiet;
    impl EventSink for Quiet {
        fn event(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &Value,
        ) -> Verdict {
            Verdict::Continue
        }
        fn stream(
            &mut self,
            _: &FlowInfo,
            _: Direction,
            _: f64,
            _: &'static str,
            _: &[u8],
            _: bool,
        ) -> Verdict {
            Verdict::Continue
        }
        fn alert(&mut self, _: &FlowInfo, _: Direction, _: f64, _: Severity, _: &str) {}
    }

    /// Reads `formats` in order from `segments` fed one at a time; the
    /// values, or `None` for a step still waiting at the end.
    fn read_all(formats: &[NumberFormat], segments: &[&[u8]]) -> Vec<Option<i64>> {
        let flow = FlowInfo {
            id: 1,
            src: ([127, 0, 0, 1], 1).into(),
            dst: ([127, 0, 0, 1], 2).into(),
        };
        let mut sink = Quiet;
        let mut pending = Pending::default();
        let mut bits = Bits::default();
        let mut out = Vec::new();
        for segment in segments {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, segment);
            while let Some(format) = formats.get(out.len()) {
                match bits.read(*format, &mut input, &pcx, Site::new("r", "n")) {
                    Ok(v) => out.push(Some(v)),
                    Err(_) => break,
                }
            }
        }
        out.resize(formats.len(), None);
        out
    }

    #[test]
    fn byte_orders_and_signs() {
        let formats = [
            NumberFormat::big(16, false),
            NumberFormat::little(16, false),
            NumberFormat::big(8, true),
            NumberFormat::little(32, true),
        ];
        let data = [0x12, 0x34, 0x12, 0x34, 0xff, 0xfe, 0xff, 0xff, 0xff];
        let expected = vec![Some(0x1234), Some(0x3412), Some(-1), Some(-2)];
        assert_eq!(read_all(&formats, &[&data]), expected);
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(read_all(&formats, &[a, b]), expected, "split at {split}");
        }
    }

    #[test]
    fn bit_fields_read_most_significant_first_across_bytes() {
        // The flags word of a DNS answer: QR=1 opcode=0 AA=1 TC=0 RD=1 RA=1 Z=0 RCODE=3.
        let formats = [1, 4, 1, 1, 1, 1, 3, 4].map(|bits| NumberFormat::big(bits, false));
        let expected = [1, 0, 1, 0, 1, 1, 0, 3].map(Some).to_vec();
        assert_eq!(read_all(&formats, &[&[0x85, 0x83]]), expected);
        assert_eq!(read_all(&formats, &[&[0x85], &[0x83]]), expected);
        // A 14-bit field that straddles two bytes after a 2-bit one.
        let pointer = [NumberFormat::big(2, false), NumberFormat::big(14, false)];
        assert_eq!(
            read_all(&pointer, &[&[0xc0], &[0x0c]]),
            vec![Some(3), Some(12)]
        );
        let wide = [NumberFormat::big(64, false)];
        assert_eq!(read_all(&wide, &[&[0xff; 8]]), vec![Some(-1)]);
    }

    #[test]
    fn padding_skips_bits_and_aligns_on_the_message() {
        let flow = FlowInfo {
            id: 1,
            src: ([127, 0, 0, 1], 1).into(),
            dst: ([127, 0, 0, 1], 2).into(),
        };
        let mut sink = Quiet;
        let mut cx = Cx {
            flow: &flow,
            now: 0.0,
            sink: &mut sink,
        };
        let pcx = ParseCx::new(&mut cx, Direction::Up);
        let mut pending = Pending::default();
        let mut input = Input::new(&mut pending, &[0b1010_0000, 1, 2, 3, 4, 0xaa]);
        let mut bits = Bits::default();
        let site = Site::new("r", "p");
        assert_eq!(
            bits.read(NumberFormat::big(1, false), &mut input, &pcx, site),
            Ok(1)
        );
        assert_eq!(bits.skip(1, &mut input), Ok(()));
        assert_eq!(bits.flag(&mut input, &pcx, site), Ok(true));
        assert_eq!(bits.align(32, &mut input, &pcx, site), Ok(()));
        assert_eq!(input.message_offset(), 4);
        assert_eq!(bits.left(), 0);
        assert_eq!(
            bits.align(32, &mut input, &pcx, site),
            Ok(()),
            "already aligned"
        );
        assert_eq!(input.message_offset(), 4);
        assert_eq!(bits.skip(8, &mut input), Ok(()));
        assert_eq!(input.chunk(), &[0xaa]);
    }
}
