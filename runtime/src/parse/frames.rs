//! Messages cut out of a byte stream by a length prefix: what
//! `transport tcp framed u16be;` asks for (DNS over TCP, RFC 1035 4.2.2).
//! Each frame is then parsed like one datagram.
//!
//! Invariants: a frame is handed over whole and exactly once, borrowed from
//! the fed bytes when it lies in one feed, else from a buffer that never
//! holds more than the cap; a frame longer than the cap, or a gap, loses the
//! frame boundaries for good: the rest of the stream is not cut any more;
//! [`Deframer::pushed`] counts every byte pushed, cut or not (the caller
//! settles a lost stream's bytes with it).

/// The length prefix: width in bytes (1 to 4) and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFormat {
    pub bytes: u8,
    pub little_endian: bool,
}

/// Why the stream can no longer be cut into frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of {0} bytes is longer than the message cap")]
    TooLong(u64),
    #[error("bytes were lost: the frame boundaries are unknown")]
    Lost,
}

/// One direction's framing state.
#[derive(Debug, Clone)]
pub struct Deframer {
    format: FrameFormat,
    /// Prefix bytes of the next frame seen so far.
    header: Vec<u8>,
    /// The body of a frame begun in an earlier feed, and its full length.
    body: Vec<u8>,
    length: Option<usize>,
    lost: bool,
    /// Bytes pushed so far, lost boundaries or not.
    pushed: u64,
}

impl Deframer {
    pub fn new(format: FrameFormat) -> Deframer {
        Deframer {
            format,
            header: Vec::new(),
            body: Vec::new(),
            length: None,
            lost: false,
            pushed: 0,
        }
    }

    /// Bytes pushed so far (the stream's bytes received, without the lost
    /// ones), whether they were cut into frames or not.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Whether a frame (or its prefix) has begun and is not complete.
    pub fn in_frame(&self) -> bool {
        !self.lost && (!self.header.is_empty() || self.length.is_some())
    }

    /// Whether the boundaries were lost (the direction is no longer parsed).
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Bytes were lost: boundaries are unknown from now on.
    pub fn lose_sync(&mut self) {
        self.lost = true;
        self.header = Vec::new();
        self.body = Vec::new();
        self.length = None;
    }

    /// Cuts `data` into frames and calls `frame` on each complete one, in
    /// order, while it returns `true`. Bytes after a `false` are ignored.
    pub fn push(
        &mut self,
        mut data: &[u8],
        cap: usize,
        mut frame: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), FrameError> {
        self.pushed = self.pushed.saturating_add(data.len() as u64);
        if self.lost {
            return Err(FrameError::Lost);
        }
        while !data.is_empty() {
            let length = match self.length {
                Some(length) => length,
                None => {
                    let need = usize::from(self.format.bytes) - self.header.len();
                    let take = need.min(data.len());
                    self.header
                        .extend_from_slice(data.get(..take).unwrap_or_default());
                    data = data.get(take..).unwrap_or_default();
                    if self.header.len() < usize::from(self.format.bytes) {
                        return Ok(());
                    }
                    let length = self.prefix_value();
                    self.header.clear();
                    let Ok(length) = usize::try_from(length) else {
                        self.lose_sync();
                        return Err(FrameError::TooLong(length));
                    };
                    if length > cap {
                        self.lose_sync();
                        return Err(FrameError::TooLong(length as u64));
                    }
                    self.length = Some(length);
                    length
                }
            };
            let missing = length - self.body.len();
            if self.body.is_empty() && data.len() >= missing {
                let (whole, rest) = data.split_at(missing);
                self.length = None;
                data = rest;
                if !frame(whole) {
                    return Ok(());
                }
                continue;
            }
            let take = missing.min(data.len());
            self.body
                .extend_from_slice(data.get(..take).unwrap_or_default());
            data = data.get(take..).unwrap_or_default();
            if self.body.len() == length {
                let body = std::mem::take(&mut self.body);
                self.length = None;
                if !frame(&body) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn prefix_value(&self) -> u64 {
        let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
        if self.format.little_endian {
            self.header.iter().rev().fold(0, fold)
        } else {
            self.header.iter().fold(0, fold)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(segments: &[&[u8]], cap: usize) -> (Vec<Vec<u8>>, Result<(), FrameError>) {
        let mut deframer = Deframer::new(FrameFormat {
            bytes: 2,
            little_endian: false,
        });
        let mut frames = Vec::new();
        let mut outcome = Ok(());
        for segment in segments {
            outcome = deframer.push(segment, cap, |f| {
                frames.push(f.to_vec());
                true
            });
        }
        (frames, outcome)
    }

    #[test]
    fn frames_come_out_whole_at_every_split() {
        let stream = b"\x00\x03abc\x00\x00\x00\x01z";
        let expected = vec![b"abc".to_vec(), Vec::new(), b"z".to_vec()];
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            let (frames, outcome) = cut(&[a, b], 100);
            assert_eq!(outcome, Ok(()));
            assert_eq!(frames, expected, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(cut(&bytewise, 100).0, expected);
    }

    /// Found by the `dns_dissector` fuzz target: the bytes of a stream whose
    /// boundaries were lost were never settled. `pushed` counts them all.
    #[test]
    fn every_pushed_byte_is_counted_lost_boundaries_or_not() {
        let mut deframer = Deframer::new(FrameFormat {
            bytes: 2,
            little_endian: false,
        });
        let segments: [&[u8]; 4] = [b"\x00", b"\x02o", b"k\xff\xff", b"abc"];
        let mut after = Vec::new();
        for segment in segments {
            let _ = deframer.push(segment, 16, |_| true);
            after.push((deframer.pushed(), deframer.is_lost()));
        }
        assert_eq!(after, [(1, false), (3, false), (6, true), (9, true)]);
    }

    #[test]
    fn a_frame_over_the_cap_loses_the_boundaries() {
        let (frames, outcome) = cut(&[b"\x00\x02ok\x01\x00", b"\x00\x01z"], 16);
        assert_eq!(frames, vec![b"ok".to_vec()]);
        assert_eq!(outcome, Err(FrameError::Lost));
    }
}
