//! Fuzz target `http_dissector`: the HTTP dissector generated from
//! `specs/http.proto`, fed a session of arbitrary bytes in both directions.
//!
//! One job: whatever a client and a server send, in whatever pieces, the
//! generated HTTP parser (request and status lines, header fields, bodies by
//! Content-Length, chunked or until the close, pipelined requests) and its
//! state machine must not panic, must not hold more than its caps allow, and
//! must give the same events however the bytes are cut.
//!
//! The input is a session script, as `smtp_dissector`'s (see
//! `session::Script::parse`; `make_seeds.py` writes the seeds from the HTTP
//! tests' conversations and the Zeek HTTP trace). The checks are the same:
//! fed whole, at the cut marks and byte by byte, the three runs give
//! identical records; the bytes received and not settled stay within
//! `session::held_bound`; the heap grows by less than `session::HEAP_BOUND`.
//! The first byte's bit 0 selects tiny parser caps.

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
        specs::http::SPEC.new_dissector,
        &resolve,
        &heap::live,
    );
});
