//! Fuzz target `features_dissector`: the dissector generated from
//! `tests/fixtures/specs/features.proto`, the spec that uses each language
//! feature real protocols need (counted bytes whose stream spans messages,
//! tallies, variables, `resync … unless`, a gap absorbed by a counted field,
//! `end` and `timeout` transitions that make waiting bytes readable, `stop`),
//! fed a session of arbitrary bytes in both directions.
//!
//! The script and the checks are `smtp_dissector`'s (see there and the
//! `session` module): no panic, bytes held within the parser caps, and the
//! same records whether each data step is fed whole, cut at its marks or
//! byte by byte. Each step is one second of capture time, so five steps in
//! the spec's `quiet` state fire its `timeout(5)`.

#![no_main]

use libfuzzer_sys::fuzz_target;

mod heap;
mod session;

#[allow(dead_code, clippy::all)]
mod features {
    include!(concat!(env!("OUT_DIR"), "/fixtures/features.rs"));
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

fuzz_target!(|data: &[u8]| {
    let script = session::Script::parse(data);
    // The spec hands over to nothing.
    let resolve = |_| None;
    session::check_script(
        &script,
        || Box::new(features::ChunksDissector::new()),
        &resolve,
        &heap::live,
    );
});
