//! Fuzz target `reassembly_oracle`: TCP reassembly of one direction
//! ([`HalfStream`]) against obviously-correct oracles.
//!
//! One job: decide, for structured random inputs, that reassembly delivers
//! exactly what an oracle computed byte by byte says it must.
//!
//! Two modes, chosen by the input:
//! - **honest**: a stream is cut into segments, some are retransmitted (any
//!   sub-range, same content), some are lost before the capture, the rest are
//!   permuted; the receiver acknowledges what it received so far. Oracle:
//!   each byte is data if a captured segment brought it before an ACK passed
//!   it (an ACK past a hole gives the hole up for good), otherwise a gap, up
//!   to the furthest byte known (captured data, an ACK, or the FIN), then
//!   `End`. Without losses this is exactly the stream. Under tight caps holes may be
//!   given up early, so only positions are checked: every delivered byte is
//!   the stream's byte at that position, and data plus gaps cover the same
//!   extent.
//! - **hostile**: segments of any content at any offset (overlapping with
//!   different bytes), ACKs at any offset, tight caps. Oracle: a byte
//!   delivered as data at position `p` is the byte that the first segment
//!   covering `p` carried there (first arrived wins).
//!
//! Always: data plus gaps add up to the stream offset, `End` comes once and
//! last, and nothing stays buffered after `finish`.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use protoc_runtime::dissector::Verdict;
use protoc_runtime::reassembly::{Budget, Chunk, HalfStream, ReassemblyLimits};

#[derive(Debug, Arbitrary)]
enum Input {
    Honest(Honest),
    Hostile(Hostile),
}

#[derive(Debug, Arbitrary)]
struct Honest {
    isn: u32,
    stream: Vec<u8>,
    /// Cut points (modulo the stream length).
    cuts: Vec<u16>,
    /// Retransmitted sub-ranges `(start, len)` (modulo the stream length).
    retransmits: Vec<(u16, u16)>,
    /// Original segments lost before the capture (indices, modulo the count).
    lost: Vec<u16>,
    /// Swaps applied to the order of transmission.
    swaps: Vec<(u16, u16)>,
    /// After which transmissions the receiver acknowledges.
    acks_after: Vec<u16>,
    /// The last segment carries a FIN.
    fin: bool,
    /// Tight caps on buffered bytes (per stream; the global cap is twice it).
    cap: Option<u16>,
}

#[derive(Debug, Arbitrary)]
struct Hostile {
    isn: u32,
    events: Vec<Event>,
    cap: u16,
}

#[derive(Debug, Arbitrary)]
enum Event {
    /// Data at an offset (kept below 2^30, so it maps to one position).
    Segment {
        offset: u32,
        fill: u8,
        len: u8,
        fin: bool,
    },
    /// An ACK from the other side at an offset (below 2^30).
    Ack { offset: u32 },
}

/// What the consumer saw, adjacent data and gaps merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Data(Vec<u8>),
    Gap(u64),
    End,
}

#[derive(Debug, Default)]
struct Collector {
    seen: Vec<Out>,
}

impl Collector {
    fn push(&mut self, chunk: Chunk<'_>) -> Verdict {
        assert!(
            !matches!(self.seen.last(), Some(Out::End)),
            "{chunk:?} after End"
        );
        match (chunk, self.seen.last_mut()) {
            (Chunk::Data([]), _) => panic!("empty data chunk"),
            (Chunk::Gap(0), _) => panic!("empty gap"),
            (Chunk::Data(d), Some(Out::Data(prev))) => prev.extend_from_slice(d),
            (Chunk::Data(d), _) => self.seen.push(Out::Data(d.to_vec())),
            (Chunk::Gap(n), Some(Out::Gap(prev))) => *prev += n,
            (Chunk::Gap(n), _) => self.seen.push(Out::Gap(n)),
            (Chunk::End, _) => self.seen.push(Out::End),
        }
        Verdict::Continue
    }

    /// Total extent covered by data and gaps.
    fn extent(&self) -> u64 {
        self.seen
            .iter()
            .map(|o| match o {
                Out::Data(d) => d.len() as u64,
                Out::Gap(n) => *n,
                Out::End => 0,
            })
            .sum()
    }

    /// Every delivered data byte with its stream position.
    fn data_bytes(&self) -> Vec<(u64, u8)> {
        let mut pos = 0u64;
        let mut bytes = Vec::new();
        for out in &self.seen {
            match out {
                Out::Data(d) => {
                    for &b in d {
                        bytes.push((pos, b));
                        pos += 1;
                    }
                }
                Out::Gap(n) => pos += n,
                Out::End => {}
            }
        }
        bytes
    }
}

/// One transmission: a range of the stream, and whether the capture has it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    start: usize,
    end: usize,
    fin: bool,
    captured: bool,
}

fn honest(input: &Honest) {
    let len = input.stream.len();
    if len == 0 {
        return;
    }
    // Original segmentation.
    let mut points: Vec<usize> = input.cuts.iter().map(|&c| usize::from(c) % len).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    let mut sent: Vec<Sent> = points
        .windows(2)
        .map(|w| Sent {
            start: w[0],
            end: w[1],
            fin: false,
            captured: true,
        })
        .collect();
    let count = sent.len();
    if let Some(last) = sent.last_mut() {
        last.fin = input.fin;
    }
    for &lost in &input.lost {
        sent[usize::from(lost) % count].captured = false;
    }
    // Retransmissions of any sub-range, with the same content.
    for &(start, span) in &input.retransmits {
        let start = usize::from(start) % len;
        let end = (start + usize::from(span) % (len - start + 1)).min(len);
        if end > start {
            sent.push(Sent {
                start,
                end,
                fin: false,
                captured: true,
            });
        }
    }
    for &(a, b) in &input.swaps {
        let (a, b) = (usize::from(a) % sent.len(), usize::from(b) % sent.len());
        sent.swap(a, b);
    }
    let acks_after: Vec<usize> = input
        .acks_after
        .iter()
        .map(|&i| usize::from(i) % sent.len())
        .collect();

    let limits = match input.cap {
        Some(cap) => {
            let cap = usize::from(cap) + 1;
            ReassemblyLimits {
                per_stream: cap,
                total: cap * 2,
            }
        }
        None => ReassemblyLimits::default(),
    };
    let mut half = HalfStream::new();
    let mut budget = Budget::new(limits);
    let mut out = Collector::default();
    half.segment(input.isn, true, false, &[], &mut budget, &mut |c| {
        out.push(c)
    });

    // What the receiver holds (it gets lost segments too: they are lost to
    // the capture only), to know what it may acknowledge.
    let mut received = vec![false; len];
    // The oracle, byte by byte: `Some(true)` data, `Some(false)` gap.
    let mut settled: Vec<Option<bool>> = vec![None; len];
    let mut fin_received_by_capture = false;
    let mut furthest_ack = 0usize;
    for (i, seg) in sent.iter().enumerate() {
        if seg.captured {
            let seq = input.isn.wrapping_add(1).wrapping_add(seg.start as u32);
            let bytes = &input.stream[seg.start..seg.end];
            half.segment(seq, false, seg.fin, bytes, &mut budget, &mut |c| {
                out.push(c)
            });
            fin_received_by_capture |= seg.fin;
            for s in settled[seg.start..seg.end]
                .iter_mut()
                .filter(|s| s.is_none())
            {
                *s = Some(true);
            }
        }
        for r in &mut received[seg.start..seg.end] {
            *r = true;
        }
        if acks_after.contains(&i) {
            // Data bytes only: the ACK of a FIN the capture missed would
            // count the FIN as one more (phantom) byte.
            let mut ack = received.iter().position(|r| !r).unwrap_or(len);
            if ack == len && fin_received_by_capture {
                ack += 1;
            }
            furthest_ack = furthest_ack.max(ack.min(len));
            for s in settled[..ack.min(len)].iter_mut().filter(|s| s.is_none()) {
                *s = Some(false);
            }
            let seq = input.isn.wrapping_add(1).wrapping_add(ack as u32);
            half.acked(seq, &mut budget, &mut |c| out.push(c));
        }
        assert!(
            half.buffered() <= limits.per_stream,
            "per-stream cap exceeded"
        );
        assert_eq!(budget.used, half.buffered(), "budget out of step");
    }
    half.finish(&mut budget, &mut |c| out.push(c));
    assert_eq!(budget.used, 0, "bytes left buffered after finish");
    assert_eq!(out.seen.last(), Some(&Out::End), "no End after finish");
    assert_eq!(out.extent(), half.next_offset(), "data plus gaps != offset");

    // The furthest byte known: captured data, an ACK, or the FIN.
    let mut known_end = furthest_ack;
    for seg in sent.iter().filter(|s| s.captured) {
        known_end = known_end.max(seg.end);
    }
    if fin_received_by_capture {
        known_end = len;
    }
    assert_eq!(out.extent(), known_end as u64, "wrong extent");

    if input.cap.is_some() {
        for (pos, byte) in out.data_bytes() {
            assert_eq!(
                Some(&byte),
                input.stream.get(pos as usize),
                "byte at {pos} misplaced"
            );
        }
        return;
    }
    let mut expected = Collector::default();
    for (i, &state) in settled.iter().enumerate().take(known_end) {
        if state == Some(true) {
            expected.push(Chunk::Data(&input.stream[i..i + 1]));
        } else {
            expected.push(Chunk::Gap(1));
        }
    }
    expected.push(Chunk::End);
    assert_eq!(out.seen, expected.seen, "output differs from the oracle");
    assert_eq!(
        half.stats().overlaps,
        0,
        "identical retransmissions counted as overlaps"
    );
    if settled.iter().take(known_end).all(|&s| s == Some(true)) {
        assert_eq!(half.stats().gaps, 0);
    }
}

fn hostile(input: &Hostile) {
    const SPAN: u32 = 1 << 30;
    let cap = usize::from(input.cap) + 1;
    let limits = ReassemblyLimits {
        per_stream: cap,
        total: cap * 2,
    };
    let mut half = HalfStream::new();
    let mut budget = Budget::new(limits);
    let mut out = Collector::default();
    half.segment(input.isn, true, false, &[], &mut budget, &mut |c| {
        out.push(c)
    });
    // First byte sent at each position.
    let mut first: HashMap<u64, u8> = HashMap::new();
    for event in &input.events {
        match *event {
            Event::Segment {
                offset,
                fill,
                len,
                fin,
            } => {
                let offset = offset % SPAN;
                let bytes: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i)).collect();
                for (i, &b) in bytes.iter().enumerate() {
                    first.entry(u64::from(offset) + i as u64).or_insert(b);
                }
                let seq = input.isn.wrapping_add(1).wrapping_add(offset);
                half.segment(seq, false, fin, &bytes, &mut budget, &mut |c| out.push(c));
            }
            Event::Ack { offset } => {
                let seq = input.isn.wrapping_add(1).wrapping_add(offset % SPAN);
                half.acked(seq, &mut budget, &mut |c| out.push(c));
            }
        }
        assert!(half.buffered() <= cap, "per-stream cap exceeded");
        assert_eq!(budget.used, half.buffered(), "budget out of step");
        assert_eq!(out.extent(), half.next_offset(), "data plus gaps != offset");
    }
    half.finish(&mut budget, &mut |c| out.push(c));
    assert_eq!(budget.used, 0, "bytes left buffered after finish");
    assert_eq!(out.extent(), half.next_offset(), "data plus gaps != offset");
    assert_eq!(out.seen.last(), Some(&Out::End), "no End after finish");
    for (pos, byte) in out.data_bytes() {
        assert_eq!(
            first.get(&pos),
            Some(&byte),
            "byte at {pos} is not the first one sent there"
        );
    }
}

fuzz_target!(|input: Input| {
    match &input {
        Input::Honest(h) => honest(h),
        Input::Hostile(h) => hostile(h),
    }
});
