//! `protoc-rs pcap` (not implemented yet).

use std::process::ExitCode;

/// Not implemented yet.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`pcap` is not implemented yet")
}
