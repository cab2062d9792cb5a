//! `protoc-rs streams`: the TCP flows of a capture and their reassembled bytes.
//!
//! One job: run the runtime's engine with a handler that counts and hashes
//! each direction of each flow, then print one line per flow in order of flow
//! id (a table, or JSON lines), or write one flow's streams (`--follow`).
//! It knows no protocol: it is the runtime's capture, flow and reassembly
//! layers made visible, and what tests compare with tshark.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use protoc_runtime::capture::CaptureReader;
use protoc_runtime::dissector::{Direction, FlowInfo, Verdict};
use protoc_runtime::engine::{Engine, EngineConfig, FlowEnd, StreamHandler};
use sha2::{Digest, Sha256};

/// List the TCP flows of a capture with their reassembled bytes.
///
/// One line per TCP flow, in order of flow id (1, 2, 3... in order of first
/// packet). `src` is the initiator: the sender of the SYN, or, when the
/// capture starts mid-stream, the side with the higher port. `up` is the
/// initiator's stream, `down` the responder's; byte counts and SHA-256 are of
/// the reassembled bytes (gaps excluded). A flow opens on a SYN or on data: a
/// stray ACK or RST alone does not make one. `packets` counts the flow's
/// packets until it closed (the last ACK after both FINs comes after).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    protoc-rs streams capture.pcap\n  \
    protoc-rs streams capture.pcapng.gz --json\n  \
    protoc-rs streams capture.pcap --follow 2\n  \
    protoc-rs streams capture.pcap --follow 2 --dir up > up.bin\n  \
    tcpdump -w - -i eth0 port 25 | protoc-rs streams -")]
pub struct Args {
    /// The capture: pcap or pcapng, optionally gzip-compressed; `-` reads stdin.
    pub capture: PathBuf,

    /// One JSON object per line: flow, src_ip, src_port, dest_ip, dest_port,
    /// up_bytes, down_bytes, up_sha256, down_sha256, packets, gaps, ...
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,

    /// Write flow N's two reassembled streams (like `tshark -z follow`): a
    /// `==> up (...)` header line, the raw bytes, then the same for `down`.
    #[arg(long, value_name = "N")]
    pub follow: Option<u64>,

    /// With --follow: write only this direction's raw bytes, no header.
    #[arg(long, value_enum, requires = "follow")]
    pub dir: Option<DirArg>,

    /// Print the engine's counters (packets, flows, gaps...) to stderr.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DirArg {
    Up,
    Down,
}

impl DirArg {
    fn direction(self) -> Direction {
        match self {
            DirArg::Up => Direction::Up,
            DirArg::Down => Direction::Down,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut reader = CaptureReader::open(&args.capture)?;
    let handler = StreamSummaries {
        follow: args.follow,
        done: BTreeMap::new(),
    };
    let mut engine = Engine::new(handler, EngineConfig::default());
    engine.run(&mut reader);
    for warning in engine.take_warnings() {
        eprintln_lossy!("warning: {warning}");
    }
    if args.stats {
        eprintln_lossy!("{:#?}", engine.stats());
    }
    let flows = engine.into_handler().done;
    let mut out = crate::cli::stdout();
    match args.follow {
        Some(id) => {
            let flow = flows.get(&id).with_context(|| {
                format!(
                    "no flow {id}: the capture has {} TCP flows (ids 1 to {})",
                    flows.len(),
                    flows.len()
                )
            })?;
            write_follow(&mut out, flow, args.dir.map(DirArg::direction))?;
        }
        None if args.json => {
            for flow in flows.values() {
                writeln!(out, "{}", flow_json(flow))?;
            }
        }
        None => write_table(&mut out, &flows)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One direction of a flow, as counted.
#[derive(Default)]
struct DirSummary {
    bytes: u64,
    sha: Sha256,
    gaps: u64,
    gap_bytes: u64,
    /// The bytes themselves, for the followed flow only.
    kept: Option<Vec<u8>>,
}

struct LiveFlow {
    dirs: [DirSummary; 2],
}

/// A closed flow, ready to print.
struct FlowSummary {
    info: FlowInfo,
    bytes: [u64; 2],
    sha256: [String; 2],
    gaps: [u64; 2],
    gap_bytes: [u64; 2],
    packets: [u64; 2],
    first_seen: f64,
    last_seen: f64,
    end: &'static str,
    kept: [Vec<u8>; 2],
}

/// The handler: counts and hashes every flow, keeps the followed one's bytes.
struct StreamSummaries {
    follow: Option<u64>,
    done: BTreeMap<u64, FlowSummary>,
}

impl StreamHandler for StreamSummaries {
    type Flow = LiveFlow;

    fn open(&mut self, info: &FlowInfo, _ts: f64) -> Option<LiveFlow> {
        let keep = self.follow == Some(info.id);
        let dir = || DirSummary {
            kept: keep.then(Vec::new),
            ..DirSummary::default()
        };
        Some(LiveFlow {
            dirs: [dir(), dir()],
        })
    }

    fn data(
        &mut self,
        flow: &mut LiveFlow,
        _info: &FlowInfo,
        dir: Direction,
        _ts: f64,
        bytes: &[u8],
    ) -> Verdict {
        let summary = &mut flow.dirs[dir.index()];
        summary.bytes += bytes.len() as u64;
        summary.sha.update(bytes);
        if let Some(kept) = summary.kept.as_mut() {
            kept.extend_from_slice(bytes);
        }
        Verdict::Continue
    }

    fn gap(
        &mut self,
        flow: &mut LiveFlow,
        _info: &FlowInfo,
        dir: Direction,
        _ts: f64,
        len: u64,
    ) -> Verdict {
        let summary = &mut flow.dirs[dir.index()];
        summary.gaps += 1;
        summary.gap_bytes += len;
        Verdict::Continue
    }

    fn end(
        &mut self,
        _flow: &mut LiveFlow,
        _info: &FlowInfo,
        _dir: Direction,
        _ts: f64,
    ) -> Verdict {
        Verdict::Continue
    }

    fn tick(&mut self, _flow: &mut LiveFlow, _info: &FlowInfo, _ts: f64) -> Verdict {
        Verdict::Continue
    }

    fn close(&mut self, flow: LiveFlow, info: &FlowInfo, _ts: f64, end: &FlowEnd) {
        let [up, down] = flow.dirs;
        let finish = |d: DirSummary| {
            (
                d.bytes,
                hex(&d.sha.finalize()),
                d.gaps,
                d.gap_bytes,
                d.kept.unwrap_or_default(),
            )
        };
        let (up, down) = (finish(up), finish(down));
        let summary = FlowSummary {
            info: info.clone(),
            bytes: [up.0, down.0],
            sha256: [up.1, down.1],
            gaps: [up.2, down.2],
            gap_bytes: [up.3, down.3],
            packets: end.packets,
            first_seen: end.first_seen,
            last_seen: end.last_seen,
            end: end.reason.name(),
            kept: [up.4, down.4],
        };
        self.done.insert(info.id, summary);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One JSON object, keys in a fixed order (every value is a number or a
/// string without characters that need escaping).
fn flow_json(flow: &FlowSummary) -> String {
    format!(
        "{{\"flow\":{},\"src_ip\":\"{}\",\"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":{},\
         \"up_bytes\":{},\"down_bytes\":{},\"up_sha256\":\"{}\",\"down_sha256\":\"{}\",\
         \"packets\":{},\"up_packets\":{},\"down_packets\":{},\"gaps\":{},\"up_gap_bytes\":{},\
         \"down_gap_bytes\":{},\"first_ts\":{:.6},\"last_ts\":{:.6},\"end\":\"{}\"}}",
        flow.info.id,
        flow.info.src.ip(),
        flow.info.src.port(),
        flow.info.dst.ip(),
        flow.info.dst.port(),
        flow.bytes[0],
        flow.bytes[1],
        flow.sha256[0],
        flow.sha256[1],
        flow.packets[0] + flow.packets[1],
        flow.packets[0],
        flow.packets[1],
        flow.gaps[0] + flow.gaps[1],
        flow.gap_bytes[0],
        flow.gap_bytes[1],
        flow.first_seen,
        flow.last_seen,
        flow.end,
    )
}

fn write_table(out: &mut impl Write, flows: &BTreeMap<u64, FlowSummary>) -> std::io::Result<()> {
    let header = [
        "FLOW", "CLIENT", "SERVER", "PACKETS", "UP", "DOWN", "GAPS", "END",
    ];
    let rows: Vec<[String; 8]> = flows
        .values()
        .map(|f| {
            [
                f.info.id.to_string(),
                f.info.src.to_string(),
                f.info.dst.to_string(),
                (f.packets[0] + f.packets[1]).to_string(),
                f.bytes[0].to_string(),
                f.bytes[1].to_string(),
                (f.gaps[0] + f.gaps[1]).to_string(),
                f.end.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    // Numbers align right, addresses and words left.
    let right = [true, false, false, true, true, true, true, false];
    let line = |cells: &[&str]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths.iter().zip(right))
            .map(|(cell, (&w, r))| {
                if r {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

fn write_follow(
    out: &mut impl Write,
    flow: &FlowSummary,
    only: Option<Direction>,
) -> std::io::Result<()> {
    if let Some(dir) = only {
        return out.write_all(&flow.kept[dir.index()]);
    }
    for dir in [Direction::Up, Direction::Down] {
        let i = dir.index();
        let (from, to) = match dir {
            Direction::Up => (flow.info.src, flow.info.dst),
            Direction::Down => (flow.info.dst, flow.info.src),
        };
        writeln!(
            out,
            "==> {dir} ({from} -> {to}, {} bytes, {} gaps of {} bytes) <==",
            flow.bytes[i], flow.gaps[i], flow.gap_bytes[i]
        )?;
        out.write_all(&flow.kept[i])?;
        if !flow.kept[i].ends_with(b"\n") {
            writeln!(out)?;
        }
    }
    Ok(())
}
