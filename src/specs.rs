//! The specs built into `protoc-rs`: one generated module per `.proto` file
//! under `specs/` (compiled by `build.rs` into `OUT_DIR`), and the registry
//! that finds a spec by protocol name or port.
//!
//! Invariant: [`SPECS`] lists every module's `SPEC` once, specs directly in
//! `specs/` before those in subfolders, so the first spec claiming a port is
//! a top-level one (`smtp` before `tutorial/smtp_partial` for port 25).

use protoc_runtime::dissector::SpecDescriptor;

include!(concat!(env!("OUT_DIR"), "/specs_registry.rs"));

/// The spec whose protocol is `name` (`smtp`, `smtp_partial`).
pub fn by_name(name: &str) -> Option<&'static SpecDescriptor> {
    SPECS.iter().copied().find(|spec| spec.name == name)
}

/// The first spec that claims `port` as a default server port.
pub fn by_port(port: u16) -> Option<&'static SpecDescriptor> {
    SPECS
        .iter()
        .copied()
        .find(|spec| spec.ports.contains(&port))
}

/// The protocol names of every built-in spec, in registry order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().map(|spec| spec.name)
}

/// The state-machine graph (DOT) of the built-in spec `name`, made from its
/// source text embedded at build time.
pub fn states_dot(name: &str) -> anyhow::Result<String> {
    let (_, path, source) = SOURCES
        .iter()
        .find(|(protocol, _, _)| *protocol == name)
        .ok_or_else(|| anyhow::anyhow!("no built-in spec named `{name}`"))?;
    let checked = protoc_compiler::check_source(path, source);
    match &checked.spec {
        Some(spec) => Ok(protoc_compiler::graph::states_dot(spec)),
        None => anyhow::bail!(
            "built-in spec `{path}` no longer checks:\n{}",
            checked.render()
        ),
    }
}
