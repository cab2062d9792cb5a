//! RFC 5321 §4.5.2 dot-unstuffing of a chunk stream (`transform unstuff`).
//!
//! A sender doubles the dot that starts a line of mail content (`\n..` on the
//! wire for `\n.` in the mail); the receiver drops one. The stream arrives in
//! chunks cut anywhere, so the [`Unstuffer`] remembers where the previous
//! chunk ended: at a line start, or just after a line-start dot.
//!
//! Invariant: the output is the input with exactly the second dot of every
//! line-start `..` removed (the stream's first byte counts as a line start),
//! whatever the chunk boundaries; output pieces borrow from the input (no copy).

/// Where the previous chunk ended, for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Position {
    /// At the start of a line (the stream's start, or after `\n`).
    #[default]
    LineStart,
    /// Just after a dot that started a line.
    AfterLineStartDot,
    /// Anywhere else.
    MidLine,
}

use std::sync::OnceLock;

use memchr::memmem;

/// What a line-start dot looks like in the middle of a stream.
pub(crate) const LINE_START_DOT: &[u8] = b"\n.";

/// Removes dot-stuffing from a stream fed chunk by chunk.
#[derive(Debug, Clone, Default)]
pub struct Unstuffer {
    position: Position,
}

impl Unstuffer {
    /// Feeds `chunk`; calls `emit` with the pieces of the unstuffed output, in
    /// order. Stops early, returning the error, when `emit` fails.
    pub fn feed<'c, E>(
        &mut self,
        chunk: &'c [u8],
        emit: impl FnMut(&'c [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.feed_searched(chunk, chunk.len(), emit)
    }

    /// [`Unstuffer::feed`] for a chunk already searched: `chunk[free_from..]`
    /// holds no `\n.` (the `bytes until` scan, skipping to SMTP's end token,
    /// searches for the same two bytes), so only the bytes before it are
    /// searched again.
    pub fn feed_searched<'c, E>(
        &mut self,
        chunk: &'c [u8],
        free_from: usize,
        mut emit: impl FnMut(&'c [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        // Only a dot at a line start matters: jump from one `\n.` to the next.
        static FINDER: OnceLock<memmem::Finder<'static>> = OnceLock::new();
        let finder = FINDER.get_or_init(|| memmem::Finder::new(LINE_START_DOT));
        // A `\n.` starting before `free_from` may end at it.
        let searched_to = free_from.saturating_add(1).min(chunk.len());
        let mut piece_start = 0;
        let mut i = 0;
        loop {
            match self.position {
                Position::LineStart | Position::AfterLineStartDot => {
                    let Some(&byte) = chunk.get(i) else {
                        break;
                    };
                    if byte != b'.' {
                        // Read again as the middle of a line (it may be a `\n`).
                        self.position = Position::MidLine;
                    } else if self.position == Position::LineStart {
                        self.position = Position::AfterLineStartDot;
                        i += 1;
                    } else {
                        emit(chunk.get(piece_start..i).unwrap_or_default())?;
                        piece_start = i + 1;
                        self.position = Position::MidLine;
                        i += 1;
                    }
                }
                Position::MidLine => {
                    let rest = chunk.get(i..).unwrap_or_default();
                    let unsearched = chunk.get(i..searched_to).unwrap_or_default();
                    match finder.find(unsearched) {
                        // The dot after the `\n` starts a line.
                        Some(offset) => {
                            i += offset + 1;
                            self.position = Position::LineStart;
                        }
                        None => {
                            // No line starts with a dot in the rest; the next
                            // chunk starts a line if this one ends one.
                            if rest.last() == Some(&b'\n') {
                                self.position = Position::LineStart;
                            }
                            break;
                        }
                    }
                }
            }
        }
        let rest = chunk.get(piece_start..).unwrap_or_default();
        if !rest.is_empty() {
            emit(rest)?;
        }
        Ok(())
    }

    /// Unstuffs a whole buffer at once (for non-chunked fields and tests).
    pub fn unstuff_all(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let _ = Unstuffer::default().feed(bytes, |piece| {
            out.extend_from_slice(piece);
            Ok::<(), ()>(())
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstuff_split(bytes: &[u8], split: usize) -> Vec<u8> {
        let mut unstuffer = Unstuffer::default();
        let mut out = Vec::new();
        let (a, b) = bytes.split_at(split);
        for chunk in [a, b] {
            let _ = unstuffer.feed(chunk, |piece| {
                out.extend_from_slice(piece);
                Ok::<(), ()>(())
            });
        }
        out
    }

    /// The definition, byte by byte: drop a dot that follows a line-start dot.
    fn oracle(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut line_start, mut after_dot) = (true, false);
        for &b in bytes {
            if after_dot && b == b'.' {
                after_dot = false;
                continue;
            }
            after_dot = line_start && b == b'.';
            line_start = b == b'\n';
            out.push(b);
        }
        out
    }

    proptest::proptest! {
        /// Any chunking, fed plain or searched (`feed_searched` told truly
        /// from where a chunk holds no `\n.`, or from a little later).
        #[test]
        fn any_chunking_unstuffs_like_the_definition(
            bytes in proptest::collection::vec(proptest::sample::select(vec![b'.', b'\n', b'\r', b'a']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
            searched in proptest::bool::ANY,
            slack in 0usize..4,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut unstuffer = Unstuffer::default();
            let mut out = Vec::new();
            let mut from = 0;
            for to in cuts.into_iter().chain([bytes.len()]) {
                let chunk = &bytes[from..to];
                // Just after the last `\n.` starts: no `\n.` from there on.
                let free_from = chunk
                    .windows(2)
                    .rposition(|w| w == LINE_START_DOT)
                    .map_or(0, |at| at + 1);
                let keep = |piece: &[u8]| {
                    out.extend_from_slice(piece);
                    Ok::<(), ()>(())
                };
                let _ = if searched {
                    unstuffer.feed_searched(chunk, (free_from + slack).min(chunk.len()), keep)
                } else {
                    unstuffer.feed(chunk, keep)
                };
                from = to;
            }
            proptest::prop_assert_eq!(out, oracle(&bytes));
        }
    }

    #[test]
    fn removes_one_dot_at_line_starts_only() {
        assert_eq!(
            Unstuffer::unstuff_all(b"..a\r\n..b\r\nc..d\r\n.e\r\n"),
            b".a\r\n.b\r\nc..d\r\n.e\r\n"
        );
        assert_eq!(Unstuffer::unstuff_all(b"...\n"), b"..\n");
    }

    #[test]
    fn gives_the_same_output_for_every_split() {
        let input = b"..x\n...\n.\n..\nab..\n\n..";
        let whole = Unstuffer::unstuff_all(input);
        for split in 0..=input.len() {
            assert_eq!(unstuff_split(input, split), whole, "split at {split}");
        }
    }
}
