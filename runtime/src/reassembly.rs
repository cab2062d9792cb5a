//! TCP reassembly of one direction of a connection ("half stream").
//!
//! One job: turn segments, in whatever order, duplicated or overlapping, into
//! the in-order bytes of the stream, delivered as soon as they are contiguous,
//! with explicit [`Chunk::Gap`]s for bytes that will never arrive.
//!
//! Sequence numbers are mapped to 64-bit *offsets* from the stream's start
//! (offset 0 is the byte after the SYN, or the first byte of the first segment
//! seen when the capture starts mid-stream). The mapping takes the 32-bit
//! difference from the next expected byte as a signed number, so it survives
//! wrap-around at 2^32 and never compares raw `u32`s with `<`.
//!
//! Policies:
//! - overlaps: **first arrived wins** (like Linux and Suricata's "first"): a
//!   byte once buffered or delivered never changes; overlapping data whose
//!   content differs from buffered data is counted in [`StreamStats::overlaps`]
//!   (bytes already delivered are not kept, so a retransmission of them is
//!   only counted in `retransmitted_bytes`, not compared);
//! - gaps: a hole is given up (delivered as `Gap(len)`) when the buffered
//!   out-of-order bytes exceed the per-flow cap or the global cap, when the
//!   other side acknowledges bytes past the hole (the receiver got them, so we
//!   never will), and at the stream's end (FIN acknowledged, RST, idle
//!   timeout, eviction, end of capture);
//! - after a FIN the stream holds no byte beyond it; after the end, later
//!   segments are ignored (counted in `late_bytes`).
//!
//! Invariants (checked by the property tests at the bottom):
//! - `pending` holds disjoint segments, all starting strictly after `next`
//!   between calls, so that every byte is delivered at most once and in order;
//! - `pending_bytes` is the sum of the lengths in `pending`, and the shared
//!   [`Budget::used`] is the sum of `pending_bytes` over all live streams;
//! - the bytes delivered (data plus gap lengths) always add up to `next`;
//! - a segment arriving in order is delivered straight from its packet
//!   (zero copy); only out-of-order bytes are copied.

use std::collections::BTreeMap;

use crate::dissector::Verdict;

/// What reassembly hands on, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// In-order bytes.
    Data(&'a [u8]),
    /// This many bytes are missing and will never arrive.
    Gap(u64),
    /// The stream ended (FIN reached, RST, or the flow was closed).
    End,
}

/// Caps on bytes buffered out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Per direction of one flow.
    pub per_stream: usize,
    /// Over all flows.
    pub total: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            per_stream: 1 << 20,
            total: 256 << 20,
        }
    }
}

/// The memory shared by all streams of one engine.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    pub limits: ReassemblyLimits,
    /// Bytes buffered out of order over all streams.
    pub used: usize,
    /// Holes given up because a cap was reached.
    pub forced_gaps: u64,
    /// Of those, the ones forced by the global cap.
    pub global_cap_hits: u64,
}

impl Budget {
    pub fn new(limits: ReassemblyLimits) -> Budget {
        Budget {
            limits,
            used: 0,
            forced_gaps: 0,
            global_cap_hits: 0,
        }
    }
}

/// Counters of one half stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub delivered_bytes: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Segments that overlapped buffered data with different content.
    pub overlaps: u64,
    /// Bytes received again after they had been delivered.
    pub retransmitted_bytes: u64,
    /// Bytes received after the stream ended.
    pub late_bytes: u64,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct HalfStream {
    /// The sequence number of offset 0; unknown until the first segment.
    base: Option<u32>,
    /// Offset of the next byte to deliver: all before it was delivered or gapped.
    next: u64,
    /// Out-of-order segments by offset (see the invariants above).
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Offset of the FIN (one past the last byte), once seen.
    fin_at: Option<u64>,
    ended: bool,
    stats: StreamStats,
}

/// Hands a chunk on; stops the current operation when the consumer asks to
/// drop the flow.
macro_rules! emit {
    ($out:expr, $chunk:expr) => {
        if $out($chunk) == Verdict::Drop {
            return Verdict::Drop;
        }
    };
}

/// Stops the current operation when a step that emitted chunks got a drop.
macro_rules! check {
    ($step:expr) => {
        if $step == Verdict::Drop {
            return Verdict::Drop;
        }
    };
}

impl HalfStream {
    pub fn new() -> HalfStream {
        HalfStream::default()
    }

    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Whether the stream has ended (`Chunk::End` was delivered).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether any segment of this direction has been seen.
    pub fn is_started(&self) -> bool {
        self.base.is_some()
    }

    /// Bytes buffered out of order.
    pub fn buffered(&self) -> usize {
        self.pending_bytes
    }

    /// Offset of the next byte to deliver.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Maps a sequence number to its offset, relative to `next` so that
    /// wrap-around is harmless: anything within 2^31 of `next` maps right.
    fn offset_of(&self, seq: u32) -> Option<i64> {
        let base = self.base?;
        let reference = base.wrapping_add(self.next as u32);
        let delta = i64::from(seq.wrapping_sub(reference) as i32);
        Some(self.next as i64 + delta)
    }

    /// A segment of this direction: `seq` is its sequence number (the SYN's
    /// own when `syn`), `payload` its data.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        if self.ended {
            self.stats.late_bytes += payload.len() as u64;
            return Verdict::Continue;
        }
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if self.base.is_none() {
            self.base = Some(data_seq);
        }
        let Some(start) = self.offset_of(data_seq) else {
            return Verdict::Continue;
        };
        if fin && self.fin_at.is_none() {
            let fin_at = start + payload.len() as i64;
            let fin_at = (fin_at.max(0) as u64).max(self.next);
            self.fin_at = Some(fin_at);
            self.discard_beyond(fin_at, budget);
        }
        let (start, data) = self.trim(start, payload);
        if !data.is_empty() {
            if start == self.next {
                check!(self.deliver_in_order(data, budget, out));
            } else {
                self.buffer(start, data, budget);
                check!(self.enforce_caps(budget, out));
            }
        }
        check!(self.flush_contiguous(budget, out));
        self.end_if_complete(out)
    }

    /// The other direction acknowledged up to `ack`: the receiver has every
    /// byte before it, so a hole before it will never be filled.
    pub fn acked(
        &mut self,
        ack: u32,
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        if self.ended {
            return Verdict::Continue;
        }
        let Some(acked) = self.offset_of(ack) else {
            return Verdict::Continue;
        };
        if acked <= self.next as i64 {
            return Verdict::Continue;
        }
        // The ACK of a FIN counts the FIN itself: no data byte lies beyond it.
        let target = match self.fin_at {
            Some(fin_at) => (acked as u64).min(fin_at),
            None => acked as u64,
        };
        while self.next < target {
            let hole_end = match self.pending.first_key_value() {
                Some((&start, _)) if start < target => start,
                _ => target,
            };
            check!(self.gap(hole_end - self.next, out));
            check!(self.flush_contiguous(budget, out));
        }
        self.end_if_complete(out)
    }

    /// Ends the stream now: buffered bytes are delivered with gaps for the
    /// holes between them (and before a known FIN), then `End`. Does nothing
    /// if the stream already ended.
    pub fn finish(
        &mut self,
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        if self.ended {
            return Verdict::Continue;
        }
        while let Some((&start, _)) = self.pending.first_key_value() {
            if start > self.next {
                check!(self.gap(start - self.next, out));
            }
            check!(self.flush_contiguous(budget, out));
        }
        if let Some(fin_at) = self.fin_at {
            if fin_at > self.next {
                check!(self.gap(fin_at - self.next, out));
            }
        }
        self.ended = true;
        out(Chunk::End)
    }

    /// Frees the buffered bytes without delivering them (the flow is dropped).
    pub fn release(&mut self, budget: &mut Budget) {
        budget.used -= self.pending_bytes;
        self.pending_bytes = 0;
        self.pending.clear();
        self.ended = true;
    }

    /// Cuts what lies before `next` (already delivered: a retransmission) or
    /// after the FIN. Returns the new start (`>= next`) and the bytes left.
    fn trim<'p>(&mut self, start: i64, payload: &'p [u8]) -> (u64, &'p [u8]) {
        let next = self.next as i64;
        let mut data = payload;
        let mut start = start;
        if start < next {
            let skip = usize::try_from(next - start)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.stats.retransmitted_bytes += skip as u64;
            data = data.get(skip..).unwrap_or_default();
            start = next;
        }
        let start = start as u64;
        if let Some(fin_at) = self.fin_at {
            let room = usize::try_from(fin_at.saturating_sub(start)).unwrap_or(usize::MAX);
            data = data.get(..room.min(data.len())).unwrap_or_default();
        }
        (start, data)
    }

    /// Delivers `data`, which starts at `next`. Buffered segments it overlaps
    /// arrived first and win: they are delivered in place of the overlapped part.
    fn deliver_in_order(
        &mut self,
        mut data: &[u8],
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        while !data.is_empty() {
            let end = self.next + data.len() as u64;
            let overlapped =
                matches!(self.pending.first_key_value(), Some((&start, _)) if start < end);
            if !overlapped {
                self.next = end;
                self.stats.delivered_bytes += data.len() as u64;
                return out(Chunk::Data(data));
            }
            let Some((start, buffered)) = self.pending.pop_first() else {
                break;
            };
            self.unaccount(buffered.len(), budget);
            let head = usize::try_from(start - self.next)
                .unwrap_or(usize::MAX)
                .min(data.len());
            if head > 0 {
                self.next = start;
                self.stats.delivered_bytes += head as u64;
                emit!(out, Chunk::Data(data.get(..head).unwrap_or_default()));
                data = data.get(head..).unwrap_or_default();
            }
            let overlap = buffered.len().min(data.len());
            if data.get(..overlap) != buffered.get(..overlap) {
                self.stats.overlaps += 1;
            }
            data = data.get(overlap..).unwrap_or_default();
            self.next += buffered.len() as u64;
            self.stats.delivered_bytes += buffered.len() as u64;
            emit!(out, Chunk::Data(&buffered));
        }
        Verdict::Continue
    }

    /// Buffers `data` (starting after `next`), keeping only the bytes no
    /// buffered segment covers yet.
    fn buffer(&mut self, start: u64, data: &[u8], budget: &mut Budget) {
        let end = start + data.len() as u64;
        let mut pos = start;
        let mut differs = false;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let before = self.pending.range(..start).next_back();
        let overlapping = before.into_iter().chain(self.pending.range(start..end));
        for (&seg_start, seg) in overlapping {
            let seg_end = seg_start + seg.len() as u64;
            if seg_end <= pos {
                continue;
            }
            if seg_start > pos {
                pieces.push((pos, seg_start));
            }
            let (a, b) = (pos.max(seg_start), seg_end.min(end));
            if a < b {
                let new = data.get((a - start) as usize..(b - start) as usize);
                let old = seg.get((a - seg_start) as usize..(b - seg_start) as usize);
                differs |= new != old;
            }
            pos = pos.max(seg_end);
        }
        if pos < end {
            pieces.push((pos, end));
        }
        if differs {
            self.stats.overlaps += 1;
        }
        for (a, b) in pieces {
            let Some(bytes) = data.get((a - start) as usize..(b - start) as usize) else {
                continue;
            };
            self.pending_bytes += bytes.len();
            budget.used += bytes.len();
            self.pending.insert(a, bytes.to_vec());
        }
    }

    /// Gives up holes while this stream holds more than its cap, or while all
    /// streams together hold more than the global cap.
    fn enforce_caps(
        &mut self,
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        loop {
            let over =
                self.pending_bytes > budget.limits.per_stream || budget.used > budget.limits.total;
            let Some((&start, _)) = self.pending.first_key_value() else {
                return Verdict::Continue;
            };
            if !over {
                return Verdict::Continue;
            }
            budget.forced_gaps += 1;
            if budget.used > budget.limits.total {
                budget.global_cap_hits += 1;
            }
            check!(self.gap(start - self.next, out));
            check!(self.flush_contiguous(budget, out));
        }
    }

    /// Delivers buffered segments that start at `next`.
    fn flush_contiguous(
        &mut self,
        budget: &mut Budget,
        out: &mut dyn FnMut(Chunk<'_>) -> Verdict,
    ) -> Verdict {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            let buffered = entry.remove();
            self.unaccount(buffered.len(), budget);
            self.next += buffered.len() as u64;
            self.stats.delivered_bytes += buffered.len() as u64;
            emit!(out, Chunk::Data(&buffered));
        }
        Verdict::Continue
    }

    /// Forgets buffered bytes at or after `end` (a FIN arrived before them):
    /// the stream holds no byte beyond its FIN.
    fn discard_beyond(&mut self, end: u64, budget: &mut Budget) {
        let beyond: Vec<u64> = self.pending.range(end..).map(|(&start, _)| start).collect();
        for start in beyond {
            if let Some(seg) = self.pending.remove(&start) {
                self.unaccount(seg.len(), budget);
            }
        }
        if let Some((&start, seg)) = self.pending.range_mut(..end).next_back() {
            let keep = usize::try_from(end - start).unwrap_or(usize::MAX);
            if seg.len() > keep {
                let cut = seg.len() - keep;
                seg.truncate(keep);
                self.unaccount(cut, budget);
            }
        }
    }

    fn gap(&mut self, len: u64, out: &mut dyn FnMut(Chunk<'_>) -> Verdict) -> Verdict {
        if len == 0 {
            return Verdict::Continue;
        }
        self.next += len;
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        out(Chunk::Gap(len))
    }

    fn end_if_complete(&mut self, out: &mut dyn FnMut(Chunk<'_>) -> Verdict) -> Verdict {
        if self.fin_at == Some(self.next) && !self.ended {
            self.ended = true;
            return out(Chunk::End);
        }
        Verdict::Continue
    }

    fn unaccount(&mut self, len: usize, budget: &mut Budget) {
        self.pending_bytes -= len;
        budget.used -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a consumer saw, with adjacent data merged.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Out {
        Data(Vec<u8>),
        Gap(u64),
        End,
    }

    #[derive(Default)]
    struct Collector(Vec<Out>);

    impl Collector {
        fn push(&mut self, chunk: Chunk<'_>) -> Verdict {
            match (chunk, self.0.last_mut()) {
                (Chunk::Data(d), Some(Out::Data(prev))) => prev.extend_from_slice(d),
                (Chunk::Data(d), _) => self.0.push(Out::Data(d.to_vec())),
                (Chunk::Gap(n), Some(Out::Gap(prev))) => *prev += n,
                (Chunk::Gap(n), _) => self.0.push(Out::Gap(n)),
                (Chunk::End, _) => self.0.push(Out::End),
            }
            Verdict::Continue
        }
    }

    /// A segment to feed: offset in the stream, length, FIN flag.
    #[derive(Debug, Clone, Copy)]
    struct Seg {
        offset: usize,
        len: usize,
        fin: bool,
    }

    fn feed(
        isn: u32,
        stream: &[u8],
        segs: &[Seg],
        limits: ReassemblyLimits,
        finish: bool,
    ) -> (Vec<Out>, HalfStream, Budget) {
        let mut half = HalfStream::new();
        let mut budget = Budget::new(limits);
        let mut seen = Collector::default();
        // The SYN comes first and sets the base.
        half.segment(isn, true, false, &[], &mut budget, &mut |c| seen.push(c));
        for seg in segs {
            let seq = isn.wrapping_add(1).wrapping_add(seg.offset as u32);
            let bytes = &stream[seg.offset..seg.offset + seg.len];
            half.segment(seq, false, seg.fin, bytes, &mut budget, &mut |c| {
                seen.push(c)
            });
            assert_invariants(&half, &budget);
        }
        if finish {
            half.finish(&mut budget, &mut |c| seen.push(c));
        }
        (seen.0, half, budget)
    }

    fn assert_invariants(half: &HalfStream, budget: &Budget) {
        let mut prev_end = half.next;
        let mut sum = 0;
        for (&start, seg) in &half.pending {
            assert!(
                start > half.next,
                "pending segment at {start} not after next {}",
                half.next
            );
            assert!(start >= prev_end, "pending segments overlap at {start}");
            prev_end = start + seg.len() as u64;
            sum += seg.len();
        }
        assert_eq!(sum, half.pending_bytes);
        assert_eq!(budget.used, half.pending_bytes);
    }

    /// Cut points -> segments covering `0..len`, the last one with FIN.
    fn segments_from_cuts(len: usize, cuts: &[usize]) -> Vec<Seg> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        points.dedup();
        let mut segs: Vec<Seg> = points
            .windows(2)
            .map(|w| Seg {
                offset: w[0],
                len: w[1] - w[0],
                fin: false,
            })
            .collect();
        if let Some(last) = segs.last_mut() {
            last.fin = true;
        }
        segs
    }

    /// The oracle for missing segments: each byte is present if some received
    /// segment covers it; missing runs become gaps, up to the FIN.
    fn expected_with_holes(stream: &[u8], received: &[Seg], fin_received: bool) -> Vec<Out> {
        let mut present = vec![false; stream.len()];
        for seg in received {
            for p in &mut present[seg.offset..seg.offset + seg.len] {
                *p = true;
            }
        }
        let known_end = if fin_received {
            stream.len()
        } else {
            received.iter().map(|s| s.offset + s.len).max().unwrap_or(0)
        };
        let mut collector = Collector::default();
        for i in 0..known_end {
            if present[i] {
                collector.push(Chunk::Data(&stream[i..i + 1]));
            } else {
                collector.push(Chunk::Gap(1));
            }
        }
        collector.push(Chunk::End);
        collector.0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Any segmentation, reordering and duplication of a stream, from any
        /// ISN (wrap-around included), reassembles to exactly that stream.
        #[test]
        fn any_segmentation_order_and_duplication_gives_the_stream(
            stream in proptest::collection::vec(any::<u8>(), 1..3000),
            cuts in proptest::collection::vec(any::<usize>(), 0..40),
            isn in prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX],
            order in proptest::collection::vec(any::<u32>(), 0..80),
            dups in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let mut segs = segments_from_cuts(stream.len(), &cuts);
            for d in &dups {
                let seg = segs[d % segs.len()];
                segs.push(seg);
            }
            // A random permutation driven by `order`.
            for (i, r) in order.iter().enumerate() {
                let a = i % segs.len();
                let b = *r as usize % segs.len();
                segs.swap(a, b);
            }
            let (seen, half, budget) = feed(isn, &stream, &segs, ReassemblyLimits::default(), false);
            prop_assert_eq!(seen, vec![Out::Data(stream.clone()), Out::End]);
            prop_assert_eq!(half.stats().gaps, 0);
            prop_assert_eq!(half.stats().overlaps, 0);
            prop_assert_eq!(budget.used, 0);
        }

        /// With segments removed, the output is the stream with explicit gaps
        /// of the right lengths where bytes are missing.
        #[test]
        fn missing_segments_become_gaps_of_the_right_length(
            stream in proptest::collection::vec(any::<u8>(), 1..3000),
            cuts in proptest::collection::vec(any::<usize>(), 1..40),
            isn in any::<u32>(),
            removed in proptest::collection::vec(any::<usize>(), 1..10),
            order in proptest::collection::vec(any::<u32>(), 0..80),
        ) {
            let all = segments_from_cuts(stream.len(), &cuts);
            let mut kept: Vec<Seg> = all.iter().enumerate()
                .filter(|(i, _)| !removed.iter().any(|r| r % all.len() == *i))
                .map(|(_, s)| *s)
                .collect();
            for (i, r) in order.iter().enumerate() {
                if kept.is_empty() { break; }
                let a = i % kept.len();
                let b = *r as usize % kept.len();
                kept.swap(a, b);
            }
            let fin_received = kept.iter().any(|s| s.fin);
            let expected = expected_with_holes(&stream, &kept, fin_received);
            let (seen, _, budget) = feed(isn, &stream, &kept, ReassemblyLimits::default(), true);
            prop_assert_eq!(seen, expected);
            prop_assert_eq!(budget.used, 0);
        }

        /// Under tight caps holes are given up early, yet every delivered byte
        /// sits at its true position and data plus gaps cover the stream exactly.
        #[test]
        fn caps_force_gaps_but_keep_positions_right(
            stream in proptest::collection::vec(any::<u8>(), 1..3000),
            cuts in proptest::collection::vec(any::<usize>(), 1..40),
            order in proptest::collection::vec(any::<u32>(), 0..80),
            cap in 1usize..400,
        ) {
            let mut segs = segments_from_cuts(stream.len(), &cuts);
            for (i, r) in order.iter().enumerate() {
                let a = i % segs.len();
                let b = *r as usize % segs.len();
                segs.swap(a, b);
            }
            let limits = ReassemblyLimits { per_stream: cap, total: cap * 2 };
            let (seen, half, budget) = feed(7, &stream, &segs, limits, true);
            let mut pos = 0usize;
            for out in &seen {
                match out {
                    Out::Data(d) => {
                        prop_assert_eq!(d.as_slice(), &stream[pos..pos + d.len()]);
                        pos += d.len();
                    }
                    Out::Gap(n) => pos += *n as usize,
                    Out::End => prop_assert_eq!(pos, stream.len()),
                }
            }
            prop_assert_eq!(seen.last(), Some(&Out::End));
            prop_assert!(half.pending_bytes <= cap);
            prop_assert_eq!(budget.used, 0);
        }

        /// First arrived wins: overlapping segments with different content
        /// give, for each byte, the content of the first segment to bring it.
        #[test]
        fn first_arrived_bytes_win(
            len in 1usize..500,
            segs in proptest::collection::vec((any::<usize>(), 1usize..100, any::<u8>()), 1..30),
        ) {
            let mut half = HalfStream::new();
            let mut budget = Budget::default();
            let mut seen = Collector::default();
            half.segment(0, true, false, &[], &mut budget, &mut |c| seen.push(c));
            let mut oracle: Vec<Option<u8>> = vec![None; len];
            for (offset, seg_len, fill) in segs {
                let offset = offset % len;
                let seg_len = seg_len.min(len - offset);
                let bytes = vec![fill; seg_len];
                for slot in oracle.iter_mut().skip(offset).take(seg_len) {
                    if slot.is_none() { *slot = Some(fill); }
                }
                half.segment(1 + offset as u32, false, false, &bytes, &mut budget, &mut |c| seen.push(c));
            }
            half.finish(&mut budget, &mut |c| seen.push(c));
            let mut expected = Collector::default();
            let known = oracle.iter().rposition(|b| b.is_some()).map_or(0, |p| p + 1);
            for slot in &oracle[..known] {
                match slot {
                    Some(b) => expected.push(Chunk::Data(std::slice::from_ref(b))),
                    None => expected.push(Chunk::Gap(1)),
                };
            }
            expected.push(Chunk::End);
            prop_assert_eq!(seen.0, expected.0);
        }
    }

    /// Found by the `reassembly_oracle` fuzz target: bytes buffered beyond
    /// a FIN that arrived later (here an old FIN, before `next`) stayed
    /// counted in the shared budget after the stream ended, for good.
    #[test]
    fn a_fin_before_buffered_bytes_frees_them() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let mut seen = Collector::default();
        half.segment(0, true, false, &[], &mut budget, &mut |c| seen.push(c));
        half.segment(1, false, false, b"abc", &mut budget, &mut |c| seen.push(c));
        half.segment(11, false, false, b"beyond", &mut budget, &mut |c| {
            seen.push(c)
        });
        half.segment(6, false, false, b"xy", &mut budget, &mut |c| seen.push(c));
        assert_eq!(budget.used, 8);
        // A FIN whose sequence number lies in the past: the stream ends at `next`.
        half.segment(2, false, true, b"b", &mut budget, &mut |c| seen.push(c));
        assert!(half.is_ended());
        assert_eq!(half.buffered(), 0);
        assert_eq!(budget.used, 0);
        assert_eq!(seen.0, vec![Out::Data(b"abc".to_vec()), Out::End]);

        // A FIN inside a buffered segment cuts it.
        let mut half = HalfStream::new();
        let mut seen = Collector::default();
        half.segment(0, true, false, &[], &mut budget, &mut |c| seen.push(c));
        half.segment(4, false, false, b"defghi", &mut budget, &mut |c| {
            seen.push(c)
        });
        half.segment(3, false, true, b"cd", &mut budget, &mut |c| seen.push(c));
        assert_eq!(budget.used, 2);
        half.segment(1, false, false, b"ab", &mut budget, &mut |c| seen.push(c));
        assert_eq!(seen.0, vec![Out::Data(b"abcd".to_vec()), Out::End]);
        assert_eq!(budget.used, 0);
    }

    #[test]
    fn ack_past_a_hole_gives_it_up() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let mut seen = Collector::default();
        half.segment(99, true, false, &[], &mut budget, &mut |c| seen.push(c));
        half.segment(100, false, false, b"abc", &mut budget, &mut |c| {
            seen.push(c)
        });
        half.segment(106, false, false, b"ghi", &mut budget, &mut |c| {
            seen.push(c)
        });
        assert_eq!(seen.0, vec![Out::Data(b"abc".to_vec())]);
        // The receiver acknowledges everything up to 109: "def" is lost.
        half.acked(109, &mut budget, &mut |c| seen.push(c));
        assert_eq!(
            seen.0,
            vec![
                Out::Data(b"abc".to_vec()),
                Out::Gap(3),
                Out::Data(b"ghi".to_vec())
            ]
        );
        // An ACK beyond any data seen is a gap too.
        half.acked(111, &mut budget, &mut |c| seen.push(c));
        assert_eq!(seen.0.last(), Some(&Out::Gap(2)));
        assert_eq!(half.next_offset(), 11);
        assert_eq!(budget.used, 0);
    }

    #[test]
    fn data_on_the_syn_and_fin_end_the_stream() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let mut seen = Collector::default();
        half.segment(u32::MAX, true, false, b"hello", &mut budget, &mut |c| {
            seen.push(c)
        });
        half.segment(5, false, true, b" world", &mut budget, &mut |c| {
            seen.push(c)
        });
        assert_eq!(seen.0, vec![Out::Data(b"hello world".to_vec()), Out::End]);
        assert!(half.is_ended());
        half.segment(10, false, false, b"late", &mut budget, &mut |c| {
            seen.push(c)
        });
        assert_eq!(half.stats().late_bytes, 4);
    }

    #[test]
    fn mid_stream_pickup_starts_at_the_first_segment() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let mut seen = Collector::default();
        half.segment(5000, false, false, b"world", &mut budget, &mut |c| {
            seen.push(c)
        });
        // An older retransmission, partly before the start: only the new part counts.
        half.segment(4995, false, false, b"helloworld!", &mut budget, &mut |c| {
            seen.push(c)
        });
        assert_eq!(seen.0, vec![Out::Data(b"world!".to_vec())]);
        assert_eq!(half.stats().retransmitted_bytes, 10);
    }

    #[test]
    fn in_order_segments_are_not_copied() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let payload = b"zero copy".to_vec();
        let mut same_memory = false;
        half.segment(0, true, false, &[], &mut budget, &mut |_| Verdict::Continue);
        half.segment(1, false, false, &payload, &mut budget, &mut |c| {
            if let Chunk::Data(d) = c {
                same_memory = d.as_ptr() == payload.as_ptr();
            }
            Verdict::Continue
        });
        assert!(same_memory);
    }

    #[test]
    fn a_drop_verdict_stops_delivery() {
        let mut half = HalfStream::new();
        let mut budget = Budget::default();
        let mut calls = 0;
        half.segment(0, true, false, &[], &mut budget, &mut |_| Verdict::Continue);
        half.segment(5, false, false, b"later", &mut budget, &mut |_| {
            Verdict::Continue
        });
        let verdict = half.segment(1, false, false, b"abcd", &mut budget, &mut |_| {
            calls += 1;
            Verdict::Drop
        });
        assert_eq!(verdict, Verdict::Drop);
        assert_eq!(calls, 1);
        half.release(&mut budget);
        assert_eq!(budget.used, 0);
    }
}
