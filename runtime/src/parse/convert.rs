//! Value conversions shared by generated dissectors and the expression
//! interpreter: `text(x)`, `hex(x)`, `ip(x)` and `join(list, sep)` in a
//! spec's expressions, and the `as text`, `as hex`, `as ip` and
//! `as join(SEP)` converters of its fields.
//!
//! Invariants: every function is total (no panic on any input) and pure;
//! `ip` accepts exactly 4 or 16 bytes and writes IPv6 addresses in the
//! RFC 5952 canonical form (lowercase, the longest run of zero groups
//! compressed, the first on a tie, IPv4-mapped addresses as `::ffff:a.b.c.d`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `text(bytes)`: the bytes as text, invalid UTF-8 replaced by U+FFFD.
pub fn bytes_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `hex(bytes)`: two lowercase hex digits per byte, no separator.
pub fn hex_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `ip(bytes)`: a dotted quad for 4 bytes, RFC 5952 text for 16, else `None`.
pub fn ip_text(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(Ipv4Addr::from(v4).to_string());
    }
    let v6 = <[u8; 16]>::try_from(bytes).ok()?;
    Some(Ipv6Addr::from(v6).to_string())
}

/// One part of a `join`: a string, or an absent one (skipped).
pub trait JoinPart {
    fn part(&self) -> Option<&str>;
}

impl JoinPart for String {
    fn part(&self) -> Option<&str> {
        Some(self)
    }
}

impl JoinPart for &str {
    fn part(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: JoinPart> JoinPart for Option<T> {
    fn part(&self) -> Option<&str> {
        self.as_ref().and_then(JoinPart::part)
    }
}

/// `join(list, sep)`: the non-empty strings of `parts`, in order, separated
/// by `sep` (absent and empty parts are skipped, so the root label of a
/// domain name leaves no trailing separator).
pub fn join_text<P: JoinPart>(parts: &[P], sep: &str) -> String {
    let mut out = String::new();
    for part in parts.iter().filter_map(JoinPart::part) {
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(sep);
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_in_their_canonical_forms() {
        assert_eq!(ip_text(&[192, 0, 2, 1]).as_deref(), Some("192.0.2.1"));
        let mut v6 = [0u8; 16];
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x0d;
        v6[3] = 0xb8;
        v6[15] = 1;
        assert_eq!(ip_text(&v6).as_deref(), Some("2001:db8::1"));
        // RFC 5952 4.2.2: a single zero group is not compressed.
        let one_zero = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        assert_eq!(ip_text(&one_zero).as_deref(), Some("2001:db8:0:1:1:1:1:1"));
        // 4.2.3: the first of equal longest runs is compressed.
        let tie = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        assert_eq!(ip_text(&tie).as_deref(), Some("2001:db8::1:0:0:1"));
        assert_eq!(ip_text(&[1, 2, 3]), None);
        assert_eq!(ip_text(&[]), None);
    }

    #[test]
    fn join_skips_empty_and_absent_parts() {
        let labels = [
            "www".to_string(),
            "example".into(),
            "test".into(),
            String::new(),
        ];
        assert_eq!(join_text(&labels, "."), "www.example.test");
        let optional = [Some("a".to_string()), None, Some("b".to_string())];
        assert_eq!(join_text(&optional, "-"), "a-b");
        assert_eq!(join_text::<String>(&[], "."), "");
    }

    #[test]
    fn hex_and_text() {
        assert_eq!(hex_text(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(bytes_text(b"ok\xff"), "ok\u{fffd}");
    }
}
