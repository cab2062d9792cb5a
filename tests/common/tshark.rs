//! Wireshark's dissectors as an oracle: `tshark -T fields` over a capture,
//! one row per packet, each row one cell per field asked for. Callers keep
//! only their protocol's reading of the rows.
//!
//! Invariants: every row has exactly the cells asked for (a row that does
//! not fails the test); a field that occurs several times in a packet is one
//! cell, its values joined with [`AGGREGATOR`] (split them with [`values`]);
//! tshark runs bounded in time and must succeed.

use std::path::Path;
use std::process::Command;

use super::live::run_bounded;

/// What joins the values of a field repeated in one packet.
pub const AGGREGATOR: char = '\u{1f}';

/// `tshark -r CAPTURE -d DECODE_AS... -Y FILTER -T fields -e FIELD...`: a
/// row of `N` cells per packet that passes `filter`, in capture order.
/// `decode_as` are tshark's `-d` values (`tcp.port==2525,smtp`).
pub fn tshark_fields<const N: usize>(
    capture: &Path,
    decode_as: &[String],
    filter: &str,
    fields: [&str; N],
) -> Vec<[String; N]> {
    let mut command = Command::new("tshark");
    command.arg("-r").arg(capture);
    for decode in decode_as {
        command.args(["-d", decode]);
    }
    command
        .args(["-Y", filter, "-T", "fields", "-E", "separator=/t"])
        .args(["-E", &format!("aggregator={AGGREGATOR}")]);
    for field in fields {
        command.args(["-e", field]);
    }
    let output = run_bounded("tshark", &mut command);
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|row| {
            let cells: Vec<String> = row.split('\t').map(str::to_string).collect();
            <[String; N]>::try_from(cells)
                .unwrap_or_else(|_| panic!("not {N} fields {fields:?} in tshark's row {row:?}"))
        })
        .collect()
}

/// The values of one cell: none if it is empty, else each value of a
/// repeated field.
pub fn values(cell: &str) -> Vec<&str> {
    if cell.is_empty() {
        Vec::new()
    } else {
        cell.split(AGGREGATOR).collect()
    }
}
