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
//! - memory is bounded whatever the streams' sizes: chunks are hashed
//!   incrementally; a file's bytes wait in its extraction's buffer (of
//!   [`FLUSH_AT`] bytes, never grown) until the next chunk does not fit or
//!   the stream ends, then go to the file with that chunk. The buffers'
//!   capacities add up to at most `max_buffered`: a stream that finds no room
//!   for a buffer writes its chunks straight through;
//! - at most `max_open_files` files are open at a time: when a flush needs
//!   one more, the least recently written file is closed, and reopened in
//!   append mode at its stream's next flush. (Buffering makes flushes, and so
//!   opens, rare: chunks arrive a line at a time, hundreds of streams interleaved.)
//! - every extraction ends with exactly one record or end line, whether its
//!   stream ended normally ([`Extractor::finish`]) or was cut short
//!   (`finish_flow`, `finish_all`: then `"complete": false`);
//! - an I/O error stops writing that one file and is reported in its record
//!   (`"error"`), never panicked on; the hash and size still cover the whole
//!   stream.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use crate::dissector::{Direction, FlowInfo};
use crate::output::{same_stream, Format, OutputSink};
use crate::sha256::{Sha256Lanes, Sha256Stream};
use crate::value::Value;

/// Identifies one stream: (flow id, direction, event name).
pub(super) use crate::output::StreamKey;

/// How many extraction files may be open at once, by default (a quarter of
/// the usual limit of 1,024 descriptors per process; enough for hundreds of
/// mails in flight without closing and reopening their files).
pub const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// A file's buffer is written out once it holds this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// What all file buffers together may hold, by default.
const DEFAULT_MAX_BUFFERED: usize = 16 << 20;

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
    /// (not yet opened, or evicted), `error` set once writing failed;
    /// `buffer` holds the bytes not yet written.
    File {
        path: PathBuf,
        file: Option<File>,
        buffer: Vec<u8>,
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
    /// Every chunk is hashed as it comes (in batches of many streams when
    /// the CPU allows), whether or not it can be written.
    hasher: Sha256Stream,
    /// Capture time of the latest chunk, for a record written after the fact.
    last_seen: f64,
    /// Ordinal of the latest write, for choosing which file to close.
    last_write: u64,
}

/// The extractions in progress, by stream. Chunks come in runs of one
/// stream: the stream of the latest lookup is remembered, so that a run
/// costs one hash lookup, not one per chunk.
#[derive(Default)]
struct ActiveStreams {
    slots: Vec<Option<(StreamKey, Vec<Extraction>)>>,
    index: FxHashMap<StreamKey, usize>,
    /// Slots emptied by `remove`, for reuse.
    free: Vec<usize>,
    /// The stream of the latest lookup and its slot.
    last: Option<(StreamKey, usize)>,
}

impl ActiveStreams {
    fn slot(&mut self, key: &StreamKey) -> Option<usize> {
        if let Some((last, slot)) = self.last {
            if same_stream(&last, key) {
                return Some(slot);
            }
        }
        let slot = *self.index.get(key)?;
        self.last = Some((*key, slot));
        Some(slot)
    }

    fn contains(&self, key: &StreamKey) -> bool {
        self.index.contains_key(key)
    }

    fn get_mut(&mut self, key: &StreamKey) -> Option<&mut Vec<Extraction>> {
        let slot = self.slot(key)?;
        self.slots.get_mut(slot)?.as_mut().map(|(_, v)| v)
    }

    fn push(&mut self, key: StreamKey, extraction: Extraction) {
        if let Some(extractions) = self.get_mut(&key) {
            extractions.push(extraction);
            return;
        }
        let entry = Some((key, vec![extraction]));
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        if let Some(place) = self.slots.get_mut(slot) {
            *place = entry;
            self.index.insert(key, slot);
        }
    }

    fn remove(&mut self, key: &StreamKey) -> Option<Vec<Extraction>> {
        let slot = self.index.remove(key)?;
        if self.last.is_some_and(|(last, _)| same_stream(&last, key)) {
            self.last = None;
        }
        self.free.push(slot);
        self.slots.get_mut(slot)?.take().map(|(_, v)| v)
    }

    fn keys(&self) -> impl Iterator<Item = &StreamKey> {
        self.index.keys()
    }

    fn extractions_mut(&mut self) -> impl Iterator<Item = &mut Extraction> {
        self.slots
            .iter_mut()
            .flatten()
            .flat_map(|(_, extractions)| extractions.iter_mut())
    }
}

/// All extractions in progress, and where new ones go.
pub(super) struct Extractor {
    dir: Option<PathBuf>,
    max_open_files: usize,
    open_files: usize,
    /// Capacity of all file buffers together, and its cap.
    buffered: usize,
    max_buffered: usize,
    active: ActiveStreams,
    /// Number of the next extracted stream of each flow (from 1).
    next_number: FxHashMap<u64, u64>,
    writes: u64,
    counts: ExtractCounts,
    /// The digest of the latest stream that ended normally, until it is
    /// taken ([`Extractor::take_digest`]).
    last_digest: Option<(StreamKey, [u8; 32])>,
    /// Hashes the extracted streams side by side; lent to the dissectors'
    /// stream books too ([`Extractor::lanes`]).
    lanes: Sha256Lanes,
}

impl Extractor {
    pub fn new() -> Self {
        Extractor {
            dir: None,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            open_files: 0,
            buffered: 0,
            max_buffered: DEFAULT_MAX_BUFFERED,
            active: ActiveStreams::default(),
            next_number: FxHashMap::default(),
            writes: 0,
            counts: ExtractCounts::default(),
            last_digest: None,
            lanes: Sha256Lanes::new(),
        }
    }

    /// The pool hashing the extracted streams, for other streams of the thread.
    pub fn lanes(&mut self) -> &mut Sha256Lanes {
        &mut self.lanes
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

    /// Caps what the file buffers may hold together (0: every chunk is
    /// written through at once).
    pub fn set_max_buffered(&mut self, max: usize) {
        self.max_buffered = max;
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
                    buffer: Vec::new(),
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
        self.active.push(
            key,
            Extraction {
                label: label.to_string(),
                flow: flow.clone(),
                dir: key.1,
                target,
                size: 0,
                hasher: self.lanes.stream(),
                last_seen: now,
                last_write: 0,
            },
        );
    }

    /// Whether the stream `key` is being extracted.
    pub fn is_active(&self, key: &StreamKey) -> bool {
        self.active.contains(key)
    }

    /// Whether the stream `key`, whose first chunk was just written, is
    /// hashed whole here: it is being extracted (extractions start at a
    /// stream's first chunk), or it was, and ended with that one chunk.
    pub fn hashes_whole(&self, key: &StreamKey) -> bool {
        self.is_active(key)
            || self
                .last_digest
                .as_ref()
                .is_some_and(|(last, _)| same_stream(last, key))
    }

    /// The SHA-256 of the stream `key` that just ended, once.
    pub fn take_digest(&mut self, key: &StreamKey) -> Option<[u8; 32]> {
        match self.last_digest.take() {
            Some((last, digest)) if same_stream(&last, key) => Some(digest),
            other => {
                self.last_digest = other;
                None
            }
        }
    }

    /// Forgets the digest of an ended stream nobody took (a new stream begins).
    pub fn clear_digest(&mut self) {
        self.last_digest = None;
    }

    /// Hands one chunk of the stream `key` to each of its extractions.
    pub fn write<W: Write>(
        &mut self,
        key: &StreamKey,
        now: f64,
        chunk: &[u8],
        out: &mut OutputSink<W>,
    ) {
        let Some(extractions) = self.active.get_mut(key) else {
            return;
        };
        let count = extractions.len();
        for i in 0..count {
            let Some(ex) = self.active.get_mut(key).and_then(|v| v.get_mut(i)) else {
                continue;
            };
            self.writes += 1;
            ex.size += chunk.len() as u64;
            ex.last_seen = now;
            ex.last_write = self.writes;
            self.counts.bytes += chunk.len() as u64;
            ex.hasher.update(chunk, Some(&mut self.lanes));
            match &mut ex.target {
                Target::File {
                    buffer,
                    error: None,
                    ..
                } => {
                    if buffer.capacity() == 0 && self.buffered + FLUSH_AT <= self.max_buffered {
                        buffer.reserve_exact(FLUSH_AT);
                        self.buffered += buffer.capacity();
                    }
                    if buffer.len() + chunk.len() <= buffer.capacity() {
                        buffer.extend_from_slice(chunk);
                    } else {
                        // The buffer goes out with the chunk after it, so
                        // that it never grows (no copy, no reallocation).
                        self.write_file(key, i, chunk);
                    }
                }
                Target::File { .. } | Target::Summary => {}
                Target::Text => out.write_bytes(chunk),
            }
        }
    }

    /// Writes the buffered bytes of extraction `i` of `key`, then `more`, to
    /// its file, opening the file first if needed (after closing the least
    /// recently written one when the cap of open files is reached). The
    /// buffer keeps its capacity.
    fn write_file(&mut self, key: &StreamKey, i: usize, more: &[u8]) {
        let closed = matches!(
            self.active.get_mut(key).and_then(|v| v.get(i)),
            Some(Extraction {
                target: Target::File {
                    file: None,
                    error: None,
                    ..
                },
                ..
            })
        );
        if closed && self.open_files >= self.max_open_files {
            self.close_least_recent();
        }
        let Some(ex) = self.active.get_mut(key).and_then(|v| v.get_mut(i)) else {
            return;
        };
        if flush_buffer(ex, more, false, &mut self.buffered, &mut self.open_files).is_err() {
            self.counts.errors += 1;
        }
    }

    /// Ends the extractions of the stream `key` (its last chunk was written).
    pub fn finish<W: Write>(&mut self, key: &StreamKey, now: f64, out: &mut OutputSink<W>) {
        if let Some(extractions) = self.active.remove(key) {
            for mut ex in extractions {
                ex.last_seen = now;
                let digest = self.end(ex, true, out);
                if self.last_digest.is_none() {
                    self.last_digest = Some((*key, digest));
                }
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

    fn close_least_recent(&mut self) {
        let victim = self
            .active
            .extractions_mut()
            .filter(|ex| matches!(ex.target, Target::File { file: Some(_), .. }))
            .min_by_key(|ex| ex.last_write);
        if let Some(ex) = victim {
            if let Target::File { file, .. } = &mut ex.target {
                // Dropping a `File` closes it; its bytes were written already.
                *file = None;
                self.open_files -= 1;
            }
        }
    }

    /// Closes the extraction's file (if open) and reports it: the record, or
    /// in a text dump the end line.
    /// Returns the stream's SHA-256.
    fn end<W: Write>(
        &mut self,
        mut ex: Extraction,
        complete: bool,
        out: &mut OutputSink<W>,
    ) -> [u8; 32] {
        if let Target::File { file, error, .. } = &ex.target {
            // The last bytes go out (an empty stream still gets its file).
            if file.is_none() && error.is_none() && self.open_files >= self.max_open_files {
                self.close_least_recent();
            }
            if flush_buffer(&mut ex, &[], true, &mut self.buffered, &mut self.open_files).is_err() {
                self.counts.errors += 1;
            }
            if let Target::File { file, .. } = &mut ex.target {
                if file.take().is_some() {
                    self.open_files -= 1;
                }
            }
        }
        self.counts.streams += 1;
        let digest = std::mem::take(&mut ex.hasher).finish();
        let sha256 = hex(&digest);
        let mut fields: Vec<(crate::value::Name, Value)> =
            vec![("label".into(), Value::Str(ex.label.clone()))];
        match &ex.target {
            Target::Text => {
                let end = if complete { "End" } else { "End (incomplete)" };
                out.write_text(&format!("\n== {end} {} ==\n", ex.label));
                return digest;
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
        digest
    }
}

/// Writes an extraction's buffer, then `more`, to its file, opening the
/// file first if needed (the caller made room under the cap of open files);
/// `free` also gives the buffer's memory back. On failure the error is
/// recorded in the extraction, its file closed and its buffer dropped, and
/// `Err` returned.
fn flush_buffer(
    ex: &mut Extraction,
    more: &[u8],
    free: bool,
    buffered: &mut usize,
    open_files: &mut usize,
) -> Result<(), ()> {
    let Target::File {
        path,
        file,
        buffer,
        created,
        error,
    } = &mut ex.target
    else {
        return Ok(());
    };
    let result = if error.is_some() {
        Ok(())
    } else {
        write_out(path, file, buffer, created, open_files)
            .and_then(|()| write_out(path, file, more, created, open_files))
    };
    buffer.clear();
    if free || result.is_err() {
        *buffered -= buffer.capacity();
        *buffer = Vec::new();
    }
    if let Err(message) = result {
        *error = Some(message);
        if file.take().is_some() {
            *open_files -= 1;
        }
        return Err(());
    }
    Ok(())
}

/// Opens (creates the first time, then appends) and writes `bytes`.
fn write_out(
    path: &PathBuf,
    file: &mut Option<File>,
    bytes: &[u8],
    created: &mut bool,
    open_files: &mut usize,
) -> Result<(), String> {
    if bytes.is_empty() && *created {
        return Ok(());
    }
    let handle = match file {
        Some(handle) => handle,
        None => {
            let opened = if *created {
                OpenOptions::new().append(true).open(path)
            } else {
                File::create(path)
            };
            let handle = opened.map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            *created = true;
            *open_files += 1;
            file.insert(handle)
        }
    };
    handle.write_all(bytes).map_err(|e| e.to_string())
}

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
