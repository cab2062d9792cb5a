//! `protoc-rs build`: a spec's dissector as a Rust module, for your own crate.
//!
//! One job: check the spec, generate its module with
//! `protoc_compiler::codegen::generate` (the same code `build.rs` uses) and
//! write `DIR/<stem>.rs`; or, with `--dump-dissector-graph`, write the state
//! machine as Graphviz DOT to stdout instead. Diagnostics go to stderr; a spec
//! with errors writes nothing and exits with failure.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Generate the Rust dissector module of a spec.
///
/// Writes `DIR/NAME.rs` (NAME: the spec file's stem), a module with a struct
/// and a resumable parser per record, the state machine as a `Dissector`, and
/// `pub static SPEC: SpecDescriptor`. Include it in a crate that depends on
/// `protoc-runtime`: `mod smtp { include!("smtp.rs"); }`. For build scripts,
/// prefer `protoc_compiler::Config` (see the `protoc-compiler` docs).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs build specs/smtp.proto -o src/generated\n  \
    protoc-rs build specs/smtp.proto --dump-dissector-graph | dot -Tpdf -o smtp.pdf")]
pub struct Args {
    /// The spec file, e.g. `specs/smtp.proto`.
    pub spec: PathBuf,
    /// The directory to write `NAME.rs` into (created if missing).
    #[arg(
        short = 'o',
        long = "out-dir",
        value_name = "DIR",
        required_unless_present = "dump_dissector_graph"
    )]
    pub out_dir: Option<PathBuf>,
    /// Write the state machine as Graphviz DOT to stdout instead (as Haka's
    /// `--dump-dissector-graph`).
    #[arg(long)]
    pub dump_dissector_graph: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let checked = protoc_compiler::check_file(&args.spec)?;
    if !checked.diagnostics.is_empty() {
        eprint_lossy!("{}", checked.render());
    }
    let Some(spec) = checked.spec else {
        return Ok(ExitCode::FAILURE);
    };
    if args.dump_dissector_graph {
        super::print_stdout(&protoc_compiler::graph::states_dot(&spec))?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(out_dir) = args.out_dir else {
        anyhow::bail!("missing --out-dir");
    };
    let stem = args
        .spec
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no file name", args.spec.display()))?;
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let output = out_dir.join(format!("{stem}.rs"));
    let code = protoc_compiler::codegen::generate(&spec);
    std::fs::write(&output, code).with_context(|| format!("writing {}", output.display()))?;
    eprintln_lossy!("wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
