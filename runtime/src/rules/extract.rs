//! Extraction of streamed content: the `extract "LABEL"` action.
//!
//! One [`Extraction`] follows one stream (flow, direction, event) from its
//! first chunk to its last, and sends the bytes to one of three places:
//! - with an extract directory, a file `DIR/<flow id>-<n>.<suffix>`, `n`
//!   counting the flow's extracted streams from 1 and `suffix` being
//!   [`file_suffix`] of the label; at the end, an `extract` record with
//!   `label`, `path`, `size` and `sha256`;
//! - without one, in text output, the bytes themselves, between a
//!   `== LABEL ==` line (written at the first chunk) and a `== End LABEL ==`
//!   line (the content is followed by a line break first, as Haka prints it);
//! - without one, in JSON output, only the `extract` record, with no `path`.
//!
//! Invariants:
//! - memory per stream is constant: chunks are hashed incrementally and
//!   written through at once, never kept;
//! - at most `max_open_files` files are open at a time: when a stream needs
//!   one more, the least recently written file is flushed and closed, and
//!   reopened in append mode when its stream goes on;
//! - every extraction ends with exactly one record or end line, whether its
//!   stream ended normally ([`Extractor::finish`]) or was cut short
//!   (`finish_flow`, `finish_all`: then `"complete": false`);
//! - an I/O error stops writing that one file and is reported in its record
//!   (`"error"`), never panicked on; the hash and size still cover the whole
//!   stream.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::dissector::{Direction, FlowInfo};
use crate::output::{Format, OutputSink};
use crate::value::Value;

/// Identifies one stream: (flow id, direction, event name).
pub(super) type StreamKey = (u64, Direction, &'static str);

/// How many extraction files may be open at once, by default.
const DEFAULT_MAX_OPEN_FILES: usize = 64;

/// The file-name suffix for an extraction label: ASCII letters and digits
/// lowercased, `-` and `_` kept, anything else turned into `_`
/// (`"Mail Content"` → `"mail_content"`). A label with no letter or digit
/// (the checker rejects those) gives `"data"`.
pub fn file_suffix(label: &str) -> String {
    if !label.chars().any(|c| c.is_ascii_alphanumeric()) {
        return "data".to_string();
    }
    label
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// Running totals of extraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ExtractCounts {
    pub streams: u64,
    pub bytes: u64,
    pub errors: u64,
}

/// Where one extraction's bytes go.
enum Target {
    /// A file in the extract directory; `file` is `None` while closed
    /// (not yet opened, or evicted), `error` set once writing failed.
    File {
        path: PathBuf,
        file: Option<BufWriter<File>>,
        created: bool,
        error: Option<String>,
    },
    /// Printed to the text output between header and end lines.
    Text,
    /// Only measured and hashed (JSON output without a directory).
    Summary,
}

/// One stream being extracted.
struct Extraction {
    label: String,
    flow: FlowInfo,
    dir: Direction,
    target: Target,
    size: u64,
    hasher: Sha256,
    /// Capture time of the latest chunk, for a record written after the fact.
    last_seen: f64,
    /// Ordinal of the latest write, for choosing which file to close.
    last_write: u64,
}

/// All extractions in progress, and where new ones go.
pub(super) struct Extractor {
    dir: Option<PathBuf>,
    max_open_files: usize,
    open_files: usize,
    active: HashMap<StreamKey, Vec<Extraction>>,
    /// Number of the next extracted stream of each flow (from 1).
    next_number: HashMap<u64, u64>,
    writes: u64,
    counts: ExtractCounts,
}

impl Extractor {
    pub fn new() -> Self {
        Extractor {
            dir: None,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            open_files: 0,
            active: HashMap::new(),
            next_number: HashMap::new(),
            writes: 0,
            counts: ExtractCounts::default(),
        }
    }

    /// Sends extracted content to files in `dir`, creating it if needed.
    pub fn set_dir(&mut self, dir: PathBuf) -> io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        self.dir = Some(dir);
        Ok(())
    }

    /// Caps the number of files open at once (at least one).
    pub fn set_max_open_files(&mut self, max: usize) {
        self.max_open_files = max.max(1);
    }

    pub fn counts(&self) -> ExtractCounts {
        self.counts
    }

    /// Starts extracting the stream `key` under `label` (its first chunk is
    /// about to be written). In text dumps, writes the header line.
    pub fn start<W: Write>(
        &mut self,
        key: StreamKey,
        flow: &FlowInfo,
        now: f64,
        label: &str,
        out: &mut OutputSink<W>,
    ) {
        let target = match &self.dir {
            Some(dir) => {
                let number = self.next_number.entry(flow.id).or_insert(0);
                *number += 1;
                let name = format!("{}-{}.{}", flow.id, number, file_suffix(label));
                Target::File {
                    path: dir.join(name),
                    file: None,
                    created: false,
                    error: None,
                }
            }
            None if out.format() == Format::Text => {
                out.write_text(&format!("== {label} ==\n"));
                Target::Text
            }
            None => Target::Summary,
        };
        self.active.entry(key).or_default().push(Extraction {
            label: label.to_string(),
            flow: flow.clone(),
            dir: key.1,
            target,
            size: 0,
            hasher: Sha256::new(),
            last_seen: now,
            last_write: 0,
        });
    }

    /// Whether the stream `key` is being extracted.
    pub fn is_active(&self, key: &StreamKey) -> bool {
        self.active.contains_key(key)
    }

    /// Hands one chunk of the stream `key` to each of its extractions.
    pub fn write<W: Write>(
        &mut self,
        key: &StreamKey,
        now: f64,
        chunk: &[u8],
        out: &mut OutputSink<W>,
    ) {
        let Some(count) = self.active.get(key).map(Vec::len) else {
            return;
        };
        for i in 0..count {
            self.writes += 1;
            let ordinal = self.writes;
            if self.needs_opening(key, i) {
                self.open(key, i);
            }
            let Some(ex) = self.active.get_mut(key).and_then(|v| v.get_mut(i)) else {
                continue;
            };
            ex.size += chunk.len() as u64;
            ex.hasher.update(chunk);
            ex.last_seen = now;
            ex.last_write = ordinal;
            self.counts.bytes += chunk.len() as u64;
            match &mut ex.target {
                Target::File { file, error, .. } => {
                    if let Some(f) = file {
                        if let Err(e) = f.write_all(chunk) {
                            *error = Some(e.to_string());
                            *file = None;
                            self.open_files -= 1;
                            self.counts.errors += 1;
                        }
                    }
                }
                Target::Text => out.write_bytes(chunk),
                Target::Summary => {}
            }
        }
    }

    /// Ends the extractions of the stream `key` (its last chunk was written).
    pub fn finish<W: Write>(&mut self, key: &StreamKey, now: f64, out: &mut OutputSink<W>) {
        if let Some(extractions) = self.active.remove(key) {
            for mut ex in extractions {
                ex.last_seen = now;
                self.end(ex, true, out);
            }
        }
    }

    /// Ends, as incomplete, the extractions of a flow that went away.
    pub fn finish_flow<W: Write>(&mut self, flow: u64, out: &mut OutputSink<W>) {
        let mut keys: Vec<StreamKey> = self
            .active
            .keys()
            .filter(|(f, _, _)| *f == flow)
            .copied()
            .collect();
        keys.sort_by_key(|(_, dir, name)| (dir.index(), *name));
        for key in keys {
            if let Some(extractions) = self.active.remove(&key) {
                for ex in extractions {
                    self.end(ex, false, out);
                }
            }
        }
        self.next_number.remove(&flow);
    }

    /// Ends, as incomplete, every extraction still in progress (end of run).
    pub fn finish_all<W: Write>(&mut self, out: &mut OutputSink<W>) {
        let mut flows: Vec<u64> = self.active.keys().map(|(f, _, _)| *f).collect();
        flows.sort_unstable();
        flows.dedup();
        for flow in flows {
            self.finish_flow(flow, out);
        }
    }

    fn needs_opening(&self, key: &StreamKey, i: usize) -> bool {
        matches!(
            self.active.get(key).and_then(|v| v.get(i)),
            Some(Extraction {
                target: Target::File {
                    file: None,
                    error: None,
                    ..
                },
                ..
            })
        )
    }

    /// Opens the file of extraction `i` of `key`, closing the least recently
    /// written open file first if the cap is reached.
    fn open(&mut self, key: &StreamKey, i: usize) {
        if self.open_files >= self.max_open_files {
            self.close_least_recent();
        }
        let Some(ex) = self.active.get_mut(key).and_then(|v| v.get_mut(i)) else {
            return;
        };
        let Target::File {
            path,
            file,
            created,
            error,
        } = &mut ex.target
        else {
            return;
        };
        let opened = if *created {
            OpenOptions::new().append(true).open(&*path)
        } else {
            File::create(&*path)
        };
        match opened {
            Ok(f) => {
                *file = Some(BufWriter::with_capacity(1 << 16, f));
                *created = true;
                self.open_files += 1;
            }
            Err(e) => {
                *error = Some(format!("cannot open {}: {e}", path.display()));
                self.counts.errors += 1;
            }
        }
    }

    fn close_least_recent(&mut self) {
        let victim = self
            .active
            .values_mut()
            .flat_map(|v| v.iter_mut())
            .filter(|ex| matches!(ex.target, Target::File { file: Some(_), .. }))
            .min_by_key(|ex| ex.last_write);
        if let Some(ex) = victim {
            if close_file(ex) {
                self.counts.errors += 1;
            }
            self.open_files -= 1;
        }
    }

    /// Closes the extraction's file (if open) and reports it: the record, or
    /// in a text dump the end line.
    fn end<W: Write>(&mut self, mut ex: Extraction, complete: bool, out: &mut OutputSink<W>) {
        if matches!(ex.target, Target::File { file: Some(_), .. }) {
            if close_file(&mut ex) {
                self.counts.errors += 1;
            }
            self.open_files -= 1;
        }
        if let Target::File {
            created,
            error,
            path,
            ..
        } = &mut ex.target
        {
            // An empty stream never opened its file: it still gets one.
            if !*created && error.is_none() {
                match File::create(&*path) {
                    Ok(_) => *created = true,
                    Err(e) => {
                        *error = Some(format!("cannot open {}: {e}", path.display()));
                        self.counts.errors += 1;
                    }
                }
            }
        }
        self.counts.streams += 1;
        let sha256 = hex(&ex.hasher.finalize_reset());
        let mut fields: Vec<(crate::value::Name, Value)> =
            vec![("label".into(), Value::Str(ex.label.clone()))];
        match &ex.target {
            Target::Text => {
                let end = if complete { "End" } else { "End (incomplete)" };
                out.write_text(&format!("\n== {end} {} ==\n", ex.label));
                return;
            }
            Target::File { path, error, .. } => {
                fields.push(("path".into(), Value::Str(path.display().to_string())));
                fields.push(("size".into(), Value::Int(ex.size as i64)));
                fields.push(("sha256".into(), Value::Str(sha256)));
                if let Some(e) = error {
                    fields.push(("error".into(), Value::Str(e.clone())));
                }
            }
            Target::Summary => {
                fields.push(("size".into(), Value::Int(ex.size as i64)));
                fields.push(("sha256".into(), Value::Str(sha256)));
            }
        }
        if !complete {
            fields.push(("complete".into(), Value::Bool(false)));
        }
        out.write_record(
            "extract",
            &ex.flow,
            ex.dir,
            ex.last_seen,
            &Value::Record(fields),
        );
    }
}

/// Flushes and closes an extraction's open file; on failure records the error
/// in the extraction and returns true.
fn close_file(ex: &mut Extraction) -> bool {
    let Target::File { file, error, .. } = &mut ex.target else {
        return false;
    };
    let Some(mut f) = file.take() else {
        return false;
    };
    match f.flush() {
        Ok(()) => false,
        Err(e) => {
            *error = Some(e.to_string());
            true
        }
    }
}

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
