//! `protoc-rs check-rules`: check security rules files against the specs,
//! without reading any capture.
//!
//! The files are checked together, in order, exactly as `protoc-rs pcap
//! --rules` loads them (rule names unique across files). Diagnostics go to
//! stderr, rustc style, followed by one summary line per file
//! (`rules/spam_filter.rules: ok (1 rule)`, or `x.rules: 2 errors, 0
//! warnings`). The exit code is 1 if any file has an error or cannot be read
//! (or a spec given with `--spec` has an error), 0 otherwise. Nothing is
//! written to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use protoc_compiler::rules::check_rule_sources;
use protoc_compiler::rules::schema::Schema;

/// Check `.rules` files: syntax, spec and event names, fields, types, regexes
/// and actions.
///
/// By default rules are checked against the specs built into protoc-rs, the
/// ones `protoc-rs pcap` runs; `--spec` and `--spec-dir` check them against
/// `.proto` files instead.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs check-rules rules/spam_filter.rules rules/mail_content.rules\n  \
    protoc-rs check-rules my.rules --spec my_protocol.proto")]
pub struct Args {
    /// The rules files to check, in the order `pcap --rules` would load them.
    #[arg(required = true, value_name = "RULES")]
    files: Vec<PathBuf>,

    /// Check against this `.proto` spec instead of the built-in specs
    /// (repeatable).
    #[arg(long = "spec", value_name = "SPEC")]
    specs: Vec<PathBuf>,

    /// Check against every `.proto` spec in this directory instead of the
    /// built-in specs.
    #[arg(long, value_name = "DIR")]
    spec_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    let Some(schema) = schema(&args, &mut stderr)? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut failed = false;
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        match std::fs::read_to_string(path) {
            Ok(source) => files.push((path.display().to_string(), source)),
            Err(error) => {
                failed = true;
                writeln!(
                    stderr,
                    "error: cannot read rules file `{}`: {error}",
                    path.display()
                )
                .context("writing diagnostics to stderr")?;
            }
        }
    }
    for result in check_rule_sources(&files, &schema) {
        failed |= result.has_errors();
        stderr
            .write_all(result.report().as_bytes())
            .context("writing diagnostics to stderr")?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The specs to check against; `None` (reported) when one of them is invalid.
fn schema(args: &Args, stderr: &mut impl Write) -> anyhow::Result<Option<Schema>> {
    let mut paths = args.specs.clone();
    if let Some(dir) = &args.spec_dir {
        paths.extend(proto_files(dir)?);
    }
    if paths.is_empty() && args.spec_dir.is_none() {
        return Ok(Some(Schema::from_descriptors(crate::specs::SPECS)));
    }
    let mut results = Vec::new();
    for path in &paths {
        results.push(protoc_compiler::check_file(path)?);
    }
    let mut specs = Vec::with_capacity(results.len());
    let mut valid = true;
    for result in results {
        match result.spec {
            Some(spec) => specs.push(spec),
            None => {
                valid = false;
                writeln!(stderr, "{}{}", result.render(), result.summary())
                    .context("writing diagnostics to stderr")?;
            }
        }
    }
    Ok(valid.then(|| Schema::from_specs(&specs)))
}

/// The `.proto` files directly in `dir`, sorted.
fn proto_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read spec directory `{}`", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read spec directory `{}`", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "proto") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
