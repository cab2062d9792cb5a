//! Opening a capture's byte stream: a file or stdin, gzip-compressed or not.
//!
//! One job: turn a path (or `-`) into a reader of the *uncompressed* capture
//! bytes plus the first bytes of that stream, so the caller can check the
//! magic number before handing the stream to pcap-parser.
//!
//! Invariants: the returned reader yields the prefix first, then the rest of
//! the stream, so no byte is lost by peeking; gzip is detected by its magic
//! (`1f 8b`), never by the file name.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::CaptureError;

/// How many bytes are read ahead to recognise the format. pcap-parser parses
/// the file header (pcap) or the whole section header block (pcapng) from its
/// first read, so this must hold a large section header too.
pub(crate) const PREFIX_LEN: usize = 64 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The uncompressed bytes of a capture: `prefix` holds the first bytes (at most
/// [`PREFIX_LEN`]), and `reader` yields the whole stream from its start.
pub(crate) struct Source {
    pub prefix: Vec<u8>,
    pub reader: Box<dyn Read + Send>,
    pub compressed: bool,
}

/// Opens `path`; `-` is stdin.
pub(crate) fn open_path(path: &Path) -> Result<Source, CaptureError> {
    let name = path.display().to_string();
    if path.as_os_str() == "-" {
        return open_reader(Box::new(io::stdin()), &name);
    }
    let file = File::open(path).map_err(|source| CaptureError::Open {
        name: name.clone(),
        source,
    })?;
    open_reader(Box::new(file), &name)
}

/// Wraps any reader, decompressing it when it starts with the gzip magic.
pub(crate) fn open_reader(
    mut raw: Box<dyn Read + Send>,
    name: &str,
) -> Result<Source, CaptureError> {
    let prefix = read_prefix(&mut raw).map_err(|source| CaptureError::Open {
        name: name.to_string(),
        source,
    })?;
    if prefix.starts_with(&GZIP_MAGIC) {
        let mut decoder: Box<dyn Read + Send> =
            Box::new(MultiGzDecoder::new(Cursor::new(prefix).chain(raw)));
        // A corrupt or truncated gzip may still yield a good start: keep it,
        // and let the error surface where the data ends (as a warning).
        let (inner, rest): (Vec<u8>, Box<dyn Read + Send>) = match read_prefix_partial(&mut decoder)
        {
            (inner, None) => (inner, decoder),
            (inner, Some(source)) if inner.is_empty() => {
                return Err(CaptureError::Gzip {
                    name: name.to_string(),
                    source,
                });
            }
            (inner, Some(error)) => (inner, Box::new(FailOnce(Some(error)))),
        };
        return Ok(Source {
            reader: Box::new(Cursor::new(inner.clone()).chain(rest)),
            prefix: inner,
            compressed: true,
        });
    }
    Ok(Source {
        reader: Box::new(Cursor::new(prefix.clone()).chain(raw)),
        prefix,
        compressed: false,
    })
}

/// Reads until [`PREFIX_LEN`] bytes or the end of the stream, whichever comes
/// first (a pipe may return a few bytes per `read`).
fn read_prefix(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    match read_prefix_partial(reader) {
        (_, Some(err)) => Err(err),
        (prefix, None) => Ok(prefix),
    }
}

/// Like [`read_prefix`], but an error keeps the bytes read before it.
fn read_prefix_partial(reader: &mut dyn Read) -> (Vec<u8>, Option<io::Error>) {
    let mut prefix = vec![0u8; PREFIX_LEN];
    let mut filled = 0;
    let mut error = None;
    while filled < PREFIX_LEN {
        match reader.read(prefix.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    prefix.truncate(filled);
    (prefix, error)
}

/// A reader that fails with a stored error once, then reports the end.
struct FailOnce(Option<io::Error>);

impl Read for FailOnce {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A gzip stream cut short used to fail the whole open when the cut lay
    /// within the prefix (any capture under 64 KiB): the bytes inflated
    /// before the cut were lost with it.
    #[test]
    fn a_cut_gzip_stream_yields_its_bytes_then_the_error() {
        let original: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&original).unwrap();
        let gz = encoder.finish().unwrap();
        let cut = gz[..gz.len() - 4].to_vec();
        let source = open_reader(Box::new(Cursor::new(cut)), "cut.gz")
            .unwrap_or_else(|e| panic!("a cut gzip stream opens: {e}"));
        assert!(source.compressed);
        assert_eq!(source.prefix, original);
        let mut reader = source.reader;
        let mut all = Vec::new();
        assert!(reader.read_to_end(&mut all).is_err());
        assert_eq!(all, original);

        // Nothing inflates at all: an error at once.
        let header_only = gz[..5].to_vec();
        assert!(matches!(
            open_reader(Box::new(Cursor::new(header_only)), "h.gz"),
            Err(CaptureError::Gzip { .. })
        ));
    }
}
