//! One module per subcommand; each has `Args` (clap) and `run(Args)`.

pub mod build;
pub mod caps;
pub mod check;
pub mod check_rules;
pub mod graph;
pub mod pcap;
pub mod proxy;
pub mod select;
mod shard;
pub mod streams;
pub mod synth;

use std::io::{self, Write};

/// A buffered, locked stdout. Write through this, never `println!`: a closed
/// pipe (`| head`) then surfaces as an `io::Error` that `main` treats as success.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// Writes `text` to stdout and flushes it.
pub fn print_stdout(text: &str) -> io::Result<()> {
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether an error is, at its root, a write to a closed pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
