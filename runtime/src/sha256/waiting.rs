//! A stream's bytes not hashed yet ([`Waiting`]).
//!
//! A buffered stream's bytes wait in [`BUFFER`] bytes made of two halves of
//! [`BATCH_BYTES`]: a batch takes the first half's worth from the front and
//! the bytes after it stay where they are (the front moves to the other
//! half), where a plain vector would move them to its start after every
//! batch. An unbuffered stream keeps less than a block and never wraps.
//!
//! Invariants: the front is at 0 or at [`BATCH_BYTES`], so the first
//! [`BATCH_BYTES`] waiting are one slice; at most [`BUFFER`] bytes wait (the
//! callers check before they push); the storage is never zeroed (it grows by
//! the bytes pushed, up to [`BUFFER`], then is reused).

use super::{BATCH_BYTES, BUFFER};

/// Bytes waiting to be hashed, in order (see the module doc).
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// The storage: as long as the furthest byte ever written, at most
    /// [`BUFFER`].
    ring: Vec<u8>,
    /// Where the first waiting byte is: 0 or [`BATCH_BYTES`].
    front: usize,
    len: usize,
}

impl Waiting {
    /// Room for `capacity` bytes without growing (none is written yet).
    pub(super) fn with_capacity(capacity: usize) -> Waiting {
        Waiting {
            ring: Vec::with_capacity(capacity),
            ..Waiting::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `data`; the caller keeps the total within [`BUFFER`].
    pub(super) fn push(&mut self, mut data: &[u8]) {
        debug_assert!(self.len + data.len() <= BUFFER);
        while !data.is_empty() {
            let at = (self.front + self.len) % BUFFER;
            let (now, later) = data.split_at(data.len().min(BUFFER - at));
            // Over bytes already hashed, then past the storage's end.
            let over = self.ring.len().saturating_sub(at).min(now.len());
            let (over_part, past_part) = now.split_at(over);
            if let Some(old) = self.ring.get_mut(at..at + over) {
                old.copy_from_slice(over_part);
            }
            self.ring.extend_from_slice(past_part);
            self.len += now.len();
            data = later;
        }
    }

    /// The waiting bytes in order: one slice, or two when they wrap (the
    /// first then being a whole half, [`BATCH_BYTES`] long).
    pub(super) fn as_slices(&self) -> (&[u8], &[u8]) {
        let end = self.front + self.len;
        if end <= BUFFER {
            (self.ring.get(self.front..end).unwrap_or_default(), &[])
        } else {
            (
                self.ring.get(self.front..).unwrap_or_default(),
                self.ring.get(..end - BUFFER).unwrap_or_default(),
            )
        }
    }

    /// The first [`BATCH_BYTES`] waiting, in one slice (empty if fewer wait).
    pub(super) fn front_batch(&self) -> &[u8] {
        if self.len < BATCH_BYTES {
            return &[];
        }
        self.ring
            .get(self.front..self.front + BATCH_BYTES)
            .unwrap_or_default()
    }

    /// Drops the first [`BATCH_BYTES`] waiting (hashed by a batch).
    pub(super) fn pop_batch(&mut self) {
        debug_assert!(self.len >= BATCH_BYTES);
        self.len = self.len.saturating_sub(BATCH_BYTES);
        self.front = if self.len == 0 {
            0
        } else {
            (self.front + BATCH_BYTES) % BUFFER
        };
    }

    /// Forgets every waiting byte (they were hashed); the storage stays.
    pub(super) fn clear(&mut self) {
        self.front = 0;
        self.len = 0;
        self.ring.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contents(waiting: &Waiting) -> Vec<u8> {
        let (a, b) = waiting.as_slices();
        [a, b].concat()
    }

    proptest! {
        /// Against a plain vector, through pushes, batches and clearing.
        #[test]
        fn waiting_bytes_keep_their_order(
            steps in proptest::collection::vec((0u8..6, 0usize..1500), 0..60),
        ) {
            let mut waiting = Waiting::with_capacity(BUFFER);
            let mut model: Vec<u8> = Vec::new();
            // Bytes that never repeat with a period dividing a half's length.
            let mut next = 1u32;
            for (op, n) in steps {
                match op {
                    // Pushes most often, so that batches and wraps happen.
                    0..=3 => {
                        let n = n.min(BUFFER - model.len());
                        let data: Vec<u8> = (0..n)
                            .map(|_| {
                                next = next.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                                (next >> 24) as u8
                            })
                            .collect();
                        waiting.push(&data);
                        model.extend_from_slice(&data);
                    }
                    4 => {
                        if model.len() >= BATCH_BYTES {
                            prop_assert_eq!(waiting.front_batch(), &model[..BATCH_BYTES]);
                            waiting.pop_batch();
                            model.drain(..BATCH_BYTES);
                        } else {
                            prop_assert!(waiting.front_batch().is_empty());
                        }
                    }
                    _ => {
                        waiting.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(waiting.len(), model.len());
                prop_assert_eq!(contents(&waiting), model.clone());
                prop_assert!(waiting.ring.len() <= BUFFER);
                let (a, b) = waiting.as_slices();
                prop_assert!(b.is_empty() || a.len() == BATCH_BYTES);
            }
        }
    }
}
