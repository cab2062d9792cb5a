//! SHA-256's block function over sixteen (or thirty-two) independent
//! streams at once, one per 32-bit lane of AVX-512 registers (FIPS 180-4
//! §6.2.2, lane-wise).
//!
//! Each step loads one 64-byte block of each stream, transposes the sixteen
//! blocks so that register `t` holds word `t` of every block, and runs the 64
//! rounds on all lanes together: rotations are one instruction
//! (`vprord`), and Σ, σ, Ch and Maj are one three-input logic instruction
//! each (`vpternlogd`). The state stays in registers across a stream's
//! blocks.
//!
//! Unsafe (with [`super::ni`], [`super::x8`] and [`super`]'s block cast, the
//! runtime's only unsafe code):
//! the intrinsics need the CPU features, which [`compress`] checks before
//! calling them ([`available`]), and the loads read 64 bytes at offsets
//! [`compress`] checks against each input's length.

use std::arch::x86_64::*;

use super::{assert_inputs_hold, Inputs, States};

/// The round constants (FIPS 180-4 §4.2.2).
pub(super) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether this CPU has what [`compress`] uses.
pub fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

/// Hashes `blocks` blocks of each of the `16 * G` inputs into `states`
/// (laid out as [`States`]). The `G` groups go round by round side by side:
/// a round's steps depend on each other, the groups' do not, so two groups
/// keep the vector units busy while one group's steps wait for their inputs.
///
/// # Panics
/// If the CPU lacks AVX-512 ([`available`]) or an input is shorter than
/// `blocks` blocks: the pool never asks for either.
pub fn compress<const G: usize>(states: &mut States<G>, inputs: &Inputs<'_, G>, blocks: usize) {
    assert!(available(), "16-lane SHA-256 needs AVX-512F and AVX-512BW");
    assert_inputs_hold(inputs, blocks);
    // SAFETY: the features were just checked, and every input holds
    // `blocks * 64` bytes, all that `compress_avx512` reads.
    unsafe { compress_avx512(states, inputs, blocks) }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn compress_avx512<const G: usize>(
    states: &mut States<G>,
    inputs: &Inputs<'_, G>,
    blocks: usize,
) {
    // Big-endian words: reverse the bytes of each 32-bit word.
    let byte_swap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    let mut state: [[__m512i; 8]; G] = std::array::from_fn(|g| {
        std::array::from_fn(|w| _mm512_loadu_si512(states[g][w].as_ptr().cast()))
    });
    // The message schedules, filled in place for each block: built by
    // `array::from_fn`, they were copied (2 KiB per block) on the way out.
    let mut w = [[_mm512_setzero_si512(); 16]; G];
    for block in 0..blocks {
        for (group, rows) in inputs.iter().zip(w.iter_mut()) {
            for (input, row) in group.iter().zip(rows.iter_mut()) {
                // SAFETY (the caller's): each input holds `blocks * 64` bytes.
                let bytes = _mm512_loadu_si512(input.as_ptr().add(block * 64).cast());
                *row = _mm512_shuffle_epi8(bytes, byte_swap);
            }
            transpose(rows);
        }
        let mut working = state;
        for (t, k) in K.iter().enumerate() {
            for g in 0..G {
                let wt = if t < 16 {
                    w[g][t]
                } else {
                    // Message schedule, in place over the last sixteen words.
                    let w15 = w[g][(t - 15) & 15];
                    let w2 = w[g][(t - 2) & 15];
                    let s0 = xor3(
                        _mm512_ror_epi32(w15, 7),
                        _mm512_ror_epi32(w15, 18),
                        _mm512_srli_epi32(w15, 3),
                    );
                    let s1 = xor3(
                        _mm512_ror_epi32(w2, 17),
                        _mm512_ror_epi32(w2, 19),
                        _mm512_srli_epi32(w2, 10),
                    );
                    let next = add4(w[g][t & 15], s0, w[g][(t - 7) & 15], s1);
                    w[g][t & 15] = next;
                    next
                };
                let [a, b, c, d, e, f, g_, h] = working[g];
                let sigma1 = xor3(
                    _mm512_ror_epi32(e, 6),
                    _mm512_ror_epi32(e, 11),
                    _mm512_ror_epi32(e, 25),
                );
                // Ch(e, f, g) = (e & f) ^ (!e & g): truth table 0xca.
                let choose = _mm512_ternarylogic_epi32(e, f, g_, 0xca);
                let t1 =
                    _mm512_add_epi32(add4(h, sigma1, choose, wt), _mm512_set1_epi32(*k as i32));
                let sigma0 = xor3(
                    _mm512_ror_epi32(a, 2),
                    _mm512_ror_epi32(a, 13),
                    _mm512_ror_epi32(a, 22),
                );
                // Maj(a, b, c): truth table 0xe8.
                let majority = _mm512_ternarylogic_epi32(a, b, c, 0xe8);
                let t2 = _mm512_add_epi32(sigma0, majority);
                working[g] = [
                    _mm512_add_epi32(t1, t2),
                    a,
                    b,
                    c,
                    _mm512_add_epi32(d, t1),
                    e,
                    f,
                    g_,
                ];
            }
        }
        for (group, new) in state.iter_mut().zip(working) {
            for (word, add) in group.iter_mut().zip(new) {
                *word = _mm512_add_epi32(*word, add);
            }
        }
    }
    for (g, group) in state.iter().enumerate() {
        for (w, word) in group.iter().enumerate() {
            _mm512_storeu_si512(states[g][w].as_mut_ptr().cast(), *word);
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
    _mm512_ternarylogic_epi32(a, b, c, 0x96)
}

#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn add4(a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> __m512i {
    _mm512_add_epi32(_mm512_add_epi32(a, b), _mm512_add_epi32(c, d))
}

/// Transposes a 16×16 matrix of 32-bit words: row `l` (block of stream `l`)
/// becomes column `l` (lane `l` of every register).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose(rows: &mut [__m512i; 16]) {
    // Interleave 32-bit words of row pairs, then 64-bit pairs of those:
    // each 128-bit quarter then holds a 4×4 block of the result.
    let mut pairs = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        pairs[2 * i] = _mm512_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
        pairs[2 * i + 1] = _mm512_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
    }
    let mut quads = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        quads[4 * i] = _mm512_unpacklo_epi64(pairs[4 * i], pairs[4 * i + 2]);
        quads[4 * i + 1] = _mm512_unpackhi_epi64(pairs[4 * i], pairs[4 * i + 2]);
        quads[4 * i + 2] = _mm512_unpacklo_epi64(pairs[4 * i + 1], pairs[4 * i + 3]);
        quads[4 * i + 3] = _mm512_unpackhi_epi64(pairs[4 * i + 1], pairs[4 * i + 3]);
    }
    // Gather the 4×4 blocks: quarter q of quads[4i + k] goes to row 4q + k, quarter i.
    for k in 0..4 {
        let (a, b, c, d) = (quads[k], quads[4 + k], quads[8 + k], quads[12 + k]);
        let ab_even = _mm512_shuffle_i32x4(a, b, 0x88);
        let ab_odd = _mm512_shuffle_i32x4(a, b, 0xdd);
        let cd_even = _mm512_shuffle_i32x4(c, d, 0x88);
        let cd_odd = _mm512_shuffle_i32x4(c, d, 0xdd);
        rows[k] = _mm512_shuffle_i32x4(ab_even, cd_even, 0x88);
        rows[8 + k] = _mm512_shuffle_i32x4(ab_even, cd_even, 0xdd);
        rows[4 + k] = _mm512_shuffle_i32x4(ab_odd, cd_odd, 0x88);
        rows[12 + k] = _mm512_shuffle_i32x4(ab_odd, cd_odd, 0xdd);
    }
}
