//! `bytes count N`: exactly `N` bytes, streamed chunk by chunk to an event or
//! collected into a field. `N` is an expression the generated parser
//! evaluates over fields parsed before (BDAT's chunk size, a length prefix).
//!
//! Invariants:
//! - a count that is absent (`Null`, e.g. `number()` of a bad string) or
//!   negative is a parse error at the field's start, before any byte is read;
//!   a collected field longer than `max_token_len` is an error too, so a
//!   count never makes a parser buffer more than the caps allow;
//! - a streamed field emits exactly the next `N` bytes, borrowed from the
//!   input, and never reads past them; it sends its `last` call at the end
//!   only when it `ends` the stream, so several fields can make one stream;
//! - a gap inside a streamed field is absorbed: the lost bytes count against
//!   `N` (and as the stream's `missing`), so the field ends where the sender
//!   meant it to and parsing stays in step;
//! - after a streaming call the input's settled mark covers every byte
//!   streamed (an inline proxy may forward a chunk while it streams).

use super::unstuff::Unstuffer;
use super::until::Transform;
use super::{Input, ParseCx, Site, Step, Stop};

/// The progress of one `bytes count` field, kept across segments.
#[derive(Debug, Clone, Default)]
pub struct CountState {
    /// Bytes still to read, once the field has started.
    remaining: Option<u64>,
    unstuffer: Unstuffer,
    collected: Vec<u8>,
}

/// The byte count `count` stands for, or why it is invalid.
fn checked_count(count: Option<i64>) -> Result<u64, String> {
    match count {
        None => Err("invalid byte count (not a number, or too large)".into()),
        Some(n) => u64::try_from(n).map_err(|_| format!("negative byte count {n}")),
    }
}

impl CountState {
    /// Whether the field has begun and not ended.
    pub fn in_progress(&self) -> bool {
        self.remaining.is_some()
    }

    /// The bytes still to read once started, validating `count` on the first call.
    fn start(
        &mut self,
        count: Option<i64>,
        input: &Input<'_>,
        cx: &ParseCx<'_>,
        site: Site,
    ) -> Step<u64> {
        match self.remaining {
            Some(n) => Ok(n),
            None => {
                let n = checked_count(count).map_err(|reason| cx.error(input, site, reason))?;
                self.remaining = Some(n);
                Ok(n)
            }
        }
    }

    /// Streams the next `count` bytes to `event`; when `ends`, a final empty
    /// chunk with `last = true` follows.
    #[allow(clippy::too_many_arguments)] // one per thing a field names in the spec
    pub fn stream(
        &mut self,
        count: Option<i64>,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
        event: &'static str,
        transform: Option<Transform>,
        ends: bool,
    ) -> Step<()> {
        let mut remaining = self.start(count, input, cx, site)?;
        while remaining > 0 {
            let chunk = input.chunk();
            if chunk.is_empty() {
                self.remaining = Some(remaining);
                return Err(Stop::NeedMore);
            }
            let take = chunk
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let piece = chunk.get(..take).unwrap_or_default();
            let sent = match transform {
                Some(Transform::Unstuff) => self
                    .unstuffer
                    .feed(piece, |out| cx.stream(event, out, false)),
                None => cx.stream(event, piece, false),
            };
            input.note_streamed(take as u64);
            input.advance(take);
            // Streamed bytes (and the message's bytes before them) are settled.
            input.settle();
            remaining -= take as u64;
            if let Err(stop) = sent {
                self.remaining = Some(remaining);
                return Err(stop);
            }
        }
        *self = CountState::default();
        if ends {
            cx.stream(event, &[], true)
        } else {
            Ok(())
        }
    }

    /// Collects the next `count` bytes (at most `max_token_len`).
    pub fn collect(
        &mut self,
        count: Option<i64>,
        input: &mut Input<'_>,
        cx: &mut ParseCx<'_>,
        site: Site,
        transform: Option<Transform>,
    ) -> Step<Vec<u8>> {
        let mut remaining = self.start(count, input, cx, site)?;
        if self.collected.is_empty()
            && remaining > u64::try_from(cx.limits.max_token_len).unwrap_or(u64::MAX)
        {
            *self = CountState::default();
            return Err(cx.error(input, site, "field too long"));
        }
        while remaining > 0 {
            let chunk = input.chunk();
            if chunk.is_empty() {
                self.remaining = Some(remaining);
                return Err(Stop::NeedMore);
            }
            let take = chunk
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let piece = chunk.get(..take).unwrap_or_default();
            let collected = &mut self.collected;
            match transform {
                Some(Transform::Unstuff) => {
                    let _ = self.unstuffer.feed(piece, |out| {
                        collected.extend_from_slice(out);
                        Ok::<(), ()>(())
                    });
                }
                None => collected.extend_from_slice(piece),
            }
            input.advance(take);
            remaining -= take as u64;
        }
        let bytes = std::mem::take(&mut self.collected);
        *self = CountState::default();
        Ok(bytes)
    }

    /// Closes a stream cut short (end of flow, gap, abandoned message): the
    /// `last` call, if the field had started. The state is reset.
    pub fn end_stream(&mut self, cx: &mut ParseCx<'_>, event: &'static str) -> Step<()> {
        let started = self.in_progress();
        *self = CountState::default();
        if started {
            cx.stream(event, &[], true)
        } else {
            Ok(())
        }
    }

    /// A gap of `len` bytes while this streamed field is in progress: the
    /// lost bytes count against the field. Returns the part of the gap that
    /// lies beyond the field's end (0: fully absorbed).
    pub fn absorb_gap(&mut self, len: u64, cx: &mut ParseCx<'_>, event: &'static str) -> u64 {
        let Some(remaining) = self.remaining else {
            return len;
        };
        let absorbed = len.min(remaining);
        self.remaining = Some(remaining - absorbed);
        cx.stream_gap(event, absorbed);
        len - absorbed
    }
}

/// `bytes rest`: every byte left of a whole message (a datagram or a
/// frame, all there at once), at most `max_token_len` of them.
pub fn read_rest(input: &mut Input<'_>, cx: &ParseCx<'_>, site: Site) -> Step<Vec<u8>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let chunk = input.chunk();
        if out.len() + chunk.len() > cx.limits.max_token_len {
            return Err(cx.error(input, site, "field too long"));
        }
        out.extend_from_slice(chunk);
        let taken = chunk.len();
        input.advance(taken);
    }
    Ok(out)
}

/// `bytes rest chunked -> EVENT` on a stream: every byte until the
/// direction ends, each chunk to `event` as it comes, then its `last` call.
pub fn stream_rest(input: &mut Input<'_>, cx: &mut ParseCx<'_>, event: &'static str) -> Step<()> {
    loop {
        let chunk = input.chunk();
        if chunk.is_empty() {
            break;
        }
        let taken = chunk.len();
        let sent = cx.stream(event, chunk, false);
        input.note_streamed(taken as u64);
        input.advance(taken);
        input.settle();
        sent?;
    }
    if input.is_ending() {
        cx.stream(event, &[], true)
    } else {
        Err(Stop::NeedMore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissector::{Cx, Direction, EventSink, FlowInfo, Severity, Verdict};
    use crate::parse::{Pending, StreamBook};
    use crate::value::Value;
    use std::net::SocketAddr;

    #[derive(Default)]
    struct Chunks {
        bytes: Vec<u8>,
        lasts: usize,
    }

    impl EventSink for Chunks {
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
            chunk: &[u8],
            last: bool,
        ) -> Verdict {
            self.bytes.extend_from_slice(chunk);
            self.lasts += usize::from(last);
            Verdict::Continue
        }
        fn alert(&mut self, _: &FlowInfo, _: Direction, _: f64, _: Severity, _: &str) {}
    }

    fn flow() -> FlowInfo {
        let addr: SocketAddr = ([127, 0, 0, 1], 25).into();
        FlowInfo {
            id: 1,
            src: addr,
            dst: addr,
        }
    }

    /// Streams `count` bytes of `segments`; the emitted bytes, `last` calls,
    /// the unread rest, and the outcome of the last call.
    fn run(
        count: Option<i64>,
        ends: bool,
        segments: &[&[u8]],
    ) -> (Vec<u8>, usize, Vec<u8>, Step<()>) {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut pending = Pending::default();
        let mut state = CountState::default();
        let mut rest = Vec::new();
        let mut outcome = Err(Stop::NeedMore);
        for segment in segments {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::new(&mut cx, Direction::Up);
            let mut input = Input::new(&mut pending, segment);
            if !matches!(outcome, Ok(()) | Err(Stop::Error(_))) {
                outcome = state.stream(
                    count,
                    &mut input,
                    &mut pcx,
                    Site::new("r", "f"),
                    "ev",
                    None,
                    ends,
                );
            }
            if outcome.is_ok() {
                rest.extend(input.context(usize::MAX));
                input.discard();
            }
        }
        (sink.bytes, sink.lasts, rest, outcome)
    }

    #[test]
    fn streams_exactly_the_count_at_every_split() {
        let data = b"0123456789QUIT\r\n";
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            let (bytes, lasts, rest, outcome) = run(Some(10), true, &[a, b]);
            assert_eq!(outcome, Ok(()), "split at {split}");
            assert_eq!(bytes, b"0123456789");
            assert_eq!(lasts, 1);
            assert_eq!(rest, b"QUIT\r\n");
        }
    }

    #[test]
    fn a_field_that_does_not_end_its_stream_sends_no_last_call() {
        let (bytes, lasts, rest, outcome) = run(Some(3), false, &[b"abcd"]);
        assert_eq!(
            (bytes.as_slice(), lasts, rest.as_slice()),
            (&b"abc"[..], 0, &b"d"[..])
        );
        assert_eq!(outcome, Ok(()));
    }

    #[test]
    fn zero_bytes_end_at_once_and_bad_counts_are_errors() {
        let (bytes, lasts, rest, outcome) = run(Some(0), true, &[b"next"]);
        assert_eq!((bytes.len(), lasts, rest.as_slice()), (0, 1, &b"next"[..]));
        assert_eq!(outcome, Ok(()));
        for bad in [None, Some(-1)] {
            let (bytes, _, _, outcome) = run(bad, true, &[b"data"]);
            assert!(bytes.is_empty());
            match outcome {
                Err(Stop::Error(err)) => assert_eq!(err.offset, 0, "{err}"),
                other => panic!("expected an error for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_gap_inside_the_field_is_absorbed_and_counted_missing() {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut book = StreamBook::new(&[]);
        let mut pending = Pending::default();
        let mut state = CountState::default();
        let site = Site::new("r", "f");
        {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::with_streams(&mut cx, Direction::Up, &mut book);
            let mut input = Input::new(&mut pending, b"abc");
            let step = state.stream(Some(10), &mut input, &mut pcx, site, "ev", None, true);
            assert_eq!(step, Err(Stop::NeedMore));
            assert_eq!(state.absorb_gap(4, &mut pcx, "ev"), 0);
            assert_eq!(state.absorb_gap(5, &mut pcx, "ev"), 2, "3 bytes remained");
        }
        {
            let mut cx = Cx {
                flow: &flow,
                now: 0.0,
                sink: &mut sink,
            };
            let mut pcx = ParseCx::with_streams(&mut cx, Direction::Up, &mut book);
            let mut input = Input::new(&mut pending, b"rest");
            let step = state.stream(Some(10), &mut input, &mut pcx, site, "ev", None, true);
            assert_eq!(step, Ok(()));
            assert_eq!(input.chunk(), b"rest");
        }
        assert_eq!(sink.bytes, b"abc");
        assert_eq!(book.get("ev").missing, 7);
        assert_eq!(book.get("ev").size, 3);
    }

    #[test]
    fn streamed_bytes_are_settled_as_they_go() {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut cx = Cx {
            flow: &flow,
            now: 0.0,
            sink: &mut sink,
        };
        let mut pcx = ParseCx::new(&mut cx, Direction::Up);
        let mut pending = Pending::default();
        let mut input = Input::new(&mut pending, b"abcd");
        let mut state = CountState::default();
        let step = state.stream(
            Some(10),
            &mut input,
            &mut pcx,
            Site::new("r", "f"),
            "ev",
            None,
            true,
        );
        assert_eq!(step, Err(Stop::NeedMore));
        assert_eq!(input.settled(), 4);
    }

    #[test]
    fn collected_fields_respect_the_token_cap() {
        let flow = flow();
        let mut sink = Chunks::default();
        let mut cx = Cx {
            flow: &flow,
            now: 0.0,
            sink: &mut sink,
        };
        let mut pcx = ParseCx::new(&mut cx, Direction::Up);
        let mut pending = Pending::default();
        let mut input = Input::new(&mut pending, b"abcdef");
        let mut state = CountState::default();
        let site = Site::new("r", "f");
        assert_eq!(
            state.collect(Some(4), &mut input, &mut pcx, site, None),
            Ok(b"abcd".to_vec())
        );
        let huge = i64::try_from(pcx.limits.max_token_len).unwrap_or(i64::MAX) + 1;
        assert!(matches!(
            state.collect(Some(huge), &mut input, &mut pcx, site, None),
            Err(Stop::Error(_))
        ));
    }
}
