//! `protoc-rs check`: parse and check specs, report every error and warning.
//!
//! Diagnostics go to stderr, rustc style, followed by one summary line per
//! spec (`specs/smtp.proto: ok`, or `specs/x.proto: 2 errors, 1 warning`).
//! The exit code is 1 if any spec has an error, 0 otherwise (warnings alone
//! do not fail). Nothing is written to stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Check `.proto` specs: syntax, names, types and the state machine.
///
/// Prints every error and warning with its file, line and column, then a
/// summary line per spec. Exits with 1 if any spec has an error.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs check specs/smtp.proto\n  \
    protoc-rs check specs/*.proto specs/tutorial/*.proto")]
pub struct Args {
    /// The spec files to check.
    #[arg(required = true, value_name = "SPEC")]
    specs: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    let mut any_error = false;
    for path in &args.specs {
        let report = match protoc_compiler::check_file(path) {
            Ok(result) => {
                any_error |= result.has_errors();
                format!("{}{}\n", result.render(), result.summary())
            }
            Err(error) => {
                any_error = true;
                format!("error: {:#}\n", anyhow::Error::new(error))
            }
        };
        stderr
            .write_all(report.as_bytes())
            .context("writing diagnostics to stderr")?;
    }
    Ok(if any_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
