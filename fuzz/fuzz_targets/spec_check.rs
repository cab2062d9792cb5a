//! Fuzz target `spec_check`: arbitrary bytes as the text of a `.proto` spec.
//!
//! One job: the front end (pest parse, AST, checks, IR) and the diagnostic
//! renderer must never panic, whatever the text. Invalid UTF-8 is replaced
//! (the CLI reads specs as UTF-8 text, so the front end only ever sees `str`).
//!
//! Invariant checked beyond "no panic": a result with errors carries no IR,
//! and a rendered report mentions every error.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let result = protoc_compiler::check_source("fuzz.proto", &text);
    let rendered = result.render();
    let _ = result.summary();
    if result.has_errors() {
        assert!(result.spec.is_none(), "errors but an IR was produced");
        assert!(
            rendered.contains("error"),
            "errors not rendered: {rendered}"
        );
    }
});
