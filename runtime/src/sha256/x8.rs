//! SHA-256's block function over sixteen (or thirty-two) independent
//! streams, eight at a time, one per 32-bit lane of AVX2 registers (FIPS
//! 180-4 §6.2.2, lane-wise): for CPUs without AVX-512 ([`super::x16`]) and
//! without SHA extensions ([`super::ni`]), where one stream alone runs in
//! software at about a quarter of the speed of eight side by side.
//!
//! The pool hands batches of sixteen streams per group (its [`super::LANES`]);
//! each group is hashed as two halves of eight. Each step loads one 64-byte
//! block of each of the eight streams, transposes them so that register `t`
//! holds word `t` of every block, and runs the 64 rounds on all lanes
//! together. AVX2 has no rotate instruction (two shifts and an or) nor a
//! three-input logic one, so a round costs about twice [`super::x16`]'s
//! instructions for half its lanes.
//!
//! Unsafe (as [`super::x16`]): the intrinsics need AVX2, which [`compress`]
//! checks before calling them ([`available`]), and the loads read 64 bytes at
//! offsets [`compress`] checks against each input's length.

use std::arch::x86_64::*;

use super::x16::K;
use super::{assert_inputs_hold, Inputs, States};

/// Streams hashed in one pass: the lanes of a 256-bit register.
const HALF: usize = 8;

/// Whether this CPU has what [`compress`] uses.
pub fn available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Hashes `blocks` blocks of each of the `16 * G` inputs into `states`
/// (laid out as [`States`]), eight streams at a time.
///
/// # Panics
/// If the CPU lacks AVX2 ([`available`]) or an input is shorter than
/// `blocks` blocks: the pool never asks for either.
pub fn compress<const G: usize>(states: &mut States<G>, inputs: &Inputs<'_, G>, blocks: usize) {
    assert!(available(), "8-lane SHA-256 needs AVX2");
    assert_inputs_hold(inputs, blocks);
    for (state, group) in states.iter_mut().zip(inputs) {
        for half in 0..2 {
            let first = half * HALF;
            let streams: [&[u8]; HALF] = std::array::from_fn(|l| group[first + l]);
            // SAFETY: AVX2 was just checked, and every input holds
            // `blocks * 64` bytes, all that `compress_avx2` reads.
            unsafe { compress_avx2(state, first, &streams, blocks) }
        }
    }
}

/// Hashes the eight `streams` into lanes `first..first + 8` of `state`.
#[target_feature(enable = "avx2")]
unsafe fn compress_avx2(
    state: &mut [[u32; 16]; 8],
    first: usize,
    streams: &[&[u8]; HALF],
    blocks: usize,
) {
    // Big-endian words: reverse the bytes of each 32-bit word.
    let byte_swap = _mm256_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5,
        6, 7, 0, 1, 2, 3,
    );
    let mut hash: [__m256i; 8] =
        std::array::from_fn(|w| _mm256_loadu_si256(state[w][first..].as_ptr().cast()));
    for block in 0..blocks {
        let mut w = [_mm256_setzero_si256(); 16];
        for (half, words) in w.chunks_exact_mut(HALF).enumerate() {
            let mut rows: [__m256i; HALF] = std::array::from_fn(|l| {
                // SAFETY (the caller's): each stream holds `blocks * 64` bytes.
                let at = streams[l].as_ptr().add(block * 64 + half * 32);
                _mm256_shuffle_epi8(_mm256_loadu_si256(at.cast()), byte_swap)
            });
            transpose(&mut rows);
            words.copy_from_slice(&rows);
        }
        let mut working = hash;
        for (t, k) in K.iter().enumerate() {
            let wt = if t < 16 {
                w[t]
            } else {
                // Message schedule, in place over the last sixteen words.
                let w15 = w[(t - 15) & 15];
                let w2 = w[(t - 2) & 15];
                let s0 = xor3(
                    ror::<7, 25>(w15),
                    ror::<18, 14>(w15),
                    _mm256_srli_epi32(w15, 3),
                );
                let s1 = xor3(
                    ror::<17, 15>(w2),
                    ror::<19, 13>(w2),
                    _mm256_srli_epi32(w2, 10),
                );
                let next = add4(w[t & 15], s0, w[(t - 7) & 15], s1);
                w[t & 15] = next;
                next
            };
            let [a, b, c, d, e, f, g, h] = working;
            let sigma1 = xor3(ror::<6, 26>(e), ror::<11, 21>(e), ror::<25, 7>(e));
            // Ch(e, f, g) = (e & f) ^ (!e & g).
            let choose = _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
            let t1 = _mm256_add_epi32(add4(h, sigma1, choose, wt), _mm256_set1_epi32(*k as i32));
            let sigma0 = xor3(ror::<2, 30>(a), ror::<13, 19>(a), ror::<22, 10>(a));
            // Maj(a, b, c) = (a & b) | (c & (a | b)).
            let majority = _mm256_or_si256(
                _mm256_and_si256(a, b),
                _mm256_and_si256(c, _mm256_or_si256(a, b)),
            );
            let t2 = _mm256_add_epi32(sigma0, majority);
            working = [
                _mm256_add_epi32(t1, t2),
                a,
                b,
                c,
                _mm256_add_epi32(d, t1),
                e,
                f,
                g,
            ];
        }
        for (word, add) in hash.iter_mut().zip(working) {
            *word = _mm256_add_epi32(*word, add);
        }
    }
    for (w, word) in hash.iter().enumerate() {
        _mm256_storeu_si256(state[w][first..].as_mut_ptr().cast(), *word);
    }
}

/// Each lane rotated right by `R` bits (`L` = 32 - `R`: the intrinsics take
/// their shift counts as constants).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn ror<const R: i32, const L: i32>(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_srli_epi32::<R>(x), _mm256_slli_epi32::<L>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
    _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d))
}

/// Transposes an 8×8 matrix of 32-bit words: row `l` (half a block of
/// stream `l`) becomes column `l` (lane `l` of every register).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn transpose(rows: &mut [__m256i; HALF]) {
    // Interleave 32-bit words of row pairs, then 64-bit pairs of those: each
    // 128-bit half then holds a 4×4 block of the result.
    let mut pairs = [_mm256_setzero_si256(); HALF];
    for i in 0..4 {
        pairs[2 * i] = _mm256_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
        pairs[2 * i + 1] = _mm256_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
    }
    let mut quads = [_mm256_setzero_si256(); HALF];
    for i in 0..2 {
        quads[4 * i] = _mm256_unpacklo_epi64(pairs[4 * i], pairs[4 * i + 2]);
        quads[4 * i + 1] = _mm256_unpackhi_epi64(pairs[4 * i], pairs[4 * i + 2]);
        quads[4 * i + 2] = _mm256_unpacklo_epi64(pairs[4 * i + 1], pairs[4 * i + 3]);
        quads[4 * i + 3] = _mm256_unpackhi_epi64(pairs[4 * i + 1], pairs[4 * i + 3]);
    }
    // Row k takes the low halves of quads k and 4 + k; row 4 + k their high halves.
    for k in 0..4 {
        rows[k] = _mm256_permute2x128_si256(quads[k], quads[4 + k], 0x20);
        rows[4 + k] = _mm256_permute2x128_si256(quads[k], quads[4 + k], 0x31);
    }
}
