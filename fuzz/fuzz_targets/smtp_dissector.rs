//! Fuzz target `smtp_dissector`: the SMTP dissector generated from
//! `specs/smtp.proto`, fed a session of arbitrary bytes in both directions.
//!
//! One job: whatever a client and a server send, in whatever pieces, the
//! generated parser and state machine must not panic, must not hold more
//! than its caps allow, and must give the same events however the bytes are
//! cut.
//!
//! The input is a session script (see `session::Script::parse`; `make_seeds.py`
//! writes the seeds from the tests' transcripts and the sample capture). It
//! runs three times, on fresh dissectors: each data step fed whole, fed in
//! the pieces its cut marks make, and fed byte by byte. Checked:
//! - no panic (nor a hang, nor a huge allocation: libFuzzer's limits);
//! - after every call, each direction's bytes received and not settled stay
//!   within what the parser caps allow (`session::held_bound`), and the heap grows
//!   by less than `session::HEAP_BOUND`;
//! - the three runs give identical records: events with their fields,
//!   streamed content (chunks joined), alerts, parse errors, gaps, caps, and
//!   the final status.
//!
//! The first byte's bit 0 selects tiny parser caps (32-byte tokens, 256-byte
//! messages), so that short inputs reach the caps.

#![no_main]

use libfuzzer_sys::fuzz_target;

mod heap;
mod session;

#[allow(dead_code, clippy::all)]
mod specs {
    include!(concat!(env!("OUT_DIR"), "/specs_registry.rs"));
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

fuzz_target!(|data: &[u8]| {
    let script = session::Script::parse(data);
    let resolve = |to| session::find_spec(specs::SPECS, to);
    session::check_script(
        &script,
        specs::smtp::SPEC.new_dissector,
        &resolve,
        &heap::live,
    );
});
