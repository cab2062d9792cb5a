//! `protoc-rs graph`: a spec's state machine or grammar as Graphviz DOT.
//!
//! One job: check the spec, hand the IR to `protoc_compiler::graph`, and
//! write the DOT text to stdout. Diagnostics go to stderr; a spec with errors
//! prints nothing on stdout and exits with failure; a closed stdout pipe
//! (`| head`) is not an error.

use std::path::PathBuf;
use std::process::ExitCode;

use protoc_compiler::graph::{grammar_dot, states_dot};

/// Draw a spec's state machine or grammar as Graphviz DOT (on stdout).
///
/// The state graph has one node per state (its `up`/`down` grammars inside),
/// one edge per transition labelled with its event, `when` condition and
/// actions, and the built-in `fail`/`finish` ends. The grammar graph links
/// records to the tokens, records and branches they are made of.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("graph").required(true).args(["states", "grammar"])))]
#[command(after_help = "Examples:\n  \
    protoc-rs graph specs/smtp.proto --states | dot -Tpdf -o smtp-states.pdf\n  \
    protoc-rs graph specs/smtp.proto --grammar | dot -Tsvg -o smtp-grammar.svg")]
pub struct Args {
    /// The spec file, e.g. `specs/smtp.proto`.
    pub spec: PathBuf,
    /// Draw the state machine.
    #[arg(long)]
    pub states: bool,
    /// Draw the grammar: records, tokens, branches, arrays.
    #[arg(long)]
    pub grammar: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let checked = protoc_compiler::check_file(&args.spec)?;
    if !checked.diagnostics.is_empty() {
        eprint_lossy!("{}", checked.render());
    }
    let Some(spec) = checked.spec else {
        return Ok(ExitCode::FAILURE);
    };
    let dot = if args.states {
        states_dot(&spec)
    } else {
        grammar_dot(&spec)
    };
    super::print_stdout(&dot)?;
    Ok(ExitCode::SUCCESS)
}
