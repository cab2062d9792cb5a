//! Captures made from `C:`/`S:` transcripts (in progress).
