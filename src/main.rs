//! `protoc-rs`: the command-line tool. Each subcommand lives in `cli/`.

/// `eprint!` that never panics: with stderr closed (`2>&-`, a reader gone),
/// the message is lost, not the run (`eprint!` would panic).
macro_rules! eprint_lossy {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprintln!` that never panics (see `eprint_lossy!`).
macro_rules! eprintln_lossy {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod proxy;
// The registry of built-in specs: not every command uses all of its API.
#[allow(dead_code)]
mod specs;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A protocol-dissector compiler: describe a protocol once in a `.proto` spec,
/// get a checked, fast dissector with events, rules and graphs.
#[derive(Parser)]
#[command(name = "protoc-rs", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    protoc-rs check specs/smtp.proto\n  \
    protoc-rs pcap capture.pcap --format json\n  \
    protoc-rs proxy --listen 127.0.0.1:2525 --upstream 127.0.0.1:25 --rules rules/spam_filter.rules\n  \
    protoc-rs build specs/smtp.proto --dump-dissector-graph | dot -Tpdf -o smtp.pdf")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(cli::check::Args),
    CheckRules(cli::check_rules::Args),
    Graph(cli::graph::Args),
    Build(cli::build::Args),
    Pcap(cli::pcap::Args),
    Proxy(cli::proxy::Args),
    Streams(cli::streams::Args),
    Synth(cli::synth::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cli::check::run(args),
        Command::CheckRules(args) => cli::check_rules::run(args),
        Command::Graph(args) => cli::graph::run(args),
        Command::Build(args) => cli::build::run(args),
        Command::Pcap(args) => cli::pcap::run(args),
        Command::Proxy(args) => cli::proxy::run(args),
        Command::Streams(args) => cli::streams::run(args),
        Command::Synth(args) => cli::synth::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln_lossy!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
