//! Fuzz target `dns_dissector`: the DNS dissector generated from
//! `specs/dns.proto`, fed arbitrary datagrams (UDP) and an arbitrary TCP
//! stream of length-prefixed messages, in both directions.
//!
//! One job: whatever the datagrams hold (names, compression pointers that
//! loop or point forward, counts and lengths that lie), and however a TCP
//! stream of frames is cut, the generated parser must not panic, must not
//! hold more than its caps allow, and must give the same events.
//!
//! The input is a session script (`session::Script::parse_binary`):
//! `D`/`d` steps are whole datagrams of the client/server, `C`/`S` steps
//! stream bytes (with `0x01` cut marks), `0x02` escapes a byte (`02 10` is
//! a `0x00`), the other steps as in `smtp_dissector`. `make_seeds.py` writes the seeds: the DNS tests'
//! queries and answers, as datagrams and as TCP frames. Checked as the other
//! dissector targets: the runs fed whole, at the marks and byte by byte give
//! identical records, held bytes stay within `session::held_bound`, the heap
//! grows by less than `session::HEAP_BOUND`. The first byte's bit 0 selects
//! tiny parser caps.

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
    let script = session::Script::parse_binary(data);
    let resolve = |to| session::find_spec(specs::SPECS, to);
    session::check_script(
        &script,
        specs::dns::SPEC.new_dissector,
        &resolve,
        &heap::live,
    );
});
