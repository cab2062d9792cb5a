//! `Input`: the bytes of one direction available to a parser right now.
//!
//! A direction's bytes come in two places: the slice of the current `feed`
//! call, and a per-direction [`Pending`] buffer that survives between calls.
//! `Pending` holds bytes a matcher handed back (it read past the end of a
//! longest match, or past a candidate end-token that did not match) and bytes
//! that waited for a state with a grammar for their direction. `Input` reads
//! `Pending` first, then the fed slice.
//!
//! Invariants:
//! - the unread bytes, in order, are `pending.bytes[pending.read..]` followed
//!   by `data[pos..]`;
//! - `pending.consumed` counts the bytes of the direction consumed so far
//!   (handing bytes back decreases it), so `consumed - message_start` is the
//!   position in the current message;
//! - `Pending` never holds more than the caller's cap: [`Input::keep_rest`]
//!   refuses beyond it;
//! - `pending.settled` (see [`Pending::settled`]) never decreases and never
//!   passes the bytes consumed: bytes before it belong to completed messages,
//!   to streamed chunks already emitted, or to messages abandoned or
//!   discarded; the dissector will never read them again;
//! - when journaling (specs with `at`, `try` or `union`), `pending.journal`
//!   holds the current message's bytes read so far, from its first byte, up
//!   to [`JOURNAL_CAP`] bytes: exactly `journal.len() == message_offset()`
//!   until the cap is reached or a gap is absorbed, after which only its
//!   first bytes are kept. An `Input` made by [`Input::positioned`] (the
//!   `at` of a spec) reads the message's bytes from a borrowed view instead.

use super::{Step, Stop};

/// The most bytes of one message a journal keeps (the default message cap).
pub const JOURNAL_CAP: usize = 1024 * 1024;

/// What one direction keeps between `feed` calls.
#[derive(Debug, Default, Clone)]
pub struct Pending {
    /// Bytes to read before the next fed slice (from `read` on).
    bytes: Vec<u8>,
    /// How much of `bytes` is already read.
    read: usize,
    /// Bytes of this direction consumed since the flow started.
    consumed: u64,
    /// `consumed` when the message being parsed started.
    message_start: u64,
    /// Bytes of the current message streamed to chunked events (not kept,
    /// so not counted against the message cap).
    streamed: u64,
    /// Bytes of this direction, from the flow's start, that the dissector is
    /// done with (see [`Pending::settled`]).
    settled: u64,
    /// Whether the bytes of each message are journaled.
    journaling: bool,
    /// The current message's bytes read so far (see the module doc).
    journal: Vec<u8>,
    /// Whether the journal stopped following the message (cap, gap).
    journal_stopped: bool,
}

impl Pending {
    /// Number of bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.bytes.len().saturating_sub(self.read)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the waiting bytes (for a handover to another dissector).
    pub fn take_unread(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.drain(..self.read.min(bytes.len()));
        self.read = 0;
        bytes
    }

    /// Forgets the waiting bytes (a gap or an abandoned message).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.read = 0;
    }

    /// Bytes of this direction consumed since the flow started.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Position in the current message.
    pub fn message_offset(&self) -> u64 {
        self.consumed.saturating_sub(self.message_start)
    }

    /// Marks the next byte as the first of a new message. Every byte before
    /// it is settled: it belonged to a completed or abandoned message.
    pub fn start_message(&mut self) {
        self.message_start = self.consumed;
        self.streamed = 0;
        self.settle_to(self.consumed);
        self.journal.clear();
        self.journal_stopped = false;
    }

    /// Journals the bytes of every message from now on (for `at`, `try`
    /// and `union`).
    pub fn keep_journal(&mut self) {
        self.journaling = true;
    }

    /// Bytes of this direction, counted from the flow's start, that the
    /// dissector is done with: they belong to completed messages, to chunks
    /// already streamed to an event (with the bytes of their message before
    /// them), or to messages abandoned or discarded. An inline user (the
    /// proxy) may forward them; later bytes may still change the verdict.
    pub fn settled(&self) -> u64 {
        self.settled
    }

    /// Moves the settled mark to `position` (never backwards, never past
    /// the bytes consumed).
    fn settle_to(&mut self, position: u64) {
        self.settled = self.settled.max(position.min(self.consumed));
    }

    /// The bytes up to stream position `end` are done with, however far
    /// their parse went (a whole datagram or frame, a frame's length
    /// prefix, a stream no longer parsed): they count as consumed up to
    /// there (never less than before) and are settled.
    pub fn settle_whole(&mut self, end: u64) {
        self.consumed = self.consumed.max(end);
        self.settle_to(self.consumed);
    }

    /// Counts `len` bytes lost in a gap that a streamed field absorbed: they
    /// belong to the current message, as streamed bytes.
    pub fn absorb_gap(&mut self, len: u64) {
        self.consumed = self.consumed.saturating_add(len);
        self.streamed = self.streamed.saturating_add(len);
        self.journal_stopped = true;
    }

    /// Appends consumed bytes to the journal, up to its cap.
    fn journal_bytes(&mut self, bytes: &[u8]) {
        if !self.journaling || self.journal_stopped {
            return;
        }
        if self.journal.len() + bytes.len() > JOURNAL_CAP {
            self.journal_stopped = true;
            return;
        }
        self.journal.extend_from_slice(bytes);
    }

    /// Forgets journaled bytes beyond the current position (handed back).
    fn truncate_journal(&mut self) {
        let offset = usize::try_from(self.message_offset()).unwrap_or(usize::MAX);
        if self.journal.len() > offset {
            self.journal.truncate(offset);
            self.journal_stopped = false;
        }
    }
}

/// The unread bytes of one direction: `Pending` first, then the fed slice.
#[derive(Debug)]
pub struct Input<'a> {
    pending: &'a mut Pending,
    data: &'a [u8],
    pos: usize,
    /// The whole message's bytes read so far, for an input made by
    /// [`Input::positioned`] (`None`: the journal has them).
    view: Option<&'a [u8]>,
    /// Whether the direction ended after these bytes (no more will come).
    ending: bool,
}

impl<'a> Input<'a> {
    pub fn new(pending: &'a mut Pending, data: &'a [u8]) -> Input<'a> {
        Input {
            pending,
            data,
            pos: 0,
            view: None,
            ending: false,
        }
    }

    /// Says that the direction ends after these bytes: `bytes rest`
    /// completes instead of waiting for more.
    pub fn set_ending(&mut self) {
        self.ending = true;
    }

    /// Whether the direction ends after these bytes.
    pub fn is_ending(&self) -> bool {
        self.ending
    }

    /// An input over `message[offset..]`, where `message` is the bytes of
    /// the current message read so far: what `at OFFSET RECORD` parses. Its
    /// positions are the message's (`message_offset()` starts at `offset`);
    /// `pending` must be fresh. `None` when `offset` lies past `message`.
    pub fn positioned(
        pending: &'a mut Pending,
        message: &'a [u8],
        offset: usize,
    ) -> Option<Input<'a>> {
        let data = message.get(offset..)?;
        *pending = Pending::default();
        pending.consumed = offset as u64;
        Some(Input {
            pending,
            data,
            pos: 0,
            view: Some(message),
            ending: true,
        })
    }

    /// The bytes of the current message read so far that this input can
    /// give back (from the message's first byte): the view of a positioned
    /// input, else the journal.
    pub fn message_bytes(&self) -> &[u8] {
        match self.view {
            Some(view) => view,
            None => &self.pending.journal,
        }
    }

    /// The view of a positioned input (the message's bytes read so far).
    pub fn view(&self) -> Option<&'a [u8]> {
        self.view
    }

    /// Takes the journal out (to lend it to a positioned input); give it
    /// back with [`Input::restore_journal`]. A positioned input has none.
    pub fn take_journal(&mut self) -> Option<(Vec<u8>, bool)> {
        if self.view.is_some() {
            return None;
        }
        let stopped = self.pending.journal_stopped;
        Some((std::mem::take(&mut self.pending.journal), stopped))
    }

    /// Puts back a journal taken by [`Input::take_journal`].
    pub fn restore_journal(&mut self, journal: (Vec<u8>, bool)) {
        self.pending.journal = journal.0;
        self.pending.journal_stopped = journal.1;
    }

    /// Goes back to `offset` in the current message (a `try` alternative
    /// that failed, a `union` member parsed): the bytes read since are read
    /// again. `false` (nothing moves) when they were not kept (journal
    /// cap, gap) or `offset` lies ahead.
    pub fn rewind_to(&mut self, offset: u64) -> bool {
        let now = self.message_offset();
        if offset > now {
            return false;
        }
        if offset == now {
            return true;
        }
        let (Ok(from), Ok(to)) = (usize::try_from(offset), usize::try_from(now)) else {
            return false;
        };
        let kept_whole = self.view.is_some() || !self.pending.journal_stopped;
        let tail = match self.message_bytes().get(from..to) {
            Some(tail) if kept_whole => tail.to_vec(),
            _ => return false,
        };
        self.unread(&tail);
        true
    }

    /// The next contiguous unread bytes (empty when all is read). There may be
    /// more after them: call again after [`Input::advance`].
    pub fn chunk(&self) -> &[u8] {
        match self.pending.bytes.get(self.pending.read..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => self.data.get(self.pos..).unwrap_or_default(),
        }
    }

    /// Consumes `n` bytes of [`Input::chunk`] (at most its length).
    pub fn advance(&mut self, n: usize) {
        let in_pending = self.pending.len();
        if in_pending > 0 {
            let n = n.min(in_pending);
            if self.pending.journaling {
                let read = self.pending.read;
                let bytes = self
                    .pending
                    .bytes
                    .get(read..read + n)
                    .unwrap_or_default()
                    .to_vec();
                self.pending.journal_bytes(&bytes);
            }
            self.pending.read += n;
            self.pending.consumed += n as u64;
            if self.pending.read == self.pending.bytes.len() {
                self.pending.clear();
            }
        } else {
            let n = n.min(self.data.len().saturating_sub(self.pos));
            if self.pending.journaling {
                let bytes = self.data.get(self.pos..self.pos + n).unwrap_or_default();
                self.pending.journal_bytes(bytes);
            }
            self.pos += n;
            self.pending.consumed += n as u64;
        }
    }

    /// Skips `n` bytes that are known to be there (those a rewind handed
    /// back: a `union` going on after its longest member).
    pub fn skip_exactly(&mut self, mut n: u64) {
        while n > 0 && !self.is_empty() {
            let take = self
                .chunk()
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            self.advance(take);
            n -= take as u64;
        }
    }

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.pending.len() + self.data.len().saturating_sub(self.pos)
    }

    /// Whether every byte is read.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.pos >= self.data.len()
    }

    /// The next unread byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.chunk().first().copied()
    }

    /// Waits for one more byte and returns it, unread (`lookahead()` in a spec).
    pub fn lookahead(&self) -> Step<i64> {
        self.peek().map(i64::from).ok_or(Stop::NeedMore)
    }

    /// Hands back `bytes`, the last bytes consumed: they are read again next.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let rest = self
            .pending
            .bytes
            .get(self.pending.read..)
            .unwrap_or_default();
        let mut joined = Vec::with_capacity(bytes.len() + rest.len());
        joined.extend_from_slice(bytes);
        joined.extend_from_slice(rest);
        self.pending.bytes = joined;
        self.pending.read = 0;
        self.pending.consumed = self.pending.consumed.saturating_sub(bytes.len() as u64);
        self.pending.truncate_journal();
    }

    /// Moves every unread byte of the fed slice into `Pending`, to be read by a
    /// later call. Fails, keeping nothing, if `Pending` would then hold more
    /// than `cap` bytes.
    pub fn keep_rest(&mut self, cap: usize) -> Result<(), usize> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let total = self.pending.len() + rest.len();
        if total > cap {
            return Err(total);
        }
        self.pending.bytes.drain(..self.pending.read);
        self.pending.read = 0;
        self.pending.bytes.extend_from_slice(rest);
        self.pos = self.data.len();
        Ok(())
    }

    /// Drops the first `n` unread bytes (fewer if fewer are left), pending
    /// ones first; they are settled. Returns how many were dropped.
    pub fn drop_unread(&mut self, n: usize) -> usize {
        let from_pending = self.pending.len().min(n);
        self.pending.read += from_pending;
        if self.pending.read == self.pending.bytes.len() {
            self.pending.clear();
        }
        let from_data = (n - from_pending).min(self.data.len().saturating_sub(self.pos));
        self.pos += from_data;
        let dropped = from_pending + from_data;
        self.pending.consumed += dropped as u64;
        self.settle();
        dropped
    }

    /// Drops every unread byte (the message they belong to is abandoned):
    /// the dissector is done with them, so they are settled.
    pub fn discard(&mut self) {
        let skipped = self.pending.len() + self.data.len().saturating_sub(self.pos);
        self.pending.consumed += skipped as u64;
        self.pending.clear();
        self.pos = self.data.len();
        self.settle();
    }

    /// Settles every byte consumed so far: call when a message is complete.
    pub fn settle(&mut self) {
        let consumed = self.pending.consumed;
        self.pending.settle_to(consumed);
    }

    /// Settles every byte consumed so far except the last `held` ones (bytes
    /// a matcher read but has not yet passed on, e.g. a possible end token).
    pub fn settle_except(&mut self, held: u64) {
        let position = self.pending.consumed.saturating_sub(held);
        self.pending.settle_to(position);
    }

    /// Bytes of this direction the dissector is done with ([`Pending::settled`]).
    pub fn settled(&self) -> u64 {
        self.pending.settled
    }

    /// Bytes of this direction consumed since the flow started.
    pub fn consumed(&self) -> u64 {
        self.pending.consumed
    }

    /// Position in the current message (where a parse error is reported).
    pub fn message_offset(&self) -> u64 {
        self.pending.message_offset()
    }

    /// Marks the next byte as the first of a new message.
    pub fn start_message(&mut self) {
        self.pending.start_message();
    }

    /// Journals the bytes of every message from now on (see [`Pending::keep_journal`]).
    pub fn keep_journal(&mut self) {
        self.pending.keep_journal();
    }

    /// Records that `n` bytes of the current message went to a chunked event.
    pub fn note_streamed(&mut self, n: u64) {
        self.pending.streamed += n;
    }

    /// Bytes of the current message that parsers keep (streamed ones aside):
    /// what the message cap applies to.
    pub fn kept_message_len(&self) -> u64 {
        self.pending
            .message_offset()
            .saturating_sub(self.pending.streamed)
    }

    /// Up to `max` unread bytes, copied, for error context in traces.
    pub fn context(&self, max: usize) -> Vec<u8> {
        let pending = self
            .pending
            .bytes
            .get(self.pending.read..)
            .unwrap_or_default();
        let data = self.data.get(self.pos..).unwrap_or_default();
        pending.iter().chain(data).take(max).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pending_before_data_and_counts_offsets() {
        let mut pending = Pending::default();
        let mut input = Input::new(&mut pending, b"abc");
        input.advance(2);
        input.unread(b"ab");
        assert_eq!(input.consumed(), 0);
        assert_eq!(input.chunk(), b"ab");
        input.advance(1);
        assert_eq!(input.chunk(), b"b");
        input.advance(5);
        assert_eq!(input.chunk(), b"c");
        assert_eq!(input.consumed(), 2);
        input.advance(1);
        assert!(input.is_empty());
        assert_eq!(input.consumed(), 3);
    }

    #[test]
    fn kept_bytes_come_back_on_the_next_feed_and_respect_the_cap() {
        let mut pending = Pending::default();
        {
            let mut input = Input::new(&mut pending, b"hello");
            input.advance(1);
            assert_eq!(input.keep_rest(3), Err(4));
            assert_eq!(input.keep_rest(4), Ok(()));
            assert_eq!(input.chunk(), b"ello", "kept bytes stay unread");
        }
        let input = Input::new(&mut pending, b"!");
        assert_eq!(input.context(10), b"ello!");
    }

    #[test]
    fn the_journal_follows_the_message_and_rewinds_across_feeds() {
        let mut pending = Pending::default();
        pending.keep_journal();
        {
            let mut input = Input::new(&mut pending, b"xyab");
            input.advance(2);
            input.start_message();
            input.advance(2);
            assert_eq!(input.message_bytes(), b"ab");
        }
        let mut input = Input::new(&mut pending, b"cd");
        input.advance(1);
        assert_eq!(input.message_bytes(), b"abc");
        assert!(input.rewind_to(1));
        assert_eq!(input.message_offset(), 1);
        assert_eq!(input.message_bytes(), b"a");
        assert_eq!(input.chunk(), b"bc");
        input.advance(2);
        assert_eq!(input.chunk(), b"d");
        assert_eq!(input.message_bytes(), b"abc");
        assert!(!input.rewind_to(9));
    }

    #[test]
    fn a_positioned_input_reads_the_message_from_an_offset() {
        let message = b"hello world";
        let mut pending = Pending::default();
        let Some(mut input) = Input::positioned(&mut pending, message, 6) else {
            panic!("offset 6 lies inside the message");
        };
        assert_eq!(input.message_offset(), 6);
        assert_eq!(input.chunk(), b"world");
        input.advance(2);
        assert_eq!(input.message_offset(), 8);
        assert_eq!(input.message_bytes(), message);
        assert!(input.rewind_to(7));
        assert_eq!(input.chunk(), b"o");
        let mut other = Pending::default();
        assert!(Input::positioned(&mut other, message, 12).is_none());
    }

    #[test]
    fn settled_follows_completed_messages_and_never_goes_back() {
        let mut pending = Pending::default();
        let mut input = Input::new(&mut pending, b"abcdef");
        input.start_message();
        input.advance(4);
        assert_eq!(input.settled(), 0, "a message in progress is not settled");
        input.settle_except(2);
        assert_eq!(input.settled(), 2, "held bytes are not settled");
        input.unread(b"cd");
        input.settle_except(5);
        assert_eq!(input.settled(), 2, "the mark never goes back");
        input.advance(2);
        input.start_message();
        assert_eq!(input.settled(), 4, "a new message settles what came before");
        input.discard();
        assert_eq!(input.settled(), 6, "discarded bytes are settled");
    }

    /// Found by the `dns_dissector` fuzz target: a frame's length prefix,
    /// and the rest of a datagram whose parse stopped early, never counted
    /// as consumed, so they were never settled (2 bytes more held per frame).
    #[test]
    fn a_whole_message_settles_however_far_its_parse_went() {
        let mut pending = Pending::default();
        pending.settle_whole(2);
        assert_eq!((pending.consumed(), pending.settled()), (2, 2), "a prefix");
        let mut input = Input::new(&mut pending, b"abcdef");
        input.start_message();
        input.advance(3);
        assert_eq!(input.message_offset(), 3, "offsets count from the message");
        pending.clear();
        pending.settle_whole(2 + 6);
        assert_eq!((pending.consumed(), pending.settled()), (8, 8));
        pending.settle_whole(5);
        assert_eq!(
            (pending.consumed(), pending.settled()),
            (8, 8),
            "never back"
        );
    }
}
