//! SHA-256 of many streams at once.
//!
//! Specs hash whole streams (`EVENT.sha256`: every mail of an SMTP capture),
//! and extraction hashes what it writes. One stream hashed alone runs at the
//! speed of the CPU's SHA extensions; a capture holds hundreds of streams in
//! flight, and SIMD registers are wide enough to hash sixteen of them side by
//! side (AVX-512: one 32-bit lane per stream, the `x16` module), about three times as
//! fast per byte on the machines we measured. Without AVX-512, CPUs with SHA
//! extensions interleave four streams' rounds (the `ni` module: 2.2x one
//! stream alone), and the others hash eight streams at a time in AVX2
//! registers (the `x8` module: about four times as fast as one stream in
//! software).
//!
//! How data flows:
//! - a [`Sha256Stream`] is one stream's hash. [`Sha256Lanes::stream`] gives
//!   a buffered one (when the pool batches, see [`Sha256Lanes::is_wide`],
//!   and its cap of buffers allows): its bytes wait in a small buffer; once
//!   [`BATCH_BYTES`] wait, the stream is queued in the pool;
//! - [`Sha256Lanes`] (one per thread's sink) hashes [`BATCH_BYTES`] of
//!   thirty-two queued streams in one pass (two groups of sixteen) as soon as
//!   thirty-two are queued, or of sixteen when a queued stream's buffer is
//!   full, with the block function the CPU runs best (`Kernel::detect`);
//! - a stream whose buffer would overflow before a batch takes it, a big
//!   update, every stream while fewer than [`LANES`] buffered ones are open
//!   (no batch could form: copying would only cost), an unbuffered stream
//!   and [`Sha256Stream::finish`] hash on their own, with the `sha2` crate's
//!   block function (SHA extensions when present).
//!
//! Invariants:
//! - the digest never depends on batching: a stream's state and waiting bytes
//!   live in the stream (shared with the pool only while queued), and every
//!   byte is hashed once, in order, by one path or the other;
//! - memory is bounded: a buffered stream holds at most [`BUFFER`] bytes, and
//!   at most [`MAX_BUFFERED`] streams of one pool hold a buffer at once (the
//!   others hash on their own); a stream dropped before its end leaves
//!   nothing behind (the pool drops it at its next batch).

#[cfg(target_arch = "x86_64")]
mod ni;
mod waiting;
#[cfg(target_arch = "x86_64")]
mod x16;
#[cfg(target_arch = "x86_64")]
mod x8;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sha2::digest::generic_array::typenum::U64;
use sha2::digest::generic_array::GenericArray;

use waiting::Waiting;

/// Streams hashed side by side in one batch.
pub const LANES: usize = 16;
/// Bytes of each stream a batch hashes (32 blocks of 64).
pub const BATCH_BYTES: usize = 2048;
/// A buffered stream's buffer: a batch's worth, and as much again waiting
/// for the batch.
pub const BUFFER: usize = 2 * BATCH_BYTES;
/// Streams of one pool that may hold a buffer at once (4 MiB in all).
pub const MAX_BUFFERED: usize = 1024;

const BLOCK: usize = 64;

const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The hash states of a batch of `16 * G` streams: word `w` of stream `l`
/// of group `g` is `states[g][w][l]` (what the block functions take).
type States<const G: usize> = [[[u32; LANES]; 8]; G];

/// A batch's inputs: stream `l` of group `g` is `inputs[g][l]`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
type Inputs<'a, const G: usize> = [[&'a [u8]; LANES]; G];

/// Panics unless every input holds `blocks` blocks: what a block function
/// reads, checked before its unsafe code runs.
#[cfg(target_arch = "x86_64")]
fn assert_inputs_hold<const G: usize>(inputs: &Inputs<'_, G>, blocks: usize) {
    assert!(
        inputs
            .iter()
            .flatten()
            .all(|input| input.len() >= blocks * BLOCK),
        "every input holds the blocks to hash"
    );
}

/// How a pool hashes its batches of streams side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Kernel {
    /// Sixteen streams per AVX-512 register (`x16`).
    X16,
    /// Four streams' rounds interleaved with SHA extensions (`ni`).
    Ni,
    /// Eight per AVX2 register (`x8`).
    X8,
}

impl Kernel {
    /// Every kernel, fastest first: AVX-512, SHA extensions, AVX2 (no faster
    /// than SHA extensions' four streams, nor than one alone).
    const FASTEST_FIRST: [Kernel; 3] = [Kernel::X16, Kernel::Ni, Kernel::X8];

    /// What this CPU batches with: the fastest kernel it runs, if any.
    fn detect() -> Option<Kernel> {
        Kernel::FASTEST_FIRST
            .into_iter()
            .find(|kernel| kernel.available())
    }

    /// Whether this CPU has what the kernel's block function uses.
    fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        let available = match self {
            Kernel::X16 => x16::available(),
            Kernel::Ni => ni::available(),
            Kernel::X8 => x8::available(),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let available = false;
        available
    }

    /// Hashes `blocks` blocks of each of a batch's inputs into `states` with
    /// the kernel's block function (which panics if the CPU lacks it).
    #[cfg(target_arch = "x86_64")]
    fn compress<const G: usize>(
        self,
        states: &mut States<G>,
        inputs: &Inputs<'_, G>,
        blocks: usize,
    ) {
        match self {
            Kernel::X16 => x16::compress(states, inputs, blocks),
            Kernel::Ni => ni::compress(states, inputs, blocks),
            Kernel::X8 => x8::compress(states, inputs, blocks),
        }
    }
}

/// One stream's SHA-256 (see the module doc).
#[derive(Debug)]
pub struct Sha256Stream {
    lane: Arc<Mutex<Lane>>,
}

/// A stream's hash state, shared with the pool while it is queued.
#[derive(Debug)]
struct Lane {
    state: [u32; 8],
    /// Bytes not hashed yet: fewer than a block when unbuffered; up to
    /// [`BUFFER`] when buffered.
    waiting: Waiting,
    /// The stream's share of the pool's buffers, while it has one.
    permit: Option<BufferPermit>,
    /// Bytes fed in all.
    length: u64,
    /// In the pool's queue.
    queued: bool,
}

/// A buffer counted against its pool's [`MAX_BUFFERED`]; given back when dropped.
#[derive(Debug)]
struct BufferPermit {
    in_use: Arc<AtomicUsize>,
}

impl Drop for BufferPermit {
    fn drop(&mut self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock(lane: &Mutex<Lane>) -> MutexGuard<'_, Lane> {
    // A lane holds no invariant a panic elsewhere could break half-way.
    lane.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Sha256Stream::new()
    }
}

impl Sha256Stream {
    /// An unbuffered stream: hashed on its own, block by block.
    pub fn new() -> Sha256Stream {
        Sha256Stream::with_lane(Waiting::default(), None)
    }

    fn with_lane(waiting: Waiting, permit: Option<BufferPermit>) -> Sha256Stream {
        Sha256Stream {
            lane: Arc::new(Mutex::new(Lane {
                state: INITIAL_STATE,
                waiting,
                permit,
                length: 0,
                queued: false,
            })),
        }
    }

    /// Hashes `data` after the bytes before it. `lanes`, the pool the stream
    /// came from (or any other), batches it with other streams; without one
    /// the stream is hashed on its own.
    pub fn update(&mut self, data: &[u8], mut lanes: Option<&mut Sha256Lanes>) {
        let mut lane = lock(&self.lane);
        if lane.queued && lane.waiting.len() + data.len() > BUFFER {
            if let Some(lanes) = lanes.as_deref_mut() {
                // Queued, and its buffer is full: a batch of sixteen now, if
                // sixteen are ready, rather than hashing it on its own.
                drop(lane);
                lanes.run_batch(LANES);
                lane = lock(&self.lane);
            }
        }
        lane.length = lane.length.wrapping_add(data.len() as u64);
        // Buffering pays only while enough streams are open for batches.
        let batching = lanes.as_ref().is_some_and(|lanes| lanes.could_batch());
        if batching && lane.permit.is_some() && lane.waiting.len() + data.len() <= BUFFER {
            lane.waiting.push(data);
        } else {
            lane.absorb(data);
        }
        let worth_a_batch = lanes.is_some()
            && !lane.queued
            && lane.permit.is_some()
            && lane.waiting.len() >= BATCH_BYTES;
        lane.queued |= worth_a_batch;
        drop(lane);
        if let (true, Some(lanes)) = (worth_a_batch, lanes) {
            lanes.enqueue(Arc::clone(&self.lane));
        }
    }

    /// The digest of every byte fed.
    pub fn finish(self) -> [u8; 32] {
        let mut lane = lock(&self.lane);
        let waiting = std::mem::take(&mut lane.waiting);
        lane.permit = None;
        let waiting = hash_wrapped_half(&mut lane.state, &waiting);
        let whole = waiting.len() - waiting.len() % BLOCK;
        compress_blocks(&mut lane.state, &waiting[..whole]);
        let tail = &waiting[whole..];
        // Padding: 0x80, zeros, the length in bits; one block or two.
        let mut last = [0u8; 2 * BLOCK];
        last[..tail.len()].copy_from_slice(tail);
        last[tail.len()] = 0x80;
        let end = if tail.len() < BLOCK - 8 {
            BLOCK
        } else {
            2 * BLOCK
        };
        last[end - 8..end].copy_from_slice(&lane.length.wrapping_mul(8).to_be_bytes());
        compress_blocks(&mut lane.state, &last[..end]);
        let mut digest = [0u8; 32];
        for (out, word) in digest.chunks_exact_mut(4).zip(lane.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

impl Lane {
    /// Hashes the waiting bytes then `data`, block by block, on their own;
    /// keeps the last partial block waiting.
    fn absorb(&mut self, mut data: &[u8]) {
        if !self.waiting.is_empty() {
            let to_block = (BLOCK - self.waiting.len() % BLOCK) % BLOCK;
            let (top_up, rest) = data.split_at(to_block.min(data.len()));
            self.waiting.push(top_up);
            data = rest;
            if !self.waiting.len().is_multiple_of(BLOCK) {
                return;
            }
            let rest = hash_wrapped_half(&mut self.state, &self.waiting);
            compress_blocks(&mut self.state, rest);
            self.waiting.clear();
        }
        let whole = data.len() - data.len() % BLOCK;
        compress_blocks(&mut self.state, &data[..whole]);
        self.waiting.push(&data[whole..]);
    }
}

/// Hashes the first slice of `waiting` into `state` when its bytes wrap (a
/// whole half, so whole blocks); the bytes left to hash, in one slice.
fn hash_wrapped_half<'w>(state: &mut [u32; 8], waiting: &'w Waiting) -> &'w [u8] {
    match waiting.as_slices() {
        (first, []) => first,
        (first, second) => {
            compress_blocks(state, first);
            second
        }
    }
}

/// Hashes whole blocks into `state`, one stream alone (`bytes` is a
/// multiple of a block long), in one call of `sha2`'s block function.
fn compress_blocks(state: &mut [u32; 8], bytes: &[u8]) {
    let (blocks, rest) = bytes.as_chunks::<BLOCK>();
    debug_assert!(rest.is_empty());
    // SAFETY: `GenericArray<u8, U64>` is `#[repr(transparent)]` over
    // `[u8; 64]`, so a slice of one is a slice of the other.
    let blocks: &[GenericArray<u8, U64>] =
        unsafe { std::slice::from_raw_parts(blocks.as_ptr().cast(), blocks.len()) };
    sha2::compress256(state, blocks);
}

/// Hashes streams side by side (see the module doc). One per thread's sink.
#[derive(Debug)]
pub struct Sha256Lanes {
    /// Streams with a batch's worth waiting (and some that had and ended or
    /// were hashed on their own since: they are dropped at the next batch).
    queue: Vec<Arc<Mutex<Lane>>>,
    /// Buffers held by this pool's streams.
    in_use: Arc<AtomicUsize>,
    /// How batches are hashed; `None`: nothing is batched.
    kernel: Option<Kernel>,
    /// Bytes hashed in batches so far.
    batched_bytes: u64,
}

impl Default for Sha256Lanes {
    fn default() -> Self {
        Sha256Lanes::new()
    }
}

impl Sha256Lanes {
    /// A pool that batches when the CPU makes it pay (see the module doc).
    pub fn new() -> Sha256Lanes {
        Sha256Lanes::with_kernel(Kernel::detect())
    }

    fn with_kernel(kernel: Option<Kernel>) -> Sha256Lanes {
        Sha256Lanes {
            queue: Vec::with_capacity(2 * LANES),
            in_use: Arc::new(AtomicUsize::new(0)),
            kernel,
            batched_bytes: 0,
        }
    }

    /// Whether this pool hashes streams side by side: the CPU has AVX-512,
    /// SHA extensions or AVX2.
    pub fn is_wide(&self) -> bool {
        self.kernel.is_some()
    }

    /// Bytes hashed in batches so far (the others were hashed stream by stream).
    pub fn batched_bytes(&self) -> u64 {
        self.batched_bytes
    }

    /// A new stream, buffered for batches when the pool batches and has a
    /// buffer to spare.
    pub fn stream(&mut self) -> Sha256Stream {
        if self.is_wide() && self.in_use.load(Ordering::Relaxed) < MAX_BUFFERED {
            self.in_use.fetch_add(1, Ordering::Relaxed);
            let permit = BufferPermit {
                in_use: Arc::clone(&self.in_use),
            };
            Sha256Stream::with_lane(Waiting::with_capacity(BUFFER), Some(permit))
        } else {
            Sha256Stream::new()
        }
    }

    /// Whether enough buffered streams are open to make a batch.
    fn could_batch(&self) -> bool {
        self.in_use.load(Ordering::Relaxed) >= LANES
    }

    fn enqueue(&mut self, lane: Arc<Mutex<Lane>>) {
        self.queue.push(lane);
        if self.queue.len() >= 2 * LANES {
            self.run_batch(2 * LANES);
        }
    }

    /// Hashes [`BATCH_BYTES`] of thirty-two queued streams if so many still
    /// have them, else of sixteen if at least `min_streams` have them; the
    /// others stay queued.
    fn run_batch(&mut self, min_streams: usize) {
        let Some(kernel) = self.kernel else {
            // No stream of this pool is buffered: nothing to batch.
            return;
        };
        let mut ready = Vec::with_capacity(self.queue.len());
        for lane in self.queue.drain(..) {
            let mut state = lock(&lane);
            // Alone in the pool's hands: its stream is gone.
            let alive = Arc::strong_count(&lane) > 1;
            if alive && state.permit.is_some() && state.waiting.len() >= BATCH_BYTES {
                drop(state);
                ready.push(lane);
            } else {
                state.queued = false;
            }
        }
        let taken = if ready.len() >= 2 * LANES {
            2 * LANES
        } else if ready.len() >= min_streams.max(LANES) {
            LANES
        } else {
            self.queue = ready;
            return;
        };
        self.queue = ready.split_off(taken);
        if taken == LANES {
            hash_side_by_side::<1>(kernel, &ready);
        } else {
            hash_side_by_side::<2>(kernel, &ready);
        }
        self.batched_bytes += (taken * BATCH_BYTES) as u64;
        for lane in ready {
            let mut state = lock(&lane);
            state.queued = state.waiting.len() >= BATCH_BYTES;
            if state.queued {
                drop(state);
                self.queue.push(lane);
            }
        }
    }
}

/// The first [`BATCH_BYTES`] waiting in each of `16 * G` streams, hashed
/// side by side with `kernel`, then dropped from their buffers.
fn hash_side_by_side<const G: usize>(kernel: Kernel, batch: &[Arc<Mutex<Lane>>]) {
    let mut guards: Vec<MutexGuard<'_, Lane>> = batch.iter().map(|lane| lock(lane)).collect();
    let mut states: States<G> = [[[0u32; LANES]; 8]; G];
    for (i, guard) in guards.iter().enumerate() {
        for (w, word) in guard.state.iter().enumerate() {
            states[i / LANES][w][i % LANES] = *word;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        let inputs: Inputs<'_, G> = std::array::from_fn(|g| {
            std::array::from_fn(|l| {
                guards
                    .get(g * LANES + l)
                    .map_or(&[][..], |guard| guard.waiting.front_batch())
            })
        });
        kernel.compress(&mut states, &inputs, BATCH_BYTES / BLOCK);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    for (i, guard) in guards.iter_mut().enumerate() {
        for (w, word) in guard.state.iter_mut().enumerate() {
            *word = states[i / LANES][w][i % LANES];
        }
        guard.waiting.pop_batch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    fn reference(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn one_stream_alone_matches_sha2_at_every_length_around_the_padding() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let mut stream = Sha256Stream::new();
            let (a, b) = data[..len].split_at(len / 3);
            stream.update(a, None);
            stream.update(b, None);
            assert_eq!(stream.finish(), reference(&data[..len]), "length {len}");
        }
    }

    /// Every way of hashing batches this CPU can run, and none at all.
    fn kernels() -> Vec<Option<Kernel>> {
        let available = Kernel::FASTEST_FIRST
            .into_iter()
            .filter(|kernel| kernel.available());
        std::iter::once(None).chain(available.map(Some)).collect()
    }

    #[test]
    fn the_default_pool_batches_with_what_the_cpu_detects() {
        assert_eq!(Sha256Lanes::new().kernel, Kernel::detect());
    }

    /// Each kernel against `sha2`'s block function, stream by stream, from
    /// states that differ per stream.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn each_kernel_hashes_blocks_as_sha2_does() {
        const BLOCKS: usize = 3;
        let data: Vec<Vec<u8>> = (0..2 * LANES as u32)
            .map(|s| {
                (0..BLOCKS as u32 * 64)
                    .map(|i| (i * 13 + s * 101) as u8)
                    .collect()
            })
            .collect();
        let start = |s: usize| INITIAL_STATE.map(|word| word.rotate_left(s as u32));
        let mut expected: Vec<[u32; 8]> = (0..2 * LANES).map(start).collect();
        for (state, bytes) in expected.iter_mut().zip(&data) {
            compress_blocks(state, bytes);
        }
        for kernel in kernels().into_iter().flatten() {
            let mut states = [[[0u32; LANES]; 8]; 2];
            for s in 0..2 * LANES {
                for (w, word) in start(s).into_iter().enumerate() {
                    states[s / LANES][w][s % LANES] = word;
                }
            }
            let inputs: [[&[u8]; LANES]; 2] =
                std::array::from_fn(|g| std::array::from_fn(|l| &data[g * LANES + l][..]));
            kernel.compress(&mut states, &inputs, BLOCKS);
            for (s, want) in expected.iter().enumerate() {
                let got: [u32; 8] = std::array::from_fn(|w| states[s / LANES][w][s % LANES]);
                assert_eq!(&got, want, "{kernel:?}, stream {s}");
            }
        }
    }

    #[test]
    fn sixty_four_streams_fed_turn_about_are_batched_and_each_matches_sha2() {
        for kernel in kernels() {
            sixty_four_streams_fed_turn_about(kernel);
        }
    }

    fn sixty_four_streams_fed_turn_about(kernel: Option<Kernel>) {
        let mut lanes = Sha256Lanes::with_kernel(kernel);
        let inputs: Vec<Vec<u8>> = (0..64u32)
            .map(|s| {
                (0..20_000 + s * 37)
                    .map(|i| (i ^ (s * 131)) as u8)
                    .collect()
            })
            .collect();
        let mut streams: Vec<Sha256Stream> = inputs.iter().map(|_| lanes.stream()).collect();
        let mut offset = 0;
        while offset < 25_000 {
            for (stream, input) in streams.iter_mut().zip(&inputs) {
                if let Some(chunk) = input.get(offset..(offset + 1460).min(input.len())) {
                    stream.update(chunk, Some(&mut lanes));
                }
            }
            offset += 1460;
        }
        for (stream, input) in streams.into_iter().zip(&inputs) {
            assert_eq!(stream.finish(), reference(input));
        }
        // With a kernel most bytes went through batches of 16 × 2 KiB.
        assert_eq!(lanes.is_wide(), kernel.is_some());
        if lanes.is_wide() {
            let total: usize = inputs.iter().map(Vec::len).sum();
            let batched = lanes.batched_bytes() as usize;
            assert!(
                batched * 4 >= total * 3,
                "{batched} of {total} bytes batched"
            );
        } else {
            assert_eq!(lanes.batched_bytes(), 0);
        }
    }

    #[test]
    fn buffers_are_capped_and_given_back_when_streams_end_or_are_dropped() {
        let mut lanes = Sha256Lanes::new();
        if !lanes.is_wide() {
            // No buffers at all: every stream is unbuffered.
            assert!(lock(&lanes.stream().lane).permit.is_none());
            return;
        }
        let streams: Vec<_> = (0..MAX_BUFFERED + 5).map(|_| lanes.stream()).collect();
        let buffered = streams
            .iter()
            .filter(|s| lock(&s.lane).permit.is_some())
            .count();
        assert_eq!(buffered, MAX_BUFFERED);
        let mut streams = streams.into_iter();
        let first = streams.next().map(Sha256Stream::finish);
        assert!(first.is_some());
        assert_eq!(lanes.in_use.load(Ordering::Relaxed), MAX_BUFFERED - 1);
        drop(streams);
        assert_eq!(lanes.in_use.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_stream_dropped_while_queued_is_forgotten_by_the_next_batch() {
        let mut lanes = Sha256Lanes::new();
        let data = vec![0x5a; BATCH_BYTES];
        let mut gone = lanes.stream();
        gone.update(&data, Some(&mut lanes));
        drop(gone);
        let mut kept: Vec<_> = (0..2 * LANES).map(|_| lanes.stream()).collect();
        for stream in &mut kept {
            stream.update(&data, Some(&mut lanes));
        }
        if lanes.is_wide() {
            // The 32 kept streams made one batch; the dropped one is gone.
            assert!(lanes.queue.is_empty());
            assert_eq!(lanes.batched_bytes(), (2 * LANES * BATCH_BYTES) as u64);
        }
        for stream in kept {
            assert_eq!(stream.finish(), reference(&data));
        }
    }

    #[test]
    fn a_full_buffer_makes_a_batch_of_sixteen() {
        let mut lanes = Sha256Lanes::new();
        let first = vec![0x11; BATCH_BYTES];
        let more = vec![0x22; BUFFER];
        let mut streams: Vec<_> = (0..LANES).map(|_| lanes.stream()).collect();
        for stream in &mut streams {
            stream.update(&first, Some(&mut lanes));
        }
        assert_eq!(lanes.batched_bytes(), 0);
        streams[0].update(&more, Some(&mut lanes));
        if lanes.is_wide() {
            assert_eq!(lanes.batched_bytes(), (LANES * BATCH_BYTES) as u64);
        }
        let mut all = first.clone();
        all.extend_from_slice(&more);
        let mut streams = streams.into_iter();
        assert_eq!(
            streams.next().map(Sha256Stream::finish),
            Some(reference(&all))
        );
        for stream in streams {
            assert_eq!(stream.finish(), reference(&first));
        }
    }

    proptest! {
        /// Any streams, any chunk sizes, any interleaving, ends at any time:
        /// each digest is sha2's of its bytes.
        #[test]
        fn batching_never_changes_a_digest(
            feeds in proptest::collection::vec((0usize..40, 0usize..5000, any::<u8>()), 1..400),
            buffered in any::<bool>(),
            kernel in proptest::sample::select(kernels()),
        ) {
            let mut lanes = Sha256Lanes::with_kernel(kernel);
            let mut streams: Vec<(Sha256Stream, Vec<u8>)> = Vec::new();
            for (which, len, seed) in feeds {
                if which >= streams.len() {
                    let stream = if buffered { lanes.stream() } else { Sha256Stream::new() };
                    streams.push((stream, Vec::new()));
                    continue;
                }
                if len % 97 == 0 {
                    let (stream, bytes) = streams.swap_remove(which);
                    prop_assert_eq!(stream.finish(), reference(&bytes));
                    continue;
                }
                let chunk: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
                let (stream, bytes) = &mut streams[which];
                stream.update(&chunk, Some(&mut lanes));
                bytes.extend_from_slice(&chunk);
            }
            for (stream, bytes) in streams {
                prop_assert_eq!(stream.finish(), reference(&bytes));
            }
        }
    }
}
